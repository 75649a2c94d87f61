"""A real Dovecot IMAP server for tests: own config in a temp dir, a free loopback port, users
added on the fly (RELIABILITY §3, harness D)."""

from __future__ import annotations

import imaplib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PASSWORD = "imap-test-password"


def available() -> bool:
    return shutil.which("dovecot") is not None and shutil.which("doveadm") is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Dovecot:
    def __init__(self, tls: bool = False) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="mg-dovecot-"))
        self.dir.chmod(0o755)   # dovecot's auth process (user dovecot) must read the passwd file
        self.port = _free_port()
        self.tls = tls
        self.tls_port = _free_port() if tls else 0
        self.cert = self.dir / "cert.pem"
        self.conf = self.dir / "dovecot.conf"
        self.passwd = self.dir / "users"
        self.log = self.dir / "dovecot.log"

    def start(self) -> None:
        for sub in ("run", "state", "mail"):
            (self.dir / sub).mkdir()
        (self.dir / "mail").chmod(0o777)
        self.passwd.mkdir()
        ssl = "no"
        if self.tls:    # a self-signed certificate for 127.0.0.1; tests trust it via SSL_CERT_FILE
            key = self.dir / "key.pem"
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                            "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                            "-keyout", str(key), "-out", str(self.cert)], check=True, capture_output=True)
            key.chmod(0o644)
            ssl = f"yes\nssl_cert = <{self.cert}\nssl_key = <{key}"
        self.conf.write_text(f"""
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.log}
listen = 127.0.0.1
protocols = imap
ssl = {ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_cache_size = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.passwd}/%u
}}
userdb {{
  driver = static
  args = uid=65534 gid=65534 home={self.dir}/mail/%u
}}
first_valid_uid = 100
mail_location = maildir:{self.dir}/mail/%u
mail_fsync = always
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
    ssl = {"yes" if self.tls else "no"}
  }}
}}
service anvil {{
  chroot =
}}
protocol imap {{
  mail_max_userip_connections = 200
}}
""")
        subprocess.run(["dovecot", "-c", str(self.conf)], check=True)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"dovecot did not start: {self.log.read_text()}")

    def stop(self) -> None:
        subprocess.run(["doveadm", "-c", str(self.conf), "stop"], check=False, capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def add_user(self, name: str, password: str = PASSWORD) -> str:
        # One passwd file per user: Dovecot opens it on first use, so no reload race.
        path = self.passwd / name
        path.write_text(f"{name}:{{PLAIN}}{password}\n")
        path.chmod(0o644)
        return name

    def client(self, user: str) -> imaplib.IMAP4:
        conn = imaplib.IMAP4("127.0.0.1", self.port)
        conn.login(user, PASSWORD)
        return conn

    def append(self, user: str, messages: list[bytes], folder: str = "INBOX",
               flags: str | None = None) -> None:
        conn = self.client(user)
        try:
            for data in messages:
                conn.append(folder, flags, None, data)
        finally:
            conn.logout()

    def fill_maildir(self, user: str, count: int, flags: str = "S") -> None:
        """Write ``count`` small messages straight into the user's INBOX as Maildir files in
        ``cur/`` with ``flags`` (S: seen): far faster than APPEND for a mailbox of old mail."""
        root = self.dir / "mail" / user
        for sub in ("cur", "new", "tmp"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        base = int(time.time()) - 365 * 86400
        for n in range(count):
            path = root / "cur" / f"{base + n}.M{n}P1.old:2,{flags}"
            path.write_bytes(b"From: Old Customer <old@customer.example>\r\nTo: support@example.com\r\n"
                             b"Subject: Old message %d\r\nMessage-ID: <old-%d@customer.example>\r\n"
                             b"Date: Mon, 1 Dec 2025 10:00:00 +0000\r\n\r\nAnswered long ago.\r\n" % (n, n))
        for path in (root, *root.rglob("*")):
            os.chown(path, 65534, 65534)        # the userdb's uid: Dovecot reads them as that user

    def count(self, user: str, folder: str) -> int:
        conn = self.client(user)
        try:
            status, data = conn.status(folder, "(MESSAGES)")
            if status != "OK":
                return -1
            return int(data[0].split(b"MESSAGES ")[1].rstrip(b")"))  # type: ignore[union-attr]
        finally:
            conn.logout()

    def doveadm(self, *args: str) -> str:
        result = subprocess.run(["doveadm", "-c", str(self.conf), *args], capture_output=True, text=True,
                                check=True)
        return result.stdout
