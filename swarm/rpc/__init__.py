"""The gRPC transport edge: TLS credentials, authorization, error mapping, deadlines, join.

Design notes
------------
Nothing here knows about nodes, services or the store; it moves bytes securely and turns
exceptions into status codes. Modules, each importable on its own (this ``__init__`` imports
nothing, so the CLI can use ``swarm.rpc.deadlines``/``swarm.rpc.errors`` without pulling in the
PKI):

``tls``        server and client credentials, secure/local channels, server names
``auth``       the one table of who may call what, the authorization interceptor, the caller
``errors``     the one mapping of domain exceptions to status codes, and its interceptor
``deadlines``  default deadlines on every client call
``join``       the joining side: pin the remote root CA, request a node certificate
``handlers``   wrapping a grpc.aio method handler (shared by the interceptors)
"""
