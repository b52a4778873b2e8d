"""The document the template renders: numbered sections with their figures, tables and findings, and the appendix,
as one dict of template variables."""
from __future__ import annotations

import base64
import dataclasses
import functools
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup

from hw1core.store import Provenance

from .claims import claim_record
from .format import fmt_number, render_finding
from .layers import description, layer_summary
from .outputs import FigureSpec, Finding, TableSpec
from .plots import plain_log_ticks
from .sections import Presentation
from .student import StudentDetails


@dataclass
class Section:
    """One experiment as the build hands it over: its presentation, resolved config, Result (None if never built),
    where the Result came from, and the student's note (HTML, or None)."""
    exp_id: str
    view: Presentation
    config: Any
    result: Any | None
    status: str  # "run" (by this build), "stored" (by an earlier one) or "not built"
    provenance: Provenance | None = None
    note: Markup | None = None

    @functools.cached_property
    def findings(self) -> list[Finding]:
        """The section's observations (none when not built); their names are unique within the section."""
        found = [] if self.result is None else self.view.findings(self.config, self.result)
        names = [f.name for f in found]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.exp_id}: findings share a name: {sorted(n for n in names if names.count(n) > 1)}")
        return found


def headline(findings: list[Finding]) -> dict[str, Any]:
    """The values the findings quote, as `<finding>.<value>`: out/summary.json's headline numbers."""
    return {f"{f.name}.{k}": v for f in findings for k, v in f.values.items()}


def claim_records(sections: list[Section]) -> list[dict]:
    """Every comparison the report states, once, with the sentence that states it (and under `also` any other that
    states the same comparison): out/summary.json's `claims`."""
    records: dict[str, dict] = {}
    for s in sections:
        for f in s.findings:
            sentence = render_finding(f)
            for c in f.claims:
                record = claim_record(s.exp_id, f.name, c, sentence)
                if record["id"] not in records:
                    records[record["id"]] = record
                elif sentence != records[record["id"]]["sentence"]:
                    records[record["id"]].setdefault("also", []).append(sentence)
    return list(records.values())


class Numbering:
    def __init__(self) -> None:
        self.figures = 0
        self.tables = 0
        self.architectures: dict[str, int] = {}  # architecture -> the table that first showed its layers

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
    """The setup table, then the layer tables of the architectures no earlier section has shown (the others are
    referred to by their table's number)."""
    view, cfg = section.view, section.config
    names = view.architectures(cfg)
    new = [m for m in names if m not in n.architectures]
    shown = {m: n.architectures[m] for m in names if m in n.architectures}
    archs = []
    for name in new:
        layers = layer_summary(name)
        archs.append({"name": name, "description": description(name),
                      "total": fmt_number(sum(r["params"] for r in layers), "count"),
                      "layers": [r | {"params": fmt_number(r["params"], "count")} for r in layers]})
    rows = view.setup(cfg) + [("Layers", "; ".join(f"{m}: see Table {t}" for m, t in shown.items()))] if shown else \
        view.setup(cfg)
    blocks = [{"type": "setup", "num": n.table(), "rows": rows}]
    if archs:
        num = n.table()
        n.architectures |= {m: num for m in new}
        blocks.append({"type": "architectures", "num": num, "archs": archs})
    return blocks


def comment_blocks(section: Section, findings: list[str] | None) -> list[dict]:
    """Under the question that carries the findings: the student's note first, then the computed observations."""
    blocks = [{"type": "note", "html": section.note}] if section.note else []
    return blocks + ([{"type": "findings", "lines": findings}] if findings is not None else [])


def section_variables(index: int, section: Section, n: Numbering, figure_dir: Path | None) -> dict:
    view, res, cfg = section.view, section.result, section.config
    variables: dict[str, Any] = {"num": index, "id": section.exp_id, "title": view.TITLE, "part": view.PART,
                           "questions": [], "built": res is not None}
    setup = setup_blocks(section, n)
    if res is None:
        variables["questions"] = [{"text": q.text, "points": q.points,
                             "blocks": (setup if "setup" in q.answers else []) +
                                       (comment_blocks(section, None) if "findings" in q.answers else [])}
                            for q in view.QUESTIONS]
        return variables
    figures = {f.name: f for f in view.figures(cfg, res)}
    tables = {t.name: t for t in view.tables(cfg, res)}
    if tuple(figures) != view.FIGURES or tuple(tables) != view.TABLES:
        raise ValueError(f"{section.exp_id}: figures {tuple(figures)} and tables {tuple(tables)} differ from the "
                         f"declared FIGURES {view.FIGURES} and TABLES {view.TABLES}")
    findings = [render_finding(f) for f in section.findings]
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
                blocks.append({"type": "text", "text": view.bonus(cfg, res)})  # type: ignore[attr-defined]
        variables["questions"].append({"text": q.text, "points": q.points, "blocks": blocks})
    return variables


def appendix_variables(sections: list[Section], build_info: dict) -> dict:
    rows = []
    for s in sections:
        p = s.provenance
        rows.append({"id": s.exp_id, "status": s.status, "wall": fmt_number(p.wall_s, "sig") + " s" if p else "–",
                     "device": p.device if p else "–", "commit": p.commit if p else "–",
                     "steps": fmt_number(s.result.steps, "count") if s.result is not None else "–",
                     "config": json.dumps(dataclasses.asdict(s.config), ensure_ascii=False)})
    bench = build_info.get("bench")
    if bench:
        bench = {"device": bench["device"], "profile": bench["profile"], "date": bench["date"],
                 "rows": [{"workload": r["workload"], "plain": fmt_number(r["plain_s"], "sig") + " s",
                           "engine": fmt_number(r["engine_s"], "sig") + " s", "speedup": fmt_number(r["speedup"], "ratio")}
                          for r in bench["rows"]]}
    return {"experiments": rows, **build_info, "bench": bench}


def document(sections: list[Section], build_info: dict, student: StudentDetails = StudentDetails(),
             figure_dir: Path | None = None) -> dict:
    """Everything the template renders."""
    n = Numbering()
    body = [section_variables(i + 1, s, n, figure_dir) for i, s in enumerate(sections)]
    parts: list[dict] = []
    for sec in body:
        if not parts or parts[-1]["title"] != sec["part"]:
            parts.append({"title": sec["part"], "sections": []})
        parts[-1]["sections"].append(sec)
    return {"profile": build_info["profile"], "draft": build_info["profile"] != "full", "parts": parts,
            "appendix": appendix_variables(sections, build_info), "generated": build_info["generated"],
            "student": student}
