"""domain: the status transition table, intake decisions and the auto-response policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailgate.domain.autoresponse import AutoResponseFacts, should_auto_respond
from mailgate.domain.categories import CategoryRule, category_for
from mailgate.domain.feedback import is_feedback
from mailgate.domain.folders import CaseFacts, Folder, coarse, folder_of
from mailgate.domain.intake import Action, CaseView, decide
from mailgate.domain.leads import Stage, advance, contacted
from mailgate.domain.reporting import percentile, share, total
from mailgate.domain.schedule import last_period
from mailgate.domain.states import DEFAULT_STATUSES, TRANSITIONS, Category, Event, next_category
from mailgate.errors import Refused, TransitionError

NOW = datetime(2026, 11, 23, tzinfo=UTC)
WINDOW = timedelta(days=14)


def test_every_category_is_reachable_and_has_a_default_status() -> None:
    reachable = {Category.NEW} | set(TRANSITIONS.values())
    assert reachable == set(Category)
    assert {c for _, c in DEFAULT_STATUSES} == set(Category)


@pytest.mark.parametrize(("state", "event"), list(TRANSITIONS))
def test_table_entries_are_what_next_category_returns(state: Category, event: Event) -> None:
    assert next_category(state, event) is TRANSITIONS[state, event]


def test_spec_transitions() -> None:
    assert next_category(Category.NEW, Event.CLAIMED) is Category.IN_PROGRESS
    assert next_category(Category.IN_PROGRESS, Event.OPERATOR_REPLIED) is Category.WAITING_CUSTOMER
    assert next_category(Category.WAITING_CUSTOMER, Event.CUSTOMER_REPLIED) is Category.IN_PROGRESS
    assert next_category(Category.IN_PROGRESS, Event.CONSULTED) is Category.UNDER_CONSULTATION
    assert next_category(Category.UNDER_CONSULTATION, Event.ANSWER_RECEIVED) is Category.IN_PROGRESS
    assert next_category(Category.CLOSED, Event.CUSTOMER_REPLIED_UNOWNED) is Category.NEW
    with pytest.raises(TransitionError):
        next_category(Category.CLOSED, Event.CLAIMED)


def case(category: Category, closed_days_ago: int | None = None) -> CaseView:
    closed = NOW - timedelta(days=closed_days_ago) if closed_days_ago is not None else None
    return CaseView(1, category, False, closed)


@pytest.mark.parametrize(("kind", "view", "action"), [
    ("personal", None, Action.NEW_CASE),
    ("auto_generated", None, Action.NEW_CASE),
    ("personal", case(Category.NEW), Action.APPEND),
    ("personal", case(Category.CLOSED, 3), Action.APPEND),
    ("personal", case(Category.CLOSED, 15), Action.NEW_LINKED),
    ("auto_reply", case(Category.NEW), Action.RECORD),
    ("bounce", case(Category.WAITING_CUSTOMER), Action.RECORD),
    ("auto_generated", case(Category.NEW), Action.RECORD),
    ("auto_reply", None, Action.QUARANTINE),
    ("bounce", None, Action.QUARANTINE),
    ("loop", case(Category.NEW), Action.QUARANTINE),
])
def test_intake_decisions(kind: str, view: CaseView | None, action: Action) -> None:
    assert decide(kind, view, NOW, WINDOW).action is action


def facts(**changes: object) -> AutoResponseFacts:
    base = dict(disposition="personal", sender_trusted=True, null_return_path=False, new_case=True,
                already_answered_case=False, sent_today=0, daily_limit=5)
    base.update(changes)
    return AutoResponseFacts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("change", [
    {"disposition": "auto_reply"}, {"disposition": "bounce"}, {"disposition": "auto_generated"},
    {"sender_trusted": False}, {"null_return_path": True}, {"new_case": False},
    {"already_answered_case": True}, {"sent_today": 5},
])
def test_auto_response_is_suppressed(change: dict[str, object]) -> None:
    assert should_auto_respond(facts(**change))[0] is False


def test_auto_response_to_a_person_on_a_new_case() -> None:
    assert should_auto_respond(facts()) == (True, "new case")


# --- folders (SPEC §11) ---------------------------------------------------------------------


T1 = datetime(2026, 11, 23, 9, tzinfo=UTC)
T2 = datetime(2026, 11, 23, 10, tzinfo=UTC)


@pytest.mark.parametrize(("facts", "expected"), [
    (CaseFacts(Category.NEW, False, False, None, T1), Folder.NEW),
    (CaseFacts(Category.IN_PROGRESS, True, False, None, T1), Folder.NEW),        # owned, not yet acked
    (CaseFacts(Category.IN_PROGRESS, True, True, None, T1), Folder.OPEN),        # acknowledged
    (CaseFacts(Category.WAITING_CUSTOMER, True, False, T2, T1), Folder.OPEN),    # answered
    (CaseFacts(Category.IN_PROGRESS, True, False, T1, T2), Folder.WAITING),      # customer wrote since
    (CaseFacts(Category.UNDER_CONSULTATION, True, True, T1, T2), Folder.WAITING),
    (CaseFacts(Category.NEW, False, False, T1, T2), Folder.NEW),                 # released after an answer
    (CaseFacts(Category.EXPIRED, True, False, None, T1), Folder.EXPIRED_UNANSWERED),
    (CaseFacts(Category.EXPIRED, True, False, T1, T2), Folder.EXPIRED_UNANSWERED),
    (CaseFacts(Category.EXPIRED, True, False, T2, T1), Folder.EXPIRED_CUSTOMER),
    (CaseFacts(Category.CLOSED, True, True, T2, T1), Folder.CLOSED),
])
def test_folder_of(facts: CaseFacts, expected: Folder) -> None:
    assert folder_of(facts) is expected
    assert facts.category in coarse(expected.value)


# --- categories from subject keywords (SPEC §11) ---------------------------------------------

RULES = (CategoryRule("billing", ("invoice", "credit note"), "billing"),
         CategoryRule("hardware", ("printer", "toner")), CategoryRule("other", ("invoice",)))


@pytest.mark.parametrize(("subject", "expected"), [
    ("Question about my INVOICE", "billing"),
    ("Re: the Credit  Note for May", "billing"),          # a phrase, whatever the spacing
    ("invoices for 2026", None),                           # whole words only
    ("reinvoice", None),
    ("Printer: toner leaks", "hardware"),
    ("Invoice for the printer", "billing"),                # the first category added wins
    ("Számla / invoice", "billing"),
    ("", None),
])
def test_category_for(subject: str, expected: str | None) -> None:
    rule = category_for(subject, RULES)
    assert (rule.name if rule else None) == expected


# --- lead stages (SPEC §11) -----------------------------------------------------------------

def test_lead_stages_move_on_only() -> None:
    assert contacted(Stage.NEW) is Stage.CONTACTED and contacted(Stage.QUALIFIED) is Stage.QUALIFIED
    assert advance(Stage.CONTACTED, Stage.QUALIFIED) is Stage.QUALIFIED
    assert advance(Stage.NEW, Stage.CONVERTED) is Stage.CONVERTED
    for current, target in ((Stage.QUALIFIED, Stage.QUALIFIED), (Stage.CONVERTED, Stage.QUALIFIED)):
        with pytest.raises(Refused, match="only moves on"):
            advance(current, target)


# --- feedback or reopen (SPEC §4, §11) ------------------------------------------------------

@pytest.mark.parametrize("text", [
    "Thanks!", "Thank you very much!", "Thanks, it works now!\nCarol",
    "Great, thanks a lot for the quick help 👍",
    "5/5", "★★★★★ thank you", "Perfect, thanks!\n\nBest regards,\nCarol Customer",
    "Danke!", "Vielen Dank für die schnelle Hilfe!", "Super, funktioniert jetzt. Danke, Jana",
    "Merci beaucoup !", "Parfait, merci pour votre aide.", "Gracias!",
    "Muchas gracias por su ayuda, todo bien.",
    "Köszönöm szépen!", "Szuper, működik, köszi!",
])
def test_thanks_only_is_feedback(text: str) -> None:
    assert is_feedback(text)


@pytest.mark.parametrize("text", [
    "", "Thanks, but it is still broken.", "Thanks! Can you also reset my password?",
    "Thank you. The printer does not print again.", "It works on my laptop but not on the desktop, thanks",
    "Thanks for the answer. I ordered the replacement cartridge yesterday and will try it.",
    "Danke, aber es geht immer noch nicht.", "Danke. Leider kommt der Fehler wieder.",
    "Merci, mais ça ne marche toujours pas.", "Gracias, pero sigue sin funcionar.",
    "Köszönöm, de még mindig nem működik.", "ok", "Thanks\nThanks\nThanks\nThanks\nThanks",
    "thanks from the accounting department",
])
def test_anything_else_reopens(text: str) -> None:
    assert not is_feedback(text)


# --- report arithmetic (SPEC §11 "Reports") --------------------------------------------------

def test_percentiles_shares_and_sums() -> None:
    assert percentile([], 50) is None
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.0 and percentile([1.0, 2.0, 3.0, 4.0], 90) == 4.0
    assert percentile([7.0], 90) == 7.0 and percentile(list(map(float, range(1, 11))), 90) == 9.0
    assert share(1, 3) == 33.3 and share(0, 0) == 0.0 and share(2, 2) == 100.0
    assert total(["120.50", "0.25", "", "x"]) == "120.75" and total([]) == "0.00"


# --- report periods (SPEC §2 [[report]]) -----------------------------------------------------

def test_the_period_that_has_just_ended() -> None:
    tz = ZoneInfo("Europe/Budapest")
    now = datetime(2026, 11, 4, 7, 30, tzinfo=UTC)                          # a Wednesday
    def day(month: int, dom: int) -> datetime:
        return datetime(2026, month, dom, tzinfo=tz)

    assert last_period("daily", now, tz) == (day(11, 3), day(11, 4))
    assert last_period("weekly", now, tz) == (day(10, 26), day(11, 2))
    assert last_period("monthly", now, tz) == (day(10, 1), day(11, 1))
    start, end = last_period("daily", datetime(2026, 10, 26, 1, tzinfo=UTC), tz)
    assert end - start == timedelta(hours=25)                              # the DST change
    with pytest.raises(ValueError):
        last_period("hourly", now, tz)
