"""Bounce scoring rules (pure)."""

from __future__ import annotations

from mailgate.domain.bounces import Failure, Severity, failures, severity, suppressed


def test_severity_of_dsn_blocks() -> None:
    assert severity("failed", "5.1.1") is Severity.HARD
    assert severity("delayed", "4.4.7") is Severity.SOFT
    assert severity("failed", "4.2.2") is Severity.SOFT          # temporary, whatever the action says
    assert severity("delivered", "2.0.0") is None
    assert severity("relayed", "2.0.0") is None


def test_failures_pair_blocks_and_fall_back_to_the_header() -> None:
    assert failures(["failed", "delayed"], ["5.1.1", "4.4.7"], ["a@x.example", "<B@Y.example>"]) == [
        Failure("a@x.example", Severity.HARD, "5.1.1"), Failure("b@y.example", Severity.SOFT, "4.4.7")]
    assert failures([], [], [], ["c@z.example"]) == [Failure("c@z.example", Severity.HARD, "5.0.0")]
    assert failures(["delivered"], ["2.0.0"], ["a@x.example"]) == []


def test_threshold() -> None:
    assert not suppressed(2, 3) and suppressed(3, 3) and not suppressed(100, 0)
