"""Builds the one dict the template renders: numbered sections, figures, tables, findings and the appendix."""
from __future__ import annotations

import base64
import dataclasses
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from hw1core import models
from hw1core.outputs import FigureSpec, TableSpec
from hw1core.store import Results

from .format import fmt_number, render_finding


@dataclass
class Section:
    """One experiment as the build hands it over: module, resolved config, results (None if never run)."""
    module: object
    config: object
    results: Results | None
    meta: dict = field(default_factory=dict)


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
    buf = io.BytesIO()
    spec.figure.savefig(buf, format="png", dpi=150, metadata={"Software": None})
    return buf.getvalue()


def table_block(spec: TableSpec, num: int) -> dict:
    frame = spec.frame
    return {"type": "table", "num": num, "caption": spec.caption, "columns": [str(c) for c in frame.columns],
            "rows": [[fmt_number(v.item() if hasattr(v, "item") else v) for v in row]
                     for row in frame.itertuples(index=False)]}


def setup_blocks(section: Section, n: Numbering) -> list[dict]:
    module, cfg = section.module, section.config
    archs = []
    for name in module.architectures(cfg):
        layers = models.layer_summary(name)
        archs.append({"name": name, "description": models.ARCHS[name].description,
                      "total": fmt_number(sum(r["params"] for r in layers), "count"),
                      "layers": [r | {"params": fmt_number(r["params"], "count")} for r in layers]})
    return [{"type": "setup", "num": n.table(), "rows": module.setup(cfg)},
            {"type": "architectures", "num": n.table(), "archs": archs}]


def section_context(index: int, section: Section, n: Numbering, figure_dir: Path | None) -> dict:
    module, res = section.module, section.results
    ctx = {"num": index, "id": module.ID, "title": module.TITLE, "part": module.PART, "questions": [],
           "built": res is not None, "meta": section.meta}
    setup = setup_blocks(section, n)
    if res is None:
        ctx["questions"] = [{"text": q.text, "points": q.points, "blocks": setup if "setup" in q.answers else []}
                            for q in module.QUESTIONS]
        return ctx
    figures = {f.name: f for f in module.figures(res)}
    tables = {t.name: t for t in module.tables(res)}
    findings = [render_finding(f) for f in module.findings(res)]
    used: set[str] = set()
    for q in module.QUESTIONS:
        blocks = []
        for ref in q.answers:
            kind, _, name = ref.partition(":")
            used.add(ref)
            if kind == "setup":
                blocks += setup
            elif kind == "fig":
                spec = figures[name]
                png = png_bytes(spec)
                if figure_dir is not None:
                    (figure_dir / f"{module.ID}-{name}.png").write_bytes(png)
                blocks.append({"type": "figure", "num": n.figure(), "caption": spec.caption,
                               "src": "data:image/png;base64," + base64.b64encode(png).decode()})
            elif kind == "table":
                blocks.append(table_block(tables[name], n.table()))
            elif kind == "findings":
                blocks.append({"type": "findings", "lines": findings})
            elif kind == "bonus":
                blocks.append({"type": "text", "text": module.bonus(res)})
        ctx["questions"].append({"text": q.text, "points": q.points, "blocks": blocks})
    missing = [f"fig:{k}" for k in figures if f"fig:{k}" not in used] + [f"table:{k}" for k in tables if f"table:{k}" not in used]
    if missing:
        raise ValueError(f"{module.ID}: outputs not placed under any question: {', '.join(missing)}")
    return ctx


def appendix_context(sections: list[Section], build_info: dict) -> dict:
    rows = []
    for s in sections:
        m = s.meta
        rows.append({"id": s.module.ID, "status": m.get("status", "not built"),
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


def build_context(sections: list[Section], build_info: dict, figure_dir: Path | None = None) -> dict:
    n = Numbering()
    body = [section_context(i + 1, s, n, figure_dir) for i, s in enumerate(sections)]
    parts: list[dict] = []
    for sec in body:
        if not parts or parts[-1]["title"] != sec["part"]:
            parts.append({"title": sec["part"], "sections": []})
        parts[-1]["sections"].append(sec)
    return {"profile": build_info["profile"], "draft": build_info["profile"] != "full", "parts": parts,
            "appendix": appendix_context(sections, build_info), "generated": build_info["generated"]}
