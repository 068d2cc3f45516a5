"""Shared test helpers: offline images and a local registry."""
