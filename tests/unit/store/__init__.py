"""Unit tests for swarm/store."""
