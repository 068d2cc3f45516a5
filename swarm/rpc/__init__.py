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
``server``     tcp_server (manager port, mTLS) and local_server (unix socket), interceptors wired
``handlers``   wrapping a grpc.aio method handler (shared by the interceptors)

Use from a daemon::

    server, port = tcp_server(lambda: daemon.tls, "0.0.0.0:2377",
                              is_removed=lambda node_id: node_id in removed_ids)
    ca_pb2_grpc.add_NodeCAServicer_to_server(NodeCAServicer(...), server)   # etc.
    await server.start()                 # auth + error mapping are already in the stack

    local = local_server("/run/swarm/swarmd.sock", is_manager=lambda: daemon.manager is not None)

    # in a servicer method:
    ident = current_identity()           # swarm.rpc.auth; None for anonymous / local callers

    async with manager_channel("10.0.0.1:2377", node_tls) as ch:     # mTLS, default deadline
        await DispatcherStub(ch).Heartbeat(HeartbeatRequest(...))
"""
