"""swarm/allocator: every address decision of the managers, and the leader's allocator.

* :mod:`.allocator` -- the leader's reconciler: a NEW task gets its network attachments and
  addresses, then goes PENDING; services get their VIPs, nodes their ingress endpoint;
* :mod:`.network` -- those decisions, as pure functions over objects read from the store;
* :mod:`.ipam` -- address arithmetic: subnets, VNIs, free addresses of a network;
* :mod:`.networks` -- the subnet, gateway and VNI of a new network (``network create``, and
  the ``ingress`` network at ``swarm init``);
* :mod:`.ports` -- published ingress ports of a service (``service create/update``).

The control API validates specs and asks :mod:`.networks` and :mod:`.ports` before it writes;
the store's unique indexes (network name, subnet, VNI) settle races between managers.
"""

from .allocator import PENDING_MESSAGE, Allocator

__all__ = ["PENDING_MESSAGE", "Allocator"]
