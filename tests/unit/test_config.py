"""config: typed loading, every problem named, secrets from the environment or .env."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mailgate.config import load_config, parse_duration, parse_size
from mailgate.errors import ConfigError

GOOD = """
[gateway]
name = "Support"
database = "sqlite:///var/mg.db"
secret_env = "MG_SECRET"
reopen_window = "2d"
max_message_size = "10MB"

[[mailbox]]
name = "support"
address = "support@example.com"
pool = "support"

[[pool]]
name = "support"
mode = "pull"
"""
ENV = {"MG_SECRET": "x" * 20}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mailgate.toml"
    path.write_text(text)
    return path


def test_good_config_loads_typed_values(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), ENV)
    assert config.gateway.reopen_window == timedelta(days=2)
    assert config.gateway.max_message_size == 10_000_000
    assert config.gateway.secret == "x" * 20
    assert config.database_url == f"sqlite:///{tmp_path}/var/mg.db"
    assert config.smtp_out is None and config.smtp_in.port == 2525


def test_every_problem_is_reported_with_its_key(tmp_path: Path) -> None:
    bad = GOOD.replace('reopen_window = "2d"', 'reopen_window = "soon"\ncolour = "blue"')
    bad = bad.replace('mode = "pull"', 'mode = "lottery"').replace('pool = "support"\n\n[[pool]]',
                                                                 'pool = "nope"\n\n[[pool]]')
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, bad), ENV)
    text = "\n".join(info.value.problems)
    assert "gateway.reopen_window" in text and "gateway.colour: unknown key" in text
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD.replace('mode = "pull"', 'mode = "lottery"')), ENV)
    assert "pool.support.mode" in info.value.problems[0]


def test_missing_secret_and_required_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD.replace('name = "Support"\n', "")), {})
    text = "\n".join(info.value.problems)
    assert "gateway.name: required key is missing" in text
    assert "MG_SECRET is not set" in text


def test_short_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="16 or more"):
        load_config(write(tmp_path, GOOD), {"MG_SECRET": "short"})


def test_dotenv_beside_the_config_supplies_secrets(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MG_SECRET=from-dotenv-0123456789\n")
    assert load_config(write(tmp_path, GOOD), {}).gateway.secret == "from-dotenv-0123456789"


def test_smtp_out_needs_a_host(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"smtp_out\.host"):
        load_config(write(tmp_path, GOOD + "\n[smtp_out]\nport = 25\n"), ENV)


def test_durations_and_sizes() -> None:
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("4h") == timedelta(hours=4)
    assert parse_duration("30d") == timedelta(days=30)
    assert parse_size("25MB") == 25_000_000 and parse_size("1KiB") == 1024
    with pytest.raises(ValueError):
        parse_duration("4 hours")
    with pytest.raises(ValueError):
        parse_size("lots")


def test_repository_configs_are_valid() -> None:
    root = Path(__file__).resolve().parents[2]
    env = {"MAILGATE_SECRET": "y" * 20, "MAILGATE_SMTP_PASSWORD": "p", "MAILGATE_IMAP_SUPPORT": "p"}
    assert load_config(root / "mailgate.toml", env).smtp_out is None
    example = load_config(root / "config" / "mailgate.example.toml", env)
    assert example.mailboxes[0].imap is not None
    assert load_config(root / "mailgate" / "starter.toml", env).mailboxes[0].name == "support"


def test_migrate_head_constant_matches_the_alembic_scripts() -> None:
    from alembic.script import ScriptDirectory

    from mailgate.storage import migrate

    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert script.get_current_head() == migrate.HEAD


def test_migrations_build_exactly_the_schema_of_the_models(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from mailgate.storage import migrate
    from mailgate.storage.models import Base

    url = f"sqlite:///{tmp_path}/schema.db"
    migrate.upgrade(url)
    assert migrate.current(url) == migrate.HEAD
    engine = create_engine(url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": migrate.include_object})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_imap_tls_choices_and_manager_mode_are_checked(tmp_path: Path) -> None:
    text = GOOD.replace('mode = "pull"', 'mode = "manager"') + """
[[mailbox]]
name = "both"
address = "both@example.com"
pool = "support"
  [mailbox.imap]
  host = "imap.example.com"
  username = "u"
  password_env = "MG_SECRET"
  tls = true
  starttls = true

[[mailbox]]
name = "plain"
address = "plain@example.com"
pool = "support"
  [mailbox.imap]
  host = "imap.example.com"
  username = "u"
  password_env = "MG_SECRET"
  tls = false
"""
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), ENV)
    problems = "\n".join(caught.value.problems)
    assert "mailbox.both.imap.starttls: use either tls" in problems
    assert "mailbox.plain.imap.tls: a password goes in plain text only to loopback" in problems
    assert "pool.support.manager: manager mode needs the manager's address" in problems


def test_web_tables_are_checked(tmp_path: Path) -> None:
    web = ('\n[web]\nlisten = "127.0.0.1:8025"\npublic_url = "https://help.example.com"\n'
           'max_upload = "5MB"\nrate_limit = "20/d"\n[[web.form]]\nname = "sales"\nmailbox = "support"\n')
    config = load_config(write(tmp_path, GOOD + web), ENV)
    assert config.web is not None and config.web.max_upload == 5_000_000
    assert config.web.limit == (20, timedelta(days=1)) and config.web.port == 8025
    bad = web.replace("20/d", "lots").replace('mailbox = "support"', 'mailbox = "nope"\nfields = ["x"]')
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD + bad.replace("https://help.example.com", "help")), ENV)
    assert set(info.value.problems) == {
        "web.public_url: expected http(s)://host[:port], e.g. https://help.example.com",
        "web.rate_limit: expected submissions/unit, e.g. 10/h (s, m, h or d)",
        "web.form.sales.mailbox: no mailbox 'nope'", "web.form.sales.fields: no [[field]] 'x'"}
