"""The core's import layers (STYLE.md's house habits): config is a leaf, layers point one way, no package
import cycles, and a function-local import exists only to defer a heavy dependency, with a comment saying so.

Read from the source with `ast`, so a new upward or hidden import fails here, not in review."""

from __future__ import annotations

import ast
from pathlib import Path

import llem
import pytest

ROOT = Path(llem.__file__).parent
# Lower layers first; a package may import packages of its own rank or lower, never higher.
RANK = {
    "errors": 0, "text": 0, "files": 0, "_callable": 0, "version": 0, "models": 0,
    "config": 1,
    "plugins": 2,
    "measure": 3, "kit": 3,
    "prompts": 4, "results": 4,
    "run": 5,
    "study": 6, "testing": 6,
    "checks": 7, "report": 7,
    "cli": 8, "__main__": 9, "": 10,
}  # fmt: skip


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _resolve(node: ast.Import | ast.ImportFrom, here: str, is_pkg: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if not node.level:
        return [node.module or ""]
    base = here.split(".") if is_pkg else here.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return [".".join([*base, *([node.module] if node.module else [])])]


def _imports() -> list[tuple[Path, str, str, int, bool, bool]]:
    """(file, its package, imported llem module, line, inside a function, under TYPE_CHECKING)."""
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        here, is_pkg = ".".join(parts), path.name == "__init__.py"
        todo: list[tuple[ast.AST, bool, bool]] = [(ast.parse(path.read_text(encoding="utf-8")), False, False)]
        while todo:
            node, in_func, typing_only = todo.pop()
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    for name in _resolve(child, here, is_pkg):
                        if name == "llem" or name.startswith("llem."):
                            out.append((path, _package(here), name, child.lineno, in_func, typing_only))
                elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                    todo.append((child, in_func, True))
                else:
                    func = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
                    todo.append((child, in_func or func, typing_only))
    return out


IMPORTS = _imports()


def test_every_package_has_a_layer():
    packages = {pkg for _, pkg, _, _, _, _ in IMPORTS} | {_package(m) for _, _, m, _, _, _ in IMPORTS}
    assert packages <= set(RANK), sorted(packages - set(RANK))


def test_no_import_points_up_a_layer():
    # TYPE_CHECKING imports included: config must not even name the plugin manager's type
    up = [
        f"{path.relative_to(ROOT.parent)}:{line} ({pkg} imports {name})"
        for path, pkg, name, line, _, _ in IMPORTS
        if RANK[_package(name)] > RANK[pkg]
    ]
    assert up == []


def test_config_imports_nothing_of_ours_but_errors():
    others = {name for _, pkg, name, _, _, _ in IMPORTS if pkg == "config" and _package(name) != "config"}
    assert others <= {"llem.errors"}


@pytest.mark.parametrize("package", ["results", "study"])
def test_results_and_study_never_import_the_cli(package):
    assert not [name for _, pkg, name, _, _, _ in IMPORTS if pkg == package and _package(name) == "cli"]


def test_function_local_imports_say_why_they_are_deferred():
    missing = []
    for path in sorted(ROOT.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for child in ast.walk(node):
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    # the reason sits on the import's line or on a comment line above it (several imports
                    # of one deferred group share it)
                    above = lines[max(0, child.lineno - 6) : child.lineno]
                    if not any("deferred" in line for line in above):
                        missing.append(f"{path.relative_to(ROOT.parent)}:{child.lineno}")
    assert missing == []
