"""swarm/scheduler."""
