"""Domain errors. Entry points map them to responses: NotFound → 404, Conflict → 409,
Invalid → 422, Forbidden stays a 404 to outsiders (nothing is revealed)."""

from __future__ import annotations


class HallError(Exception):
    """Base of every error a person can be told about; `code` is stable for clients."""

    code = "error"

    def __init__(self, message: str, **detail: object) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class NotFound(HallError):
    """Unknown, or not visible to the actor (we never say which)."""

    code = "not_found"


class UnknownPerson(NotFound):
    """An outside identity (a WeCom userid) that names no active person."""

    code = "unknown_person"


class Invalid(HallError):
    """The input breaks a rule; `detail["fields"]` maps field keys to messages."""

    code = "invalid"


class ResultInvalid(Invalid):
    """A handling step's result fields are missing or wrong: they are typed in on the
    application's page (a card or a batch approval cannot supply them)."""


class ReasonRequired(Invalid):
    """A return without its reason: the person it goes back to must learn what to change.
    A card cannot carry text, so a return is made on the application's page."""


class Conflict(HallError):
    """The request is well-formed but the state does not allow it now."""

    code = "conflict"


class AlreadyDecided(Conflict):
    """Someone (maybe the same person, a moment ago) already decided this task."""

    code = "already_decided"


class InviteOnly(Conflict):
    """The process is applied for only from a staff member's invitation (入校预约)."""

    code = "invite_only"


class RateLimited(Conflict):
    code = "rate_limited"
