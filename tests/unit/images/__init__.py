"""Unit tests of node.images."""
