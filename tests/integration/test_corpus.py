"""Every real-world message in ../shared/corpora goes through the pipeline: a case or quarantine,
never a crash, never lost."""

from __future__ import annotations

import collections

import pytest
from sqlalchemy import func, select

from mailgate.app import App
from mailgate.intake.inbox import RawMessage
from mailgate.storage.models import Inbound, MailMessage
from tests import corpus

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not corpus.available(), reason="../shared/corpora not found")]


async def test_whole_corpus_becomes_cases_or_quarantine(app: App) -> None:
    ids: dict[str, int] = {}
    for name, raw in corpus.raw_messages():
        receipt = await app.inbox.accept(
            RawMessage(data=raw, source="import", rcpt_to=("support@example.com",)))
        ids[name] = receipt.inbound_id
    assert len(ids) > 1400
    await app.process_pending()

    rows, on_cases, total = await app.ctx.db.run(lambda s: (
        s.execute(select(Inbound.id, Inbound.state, Inbound.reason, Inbound.ticket_id)).all(),
        set(s.scalars(select(MailMessage.inbound_id).where(MailMessage.inbound_id.is_not(None)))),
        s.scalar(select(func.count()).select_from(Inbound))))
    states = collections.Counter(state for _, state, _, _ in rows)
    crashes = [(i, reason) for i, state, reason, _ in rows if reason.startswith("processing error")]
    assert crashes == []
    assert set(ids.values()) == {i for i, *_ in rows} and total == len(rows)
    assert states["pending"] == 0
    assert {i for i, state, _, _ in rows if state == "done"} == on_cases
    assert all(ticket for _, state, _, ticket in rows if state == "done")
    reasons = collections.Counter(r.split(":")[0] for _, state, r, _ in rows if state == "quarantined")
    print(f"\ncorpus: {len(ids)} messages, {len(rows)} distinct, {dict(states)}; "
          f"quarantine reasons {dict(reasons)}")
