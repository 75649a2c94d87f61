"""The report's charts as inline SVG (pygal, ``js=[]``: no script, nothing fetched)."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import pygal  # type: ignore[import-untyped]
from pygal.style import Style  # type: ignore[import-untyped]

# pygal appends a sys.meta_path finder for its map plugins that has no find_spec(): every later
# import that no other finder resolves then warns (ImportWarning). We use no maps: take it out.
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "PluginImportFixer"]

_STYLE = Style(background="white", plot_background="white", foreground="#1b1f23",
               foreground_strong="#1b1f23", foreground_subtle="#57606a",
               colors=("#2f6f4f", "#7fb89a", "#b3261e", "#e59a93", "#24415e"), font_family="sans-serif")


_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)


def _svg(chart: Any) -> str:
    """Inline SVG: no XML declaration, and without the config ``<script>`` pygal writes even with
    ``js=[]`` (inert without pygal's JavaScript, but the page is to carry no script at all)."""
    rendered: str = chart.render(is_unicode=True)
    return _SCRIPT.sub("", rendered[rendered.index("<svg"):])


def volume(days: Sequence[str], counts: Sequence[int]) -> str:
    chart = pygal.Bar(js=[], style=_STYLE, width=720, height=300, show_legend=False,
                      title="Customer mails per day", x_label_rotation=30)
    chart.x_labels = list(days)
    chart.add("mails", list(counts))
    return _svg(chart)


def on_time(operators: Sequence[str], series: Mapping[str, Sequence[int]]) -> str:
    chart = pygal.StackedBar(js=[], style=_STYLE, width=720, height=320, legend_at_bottom=True,
                             title="Closed on time and late, per operator")
    chart.x_labels = list(operators)
    for name, values in series.items():
        chart.add(name, list(values))
    return _svg(chart)


def first_response(buckets: Sequence[str], counts: Sequence[int]) -> str:
    chart = pygal.Bar(js=[], style=_STYLE, width=720, height=300, show_legend=False,
                      title="First response: how long customers waited")
    chart.x_labels = list(buckets)
    chart.add("cases", list(counts))
    return _svg(chart)
