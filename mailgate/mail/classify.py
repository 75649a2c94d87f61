"""What kind of mail this is: personal, auto-reply, auto-generated/bulk, bounce, or our own loop.

RFC 3834 §2 (Auto-Submitted), §5 (Precedence/List-*), RFC 3464 (DSNs), plus the heuristics that
real vacation responders need because many omit the headers (RELIABILITY rows 25-32).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final

from mailgate.mail.parse import ParsedMail


class Disposition(StrEnum):
    PERSONAL = "personal"
    AUTO_REPLY = "auto_reply"
    AUTO_GENERATED = "auto_generated"
    BOUNCE = "bounce"
    LOOP = "loop"

    @property
    def automatic(self) -> bool:
        """True for anything a machine sent: never answer it automatically."""
        return self is not Disposition.PERSONAL


_AUTO_SUBJECT: Final = re.compile(
    r"^\s*(?:auto(?:matic)?[ -]?(?:reply|response|antwort)|out of (?:the )?office|"
    r"abwesenheitsnotiz|autosvar|automatisch antwoord|réponse automatique|"
    r"respuesta automática|away until|vacation|i am (?:currently )?(?:out|away))",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT: Final = re.compile(
    r"(?:undeliver|delivery (?:status notification|failure|has failed)|returned mail|"
    r"mail delivery failed|failure notice|delivery notification|nondeliverable|"
    r"non-delivery|unzustellbar|could not be delivered|mail failure|message .{0,40}delayed|"
    r"warning: message|delivery (?:delay|problem))",
    re.IGNORECASE,
)
_DAEMON: Final = re.compile(r"^(?:mailer-daemon|post_?master|mail-daemon|mailerdaemon)@", re.IGNORECASE)
#: multipart/report kinds that are delivery or abuse reports (RFC 3464, RFC 5965).
_REPORTS: Final = ("delivery-status", "feedback-report")
_NOREPLY: Final = re.compile(r"^(?:no-?reply|do-?not-?reply|noreply-[^@]*|bounces?)(?:[+-][^@]*)?@", re.I)


def classify(mail: ParsedMail, loop_marker: str, own_addresses: frozenset[str]) -> Disposition:
    """Classify ``mail``; ``own_addresses`` are the supervised addresses (local@domain)."""
    if _is_loop(mail, loop_marker, own_addresses):
        return Disposition.LOOP
    if _is_bounce(mail):
        return Disposition.BOUNCE
    auto = mail.header("auto-submitted").split(";")[0].strip().lower()
    if auto == "auto-replied" or mail.header("x-autoreply") or mail.header("x-autorespond"):
        return Disposition.AUTO_REPLY
    if _AUTO_SUBJECT.match(mail.subject):
        return Disposition.AUTO_REPLY
    if "report-type=disposition-notification" in mail.header("content-type").lower():
        return Disposition.AUTO_REPLY
    if auto and auto != "no":
        return Disposition.AUTO_GENERATED
    if _is_bulk(mail):
        return Disposition.AUTO_GENERATED
    return Disposition.PERSONAL


def _is_loop(mail: ParsedMail, loop_marker: str, own: frozenset[str]) -> bool:
    if loop_marker and loop_marker in mail.header("x-mailgate-loop"):
        return True
    if mail.sender is None:
        return False
    local, _, domain = mail.sender.addr.partition("@")
    return f"{local.split('+')[0]}@{domain}" in own


def _is_bounce(mail: ParsedMail) -> bool:
    if mail.bounce is not None:
        return True
    ctype = mail.header("content-type").lower()
    if any(f"report-type={kind}" in ctype.replace('"', "") for kind in _REPORTS):
        return True
    if mail.header("x-failed-recipients"):
        return True
    sender = mail.sender.addr if mail.sender else ""
    null_path = mail.header("return-path").strip() == "<>"
    from_daemon = bool(_DAEMON.match(sender))
    if from_daemon and null_path:
        return True
    return (from_daemon or null_path or not sender) and bool(_BOUNCE_SUBJECT.search(mail.subject))


def _is_bulk(mail: ParsedMail) -> bool:
    precedence = mail.header("precedence").strip().lower()
    if precedence in ("bulk", "list", "junk"):
        return True
    if mail.header("list-id") or mail.header("list-unsubscribe") or mail.header("list-post"):
        return True
    sender = mail.sender.addr if mail.sender else ""
    return bool(_DAEMON.match(sender) or _NOREPLY.match(sender))
