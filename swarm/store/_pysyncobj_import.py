"""Undo a process-wide side effect of importing pysyncobj.

pysyncobj 0.3.17's ``pysyncobj/win_inet_pton.py`` (imported by ``tcp_connection``) ends with::

    if os.name == 'nt':
        socket.inet_pton = inet_pton
    socket.inet_ntop = inet_ntop          # <- not under the guard

so on Linux it replaces ``socket.inet_ntop`` for the whole process with a ctypes shim that calls
a Windows-only function and raises ``TypeError``. Everything else in the daemon that formats an
address breaks with it: pyroute2 then hands netlink addresses back undecoded (this broke the
overlay's FDB programming on every node running the store). Importing this module records the
real functions and ``import_pysyncobj()`` (called first thing by ``swarm/store/__init__.py``,
before any module imports pysyncobj) imports it once and puts them back; later imports of
pysyncobj are cached and do not run the module again.
"""

from __future__ import annotations

import _socket
import socket

# Take the real functions from the C module, not from ``socket``: if anything imported pysyncobj
# before swarm.store (a test module, a tool), ``socket.inet_ntop`` is already the broken shim.
_REAL_INET_NTOP = _socket.inet_ntop
_REAL_INET_PTON = _socket.inet_pton


def restore() -> None:
    socket.inet_ntop = _REAL_INET_NTOP
    socket.inet_pton = _REAL_INET_PTON


def import_pysyncobj() -> None:
    import pysyncobj  # noqa: F401
    import pysyncobj.tcp_connection  # noqa: F401  (imports win_inet_pton)

    restore()
