"""swarm/allocator."""
