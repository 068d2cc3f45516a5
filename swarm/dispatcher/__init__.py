"""swarm/dispatcher."""
