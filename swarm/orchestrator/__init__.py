"""swarm/orchestrator."""
