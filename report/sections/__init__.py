"""The experiments' presentation: what each section of the report must provide (`Presentation`), one module per
experiment id (`report/sections/<id with _>.py`), and the check that every question names outputs that exist.

Nothing here counts towards a store key: an edit to a question, caption, table layout or finding never retrains.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any, Protocol

from hw1core.experiments import REGISTRY

from ..outputs import FigureSpec, Finding, Question, TableSpec

ANSWER_KINDS = ("setup", "fig", "table", "findings", "bonus")


class Presentation(Protocol):
    """How one experiment appears in the report. Every function takes the experiment's resolved Config (and its
    Result): a section module annotates them with the compute module's own classes, so a type checker sees every
    field it reads."""
    TITLE: str
    PART: str  # the homework part the section belongs to, e.g. "HW1-1 Deep vs shallow"
    QUESTIONS: list[Question]  # the graded questions, each answered by 'setup', 'fig:NAME', 'table:NAME', ...
    FIGURES: tuple[str, ...]  # the names `figures` returns, in order
    TABLES: tuple[str, ...]  # the names `tables` returns, in order

    def architectures(self, cfg: Any) -> list[str]:
        """The models whose layer tables the setup shows."""

    def setup(self, cfg: Any) -> list[tuple[str, str]]:
        """The setup table's rows."""

    def figures(self, cfg: Any, res: Any) -> list[FigureSpec]: ...

    def tables(self, cfg: Any, res: Any) -> list[TableSpec]: ...

    def findings(self, cfg: Any, res: Any) -> list[Finding]:
        """Observations: each a stable name, a sentence template and the measured values it quotes (which are the
        experiment's headline numbers in out/summary.json)."""

    # Optional: bonus(cfg, res) -> str, the text of a question answered with 'bonus'.


PRESENTATION = [n for n in dir(Presentation) if not n.startswith("_")]


def reference_errors(exp_id: str, view: Presentation) -> list[str]:
    """What is wrong with the questions' references to the section's outputs (empty when all is well)."""
    errors, used = [], set()
    for q in view.QUESTIONS:
        for ref in q.answers:
            kind, _, name = ref.partition(":")
            declared = {"fig": view.FIGURES, "table": view.TABLES}.get(kind)
            if kind not in ANSWER_KINDS:
                errors.append(f"question '{q.text}' answers with '{ref}': unknown kind; valid: {', '.join(ANSWER_KINDS)}")
            elif declared is not None and name not in declared:
                errors.append(f"question '{q.text}' names {ref}, which is not among {kind}: {', '.join(declared)}")
            elif kind == "bonus" and not hasattr(view, "bonus"):
                errors.append(f"question '{q.text}' answers with 'bonus', but the section has no bonus()")
            used.add(ref)
    unused = [f"fig:{n}" for n in view.FIGURES if f"fig:{n}" not in used] + \
             [f"table:{n}" for n in view.TABLES if f"table:{n}" not in used]
    errors += [f"{ref} is answered by no question" for ref in unused]
    return [f"report/sections/{exp_id.replace('-', '_')}.py: {e}" for e in errors]


def load_sections() -> dict[str, Presentation]:
    """The presentation of every registered experiment, checked; a bad reference fails here, before any training."""
    sections = {exp_id: import_module(f"{__name__}.{exp_id.replace('-', '_')}") for exp_id in REGISTRY}
    errors = [f"report/sections/{i.replace('-', '_')}.py: lacks {', '.join(n for n in PRESENTATION if not hasattr(v, n))}"
              for i, v in sections.items() if not all(hasattr(v, n) for n in PRESENTATION)]
    errors += [e for exp_id, view in sections.items() for e in reference_errors(exp_id, view)]  # type: ignore[arg-type]
    if errors:
        raise ImportError("; ".join(errors))
    return sections  # type: ignore[return-value]


SECTIONS: dict[str, Presentation] = load_sections()
