"""node/network."""
