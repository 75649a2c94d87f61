"""The mailgate command as an admin runs it: a real subprocess, the default config, a real Maildir."""

from __future__ import annotations

import json
import mailbox
import re
import signal
import smtplib
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.mailer import text_of
from tests.processes import MAILGATE, ONLY_SQLITE, clean_env, default_config, free_port, spawn

pytestmark = pytest.mark.skipif(ONLY_SQLITE, reason="CLI subprocess tests use the default SQLite config")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A copy of the repository's default mailgate.toml on a free port, with a fresh .env."""
    port = free_port()
    default_config(tmp_path, port)
    (tmp_path / "port").write_text(str(port))
    return tmp_path


def mg(workdir: Path, *args: str, stdin: bytes | None = None,
       check: bool = True) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run([*MAILGATE, *args], cwd=workdir, input=stdin, capture_output=True,
                            env=clean_env(), timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"mailgate {args} failed: {result.stderr.decode()}")
    return result


def as_json(result: subprocess.CompletedProcess[bytes]) -> object:
    return json.loads(result.stdout)


def serving(workdir: Path) -> subprocess.Popen[bytes]:
    """``mailgate run`` started in ``workdir`` and accepting SMTP connections."""
    proc = spawn(workdir)
    port = int((workdir / "port").read_text())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            assert proc.poll() is None, (workdir / "daemon.log").read_text()
            time.sleep(0.1)
    raise AssertionError("mailgate run did not start listening within 30 s")


@pytest.fixture
def daemon(workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = serving(workdir)
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def customer_mail(subject: str = "Printer broken") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Carol <carol@customer.example>"
    msg["To"] = "support@example.com"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{time.monotonic_ns()}@customer.example>"
    msg.set_content("It is on fire.\n")
    return msg


def wait_for_maildir(folder: Path, count: int, seconds: float = 10) -> list[EmailMessage]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (folder / "new").is_dir():
            box = mailbox.Maildir(str(folder), factory=None, create=False)
            if len(box) >= count:
                return [m for m in box]
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} mails in {folder}")


def test_run_receives_mail_and_writes_the_auto_response_to_the_maildir(
        workdir: Path, daemon: subprocess.Popen[bytes]) -> None:
    port = int((workdir / "port").read_text())
    started = time.monotonic()
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.send_message(customer_mail())
    [reply] = wait_for_maildir(workdir / "var" / "outbox-maildir", 1)
    # SPEC §10: handed to the relay (here the Maildir) within a second of acknowledgement.
    assert time.monotonic() - started < 1.5
    assert reply["Subject"] == "[MG#1] Printer broken"
    assert reply["To"] == "carol@customer.example"

    # The CLI reads the same database while the daemon runs.
    [case] = as_json(mg(workdir, "ticket", "list", "--json"))
    assert set(case) >= {"id", "tag", "type", "subject", "status", "status_category", "priority",
                         "pool", "owner", "requester", "mailbox", "site", "channel", "category",
                         "created_at", "updated_at"}
    assert (case["tag"], case["status_category"], case["channel"]) == ("MG#1", "new", "email")

    mg(workdir, "ticket", "close", "1")
    mails = wait_for_maildir(workdir / "var" / "outbox-maildir", 2)
    assert any("closed" in text_of(m) for m in mails)

    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=20) == 0


@pytest.mark.reliability(71)
def test_a_second_daemon_on_the_same_sqlite_database_refuses_to_start(
        workdir: Path, daemon: subprocess.Popen[bytes]) -> None:
    second = subprocess.run([*MAILGATE, "run"], cwd=workdir, env=clean_env(), capture_output=True,
                            timeout=30)
    assert second.returncode == 1
    error = second.stderr.decode()
    assert f"another mailgate run (pid {daemon.pid}) is using" in error
    assert "SQLite serves one process; use PostgreSQL to run several" in error
    assert daemon.poll() is None                            # the first one serves on
    with smtplib.SMTP("127.0.0.1", int((workdir / "port").read_text())) as client:
        client.send_message(customer_mail())
    wait_for_maildir(workdir / "var" / "outbox-maildir", 1)
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=20) == 0
    # Once it has stopped, the next one starts.
    after = serving(workdir)
    try:
        assert after.poll() is None
    finally:
        after.send_signal(signal.SIGTERM)
        assert after.wait(timeout=20) == 0


def test_statuses_and_categories_change_while_the_daemon_runs(
        workdir: Path, daemon: subprocess.Popen[bytes]) -> None:
    mg(workdir, "category", "add", "Billing", "--keyword", "invoice", "--keyword", "credit note",
       "--pool", "support")
    mg(workdir, "status", "add", "On hold", "--category", "waiting_customer")
    port = int((workdir / "port").read_text())
    with smtplib.SMTP("127.0.0.1", port) as client:         # the running daemon, no restart
        client.send_message(customer_mail())
        second = customer_mail()
        del second["Subject"], second["Message-ID"]
        second["Subject"], second["Message-ID"] = "My INVOICE is wrong", "<inv@customer.example>"
        client.send_message(second)
    wait_for_maildir(workdir / "var" / "outbox-maildir", 2)
    listed = as_json(mg(workdir, "ticket", "list", "--json"))
    assert isinstance(listed, list)
    assert [(c["subject"], c["category"], c["pool"]) for c in listed] == [
        ("Printer broken", None, "support"), ("My INVOICE is wrong", "Billing", "support")]
    categories = as_json(mg(workdir, "category", "list", "--json"))
    assert categories == [{"name": "Billing", "keywords": ["invoice", "credit note"], "pool": "support",
                           "cases": 1}]
    mg(workdir, "ticket", "edit", "MG#1", "--status", "On hold", "--category", "billing")
    shown = as_json(mg(workdir, "ticket", "show", "1", "--json"))
    assert isinstance(shown, dict)
    assert (shown["status"], shown["status_category"], shown["category"]) == (
        "On hold", "waiting_customer", "Billing")
    unknown = mg(workdir, "ticket", "edit", "1", "--category", "Hardware", check=False)
    assert unknown.returncode != 0
    assert "no category 'Hardware' (categories: Billing)" in unknown.stderr.decode()
    statuses = {s["name"]: s for s in as_json(mg(workdir, "status", "list", "--json"))}  # type: ignore[union-attr]
    assert statuses["On hold"] == {"name": "On hold", "category": "waiting_customer", "cases": 1}
    in_use = mg(workdir, "status", "delete", "On hold", check=False)
    assert in_use.returncode != 0 and "used by 1 case(s): name another with --replace-with" in (
        in_use.stderr.decode())
    mg(workdir, "status", "rename", "On hold", "Paused")
    out = mg(workdir, "status", "delete", "Paused", "--replace-with", "waiting for customer").stdout.decode()
    assert out == "deleted status 'Paused'; 1 case(s) now 'waiting for customer'\n"
    last = mg(workdir, "status", "delete", "closed", check=False)
    assert last.returncode != 0 and "only one of category closed" in last.stderr.decode()
    assert "renamed category 'Billing' to 'Invoices' (2 case(s))" in mg(
        workdir, "category", "rename", "Billing", "Invoices").stdout.decode()
    assert "2 case(s) now have none" in mg(workdir, "category", "delete", "Invoices").stdout.decode()
    table = mg(workdir, "status", "list").stdout.decode().splitlines()
    assert table[0].split() == ["NAME", "CATEGORY", "CASES"] and len(table) == 9


def test_customer_add_activate_and_a_replayed_token(workdir: Path, daemon: subprocess.Popen[bytes]) -> None:
    out = mg(workdir, "customer", "add", "hana@customer.example", "--name", "Hana").stdout.decode()
    assert out.startswith("added customer 1 hana@customer.example (invited); no activation link can be built")
    [welcome] = wait_for_maildir(workdir / "var" / "outbox-maildir", 1)
    token = text_of(welcome).split("activation code (it works once, until ", 1)[1].split("\n\n  ", 1)[1]
    token = token.split("\n", 1)[0]
    assert mg(workdir, "customer", "activate", token).stdout.decode() == "activated hana@customer.example\n"
    again = mg(workdir, "customer", "activate", token, check=False)
    assert again.returncode == 1
    assert again.stderr.decode() == "error: this link was used already; each activation link works once\n"
    shown = as_json(mg(workdir, "customer", "show", "hana@customer.example", "--json"))
    assert isinstance(shown, dict) and shown["state"] == "active" and len(shown["mails"]) == 1
    assert set(shown) == {"id", "email", "name", "state", "created_at", "activated_at", "fields", "cases",
                          "mails"}
    listed = mg(workdir, "customer", "list").stdout.decode().splitlines()
    assert listed[0].split() == ["ID", "EMAIL", "NAME", "STATE", "CREATED_AT", "ACTIVATED_AT"]


def test_stats_json_keys_and_table(workdir: Path) -> None:
    mg(workdir, "deliver", stdin=customer_mail().as_bytes())
    figures = as_json(mg(workdir, "stats", "--json", "--since", "2020-01-01"))
    assert isinstance(figures, dict)
    assert {k: v for k, v in figures.items() if k != "open_by_status"} == {
        "since": "2020-01-01T00:00:00Z", "leads_new": 0, "leads_contacted": 0, "leads_qualified": 0,
        "leads_converted": 0, "unresolved": 1, "overdue": 0, "open_by_pool": {"support": 1}}
    assert sum(figures["open_by_status"].values()) == 1
    lines = mg(workdir, "stats").stdout.decode().splitlines()
    assert lines[1] == "unresolved cases: 1 (0 overdue)" and lines[2] == "open by pool: support 1"


def test_import_an_mbox_and_a_maildir_twice(workdir: Path) -> None:
    first = customer_mail("Old question")
    reply = customer_mail("Re: Old question")
    reply["In-Reply-To"] = first["Message-ID"]
    blocked = customer_mail("Refund now")
    del blocked["From"]
    blocked["From"] = "fraud@evil.example"
    box = mailbox.mbox(workdir / "old.mbox")
    for msg in (first, reply, blocked, first):                  # the last one twice
        box.add(msg)
    box.flush()
    box.close()
    maildir = mailbox.Maildir(workdir / "Archive")
    maildir.add(customer_mail("From the archive"))
    maildir.add(b"no headers at all, just bytes\n")
    maildir.close()
    mg(workdir, "block", "add", "@evil.example")

    summary = as_json(mg(workdir, "import", "old.mbox", "--json"))
    assert summary == {"read": 4, "stored": 3, "duplicates": 1, "quarantined": 1, "cases": 1}
    assert as_json(mg(workdir, "import", "Archive", "--json")) == {
        "read": 2, "stored": 2, "duplicates": 0, "quarantined": 0, "cases": 2}
    again = mg(workdir, "import", "old.mbox").stdout.decode()
    assert again == "read 4, stored 0, duplicates 4, quarantined 0, cases 0\n"
    assert as_json(mg(workdir, "import", "Archive", "--json"))["cases"] == 0  # type: ignore[index]
    listed = as_json(mg(workdir, "ticket", "list", "--json"))
    assert isinstance(listed, list)
    assert [c["subject"] for c in listed] == ["Old question", "From the archive", "(no subject)"]
    shown = as_json(mg(workdir, "ticket", "show", "1", "--json"))
    assert isinstance(shown, dict) and len(shown["messages"]) == 2              # the reply threaded on
    held = as_json(mg(workdir, "quarantine", "list", "--json"))
    assert [q["reason"] for q in held] == ["blocked: @evil.example"]             # type: ignore[union-attr]
    assert as_json(mg(workdir, "outbox", "list", "--json")) == []                # history: no answers
    missing = mg(workdir, "import", "nothing.mbox", check=False)
    assert missing.returncode == 2 and "does not exist" in missing.stderr.decode()


def test_report_formats(workdir: Path) -> None:
    mg(workdir, "deliver", stdin=customer_mail().as_bytes())
    period = ("--since", "2000-01-01", "--until", "2100-01-01")
    data = as_json(mg(workdir, "report", *period, "--format", "json"))
    assert isinstance(data, dict) and data["by"] == "all" and data["rows"][0]["received"] == 1
    assert data["rows"][0]["open_at_end"] == 1
    lines = mg(workdir, "report", *period, "--format", "csv").stdout.decode().splitlines()
    assert lines[0].startswith("key,received,closed,closed_on_time,") and lines[1].startswith("all,1,0,")
    table = mg(workdir, "report", *period, "--by", "pool").stdout.decode().splitlines()
    assert all(len(line) <= 80 for line in table) and "support" in table[2]
    out = workdir / "r.json"
    assert mg(workdir, "report", *period, "--format", "json", "--output", str(out)).stdout.decode() == (
        f"wrote {out}\n")
    assert as_json(mg(workdir, "report", *period, "--format", "json")) == json.loads(out.read_text())
    page = workdir / "r.html"
    mg(workdir, "report", *period, "--format", "html", "--output", str(page))
    html = page.read_text()
    assert html.count("<svg") == 3 and "<script" not in html and "src=" not in html


def test_block_add_list_remove(workdir: Path) -> None:
    assert mg(workdir, "block", "add", "Fraud@Evil.example", "--reason", "chargebacks").stdout.decode() == (
        "blocked address fraud@evil.example\n")
    mg(workdir, "block", "add", "@spam.example")
    mg(workdir, "block", "add", "2001:db8::/32")
    again = mg(workdir, "block", "add", "@SPAM.example", check=False)
    assert again.returncode != 0 and "@spam.example is blocked already" in again.stderr.decode()
    bad = mg(workdir, "block", "add", "evil", check=False)
    assert bad.returncode != 0 and "not an address, @domain or IP/CIDR: 'evil'" in bad.stderr.decode()
    listed = as_json(mg(workdir, "block", "list", "--json"))
    assert isinstance(listed, list)
    assert [(b["value"], b["kind"], b["reason"], b["hits"]) for b in listed] == [
        ("fraud@evil.example", "address", "chargebacks", 0), ("@spam.example", "domain", "", 0),
        ("2001:db8::/32", "ip", "", 0)]
    assert set(listed[0]) == {"id", "value", "kind", "reason", "created_at", "hits"}
    table = mg(workdir, "block", "list").stdout.decode().splitlines()
    assert table[0].split() == ["ID", "VALUE", "KIND", "HITS", "CREATED_AT", "REASON"]
    assert all(len(line) <= 80 for line in table)
    removed = mg(workdir, "block", "remove", "FRAUD@evil.example").stdout.decode()
    assert removed == "unblocked fraud@evil.example\n"
    gone = mg(workdir, "block", "remove", "fraud@evil.example", check=False)
    assert gone.returncode != 0 and "not on the blocklist" in gone.stderr.decode()


def test_run_serves_the_web_pages_and_stops_them_on_sigterm(workdir: Path) -> None:
    web_port = free_port()
    config = workdir / "mailgate.toml"
    config.write_text(config.read_text() + f'''
[web]
listen = "127.0.0.1:{web_port}"
public_url = "http://127.0.0.1:{web_port}"

[[web.form]]
name = "contact"
mailbox = "support"
''')
    proc = serving(workdir)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/form/contact", timeout=5) as page:
                    assert page.status == 200 and b"<h1>Contact Example Support</h1>" in page.read()
                break
            except OSError:
                assert time.monotonic() < deadline, (workdir / "daemon.log").read_text()
                time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{web_port}/form/contact", timeout=2)


def test_ticket_show_json_shape(workdir: Path) -> None:
    raw = customer_mail().as_bytes()
    mg(workdir, "deliver", stdin=raw)
    shown = as_json(mg(workdir, "ticket", "show", "1", "--json"))
    assert isinstance(shown, dict)
    assert {"fields", "cc", "links", "deadlines", "messages"} <= set(shown)
    first = shown["messages"][0]
    assert set(first) >= {"id", "kind", "from", "to", "subject", "message_id", "at", "text", "attachments"}
    assert first["kind"] == "inbound" and first["text"].strip() == "It is on fire."
    text = mg(workdir, "ticket", "show", "1").stdout.decode()
    assert "MG#1" in text and "It is on fire." in text


def test_deliver_and_quarantine_commands(workdir: Path) -> None:
    garbage = b"\r\n\r\n"
    assert mg(workdir, "deliver", stdin=garbage).returncode == 0   # stored, in quarantine
    [entry] = as_json(mg(workdir, "quarantine", "list", "--json"))
    assert set(entry) >= {"id", "reason", "received_at", "source", "size", "sha256"}
    assert entry["reason"] == "empty message"
    assert mg(workdir, "quarantine", "show", str(entry["id"]), "--raw").stdout == garbage
    mg(workdir, "quarantine", "release", str(entry["id"]))
    [again] = as_json(mg(workdir, "quarantine", "list", "--json"))
    assert again["id"] == entry["id"]                               # same verdict after release
    mg(workdir, "quarantine", "delete", str(entry["id"]))
    assert as_json(mg(workdir, "quarantine", "list", "--json")) == []
    missing = mg(workdir, "quarantine", "show", "999", check=False)
    assert missing.returncode == 1
    assert missing.stderr.decode().strip() == "error: no quarantined message 999"


def test_deliver_answers_75_when_it_cannot_store(workdir: Path) -> None:
    config = workdir / "mailgate.toml"
    config.write_text(config.read_text().replace("sqlite:///var/mailgate.db", "sqlite:///var"))
    (workdir / "var").mkdir()
    result = mg(workdir, "deliver", stdin=customer_mail().as_bytes(), check=False)
    assert result.returncode == 75
    assert result.stderr.decode().startswith("error: not stored")


def test_outbox_list_and_retry(workdir: Path) -> None:
    mg(workdir, "deliver", stdin=customer_mail().as_bytes())
    [row] = as_json(mg(workdir, "outbox", "list", "--json"))
    assert set(row) >= {"id", "ticket_id", "to", "subject", "message_id", "state", "attempts",
                        "next_attempt_at", "last_error"}
    assert (row["state"], row["to"]) == ("pending", ["carol@customer.example"])
    assert "1 row(s) due now" in mg(workdir, "outbox", "retry").stdout.decode()


def test_route_explain_writes_nothing(workdir: Path) -> None:
    eml = workdir / "m.eml"
    eml.write_bytes(customer_mail("Question").as_bytes())
    out = mg(workdir, "route", "--explain", str(eml)).stdout.decode()
    assert "action:            new_case" in out and "disposition:       personal" in out
    assert "outcome:           done" in out and "mails_it_would_send: 1" in out
    assert as_json(mg(workdir, "ticket", "list", "--json")) == []
    assert as_json(mg(workdir, "outbox", "list", "--json")) == []
    assert as_json(mg(workdir, "quarantine", "list", "--json")) == []


def test_init_and_check_config(tmp_path: Path) -> None:
    out = mg(tmp_path, "init").stdout.decode()
    assert "wrote" in out and (tmp_path / ".env").read_text().startswith("MAILGATE_SECRET=")
    assert "OK" in mg(tmp_path, "check-config").stdout.decode()
    secret = (tmp_path / ".env").read_text()
    assert "kept" in mg(tmp_path, "init").stdout.decode()
    assert (tmp_path / ".env").read_text() == secret

    (tmp_path / "mailgate.toml").write_text(
        (tmp_path / "mailgate.toml").read_text().replace('mode = "round_robin"', 'mode = "chaos"\nspeed = 3'))
    bad = mg(tmp_path, "check-config", check=False)
    assert bad.returncode == 2
    lines = bad.stderr.decode().strip().splitlines()
    # Every problem in one pass, one key-naming style: the bad mode next to the unknown key.
    assert "config error: pool.support.speed: unknown key" in lines
    assert "config error: pool.support.mode: must be manager, round_robin or pull" in lines


def test_unknown_case_is_one_line_error(workdir: Path) -> None:
    result = mg(workdir, "ticket", "show", "42", check=False)
    assert (result.returncode, result.stderr.decode()) == (1, "error: no case 42\n")


def test_staff_and_pools_are_managed_live_from_the_cli(workdir: Path) -> None:
    mg(workdir, "user", "add", "bob@example.com", "--name", "Bob", "--pool", "support:2",
       "--alias", "Bob@Home.Example")
    mg(workdir, "user", "add", "carol@example.com", "--name", "Carol", "--role", "sales",
       "--role", "supervisor")
    mg(workdir, "user", "add", "tim@example.com", "--name", "Tim", "--trainee", "--supervisor", "carol")
    mg(workdir, "pool", "add-member", "support", "carol@example.com", "--priority", "3")
    mg(workdir, "user", "absent", "bob", "--until", "2099-12-24", "--deputy", "carol@example.com")

    users = {u["email"]: u for u in as_json(mg(workdir, "user", "list", "--json"))}
    assert users["bob@example.com"]["aliases"] == ["bob@home.example"]
    assert users["bob@example.com"]["absent_until"] == "2099-12-24T23:59:59.999999Z"
    assert users["bob@example.com"]["deputy"] == "carol@example.com"
    assert users["carol@example.com"]["roles"] == ["sales", "supervisor"]
    assert users["tim@example.com"]["supervisor"] == "carol@example.com"
    members = as_json(mg(workdir, "pool", "members", "support", "--json"))
    assert [(m["email"], m["priority"], m["absent"]) for m in members] == [
        ("bob@example.com", 2, True), ("carol@example.com", 3, False)]

    mg(workdir, "user", "back", "bob@example.com")
    mg(workdir, "pool", "remove-member", "support", "carol@example.com")
    members = as_json(mg(workdir, "pool", "members", "support", "--json"))
    assert [(m["email"], m["absent"]) for m in members] == [("bob@example.com", False)]

    for args, message in [
        (("user", "add", "bob@example.com", "--name", "B"), "already a staff member"),
        (("user", "add", "x@example.com", "--name", "X", "--pool", "nope"), "no pool 'nope'"),
        (("user", "add", "y@example.com", "--name", "Y", "--trainee"), "needs a supervisor"),
        (("user", "add", "bob@home.example", "--name", "Z"), "alias"),
        (("user", "absent", "bob", "--until", "2000-01-01"), "in the future"),
        (("user", "edit", "nobody@example.com", "--name", "N"), "no staff member"),
    ]:
        result = mg(workdir, *args, check=False)
        assert result.returncode == 1 and message in result.stderr.decode(), (args, result.stderr)
    mg(workdir, "user", "remove", "tim@example.com")
    assert "tim@example.com" not in mg(workdir, "user", "list").stdout.decode()


def test_ticket_assign_and_edit_from_the_cli(workdir: Path) -> None:
    mg(workdir, "user", "add", "bob@example.com", "--name", "Bob", "--pool", "support")
    mg(workdir, "user", "add", "sam@example.com", "--name", "Sam", "--role", "sales")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "ann@customer.example", "support@example.com", "Help"
    msg.set_content("Please help.\n")
    mg(workdir, "deliver", stdin=msg.as_bytes())
    owner = as_json(mg(workdir, "ticket", "show", "1", "--json"))["owner"]
    assert owner == "bob@example.com"                             # round robin: the only operator

    mg(workdir, "ticket", "assign", "1", "sam")
    shown = as_json(mg(workdir, "ticket", "show", "1", "--json"))
    assert shown["owner"] == "sam@example.com"
    edited = as_json(mg(workdir, "ticket", "edit", "1", "--priority", "urgent", "--category", "billing",
                        "--subject", "Help with invoice", "--status", "waiting for customer", "--json"))
    assert (edited["priority"], edited["category"], edited["subject"], edited["status"]) == (
        "urgent", "billing", "Help with invoice", "waiting for customer")
    bad = mg(workdir, "ticket", "edit", "1", "--set", "nosuch=1", check=False)
    assert bad.returncode == 1 and "no field 'nosuch'" in bad.stderr.decode()
    bad = mg(workdir, "ticket", "assign", "1", "nobody", check=False)
    assert bad.returncode == 1 and "no staff member" in bad.stderr.decode()

    # Queued for the daemon's sender: Bob's forward and notice, Sam's forward.
    rows = as_json(mg(workdir, "outbox", "list", "--json"))
    to = sorted(r["to"][0] for r in rows if r["to"][0].endswith("@example.com"))
    assert to == ["bob@example.com", "bob@example.com", "sam@example.com"]


def test_routes_prints_the_table_and_explain_names_the_route_taken(workdir: Path) -> None:
    table = mg(workdir, "routes").stdout.decode().splitlines()
    assert table[0].split()[:2] == ["1.", "blocked"] and table[1].split()[:2] == ["2.", "staff_next"]
    assert table[-1].split()[1] == "customer"
    eml = workdir / "m.eml"
    eml.write_bytes(customer_mail("Question").as_bytes())
    out = mg(workdir, "route", "--explain", str(eml)).stdout.decode()
    assert "route:             customer: anything else" in out
    passed = next(line for line in out.splitlines() if line.startswith("passed_over:"))
    assert "staff_next (not sent to +next by a staff member)" in passed and "unwanted" in passed


def test_the_cli_reads_well(workdir: Path) -> None:
    long_subject = "The printer on the third floor makes a noise like a jet engine and smells of toast"
    mg(workdir, "deliver", stdin=customer_mail(long_subject).as_bytes())
    mg(workdir, "user", "add", "bob@example.com", "--name", "Bob Builder", "--pool", "support")

    # Every table fits 80 columns: long cells are cut with …, times read as ages, lists joined.
    for args in (("ticket", "list"), ("user", "list"), ("outbox", "list"), ("mailbox", "list"),
                 ("quarantine", "list"), ("pool", "members", "support")):
        lines = mg(workdir, *args).stdout.decode().splitlines()
        assert lines and all(len(line) <= 80 for line in lines), (args, lines)
    table = mg(workdir, "ticket", "list").stdout.decode()
    assert "…" in table and "MG#1" in table and "carol@customer.example" in table
    assert not re.search(r"\d{4}-\d\d-\d\dT", table) and " now " in table          # an age, not ISO
    assert "[" not in mg(workdir, "user", "list").stdout.decode()          # no Python lists

    # A case as people write it.
    assert "tag:         MG#1" in mg(workdir, "ticket", "show", "MG#1").stdout.decode()
    assert as_json(mg(workdir, "ticket", "show", "mg#1", "--json"))["id"] == 1    # type: ignore[index]

    # Unknown names in filters say which ones there are.
    for args, named in ((("--status", "done"), "statuses: received, in progress"),
                        (("--pool", "billing"), "(pools: support)"),
                        (("--owner", "eve@example.com"), "staff: bob@example.com")):
        result = mg(workdir, "ticket", "list", *args, check=False)
        assert result.returncode == 1 and named in result.stderr.decode(), result.stderr
    result = mg(workdir, "ticket", "edit", "1", "--status", "done", check=False)
    assert result.returncode == 1 and "statuses: received" in result.stderr.decode()

    # SMTP-fed mailboxes count what they took in, too.
    [box, *_] = as_json(mg(workdir, "mailbox", "list", "--json"))  # type: ignore[misc]
    assert (box["intake"], box["ingested"]) == ("smtp", 1) and box["last_received_at"]

    # Receipts can be turned off per user.
    shown = as_json(mg(workdir, "user", "edit", "bob@example.com", "--no-receipts", "--json"))
    assert shown["receipts"] is False                                      # type: ignore[index]
