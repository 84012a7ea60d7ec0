"""The package's layers, checked from the source: who may import whom, and no import cycles.

Why a test: cycles hidden by imports inside functions (guards/backend <-> redis, breaker shared
<-> storage, sandbox server <-> handler) and steps reaching back up (config -> guards, records
-> inputs) crept in while every module stayed small. The table below is the one in
docs/design.md; each package's ``__init__`` docstring says the same in words.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "plantid_cli"

#: Top-level modules: importable by every package (they import no step).
TOP = {
    "errors", "config", "config_files", "rate_spec", "constants", "events", "records", "redact",
    "file_targets", "sqlite_files",
}  # fmt: skip

#: package -> the packages it may import (besides itself and the top-level modules).
ALLOWED: dict[str, set[str]] = {
    "top": set(),
    "inputs": set(),
    "images": {"inputs"},
    "providers": {"inputs", "images"},
    "guards": set(),
    "run": {"inputs", "images", "providers", "guards", "outputs"},
    "outputs": {"inputs", "images"},
    "telemetry": {"guards"},
    "sandbox": set(),
    "cli": {"inputs", "images", "providers", "guards", "run", "outputs", "telemetry", "sandbox",
            "api"},
    "api": {"inputs", "images", "providers", "guards", "run", "outputs", "telemetry"},
}  # fmt: skip
#: The sandbox stands in for the services: of the product it may use the errors and the plain
#: constants only (the organs the CLI offers, which Pl@ntNet's list extends).
SANDBOX_TOP = {"errors", "constants"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PKG.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The module of ours `name` is (``a.b.c`` imported as a name of ``a.b``: ``a.b``)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str) -> list[tuple[str, int, bool]]:
    """(imported module, line, inside a function) for every import of our own modules,
    including those under ``if TYPE_CHECKING:`` (a cycle for the type checker too)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(parts + ([child.module] if child.module else []))
                names = [f"{base}.{alias.name}" for alias in child.names]
            for name in names:
                target = _resolve(name) if name.startswith("plantid_cli") else None
                if target is not None and target != module:
                    found.append((target, child.lineno, in_function))
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def _package(module: str) -> str:
    parts = module.split(".")[1:]
    if not parts:
        return "api"  # plantid_cli/__init__.py: the public API, on top like the CLI
    if parts[0] == "__main__":
        return "cli"
    return "top" if parts[0] in TOP else parts[0]


def test_every_module_belongs_to_a_known_package():
    unknown = {_package(m) for m in MODULES} - set(ALLOWED)
    assert not unknown, f"packages missing from the layer table: {sorted(unknown)}"


def test_packages_import_only_what_the_layer_table_allows():
    wrong = []
    for module in sorted(MODULES):
        source = _package(module)
        for target, line, _ in _imports(module):
            dest = _package(target)
            if dest == source:
                continue
            if source == "sandbox":
                ok = dest == "top" and target.split(".")[1] in SANDBOX_TOP
            else:
                ok = dest == "top" or dest in ALLOWED[source]
            if not ok:
                wrong.append(f"{MODULES[module].relative_to(ROOT)}:{line}: {source} -> {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles_even_through_imports_inside_functions():
    graph: dict[str, set[str]] = defaultdict(set)
    for module in MODULES:
        graph[module] |= {target for target, _, _ in _imports(module)}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    # the check above is only as good as this: a -> b -> c -> a is one cycle, d is not in it
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_each_package_docstring_says_what_it_may_import():
    for init in sorted(PKG.rglob("__init__.py")):
        if init.parent == PKG:
            continue  # the public API's docstring is the library's usage
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        words = " ".join(doc.split())
        assert "May import" in words, f"{init.relative_to(ROOT)}: docstring names no imports"


def test_design_doc_shows_the_same_table():
    # docs/design.md's "Which package may import which" is this test's ALLOWED, in words
    text = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    section = text.split("## Which package may import which", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:3] for line in section.splitlines() if line.startswith("| `")]
    shown = {}
    for first, second in rows:
        names = first.strip().strip("`")
        if names not in ALLOWED or "everything" in second or names == "sandbox":
            continue
        shown[names] = {part.split("`")[0] for part in second.split("`")[1::2]}
    expected = {name: ALLOWED[name] for name in shown}
    assert shown == expected
    assert set(shown) >= {"inputs", "images", "providers", "guards", "run", "outputs", "telemetry"}


def test_imports_inside_functions_say_what_they_keep_off_start_up():
    # an import of our own modules inside a function is allowed only to keep something off a
    # start-up path, and then it says so in a comment (on it, or above its block of imports)
    silent = []
    for module in sorted(MODULES):
        lines = MODULES[module].read_text(encoding="utf-8").splitlines()
        for _, line, in_function in _imports(module):
            if not in_function:
                continue
            above = line - 1
            block = [lines[line - 1]]
            while above >= 1 and lines[above - 1].strip().startswith(("from ", "import ", "#")):
                block.append(lines[above - 1])
                if lines[above - 1].strip().startswith("#"):
                    break
                above -= 1
            if not any("#" in text for text in block):
                silent.append(f"{MODULES[module].relative_to(ROOT)}:{line}")
    assert not silent, "in-function imports with no reason given:\n" + "\n".join(silent)


def test_the_run_builds_each_record_in_one_call_and_never_patches_it():
    # records.build_record is the one builder; run/ neither assembles records piecemeal nor
    # changes one after it is built (it used to: records -> combine -> specimens -> combine)
    patched = []
    for path in sorted((PKG / "run").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            target = None
            if isinstance(node, ast.Assign | ast.AugAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                target = next((t for t in targets if isinstance(t, ast.Subscript)), None)
                target = target.value if target is not None else None
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in ("update", "setdefault", "pop"):
                    target = node.func.value
            if isinstance(target, ast.Name) and target.id == "record":
                patched.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.ImportFrom) and node.module == "plantid_cli.records":
                names = {alias.name for alias in node.names}
                wrong = names & {"answer_record", "error_record", "base_record", "with_exact_paths"}
                patched += [f"{path.relative_to(ROOT)}:{node.lineno}: {name}" for name in wrong]
    assert not patched, "records assembled or patched in run/:\n" + "\n".join(patched)
