"""Jinja2 mail templates: ``templates/<name>.txt.j2`` with the subject in ``{% block subject %}``.

Mail to customers also gets an HTML part: the same rendered text, its paragraphs laid out by
``templates/layout.html.j2`` (gateway name, readable paragraphs, the footer image inline). That
environment autoescapes, so nothing from a customer or an operator is ever HTML there, only text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

from mailgate.errors import ConfigError
from mailgate.mail.headers import one_line

BUNDLED = Path(__file__).resolve().parents[2] / "templates"


@dataclass(frozen=True, slots=True)
class RenderedMail:
    subject: str
    text: str


class Renderer:
    """Renders templates from one folder; a missing variable is an error, never blank text."""

    def __init__(self, folder: Path) -> None:
        # The configured folder wins; the project's own templates/ fills in what it lacks.
        folders = [str(folder)]
        if BUNDLED.is_dir() and folder != BUNDLED:
            folders.append(str(BUNDLED))
        self.env = Environment(
            loader=FileSystemLoader(folders),
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.html_env = Environment(loader=FileSystemLoader(folders), undefined=StrictUndefined,
                                    autoescape=True, trim_blocks=True, lstrip_blocks=True)

    def exists(self, name: str) -> bool:
        try:
            self.env.get_template(f"{name}.txt.j2")
        except TemplateNotFound:
            return False
        return True

    def render(self, name: str, context: Mapping[str, object]) -> RenderedMail:
        try:
            template = self.env.get_template(f"{name}.txt.j2")
        except TemplateNotFound:
            raise ConfigError([f"template {name}.txt.j2: not found"]) from None
        ctx = template.new_context(dict(context))
        subject = "".join(template.blocks["subject"](ctx)) if "subject" in template.blocks else ""
        body_block = template.blocks.get("body")
        body = "".join(body_block(ctx)) if body_block else template.render(context)
        return RenderedMail(subject=one_line(subject), text=body.strip("\n") + "\n")


@dataclass(frozen=True, slots=True)
class Block:
    """A paragraph of a mail as the HTML layout shows it."""

    lines: tuple[str, ...]
    quoted: bool = False        # every line started with ">": shown as a quotation


_QUOTE = re.compile(r"^\s*>\s?")


def blocks(text: str) -> list[Block]:
    """Split plain text into paragraphs at blank lines; ``>``-quoted paragraphs are marked."""
    found = []
    for chunk in re.split(r"\n\s*\n", text.strip("\n")):
        lines = [line.rstrip() for line in chunk.split("\n")]
        quoted = all(_QUOTE.match(line) for line in lines)
        found.append(Block(tuple(_QUOTE.sub("", line) if quoted else line for line in lines), quoted))
    return found


def render_html(renderer: Renderer, text: str, gateway: str, images: Sequence[str] = (),
                footer: str = "") -> str:
    """The HTML part of a customer mail: ``text`` (and the ``footer``) as escaped paragraphs in
    the layout, with the inline ``images`` (Content-IDs) after the footer."""
    template = renderer.html_env.get_template("layout.html.j2")
    return template.render(gateway=gateway, blocks=blocks(text), footer=blocks(footer) if footer else [],
                           images=list(images))
