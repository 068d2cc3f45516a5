"""swarm/daemon."""
