"""The configuration's shape: one frozen dataclass per TOML table, with defaults and the
parsers for durations and sizes. ``loading`` fills them from ``mailgate.toml``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Final

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_DURATION_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$", re.IGNORECASE)
_SIZE_UNITS: Final = {
    "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3,
}
SIZE: Final = {"size": True}


def parse_duration(text: str) -> timedelta:
    """Parse ``"90s"``, ``"4h"``, ``"2d"``, ``"30d"`` or ``"1w"`` into a timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration like '90s', '4h' or '2d': {text!r}")
    return timedelta(seconds=int(match[1]) * _DURATION_UNITS[match[2]])


def parse_size(text: str | int) -> int:
    """Parse ``"25MB"`` (or a plain number of bytes) into bytes."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    match = _SIZE.match(str(text))
    if not match:
        raise ValueError(f"not a size like '25MB': {text!r}")
    return int(match[1]) * _SIZE_UNITS[(match[2] or "b").lower()]


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    name: str
    database: str
    secret_env: str
    ticket_prefix: str = "MG"
    subaddress_delimiter: str = "+"
    max_message_size: int = field(default=25_000_000, metadata=SIZE)
    reopen_window: timedelta = timedelta(days=14)
    autoresponse_daily_limit: int = 5
    bounce_threshold: int = 3     # hard bounces before an address gets no more mail (0: never)
    timer_interval: timedelta = timedelta(seconds=30)     # how often deadlines are swept
    approval_reminder: timedelta = timedelta(hours=4)     # a held draft reminds, then escalates
    digest_hour: int = 7          # UTC hour after which each pool manager gets the daily digest
    message_id_domain: str = ""
    activation_url: str = ""
    activation_ttl: timedelta = timedelta(days=7)
    admin_address: str = ""       # alerts and cases nobody can own are mailed here (log only when empty)
    timezone: str = "UTC"         # IANA name: dates in mails, reports, digest hour
    from_name: str = "{gateway}"  # display name of answers to customers; {operator}, {gateway}
    authserv_id: str = ""         # our MTA's Authentication-Results id: staff mail failing DMARC is held
    outbox_maildir: str = "var/outbox-maildir"
    templates: str = "templates"
    log_level: str = "INFO"
    secret: str = field(default="", metadata={"resolved": True})


@dataclass(frozen=True, slots=True)
class SmtpInConfig:
    enabled: bool = True
    listen: str = "127.0.0.1:2525"
    protocol: str = "smtp"

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


@dataclass(frozen=True, slots=True)
class SmtpOutConfig:
    host: str
    port: int = 587
    starttls: bool = True
    tls: bool = False
    username: str = ""
    password_env: str = ""
    timeout: timedelta = timedelta(seconds=30)
    password: str = field(default="", metadata={"resolved": True})


@dataclass(frozen=True, slots=True)
class ImapConfig:
    host: str
    username: str
    password_env: str
    port: int = 993
    tls: bool = True
    starttls: bool = False        # plain connection upgraded with STARTTLS (set tls = false)
    folder: str = "INBOX"
    processed_folder: str = "mailgate/processed"
    quarantine_folder: str = "mailgate/quarantine"
    idle: bool = True
    poll_interval: timedelta = timedelta(seconds=60)
    idle_refresh: timedelta = timedelta(minutes=4)   # re-IDLE (and so detect dead links) this often
    timeout: timedelta = timedelta(seconds=30)       # deadline for every IMAP command
    start: str = "all"            # first start on a mailbox: all | unseen | since:YYYY-MM-DD
    batch: int = 50               # messages per UID FETCH
    password: str = field(default="", metadata={"resolved": True})


@dataclass(frozen=True, slots=True)
class MailboxConfig:
    name: str
    address: str
    pool: str
    kind: str = "support"
    site: str = ""
    auto_response: str = ""
    imap: ImapConfig | None = None

    @property
    def local_part(self) -> str:
        return self.address.rsplit("@", 1)[0].lower()

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[1].lower()


@dataclass(frozen=True, slots=True)
class PoolConfig:
    name: str
    mode: str
    manager: str = ""
    rollover_after: timedelta = timedelta(hours=4)
    reply_deadline: timedelta = timedelta(days=30)
    customer_deadline: timedelta = timedelta(days=14)
    resolve_within: timedelta = timedelta(days=5)    # closed within this of its creation: "on time"
    questionnaire: tuple[str, ...] = ()
    auto_response: str = ""


@dataclass(frozen=True, slots=True)
class DepartmentConfig:
    name: str
    address: str
    deadline: timedelta = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class QuestionConfig:
    name: str
    prompt: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FieldConfig:
    name: str
    label: str = ""
    choices: tuple[str, ...] = ()
    required: bool = False


@dataclass(frozen=True, slots=True)
class WebFormConfig:
    name: str
    mailbox: str
    fields: tuple[str, ...] = ()
    customers_only: bool = False
    title: str = ""                  # the page's heading (default: "Contact <gateway>")


@dataclass(frozen=True, slots=True)
class WebConfig:
    listen: str = "127.0.0.1:8025"
    public_url: str = "http://127.0.0.1:8025"
    max_upload: int = field(default=10_000_000, metadata=SIZE)   # all attachments of one submission
    rate_limit: str = "10/h"         # submissions per client IP per form
    form: tuple[WebFormConfig, ...] = ()

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]") or "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def limit(self) -> tuple[int, timedelta]:
        """``rate_limit`` as (submissions, window): "10/h" → (10, 1 hour)."""
        count, _, unit = self.rate_limit.partition("/")
        return int(count), {"s": timedelta(seconds=1), "m": timedelta(minutes=1), "h": timedelta(hours=1),
                            "d": timedelta(days=1)}[unit.strip() or "h"]

    def form_named(self, name: str) -> WebFormConfig | None:
        return next((f for f in self.form if f.name == name), None)


@dataclass(frozen=True, slots=True)
class ReportConfig:
    """A report mailed by the timer sweep for each period that has just ended (SPEC §2, §11)."""

    name: str
    to: tuple[str, ...]
    every: str = "weekly"            # daily | weekly | monthly, in [gateway] timezone
    by: str = ""                     # operator | pool | department, or '' for the totals only
    format: str = "html"             # html (attached, with a text summary) | csv | table


@dataclass(frozen=True, slots=True)
class Config:
    """The whole validated configuration; paths are absolute."""

    path: Path
    gateway: GatewayConfig
    smtp_in: SmtpInConfig
    smtp_out: SmtpOutConfig | None
    mailboxes: tuple[MailboxConfig, ...]
    pools: tuple[PoolConfig, ...]
    departments: tuple[DepartmentConfig, ...] = ()
    questions: tuple[QuestionConfig, ...] = ()
    fields: tuple[FieldConfig, ...] = ()
    web: WebConfig | None = None
    reports: tuple[ReportConfig, ...] = ()

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, relative: str) -> Path:
        """Return ``relative`` resolved against the config file's folder."""
        candidate = Path(relative)
        return candidate if candidate.is_absolute() else self.base_dir / candidate

    @property
    def database_url(self) -> str:
        """The database URL with a relative SQLite path made absolute."""
        url = self.gateway.database
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            return "sqlite:///" + str(self.resolve(url[len("sqlite:///"):]))
        return url

    @property
    def message_id_domain(self) -> str:
        return self.gateway.message_id_domain or self.mailboxes[0].domain

    def mailbox(self, name: str) -> MailboxConfig:
        return next(m for m in self.mailboxes if m.name == name)

    def pool(self, name: str) -> PoolConfig:
        return next(p for p in self.pools if p.name == name)
