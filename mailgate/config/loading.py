"""Loading ``mailgate.toml`` into the dataclasses of ``model``, validated once at start-up.

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
from datetime import timedelta
from pathlib import Path
from typing import Any, Final, Union, get_args, get_origin, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from mailgate.config.model import (
    Config,
    DepartmentConfig,
    FieldConfig,
    GatewayConfig,
    ImapConfig,
    MailboxConfig,
    PoolConfig,
    QuestionConfig,
    ReportConfig,
    SmtpInConfig,
    SmtpOutConfig,
    WebConfig,
    parse_duration,
    parse_size,
)
from mailgate.errors import ConfigError

_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


class _Loader:
    """Converts TOML tables into the dataclasses above, collecting every problem."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []

    def table(self, cls: type[Any], data: object, where: str) -> Any:
        if not isinstance(data, dict):
            self.problems.append(f"{where}: expected a table")
            return None
        known = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("resolved")}
        for key in data:
            if key not in known:
                self.problems.append(f"{where}.{key}: unknown key")
        values = self._values(cls, known, data, where)
        for fld in dataclasses.fields(cls):
            if fld.metadata.get("resolved"):
                values[fld.name] = self.secret(data, fld.name, where)
        try:
            return cls(**values)
        except TypeError:
            return None

    def _values(self, cls: type[Any], known: dict[str, dataclasses.Field[Any]], data: dict[str, Any],
                where: str) -> dict[str, Any]:
        hints = get_type_hints(cls)
        values: dict[str, Any] = {}
        for name, fld in known.items():
            if name in data:
                before = len(self.problems)
                value = self.value(hints[name], data[name], f"{where}.{name}", fld)
                if len(self.problems) == before:     # a bad value keeps the default: checks go on
                    values[name] = value
            elif fld.default is dataclasses.MISSING and fld.default_factory is dataclasses.MISSING:
                self.problems.append(f"{where}.{name}: required key is missing")
        return values

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
    problems = _check_mailboxes(config) + _check_web(config) + _check_reports(config)
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
    return problems + _check_gateway(config.gateway)


def _check_gateway(gateway: GatewayConfig) -> list[str]:
    problems = []
    try:
        ZoneInfo(gateway.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"gateway.timezone: not a time zone like 'Europe/Budapest': {gateway.timezone!r}")
    if gateway.admin_address and not _ADDRESS.match(gateway.admin_address):
        problems.append(f"gateway.admin_address: not an e-mail address: {gateway.admin_address!r}")
    unknown = set(re.findall(r"{(\w*)}", gateway.from_name)) - {"gateway", "operator"}
    if unknown:
        problems.append(f"gateway.from_name: only {{gateway}} and {{operator}} are replaced, not "
                        f"{{{sorted(unknown)[0]}}}")
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


def _check_reports(config: Config) -> list[str]:
    problems = []
    for report in config.reports:
        where = f"report.{report.name}"
        if report.every not in ("daily", "weekly", "monthly"):
            problems.append(f"{where}.every: daily, weekly or monthly")
        if report.by not in ("", "operator", "pool", "department"):
            problems.append(f"{where}.by: operator, pool or department")
        if report.format not in ("html", "csv", "table"):
            problems.append(f"{where}.format: html, csv or table")
        if not report.to or not all(_ADDRESS.match(a) for a in report.to):
            problems.append(f"{where}.to: one or more e-mail addresses")
    return problems


def _check_web(config: Config) -> list[str]:
    web = config.web
    if web is None:
        return []
    problems = []
    if not re.match(r"^[^:]+:\d+$", web.listen.replace("[", "").replace("]", "")):
        problems.append("web.listen: expected host:port")
    if not re.match(r"^https?://[^/\s]+$", web.public_url.rstrip("/")):
        problems.append("web.public_url: expected http(s)://host[:port], e.g. https://help.example.com")
    if not re.match(r"^\d+/[smhd]$", web.rate_limit):
        problems.append("web.rate_limit: expected submissions/unit, e.g. 10/h (s, m, h or d)")
    boxes = {m.name for m in config.mailboxes}
    fields = {f.name for f in config.fields}
    names: set[str] = set()
    for form in web.form:
        if not re.match(r"^[a-z0-9][a-z0-9_-]{0,39}$", form.name) or form.name in names:
            problems.append(f"web.form.{form.name}.name: lower-case letters, digits, - and _, unique")
        names.add(form.name)
        if form.mailbox not in boxes:
            problems.append(f"web.form.{form.name}.mailbox: no mailbox {form.mailbox!r}")
        problems += [f"web.form.{form.name}.fields: no [[field]] {name!r}" for name in form.fields
                     if name not in fields]
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
                "field", "web", "report"}
    for key in data:
        if key not in sections:
            loader.problems.append(f"{key}: unknown key")
    if "gateway" not in data:
        loader.problems.append("gateway: required table is missing")
    gateway = loader.table(GatewayConfig, data.get("gateway", {}), "gateway")
    smtp_in = loader.table(SmtpInConfig, data.get("smtp_in", {}), "smtp_in")
    smtp_out = loader.table(SmtpOutConfig, data["smtp_out"], "smtp_out") if "smtp_out" in data else None
    lists = {
        name: tuple(t for t in (loader.table(cls, item, _where(name, i, item))
                                for i, item in enumerate(_list(data, name, loader))) if t is not None)
        for name, cls in (("mailbox", MailboxConfig), ("pool", PoolConfig),
                          ("department", DepartmentConfig), ("question", QuestionConfig),
                          ("field", FieldConfig), ("report", ReportConfig))
    }
    if not data.get("mailbox"):
        loader.problems.append("mailbox: at least one [[mailbox]] is required")
    if not data.get("pool"):
        loader.problems.append("pool: at least one [[pool]] is required")
    web = loader.table(WebConfig, data["web"], "web") if "web" in data else None
    problems = loader.problems
    if gateway is None or smtp_in is None:
        raise ConfigError(problems)
    config = Config(path=path, gateway=gateway, smtp_in=smtp_in, smtp_out=smtp_out,
                    mailboxes=lists["mailbox"], pools=lists["pool"],
                    departments=lists["department"], questions=lists["question"],
                    fields=lists["field"], web=web, reports=lists["report"])
    problems += [p for p in _check(config) if p not in problems]    # every problem in one pass
    if problems:
        raise ConfigError(problems)
    return config


def _where(section: str, index: int, item: object) -> str:
    """How problems name a ``[[section]]`` table: by its name (``pool.support``), else its place."""
    name = item.get("name") if isinstance(item, dict) else None
    return f"{section}.{name}" if isinstance(name, str) and name else f"{section}[{index}]"


def _list(data: dict[str, Any], name: str, loader: _Loader) -> list[Any]:
    value = data.get(name, [])
    if not isinstance(value, list):
        loader.problems.append(f"{name}: expected [[{name}]] tables")
        return []
    return value
