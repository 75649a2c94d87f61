"""Which admin-defined category a new case's subject picks (SPEC §11), free of I/O.

A keyword matches as a whole word (or phrase), whatever its case: ``invoice`` picks
"Question about my INVOICE" but not "invoices" or "reinvoice". The first category, in the order
the admin added them, with a matching keyword wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CategoryRule:
    name: str
    keywords: tuple[str, ...]
    pool: str = ""


def _pattern(keyword: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in keyword.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


def category_for(subject: str, rules: Iterable[CategoryRule]) -> CategoryRule | None:
    for rule in rules:
        if any(k.strip() and _pattern(k).search(subject) for k in rule.keywords):
            return rule
    return None
