"""node/images."""
