"""What every use case and case operation needs, built once by the composition root and passed
explicitly: the configuration, the database, the clock, the templates, the alerts, and the
questions about addresses that only the configuration can answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from zoneinfo import ZoneInfo

from mailgate.clock import Clock
from mailgate.config import Config, MailboxConfig
from mailgate.domain.commands import Subaddress
from mailgate.logs import Alerts
from mailgate.mail import tokens
from mailgate.mail.addresses import split_subaddress
from mailgate.mail.normalize import tag_pattern
from mailgate.mail.parse import Limits
from mailgate.matching import MatchContext
from mailgate.outbound.render import Renderer
from mailgate.storage.db import Database


@dataclass(frozen=True)
class Context:
    config: Config
    db: Database
    clock: Clock
    renderer: Renderer
    limits: Limits = field(default_factory=Limits)
    alerts: Alerts = field(default_factory=Alerts)

    @property
    def secret(self) -> str:
        return self.config.gateway.secret

    @cached_property
    def match(self) -> MatchContext:
        return MatchContext(
            secret=self.secret, domain=self.config.message_id_domain,
            delimiter=self.config.gateway.subaddress_delimiter,
            tag=tag_pattern(self.config.gateway.ticket_prefix),
        )

    @cached_property
    def tz(self) -> ZoneInfo:
        """``[gateway] timezone``: dates in mail and reports are shown there."""
        return ZoneInfo(self.config.gateway.timezone)

    @cached_property
    def loop_marker(self) -> str:
        return tokens.loop_marker(self.secret)

    @cached_property
    def own_addresses(self) -> frozenset[str]:
        return frozenset(m.address.lower() for m in self.config.mailboxes)

    def mailbox_for(self, recipients: Sequence[str], fallback: str = "") -> MailboxConfig:
        """The supervised mailbox a message was sent to (first match), else ``fallback``/first."""
        for rcpt in recipients:
            base = self.base_address(rcpt)
            for box in self.config.mailboxes:
                if box.address.lower() == base:
                    return box
        named = [m for m in self.config.mailboxes if m.name == fallback]
        return named[0] if named else self.config.mailboxes[0]

    def base_address(self, addr: str) -> str:
        """``support+anything@example.com`` → ``support@example.com``."""
        return split_subaddress(addr, self.config.gateway.subaddress_delimiter)[0]

    def is_supervised(self, addr: str) -> bool:
        return self.base_address(addr) in self.own_addresses

    def command_word(self, recipients: Sequence[str]) -> Subaddress | None:
        """The command subaddress (``+next``, ``+cmd``) of the first supervised recipient with one."""
        for rcpt in recipients:
            base, sub = split_subaddress(rcpt, self.config.gateway.subaddress_delimiter)
            if base in self.own_addresses and sub in tuple(Subaddress):
                return Subaddress(sub)
        return None

    def tag(self, case_id: int) -> str:
        return f"{self.config.gateway.ticket_prefix}#{case_id}"
