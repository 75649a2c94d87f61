"""Jinja2 mail templates: ``templates/<name>.txt.j2`` with the subject in ``{% block subject %}``."""

from __future__ import annotations

from collections.abc import Mapping
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
