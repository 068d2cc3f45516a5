"""swarm/controlapi."""
