"""Docker's JSON shapes of our protobuf objects, shared by every edge (the CLI, the Engine API)."""
