"""node/runtime."""
