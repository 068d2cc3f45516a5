"""node/agent."""
