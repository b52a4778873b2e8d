"""The jinja2 environment and the two outputs: one self-contained HTML file and its PDF."""
from __future__ import annotations

import logging
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def environment() -> jinja2.Environment:
    # autoescape=True explicitly: select_autoescape() would not escape a .html.j2 template.
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_html(context: dict) -> str:
    css = (TEMPLATES / "report.css").read_text()
    return environment().get_template("report.html.j2").render(css=css, **context)


def write_pdf(html: str, path: Path) -> None:
    from weasyprint import HTML
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    HTML(string=html, base_url=str(TEMPLATES)).write_pdf(path)
