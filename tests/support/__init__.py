"""Shared test helpers: offline images and a local registry (`images`, `registry`), swarmd daemons on
loopback (`daemons`), the network-namespace testbed (`testbed`), and the store's multi-process
Raft harness (`store_harness`, `store_member_proc`)."""
