"""Typed configuration: ``mailgate.toml`` → frozen dataclasses, validated once at start-up.

Every problem (unknown key, bad value, missing secret) is collected and reported together, each
naming its key, so ``mailgate check-config`` can print them all. Secrets never live in the file: a
key ending in ``_env`` names an environment variable, and a ``.env`` beside the config is loaded.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Final, Union, get_args, get_origin, get_type_hints

from dotenv import dotenv_values

from mailgate.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_DURATION_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$", re.IGNORECASE)
_SIZE_UNITS: Final = {
    "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3,
}
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
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


@dataclass(frozen=True, slots=True)
class WebConfig:
    listen: str = "127.0.0.1:8025"
    public_url: str = "http://127.0.0.1:8025"
    form: tuple[WebFormConfig, ...] = ()


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


class _Loader:
    """Converts TOML tables into the dataclasses above, collecting every problem."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []

    def table(self, cls: type[Any], data: object, where: str) -> Any:
        if not isinstance(data, dict):
            self.problems.append(f"{where}: expected a table")
            return None
        hints = get_type_hints(cls)
        known = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("resolved")}
        for key in data:
            if key not in known:
                self.problems.append(f"{where}.{key}: unknown key")
        values: dict[str, Any] = {}
        for name, fld in known.items():
            if name in data:
                values[name] = self.value(hints[name], data[name], f"{where}.{name}", fld)
            elif fld.default is dataclasses.MISSING and fld.default_factory is dataclasses.MISSING:
                self.problems.append(f"{where}.{name}: required key is missing")
        for fld in dataclasses.fields(cls):
            if fld.metadata.get("resolved"):
                values[fld.name] = self.secret(data, fld.name, where)
        try:
            return cls(**values)
        except TypeError:
            return None

    def secret(self, data: dict[str, Any], name: str, where: str) -> str:
        env_key = data.get(f"{name}_env") or data.get("secret_env" if name == "secret" else "")
        if not isinstance(env_key, str) or not env_key:
            return ""
        value = self.environ.get(env_key, "")
        if not value:
            self.problems.append(
                f"{where}.{name}_env: environment variable {env_key} is not set"
            )
        elif name == "secret" and len(value) < 16:
            self.problems.append(f"{where}.secret_env: {env_key} must be 16 or more characters")
        return value

    def value(self, hint: Any, raw: object, where: str, fld: dataclasses.Field[Any]) -> Any:
        origin = get_origin(hint)
        if origin in (Union, types.UnionType):
            inner = next(a for a in get_args(hint) if a is not type(None))
            return self.value(inner, raw, where, fld)
        if origin is tuple:
            item = get_args(hint)[0]
            if not isinstance(raw, list):
                self.problems.append(f"{where}: expected a list")
                return ()
            return tuple(self.value(item, r, f"{where}[{i}]", fld) for i, r in enumerate(raw))
        if dataclasses.is_dataclass(hint):
            return self.table(hint, raw, where)  # type: ignore[arg-type]
        try:
            return _scalar(hint, raw, fld)
        except (TypeError, ValueError) as exc:
            self.problems.append(f"{where}: {exc}")
            return None


def _scalar(hint: Any, raw: object, fld: dataclasses.Field[Any]) -> object:
    if fld.metadata.get("size"):
        if not isinstance(raw, str | int) or isinstance(raw, bool):
            raise TypeError("expected a size like '25MB'")
        return parse_size(raw)
    if hint is timedelta:
        if not isinstance(raw, str):
            raise TypeError("expected a duration like '4h'")
        return parse_duration(raw)
    if hint is bool and not isinstance(raw, bool):
        raise TypeError("expected true or false")
    if hint is int and (not isinstance(raw, int) or isinstance(raw, bool)):
        raise TypeError("expected a whole number")
    if hint is str and not isinstance(raw, str):
        raise TypeError("expected a string")
    return raw


def _check(config: Config) -> list[str]:
    """Cross-key checks that the per-key conversion cannot see."""
    problems = _check_mailboxes(config)
    for pool in config.pools:
        if pool.mode not in ("manager", "round_robin", "pull"):
            problems.append(f"pool.{pool.name}.mode: must be manager, round_robin or pull")
        if pool.mode == "manager" and not _ADDRESS.match(pool.manager):
            problems.append(f"pool.{pool.name}.manager: manager mode needs the manager's address")
    if config.smtp_in.protocol not in ("smtp", "lmtp"):
        problems.append("smtp_in.protocol: must be smtp or lmtp")
    if not re.match(r"^[^:]+:\d+$", config.smtp_in.listen.replace("[", "").replace("]", "")):
        problems.append("smtp_in.listen: expected host:port")
    if not re.match(r"^[A-Za-z0-9]{1,16}$", config.gateway.ticket_prefix):
        problems.append("gateway.ticket_prefix: letters and digits only")
    if not config.database_url.startswith(("sqlite:", "postgresql")):
        problems.append("gateway.database: only sqlite:/// and postgresql+psycopg:// are supported")
    return problems


def _check_mailboxes(config: Config) -> list[str]:
    problems: list[str] = []
    pools = {p.name for p in config.pools}
    seen: set[str] = set()
    for box in config.mailboxes:
        if not _ADDRESS.match(box.address):
            problems.append(f"mailbox.{box.name}.address: not an e-mail address: {box.address!r}")
        if box.pool not in pools:
            problems.append(f"mailbox.{box.name}.pool: no [[pool]] named {box.pool!r}")
        if box.kind not in ("support", "sales"):
            problems.append(f"mailbox.{box.name}.kind: must be support or sales")
        if box.name in seen:
            problems.append(f"mailbox.{box.name}.name: used twice")
        if box.imap is not None and not re.match(r"^(all|unseen|since:\d{4}-\d{2}-\d{2})$", box.imap.start):
            problems.append(f"mailbox.{box.name}.imap.start: all, unseen or since:YYYY-MM-DD")
        if box.imap is not None and not 1 <= box.imap.batch <= 500:
            problems.append(f"mailbox.{box.name}.imap.batch: between 1 and 500")
        if box.imap is not None:
            problems += _check_imap_tls(box.name, box.imap)
        seen.add(box.name)
    return problems


_LOOPBACK: Final = ("127.0.0.1", "::1", "localhost")


def _check_imap_tls(name: str, imap: ImapConfig) -> list[str]:
    if imap.tls and imap.starttls:
        return [f"mailbox.{name}.imap.starttls: use either tls (implicit, port 993) or starttls (143)"]
    if not imap.tls and not imap.starttls and imap.host not in _LOOPBACK:
        return [f"mailbox.{name}.imap.tls: a password goes in plain text only to loopback; "
                "set tls = true or starttls = true"]
    return []


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read, validate and return the configuration at ``path``.

    Raises:
        ConfigError: listing every problem found, each naming its key.
    """
    path = path.resolve()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file (run 'mailgate init')"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: {exc}"]) from None
    env: dict[str, str] = {}
    dotenv = path.parent / ".env"
    if dotenv.exists():
        env.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
    env.update(os.environ if environ is None else environ)
    return _build(path, data, _Loader(env))


def _build(path: Path, data: dict[str, Any], loader: _Loader) -> Config:
    sections = {"gateway", "smtp_in", "smtp_out", "mailbox", "pool", "department", "question",
                "field", "web"}
    for key in data:
        if key not in sections:
            loader.problems.append(f"{key}: unknown key")
    if "gateway" not in data:
        loader.problems.append("gateway: required table is missing")
    gateway = loader.table(GatewayConfig, data.get("gateway", {}), "gateway")
    smtp_in = loader.table(SmtpInConfig, data.get("smtp_in", {}), "smtp_in")
    smtp_out = loader.table(SmtpOutConfig, data["smtp_out"], "smtp_out") if "smtp_out" in data else None
    lists = {
        name: tuple(
            loader.table(cls, item, f"{name}[{i}]") for i, item in enumerate(_list(data, name, loader))
        )
        for name, cls in (("mailbox", MailboxConfig), ("pool", PoolConfig),
                          ("department", DepartmentConfig), ("question", QuestionConfig),
                          ("field", FieldConfig))
    }
    if not lists["mailbox"]:
        loader.problems.append("mailbox: at least one [[mailbox]] is required")
    if not lists["pool"]:
        loader.problems.append("pool: at least one [[pool]] is required")
    web = loader.table(WebConfig, data["web"], "web") if "web" in data else None
    if loader.problems:
        raise ConfigError(loader.problems)
    config = Config(path=path, gateway=gateway, smtp_in=smtp_in, smtp_out=smtp_out,
                    mailboxes=lists["mailbox"], pools=lists["pool"],
                    departments=lists["department"], questions=lists["question"],
                    fields=lists["field"], web=web)
    problems = _check(config)
    if problems:
        raise ConfigError(problems)
    return config


def _list(data: dict[str, Any], name: str, loader: _Loader) -> list[Any]:
    value = data.get(name, [])
    if not isinstance(value, list):
        loader.problems.append(f"{name}: expected [[{name}]] tables")
        return []
    return value
