"""My cases by mail (SPEC §4, §11): ``support+status@…`` (or the subject ``status``) is answered
with the sender's open and recent cases, to the sender's own address only.

Never to an automatic, unverifiable or untrusted sender, and capped like auto-responses (the
same per-sender daily limit), so it cannot be turned into a mail cannon or an oracle about
someone else's cases. The request opens no case. A route handler for ``routes.ROUTES``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mailgate.cases.context import Context
from mailgate.cases.inbound import Analysis, Handled
from mailgate.domain.autoresponse import AutoResponseFacts, should_auto_respond
from mailgate.domain.effects import AnswerSender
from mailgate.domain.kinds import InboundState
from mailgate.storage import mailstate, reads


def answer(session: Session, ctx: Context, msg: Analysis, now: datetime) -> Handled:
    """Answer a status request, or record why not."""
    mail, row = msg.mail, msg.row
    if not msg.sender:
        return Handled(InboundState.QUARANTINED, None,
                       "status request: the sender could not be verified, so it is not answered")
    _, today = mailstate.auto_responses(session, msg.sender, None, now)
    ok, why = should_auto_respond(AutoResponseFacts(
        disposition=msg.disposition.value, sender_trusted=mail.sender_trusted,
        null_return_path=(row.source in ("smtp", "lmtp") and not row.mail_from)
        or mail.header("return-path").strip() == "<>",
        new_case=True, already_answered_case=False, sent_today=today,
        daily_limit=ctx.config.gateway.autoresponse_daily_limit, imported=row.source == "import"))
    if not ok:
        return Handled(InboundState.DONE, None, f"status request not answered: {why}")
    found = reads.my_cases(session, msg.sender, now - ctx.config.gateway.reopen_window)
    mailstate.record_auto_response(session, msg.sender, None, now)
    box = ctx.mailbox_for(row.rcpt_to, row.mailbox)
    listed = [{"tag": ctx.tag(c.id), "subject": c.subject, "status": c.status,
               "answer": "\n".join(c.latest_answer.strip().splitlines()[:3])} for c in found]
    return Handled(InboundState.DONE, None, f"status request answered ({len(found)} case(s))", (
        AnswerSender("my_cases", msg.sender, box.name, in_reply_to=mail.message_id,
                     context={"cases": listed, "address": msg.sender}),))
