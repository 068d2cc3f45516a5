"""node/exec."""
