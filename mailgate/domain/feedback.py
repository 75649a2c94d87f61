"""Whether a reply to a closed case is only thanks or a rating (SPEC §4, §11): feedback, which
is kept on the case and does not reopen it. Anything else reopens.

The rule errs towards reopening: a reply counts as feedback only when it is short (four lines,
200 characters), asks nothing (no "?"), says thanks or rates (a thanks word, "5/5", stars), has
no word of a problem or of "not / still / but" in English, German, French, Spanish or Hungarian,
and every other word is a courtesy word or one of at most two trailing name words ("Carol
Customer"). "Thanks, it works now!" is feedback; "Thanks, but it is still broken" reopens.
"""

from __future__ import annotations

import re
from typing import Final


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_THANKS: Final = _words("""
thanks thank thx ty cheers great perfect excellent awesome brilliant wonderful fantastic works
worked solved resolved fixed good nice
danke dank vielen herzlichen super prima perfekt funktioniert gelöst klasse toll spitze
merci parfait génial super résolu fonctionne marche excellent impeccable
gracias perfecto genial excelente resuelto funciona solucionado estupendo
köszönöm köszi köszönjük kösz szuper tökéletes működik megoldódott remek kiváló
""")
_STOP: Final = _words("""
not no never still but however again problem problems issue issues broken error wrong yet
doesn't didn't isn't won't can't cannot don't doesnt didnt isnt wont cant dont unfortunately
nicht kein keine keinen noch aber immer wieder leider problem fehler falsch
pas ne toujours mais encore problème erreur plus malheureusement jamais
todavía pero sigue problema error aún nunca desgraciadamente
nem még de mégsem probléma hiba sajnos soha
""")
_COURTESY: Final = _words("""
a an and so very much lot lots many you all your for the this that it is was now everything
help quick fast answer reply support team fine ok okay hi hello dear regards best kind bye
have day nice great really indeed as always
für die der das schnelle schnell hilfe ihnen dir alles jetzt ist es hat geklappt sehr viele
grüße gruß gruss liebe lieben mfg viel tag schönen einen und
beaucoup pour votre ton aide tout est bien ça ca c rapide cordialement bonne journée très et
muchas muchísimas por su tu ayuda todo bien está ya saludos muy rápida y un saludo
szépen a az segítséget minden rendben most már jó üdvözlettel nagyon gyors és
""")
_RATING: Final = re.compile(r"(\b\d{1,2}\s*/\s*(5|10)\b|[★⭐]{1,5})")
_WORD: Final = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)


def is_feedback(text: str) -> bool:
    """True when ``text`` (a reply's new text, quotes removed) is only thanks or a rating."""
    stripped = text.strip()
    lines = [line for line in stripped.splitlines() if line.strip()]
    if not stripped or "?" in stripped or len(lines) > 4 or len(stripped) > 200:
        return False
    words = _WORD.findall(stripped)
    lowered = [w.lower() for w in words]
    if any(w in _STOP for w in lowered):
        return False
    if not (any(w in _THANKS for w in lowered) or _RATING.search(stripped)):
        return False
    others = [(w, low) for w, low in zip(words, lowered, strict=True) if low not in _THANKS | _COURTESY]
    if len(others) > 2:
        return False
    # What is left may only be the writer's name, at the end, capitalised ("Thanks! Carol").
    tail = [w for w, _ in others]
    return not tail or (words[-len(tail):] == tail and all(w[:1].isupper() for w in tail))
