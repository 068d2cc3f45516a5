"""pyswarm: a Docker Swarm mode style cluster manager written in Python."""

__version__ = "0.1.0"
API_VERSION = "1.0"
