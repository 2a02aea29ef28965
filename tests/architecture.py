"""The import rules of docs/architecture.md, checked by reading the source with ``ast`` (nothing is imported).

Every ``import`` and ``from ... import`` counts, at module level or inside a function (a lazy import is
still an arrow between two modules), except those under ``if TYPE_CHECKING:``, which never run.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Iterable, NamedTuple

PACKAGES = ("config", "broker", "kiosk", "collector")

# (module prefix, layer): a module takes the layer of its longest matching prefix; a module may import
# only from its own layer or below. Same numbers are siblings: they may import each other if no circle.
LAYERS = (
    ("config", 0),          # typed models of the YAML files: imports none of ours
    ("broker", 10),         # the wire contract and the broker's set-up
    ("kiosk", 20),          # the terminal: config and the contract only
    ("collector", 20),      # the package itself (empty) and cli_setup (read collector.yaml, open the database)
    ("collector.storage", 20),  # the database, schema, rows and rollups
    ("collector.cli_setup", 25),
    ("collector.reports", 30),
    ("collector.accounts", 30),
    ("collector.fleet", 30),
    ("collector.followup.answers", 30),  # the follow-up answers' storage, used by ingest and reports
    ("collector.followup.limits", 30),
    ("collector.followup.general", 30),  # the printed counter QR's general feedback: codes and answers
    ("collector.followup.summary", 30),  # the answers as figures and tables, for the page and the mailed reports
    ("collector.completeness", 40),
    ("collector.ingest", 50),
    ("collector.alerting", 60),
    ("collector.web", 70),
    ("collector.followup", 70),  # the public form and its dashboard view
)
COMMAND_LAYER = 100  # the commands sit on top of everything
COMMAND = re.compile(r"(^|\.)(__main__|cli|\w+_cli|service)$")
# packages that never import each other, whatever their layers
APART = (("kiosk", "collector"),)


class Arrow(NamedTuple):
    source: str
    target: str
    line: int


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_only(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def arrows(root: Path, packages: Iterable[str] = PACKAGES) -> list[Arrow]:
    """Every import from one of our modules to another, by module name (``from pkg import mod`` points
    at pkg.mod when that is a module)."""
    files = {module_name(root, p): p for pkg in packages for p in sorted((root / pkg).rglob("*.py"))}
    known = set(files)
    out = []
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_pkg else name.split(".")[:-1]
                    base = base[:len(base) - node.level + 1]
                    base = ".".join(base + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
            else:
                continue
            if _type_checking_only(node, parents):
                continue
            for target in targets:
                while target and target not in known:  # import a.b.c of a function c: the module a.b
                    target = target.rpartition(".")[0]
                if target and target != name:
                    out.append(Arrow(name, target, node.lineno))
    return out


def layer_of(module: str, layers=LAYERS) -> int:
    if COMMAND.search(module):
        return COMMAND_LAYER
    best = max((p for p, _ in layers if module == p or module.startswith(p + ".")), key=len, default=None)
    if best is None:
        raise ValueError(f"{module}: no layer declared for it in tests/architecture.py LAYERS")
    return dict(layers)[best]


def upward(found: list[Arrow], layers=LAYERS, apart=APART) -> list[str]:
    bad = []
    for a in found:
        if a.target.startswith(a.source + "."):
            continue  # a package's __init__ re-exporting its own module
        if layer_of(a.target, layers) > layer_of(a.source, layers):
            bad.append(f"{a.source}:{a.line} imports {a.target}, a layer above it")
        for x, y in apart:
            tops = {a.source.split(".")[0], a.target.split(".")[0]}
            if tops == {x, y}:
                bad.append(f"{a.source}:{a.line} imports {a.target}: {x} and {y} never import each other")
    return bad


def cycles(found: list[Arrow]) -> list[list[str]]:
    """Each import circle once, as the list of modules around it (Tarjan's strongly connected parts)."""
    graph: dict[str, set[str]] = {}
    for a in found:
        if not a.target.startswith(a.source + "."):
            graph.setdefault(a.source, set()).add(a.target)
            graph.setdefault(a.target, set())
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                out.append(sorted(part))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out
