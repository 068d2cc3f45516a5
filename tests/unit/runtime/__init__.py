"""Unit tests of node.runtime (no root needed)."""
