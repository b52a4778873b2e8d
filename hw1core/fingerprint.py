"""Code fingerprints for store keys: a module's code and every project module that code uses, with comments and
docstrings left out, so that only an edit that can change a result changes a key.

Two things never count, because the key takes what they declare as data: `@settings` classes (each setting's
default, quick value and rule; the resolved values enter the key themselves), and what is imported only for them
(the rules, their bounds and messages): neither the import nor the module. A module counts when a name it binds is
used by the code that remains.
"""
from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

PACKAGE = "hw1core"  # compute code lives here; report/ and templates/ only present results and never count
ROOT = Path(__file__).resolve().parents[1]  # the folder that holds the package


def module_path(name: str, root: Path = ROOT) -> Path | None:
    """The source file of a module of the package, or None for anything outside it."""
    if name != PACKAGE and not name.startswith(PACKAGE + "."):
        return None
    base = root.joinpath(*name.split("."))
    for path in base.with_suffix(".py"), base / "__init__.py":
        if path.is_file():
            return path
    return None


def is_settings_class(node: ast.stmt) -> bool:
    """A top-level `@settings` class: a declaration of values (hw1core/settings.py)."""
    return isinstance(node, ast.ClassDef) and any(
        (isinstance(d, ast.Name) and d.id == "settings") or (isinstance(d, ast.Attribute) and d.attr == "settings")
        for d in node.decorator_list)


def computing_code(tree: ast.Module, name: str) -> ast.Module:
    """The module without its settings classes (a copy: the parsed tree is cached). A settings class may only
    declare fields: a method on it would be code that runs, yet is in no key."""
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and is_settings_class(node):
            extra = [n for n in node.body if not isinstance(n, ast.AnnAssign)
                     and not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
            if extra:
                raise ValueError(f"{name}.{node.name}: a @settings class declares fields only; move its code "
                                 f"(line {extra[0].lineno}) out of the class")
    body = [n for n in tree.body if not is_settings_class(n)]
    used = used_names(ast.Module(body=body, type_ignores=[]))
    kept = []
    for node in body:  # an import only the settings used (a rule, a bound) is no code of this module's either
        if isinstance(node, ast.ImportFrom) and not any(a.name == "*" for a in node.names):
            names = [a for a in node.names if (a.asname or a.name) in used]
            if not names:
                continue
            node = ast.ImportFrom(module=node.module, names=names, level=node.level)
        kept.append(node)
    return ast.Module(body=kept, type_ignores=[])


def used_names(tree: ast.Module) -> set[str]:
    """Every name the code reads, and the root of every attribute chain (`data` in `data.load_mnist`)."""
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def imported_modules(name: str, tree: ast.Module, root: Path = ROOT) -> set[str]:
    """The package's modules whose names `tree` uses (imports inside functions too), by absolute name."""
    path = module_path(name, root)
    package = name if path is not None and path.name == "__init__.py" else name.rpartition(".")[0]
    used = used_names(tree)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if (alias.asname or alias.name.split(".")[0]) in used}
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = parts[:len(parts) - node.level + 1] if node.level else []
            parent = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                if (alias.asname or alias.name) not in used:
                    continue
                child = f"{parent}.{alias.name}"  # `from pkg import mod` imports a module, `from mod import f` a name
                found.add(child if module_path(child, root) else parent)
    return {m for m in found if module_path(m, root)}


@lru_cache(maxsize=None)
def parsed(name: str, root: Path = ROOT) -> ast.Module:
    """The module's computing code (settings classes left out)."""
    path = module_path(name, root)
    assert path is not None, name
    return computing_code(ast.parse(path.read_text(encoding="utf-8")), name)


def code_without_docstrings(tree: ast.Module) -> str:
    """The syntax tree as text: comments are gone already, docstrings are dropped, line numbers are not included."""
    tree = ast.parse(ast.unparse(tree))  # a copy, since the parsed tree is cached
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


@lru_cache(maxsize=None)
def dependencies(name: str, root: Path = ROOT) -> tuple[str, ...]:
    """`name` and every module of the package it imports, followed transitively, sorted."""
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo += imported_modules(current, parsed(current, root), root)
    return tuple(sorted(seen))


@lru_cache(maxsize=None)
def code_fingerprint(name: str, root: Path = ROOT) -> str:
    """Hash of the code of module `name` and of its dependencies in the package."""
    if module_path(name, root) is None:
        raise ValueError(f"{name} is not a module of the {PACKAGE} package under {root}")
    h = hashlib.sha256()
    for dep in dependencies(name, root):
        h.update(f"{dep}\n{code_without_docstrings(parsed(dep, root))}\n".encode())
    return h.hexdigest()[:16]
