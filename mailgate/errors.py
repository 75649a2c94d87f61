"""The one exception hierarchy of mailgate; adapters translate library errors into these."""

from __future__ import annotations


class MailgateError(Exception):
    """Base class for all mailgate errors."""


class ConfigError(MailgateError):
    """The configuration is invalid; ``problems`` names every bad key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class IntakeError(MailgateError):
    """A message could not be stored durably; the sender must retry (4xx)."""


class ImapError(MailgateError):
    """An IMAP server failed, refused a command or the connection broke; reconnect with backoff."""


class ImapAuthError(ImapError):
    """The IMAP server refused the login: back off for minutes, never storm it."""


class ParseError(MailgateError):
    """A message cannot be parsed or breaks a hard limit; it goes to quarantine."""


class TransitionError(MailgateError):
    """A case status change is not allowed from the current status."""


class NotFound(MailgateError):
    """A case, row or file named by the user does not exist."""


class UsageError(MailgateError):
    """A user request (CLI or mail command) cannot be carried out as asked."""


class Refused(UsageError):
    """A command or admin action that cannot be done; the message says why (and is shown)."""


class Vanished(MailgateError):
    """A row that a unit of work relies on is gone (deleted in the meantime): roll back."""


class AlreadyHandled(MailgateError):
    """Another worker finished this inbound row first: roll back everything this one wrote."""


class DeliveryError(MailgateError):
    """Outbound delivery failed."""


class TransientDeliveryError(DeliveryError):
    """4xx or network trouble; retry later."""


class PermanentDeliveryError(DeliveryError):
    """5xx; never retry this message."""


class MigrationError(MailgateError):
    """The database schema could not be brought up to date."""
