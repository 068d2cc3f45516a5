"""swarm/cli."""
