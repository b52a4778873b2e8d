"""The student's own material: details for the title block (report.toml) and comments per experiment (notes/*.md).

Neither counts towards a store key, so editing them never retrains anything.
"""
from __future__ import annotations

import base64
import sys
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import urlsplit

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

    @property
    def repository_link(self) -> str:
        """The repository as a link target where a reader can follow it safely (http or https), else ''."""
        return self.repository if safe_link(self.repository) and not self.repository.startswith("mailto:") else ""


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


SAFE_SCHEMES = ("http", "https", "mailto")  # the links a reader of a student's text can follow safely
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp"}
# What each type's file starts with: a file is embedded as the type its bytes are, never as its name says (an SVG,
# which can carry script, renamed .png is refused)
SIGNATURES = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",),
              "image/gif": (b"GIF87a", b"GIF89a"), "image/webp": (b"RIFF",)}
MAX_IMAGE_BYTES = 5_000_000  # one image
MAX_NOTE_IMAGE_BYTES = 10_000_000  # all the images of one note: the HTML carries every one of them
MAX_NOTE_BYTES = 1_000_000  # a note's text: some pages of prose, far from what would stall the renderer


def read_or_empty(path: Path) -> bytes:
    """A file's bytes, or none where it cannot be read (then it is no image, and is left out with a warning)."""
    try:
        return path.read_bytes()
    except OSError:
        return b""


def image_type(head: bytes, declared: str) -> bool:
    """Whether a file's first bytes are those of the image type its name declares."""
    ok = any(head.startswith(s) for s in SIGNATURES[declared])
    return ok and (declared != "image/webp" or head[8:12] == b"WEBP")


def safe_link(url: str) -> bool:
    """An absolute http(s) or mailto URL: nothing that runs script (javascript:), opens local files (file:, a
    relative path) or carries content of its own (data:)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # "https://[x": not a URL at all
        return False
    return parts.scheme.lower() in SAFE_SCHEMES and (parts.scheme.lower() == "mailto" or bool(parts.netloc))


# CommonMark plus tables; raw HTML off, so that a <script> in a note is shown as text, never run. Every link target
# passes markdown-it's own check (it drops javascript:, vbscript:, file: and most data:); note_html then keeps as
# links only the safe ones and embeds images only from the notes folder.
MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def embedded_image(src: str, folder: Path, note: Path, budget: list[int]) -> str | None:
    """A data: URI of the image file `src` names inside `folder`, or None (with a warning naming the note) for a URL,
    a path that leads out of the folder, a file that is not a small PNG, JPEG, GIF or WebP image, or one past what is
    left of the note's image bytes (`budget`, one number, spent here)."""
    why = None
    if ":" in src.split("/")[0] or src.startswith("//"):  # any scheme, or a network path
        why = "it names a URL, and the build fetches nothing a student's file names"
    else:
        path = (folder / src).resolve()
        if not path.is_relative_to(folder.resolve()):
            why = "its path leads out of the notes folder"
        elif path.suffix.lower() not in IMAGE_TYPES or not path.is_file():
            why = f"it is not an image file ({', '.join(IMAGE_TYPES)}) in the notes folder"
        elif path.stat().st_size > MAX_IMAGE_BYTES:
            why = f"it is larger than {MAX_IMAGE_BYTES // 1_000_000} MB"
        elif path.stat().st_size > budget[0]:
            why = f"the note's images would pass {MAX_NOTE_IMAGE_BYTES // 1_000_000} MB together"
        else:
            kind, content = IMAGE_TYPES[path.suffix.lower()], read_or_empty(path)
            if image_type(content[:16], kind):
                budget[0] -= len(content)
                return f"data:{kind};base64," + base64.b64encode(content).decode()
            why = f"its content is not a {path.suffix.lower()} image"
    print(f"warning: {note}: image '{src}' left out: {why}", file=sys.stderr)
    return None


def note_html(text: str, folder: Path, note: Path) -> Markup:
    """A note's Markdown as HTML: links only to http(s) and mailto (others become their text), images only embedded
    from files inside `folder` (others become their alt text)."""
    tokens, budget = MARKDOWN.parse(text), [MAX_NOTE_IMAGE_BYTES]
    for block in tokens:
        kept, unlinked = [], []  # unlinked: per open link, whether its tags are dropped (its text stays)
        for tok in block.children or []:
            if tok.type == "link_open":
                unlinked.append(not safe_link(str(tok.attrGet("href") or "")))
                if unlinked[-1]:
                    continue
            elif tok.type == "link_close" and unlinked.pop():
                continue
            elif tok.type == "image":
                data = embedded_image(str(tok.attrGet("src") or ""), folder, note, budget)
                if data is None:
                    tok.type, tok.tag, tok.children = "text", "", None
                    tok.content = f"[image left out: {tok.content or 'no description'}]"
                else:
                    tok.attrSet("src", data)
            kept.append(tok)
        if block.children is not None:
            block.children = kept
    return Markup(MARKDOWN.renderer.render(tokens, MARKDOWN.options, {}))


def note_text(path: Path, folder: Path) -> str:
    """A note's text: a regular file inside the notes folder (a link leading out of it, a device or a pipe is
    refused), read up to MAX_NOTE_BYTES."""
    try:
        real = path.resolve()
        if not real.is_relative_to(folder.resolve()) or not real.is_file():
            raise ConfigError(f"{path}: not a file inside {folder}; a note is a Markdown file of the notes folder")
        with real.open("rb") as f:
            raw = f.read(MAX_NOTE_BYTES + 1)
        if len(raw) > MAX_NOTE_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_NOTE_BYTES // 1_000_000} MB; a note is prose for the report")
        return raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it as UTF-8 text ({exc})") from None


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
        text = note_text(path, folder)
        if text.strip():
            notes[path.stem] = note_html(text, folder, path)
    return notes
