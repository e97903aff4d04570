"""The shape of the code: every module in a room, no cycle between rooms, and every
room's imports within its row of docs/architecture.md (the table is parsed from the
doc, so the doc and the code cannot drift)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "hubfleet"
DOC = ROOT / "docs" / "architecture.md"
# The package's own files outside every room (the version; `python -m hubfleet`).
OUTSIDE = {"__init__.py": set[str](), "__main__.py": {"cli"}}
# The only modules the core (everything outside cli/) may import inside a function, and
# why: each would slow `hubfleet --help` or a light command if imported at the top. A
# hubfleet module is never among them: a cycle is broken by moving code, not hidden.
LAZY_ALLOWED = {
    "jsonschema": "~1 s to import (its format checkers): only the plan and manifest checks",
    "referencing": "jsonschema's schema registry, imported with it for the manifest check",
    "jsonschema_rs": "~70 ms to import (Rust): only the rendered manifests' schema check",
    "rich": "the plan's terminal table only: json and github output need none",
    "tornado": "the user server's kernel check only: `local status` imports health.check",
}


def allowed_table(text: str) -> dict[str, set[str]]:
    """Room -> the rooms it may import, from the doc's `| room | holds | may import |` table."""
    table: dict[str, set[str]] = {}
    rows = iter(text.splitlines())
    for line in rows:
        if re.fullmatch(r"\|\s*room\s*\|\s*holds\s*\|\s*may import\s*\|", line.strip()):
            break
    else:
        raise AssertionError(f"{DOC}: no `| room | holds | may import |` table")
    next(rows)  # the |---| line
    for line in rows:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        room, deps = cells[0], cells[-1]
        table[room] = set() if deps == "(none)" else {d.strip() for d in deps.split(",")}
    return table


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(name: str) -> str | None:
    """The longest prefix of `name` that is a module or package of hubfleet."""
    parts = name.split(".")
    while len(parts) > 1:
        base = PACKAGE.parent.joinpath(*parts)
        if base.with_suffix(".py").is_file() or (base / "__init__.py").is_file():
            return ".".join(parts)
        parts.pop()
    return None


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, hubfleet module) of every import in the file, wherever it is written."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        for name in names:
            if name == "hubfleet" or name.startswith("hubfleet."):
                target = _resolve(name)
                if target is not None:
                    yield node.lineno, target


def room_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (PACKAGE / parts[-1]).is_dir() else parts[-1] + ".py"


def room_graph() -> dict[str, dict[str, list[str]]]:
    """Room -> imported room -> where ("file:line"), for every import between rooms."""
    graph: dict[str, dict[str, list[str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = room_of(_module_name(path))
        for line, target in imports(path):
            other = room_of(target)
            if other != source and other != "__init__.py":
                where = f"{path.relative_to(ROOT)}:{line}"
                graph.setdefault(source, {}).setdefault(other, []).append(where)
    return graph


def cycles(graph: Mapping[str, Mapping[str, object]]) -> list[list[str]]:
    """Every cycle found by a depth-first walk (each reported once, from its first room)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the path, 2 done
    path: list[str] = []

    def visit(room: str) -> None:
        state[room] = 1
        path.append(room)
        for other in sorted(graph.get(room, {})):
            if state.get(other) == 1:
                found.append([*path[path.index(other) :], other])
            elif other not in state:
                visit(other)
        path.pop()
        state[room] = 2

    for room in sorted(graph):
        if room not in state:
            visit(room)
    return found


def function_level_imports(path: Path, text: str) -> Iterator[tuple[int, str, bool]]:
    """(line, module, has a `# lazy:` reason) of every import inside a function body;
    a relative import is named `hubfleet.` plus its dots and module."""
    lines = text.splitlines()
    seen: set[int] = set()
    for fn in ast.walk(ast.parse(text, str(path))):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(fn):
            if not isinstance(node, ast.Import | ast.ImportFrom) or node.lineno in seen:
                continue
            seen.add(node.lineno)  # a nested function's import is walked once per function
            if isinstance(node, ast.ImportFrom):
                names = [
                    f"hubfleet.{'.' * node.level}{node.module or ''}"
                    if node.level
                    else node.module or ""
                ]
            else:
                names = [alias.name for alias in node.names]
            written = lines[node.lineno - 1 : node.end_lineno]
            above = lines[node.lineno - 2] if node.lineno > 1 else ""
            reason = any("# lazy:" in line for line in [above, *written])
            for name in names:
                yield node.lineno, name, reason


def lazy_import_problems(path: Path, text: str) -> list[str]:
    """Why each function-level import of a core file is not allowed (none: all fine)."""
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    problems: list[str] = []
    for line, name, reason in function_level_imports(path, text):
        top = name.split(".")[0]
        if top == "hubfleet":
            problems.append(
                f"{where}:{line}: {name} imported inside a function: import it at the top"
            )
        elif top not in LAZY_ALLOWED:
            problems.append(
                f"{where}:{line}: {name} imported inside a function, not in LAZY_ALLOWED"
            )
        elif not reason:
            problems.append(
                f"{where}:{line}: lazy import of {name} without a `# lazy: why` comment"
            )
    return problems


def test_every_module_is_in_a_room() -> None:
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in OUTSIDE)
    assert loose == [], f"modules outside every room: {loose} (DESIGN.md section 4)"


def test_no_cycle_between_rooms() -> None:
    found = cycles(room_graph())
    assert found == [], "cycles between rooms: " + "; ".join(" -> ".join(c) for c in found)


def test_every_room_imports_only_what_its_row_allows() -> None:
    table = allowed_table(DOC.read_text(encoding="utf-8"))
    allowed = {**table, **OUTSIDE}
    rooms = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert rooms <= set(table), f"rooms missing from {DOC.name}: {sorted(rooms - set(table))}"
    bad = [
        f"{where}: {source} imports {other}, not in its row of {DOC.name}"
        for source, targets in sorted(room_graph().items())
        for other, places in sorted(targets.items())
        if other not in allowed.get(source, set())
        for where in places
    ]
    assert bad == [], "\n".join(bad)


def file_graph() -> dict[str, dict[str, list[str]]]:
    """Module -> imported module of the same room -> where, for every import inside a room."""
    graph: dict[str, dict[str, list[str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _module_name(path)
        for line, target in imports(path):
            # A module's own package is imported before it by Python itself (`from
            # hubfleet.local import state` names the package too): not an edge.
            inherent = source.startswith(target + ".")
            if target != source and not inherent and room_of(target) == room_of(source):
                where = f"{path.relative_to(ROOT)}:{line}"
                graph.setdefault(source, {}).setdefault(target, []).append(where)
    return graph


def test_no_cycle_between_files_inside_a_room() -> None:
    """A cycle inside a room (a TYPE_CHECKING import too) is broken by moving the shared
    part to the module both use, as export's result types live in `export/layout.py`."""
    found = cycles(file_graph())
    assert found == [], "cycles between files: " + "; ".join(" -> ".join(c) for c in found)


def test_the_table_itself_points_one_way() -> None:
    table = allowed_table(DOC.read_text(encoding="utf-8"))
    order = list(table)
    late = [
        f"{room} -> {dep}"
        for room, deps in table.items()
        for dep in deps
        if dep not in order or order.index(dep) >= order.index(room)
    ]
    assert late == [], f"rows of {DOC.name} that import a room not listed before them: {late}"
    assert cycles({room: dict.fromkeys(deps) for room, deps in table.items()}) == []


def test_the_walk_sees_function_level_and_type_checking_imports(tmp_path: Path) -> None:
    """The walker finds a lazy import and a TYPE_CHECKING one, and reports a cycle."""
    sample = PACKAGE / "health" / "gate.py"
    assert any(target.startswith("hubfleet.config") for _, target in imports(sample))
    lazy = [t for line, t in imports(PACKAGE / "cli" / "check.py") if t == "hubfleet.deploy.checks"]
    assert lazy, "cli/check.py's function-level import of deploy.checks was not seen"
    assert cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}}) == [["a", "b", "c", "a"]]


def test_the_core_imports_at_the_top() -> None:
    """Outside cli/ (whose commands import lazily for `--help`), every import is at the top
    of its module, but the few heavy third-party ones of LAZY_ALLOWED, each with its reason."""
    bad = [
        problem
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).parts[0] != "cli"
        for problem in lazy_import_problems(path, path.read_text(encoding="utf-8"))
    ]
    assert bad == [], "\n".join(bad)


def test_the_lazy_import_check_finds_each_kind(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    text = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from hubfleet.secrets.sops import Sops\n"
        "def f() -> None:\n"
        "    from hubfleet.config.load import load_fleet\n"
        "    from . import sibling\n"
        "    import yaml\n"
        "    import tornado\n"
        "    # lazy: a reason above\n"
        "    import jsonschema\n"
        "    import rich  # lazy: a reason beside\n"
    )
    found = lazy_import_problems(sample, text)
    assert [problem.split(": ", 1)[0].rsplit(":", 1)[1] for problem in found] == [
        "5",
        "6",
        "7",
        "8",
    ]
    assert "hubfleet.config.load imported inside a function" in found[0]
    assert "hubfleet.. imported inside a function" in found[1]
    assert "yaml imported inside a function, not in LAZY_ALLOWED" in found[2]
    assert "lazy import of tornado without a `# lazy: why` comment" in found[3]


@pytest.mark.parametrize("text", ["no table here", "| room | x |\n|---|---|\n| a | b |"])
def test_a_doc_without_the_table_fails(text: str) -> None:
    with pytest.raises(AssertionError):
        allowed_table(text)
