"""The student's own material: details for the title block (report.toml) and comments per experiment (notes/*.md).

Neither counts towards a store key, so editing them never retrains anything.
"""
from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from markdown_it import MarkdownIt
from markupsafe import Markup

from hw1core.errors import ConfigError

DEFAULT_TITLE = "HW1: Deep vs shallow, optimisation, generalisation"


@dataclass(frozen=True)
class StudentDetails:
    """The keys report.toml may hold; every one is optional."""
    title: str = DEFAULT_TITLE
    author: str = ""
    student_id: str = ""
    course: str = ""
    repository: str = ""


def load_details(path: Path, explicit: bool) -> StudentDetails:
    """report.toml's values; an absent default file gives the defaults, an absent `--meta` file is an error."""
    if not path.is_file():
        if explicit:
            raise ConfigError(f"--meta {path}: no such file")
        return StudentDetails()
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    valid = [f.name for f in fields(StudentDetails)]
    for key, value in table.items():
        if key not in valid:
            raise ConfigError(f"{path}: unknown key '{key}'; valid: {', '.join(valid)}")
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise ConfigError(f"{path}: key '{key}' must be text, e.g. {key} = \"...\"")
    return StudentDetails(**{k: str(v).strip() for k, v in table.items()})


# CommonMark plus tables; raw HTML off, so that a <script> in a note is shown as text, never run.
MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def load_notes(folder: Path, explicit: bool, ids: list[str]) -> dict[str, Markup]:
    """notes/<experiment-id>.md rendered to HTML, by experiment id; a note for an unknown id gives a warning."""
    if not folder.is_dir():
        if explicit:
            raise ConfigError(f"--notes {folder}: no such folder")
        return {}
    notes = {}
    for path in sorted(folder.glob("*.md")):
        if path.stem not in ids:
            print(f"warning: {path} is not used: no experiment '{path.stem}'; valid names: "
                  f"{', '.join(i + '.md' for i in ids)}", file=sys.stderr)
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read it as UTF-8 text ({exc})") from None
        if text.strip():
            notes[path.stem] = Markup(MARKDOWN.render(text))
    return notes
