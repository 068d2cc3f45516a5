"""swarm/ca."""
