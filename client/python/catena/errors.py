"""
The exceptions the catena client raises. Every one is a CatenaError;
a status a node answered is a StatusError carrying the reply. Each
message names the op and key, and for writes whose outcome is not known
says so: a timeout or OUTCOME_UNKNOWN never means "not applied".
"""

from .wire import (OP_NAMES, WRITE_OPS, ST_BAD_REQUEST, ST_BAD_VERSION,
                   ST_CAS_FAILED, ST_MOVED, ST_NO_SPACE, ST_NOT_A_NUMBER,
                   ST_NOT_FOUND, ST_OUTCOME_UNKNOWN, ST_OVERFLOW, ST_RETRY,
                   ST_TOO_LARGE, ST_UNKNOWN_OP, ST_WRONG_SLOT, status_name)


class CatenaError(Exception):
    """Base of every error this package raises."""


class InvalidArgument(CatenaError, ValueError):
    """A bad argument, found before anything was sent."""


class Unreachable(CatenaError, ConnectionError):
    """No node could be asked: a seed did not resolve, every node asked
    refused (ICMP port unreachable), or none served the cluster map."""


class ProtocolError(CatenaError):
    """A node answered something this client cannot use (a malformed map
    or reply)."""


class Timeout(CatenaError, TimeoutError):
    """No reply within the request's retry budget. For a write
    (maybe_applied is True) the outcome is unknown: an earlier try may
    have been applied. Read the key and decide."""

    def __init__(self, msg, op=None, key=None):
        super().__init__(msg)
        self.op = op
        self.key = key
        self.maybe_applied = op in WRITE_OPS


class StatusError(CatenaError):
    """A node answered a status other than OK. status and status_name are
    the protocol's; reply is the reply message (catena.wire.Msg)."""

    def __init__(self, reply, op=None, key=None, detail=None):
        self.reply = reply
        self.status = reply.status if reply is not None else None
        self.status_name = (status_name(self.status)
                            if self.status is not None else None)
        self.op = op
        self.key = key
        what = OP_NAMES.get(op, str(op)) if op is not None else "request"
        if key:
            what += " %r" % (key[:60],)
        msg = "%s: %s" % (what, self.status_name or "error")
        if detail:
            msg += " (%s)" % detail
        super().__init__(msg)


class NotFound(StatusError):
    """The key is absent (a CAS by expected value on an absent key)."""


class CasFailed(StatusError):
    """The CAS expectation was not met. current_version is the key's
    version now (0: absent)."""

    def __init__(self, reply, op=None, key=None, detail=None):
        self.current_version = reply.arg if reply is not None else None
        super().__init__(reply, op, key, detail or
                         "current version %s" % self.current_version)


class OutcomeUnknown(StatusError):
    """A retried write whose first outcome the node no longer remembers:
    not executed again, but it may have been applied the first time."""
    maybe_applied = True


class Moved(StatusError):
    """Still MOVED after following the redirect bound (4)."""


class Busy(StatusError):
    """Still RETRY (slot reconfiguring, node busy) when the budget ran
    out."""


class TooLarge(StatusError, InvalidArgument):
    """Key or value over the protocol limits (found locally, reply None,
    or said by the node)."""

    def __init__(self, reply=None, op=None, key=None, detail=None):
        StatusError.__init__(self, reply, op, key, detail)


class BadRequest(StatusError):
    """The node found the request malformed."""


class UnknownOp(StatusError):
    """The node does not know this op."""


class BadVersion(StatusError):
    """The node does not speak this protocol version."""


class NotANumber(StatusError):
    """INCR on a value that is not a decimal int64."""


class Overflow(StatusError):
    """INCR's result would leave int64."""


class NoSpace(StatusError):
    """The node's value memory is full."""


class WrongSlot(StatusError):
    """The slot stayed wrong after the client corrected it once."""


_BY_STATUS = {
    ST_NOT_FOUND: NotFound, ST_CAS_FAILED: CasFailed,
    ST_MOVED: Moved, ST_RETRY: Busy, ST_TOO_LARGE: TooLarge,
    ST_BAD_REQUEST: BadRequest, ST_UNKNOWN_OP: UnknownOp,
    ST_BAD_VERSION: BadVersion, ST_NOT_A_NUMBER: NotANumber,
    ST_OVERFLOW: Overflow, ST_NO_SPACE: NoSpace, ST_WRONG_SLOT: WrongSlot,
    ST_OUTCOME_UNKNOWN: OutcomeUnknown,
}

_DETAIL = {
    ST_OUTCOME_UNKNOWN: "a retried write the node no longer remembers; "
                        "it may have been applied",
    ST_MOVED: "redirect bound reached",
    ST_RETRY: "node still asked to retry when the budget ran out",
}


def status_error(reply, op=None, key=None):
    """The exception for a reply whose status is not OK."""
    cls = _BY_STATUS.get(reply.status, StatusError)
    return cls(reply, op, key, _DETAIL.get(reply.status))
