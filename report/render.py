"""The jinja2 environment and the two outputs: one self-contained HTML file and its PDF."""
from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import unquote, urlsplit

import jinja2

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def environment() -> jinja2.Environment:
    # autoescape=True explicitly: select_autoescape() would not escape a .html.j2 template.
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_html(context: dict) -> str:
    css = (TEMPLATES / "report.css").read_text()
    return environment().get_template("report.html.j2").render(css=css, **context)


def fetch_allowed(url: str) -> bool:
    """What the PDF renderer may read: data: URIs (the figures) and the project's own template files, nothing else.
    A URL from a student's file never reaches the network or the disk outside the templates."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme == "data":
        return True
    return (parts.scheme == "file" and parts.netloc in ("", "localhost")  # file://host/... is a network share
            and Path(unquote(parts.path)).resolve().is_relative_to(TEMPLATES))


def local_only_fetcher():
    """WeasyPrint's fetcher, refusing every URL that fetch_allowed does not allow (WeasyPrint logs it and goes on)."""
    from weasyprint.urls import URLFetcher

    class LocalOnly(URLFetcher):
        def fetch(self, url, headers=None):
            if not fetch_allowed(url):
                raise ValueError(f"refused to fetch {url}: the report embeds everything it shows")
            return super().fetch(url, headers)
    return LocalOnly(allowed_protocols=("data", "file"), allow_redirects=False)


def write_pdf(html: str, path: Path) -> None:
    from weasyprint import HTML
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    HTML(string=html, base_url=str(TEMPLATES), url_fetcher=local_only_fetcher()).write_pdf(path)
