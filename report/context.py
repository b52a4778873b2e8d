"""Builds the one dict the template renders: numbered sections, figures, tables, findings and the appendix."""
from __future__ import annotations

import base64
import dataclasses
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from markupsafe import Markup

from hw1core import models
from hw1core.results import Results

from .format import fmt_number, render_finding
from .layers import layer_summary
from .outputs import FigureSpec, TableSpec
from .plots import plain_log_ticks
from .sections import Presentation
from .student import Meta


@dataclass
class Section:
    """One experiment as the build hands it over: its presentation, resolved config, results (None if never built),
    the build's metadata and the student's note (HTML, or None)."""
    exp_id: str
    view: Presentation
    config: object
    results: Results | None
    meta: dict = field(default_factory=dict)
    note: Markup | None = None


class Numbering:
    def __init__(self) -> None:
        self.figures = 0
        self.tables = 0

    def figure(self) -> int:
        self.figures += 1
        return self.figures

    def table(self) -> int:
        self.tables += 1
        return self.tables


def png_bytes(spec: FigureSpec) -> bytes:
    plain_log_ticks(spec.figure)
    buf = io.BytesIO()
    spec.figure.savefig(buf, format="png", dpi=150, metadata={"Software": None})
    return buf.getvalue()


def table_block(spec: TableSpec, num: int) -> dict:
    frame = spec.frame
    return {"type": "table", "num": num, "caption": spec.caption, "columns": [str(c) for c in frame.columns],
            "rows": [[fmt_number(v.item() if hasattr(v, "item") else v) for v in row]
                     for row in frame.itertuples(index=False)]}


def setup_blocks(section: Section, n: Numbering) -> list[dict]:
    view, cfg = section.view, section.config
    archs = []
    for name in view.architectures(cfg):
        layers = layer_summary(name)
        archs.append({"name": name, "description": models.ARCHS[name].description,
                      "total": fmt_number(sum(r["params"] for r in layers), "count"),
                      "layers": [r | {"params": fmt_number(r["params"], "count")} for r in layers]})
    return [{"type": "setup", "num": n.table(), "rows": view.setup(cfg)},
            {"type": "architectures", "num": n.table(), "archs": archs}]


def comment_blocks(section: Section, findings: list[str] | None) -> list[dict]:
    """Under the question that carries the findings: the student's note first, then the computed observations."""
    blocks = [{"type": "note", "html": section.note}] if section.note else []
    return blocks + ([{"type": "findings", "lines": findings}] if findings is not None else [])


def section_context(index: int, section: Section, n: Numbering, figure_dir: Path | None) -> dict:
    view, res = section.view, section.results
    ctx = {"num": index, "id": section.exp_id, "title": view.TITLE, "part": view.PART, "questions": [],
           "built": res is not None, "meta": section.meta}
    setup = setup_blocks(section, n)
    if res is None:
        ctx["questions"] = [{"text": q.text, "points": q.points,
                             "blocks": (setup if "setup" in q.answers else []) +
                                       (comment_blocks(section, None) if "findings" in q.answers else [])}
                            for q in view.QUESTIONS]
        return ctx
    figures = {f.name: f for f in view.figures(res)}
    tables = {t.name: t for t in view.tables(res)}
    if tuple(figures) != view.FIGURES or tuple(tables) != view.TABLES:
        raise ValueError(f"{section.exp_id}: figures {tuple(figures)} and tables {tuple(tables)} differ from the "
                         f"declared FIGURES {view.FIGURES} and TABLES {view.TABLES}")
    findings = [render_finding(f) for f in view.findings(res)]
    for q in view.QUESTIONS:
        blocks = []
        for ref in q.answers:
            kind, _, name = ref.partition(":")
            if kind == "setup":
                blocks += setup
            elif kind == "fig":
                spec = figures[name]
                png = png_bytes(spec)
                if figure_dir is not None:
                    (figure_dir / f"{section.exp_id}-{name}.png").write_bytes(png)
                blocks.append({"type": "figure", "num": n.figure(), "caption": spec.caption,
                               "src": "data:image/png;base64," + base64.b64encode(png).decode()})
            elif kind == "table":
                blocks.append(table_block(tables[name], n.table()))
            elif kind == "findings":
                blocks += comment_blocks(section, findings)
            elif kind == "bonus":
                blocks.append({"type": "text", "text": view.bonus(res)})
        ctx["questions"].append({"text": q.text, "points": q.points, "blocks": blocks})
    return ctx


def appendix_context(sections: list[Section], build_info: dict) -> dict:
    rows = []
    for s in sections:
        m = s.meta
        rows.append({"id": s.exp_id, "status": m.get("status", "not built"),
                     "wall": fmt_number(m["wall_s"], "sig") + " s" if "wall_s" in m else "–",
                     "device": m.get("device", "–"), "steps": fmt_number(m["steps"], "count") if "steps" in m else "–",
                     "config": json.dumps(dataclasses.asdict(s.config), ensure_ascii=False)})
    bench = build_info.get("bench")
    if bench:
        bench = {"device": bench["device"], "profile": bench["profile"], "date": bench["date"],
                 "rows": [{"workload": r["workload"], "seeds": fmt_number(r["seeds_s"], "sig") + " s",
                           "engine": fmt_number(r["engine_s"], "sig") + " s", "speedup": fmt_number(r["speedup"], "ratio")}
                          for r in bench["rows"]]}
    return {"experiments": rows, **build_info, "bench": bench}


def build_context(sections: list[Section], build_info: dict, meta: Meta = Meta(),
                  figure_dir: Path | None = None) -> dict:
    n = Numbering()
    body = [section_context(i + 1, s, n, figure_dir) for i, s in enumerate(sections)]
    parts: list[dict] = []
    for sec in body:
        if not parts or parts[-1]["title"] != sec["part"]:
            parts.append({"title": sec["part"], "sections": []})
        parts[-1]["sections"].append(sec)
    return {"profile": build_info["profile"], "draft": build_info["profile"] != "full", "parts": parts,
            "appendix": appendix_context(sections, build_info), "generated": build_info["generated"], "meta": meta}
