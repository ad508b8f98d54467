"""
catena: a Python client of a catena cluster (Debian's python3, standard
library only). Same routing, retries, map refresh and request ids as
libcatena; docs/PROTOCOL.md is the contract, client/python/README.md the
guide.

    import catena
    with catena.Client("10.0.0.1,10.0.0.2") as c:
        v = c.put("k", b"v")
        assert c.get("k") == b"v"
"""

from .client import Client, Ping
from .clustermap import ClusterMap, MapError
from .errors import (BadRequest, BadVersion, Busy, CasFailed, CatenaError,
                     InvalidArgument, Moved, NoSpace, NotANumber, NotFound,
                     OutcomeUnknown, Overflow, ProtocolError, StatusError,
                     Timeout, TooLarge, UnknownOp, Unreachable, WrongSlot,
                     status_error)
from .wire import crc32c, slot_of

__version__ = "0.1.0"

__all__ = ["Client", "Ping", "ClusterMap", "MapError", "crc32c", "slot_of",
           "CatenaError", "InvalidArgument", "Unreachable", "ProtocolError",
           "Timeout", "StatusError", "NotFound", "CasFailed",
           "OutcomeUnknown", "Moved", "Busy", "TooLarge", "BadRequest",
           "UnknownOp", "BadVersion", "NotANumber", "Overflow", "NoSpace",
           "WrongSlot", "status_error"]
