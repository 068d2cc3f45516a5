"""swarm/store."""
