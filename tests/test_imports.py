"""How the package's modules import each other: no cycles, each stage only from the stages
below it, and a report without torch."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import profiler

PACKAGE = Path(profiler.__file__).parent


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules ``name`` imports anywhere (module level or inside a
    function, where a cycle bites at run time), leaving out ``if TYPE_CHECKING:``
    blocks; ``import_module(f".prefix.{x}")`` or ``import_module(f"profiler.prefix.{x}")`` counts as importing every module
    under that prefix (the package's own lazy exports, ``import_module(f".{x}")``,
    name no prefix and are left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(n) for node in ast.walk(tree)
                   if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                   for n in ast.walk(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            submodules = [f"{target}.{alias.name}" for alias in node.names]
            # `from . import x` of a submodule x imports x (its package is loaded already)
            targets.update(submodules if all(m in modules for m in submodules) else [target, *submodules])
        elif isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "import_module" and node.args:
            first = node.args[0]
            text = first.value if isinstance(first, ast.Constant) else (
                first.values[0].value if isinstance(first, ast.JoinedStr) and first.values
                and isinstance(first.values[0], ast.Constant) else None)
            if isinstance(text, str) and (text.startswith(".") and text.strip(".") or text.startswith("profiler.")):
                prefix = f"{package}{text}" if text.startswith(".") else text
                targets.update(m for m in modules if m == prefix or m.startswith(prefix))
    return {t for t in targets if t in modules and t != name}


def test_no_module_imports_itself_through_others():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    state: dict[str, int] = {}   # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert "profiler.api" in graph and graph["profiler.cli"] >= {"profiler.cli.profile"}


# The stages, lowest first.  A module imports from its own stage and the ones below,
# never from a later one (inside a function too: that is where an upward import hides).
# Modules of one stage may import one another; the cycle test above keeps that acyclic.
STAGES = [
    # ground: imported by every stage, importing nothing of the package but each other.
    # ``arguments`` sits here because models (spec, hf inputs) and capture check the
    # caller's arguments with it, and it reads nothing but the arguments (errors only).
    ("ground", ["profiler.errors", "profiler.columns", "profiler.defaults", "profiler.arguments"]),
    ("formulas", ["profiler.formulas"]),
    ("models", ["profiler.models"]),
    ("capture", ["profiler.capture"]),
    ("count", ["profiler.count"]),
    ("report", ["profiler.report"]),
    ("measure", ["profiler.measure"]),
    ("entry points", ["profiler.api", "profiler.compare", "profiler.check", "profiler.transforms", "profiler.fits"]),
    # the package's lazy exports (``profiler.profile``) reach the stages by name only
    ("cli", ["profiler.cli", "profiler.__main__", "profiler"]),
]

# (importer, imported): the reason the upward import stays.  An entry no import needs
# any more fails the test, so the list only shrinks.
UPWARD_ALLOWED: dict[tuple[str, str], str] = {}


def _stage(module: str) -> int:
    for level, (_, prefixes) in enumerate(STAGES):
        if any(module == p or (p != "profiler" and module.startswith(p + ".")) for p in prefixes):
            return level
    raise AssertionError(f"{module} is in no stage: add it to STAGES in tests/test_imports.py")


def _upward(modules: dict[str, Path]) -> list[tuple[str, str]]:
    """(importer, imported) for each import of a later stage."""
    return [(name, target) for name, path in sorted(modules.items())
            for target in sorted(_imports(name, path, modules)) if _stage(target) > _stage(name)]


def test_each_stage_imports_only_from_the_stages_below():
    found = _upward(_modules())
    upward = [f"{name} ({STAGES[_stage(name)][0]}) imports {target} ({STAGES[_stage(target)][0]})"
              for name, target in found if (name, target) not in UPWARD_ALLOWED]
    assert not upward, "upward imports:\n" + "\n".join(upward)
    stale = sorted(set(UPWARD_ALLOWED) - set(found))
    assert not stale, f"allowed upward imports that no module makes any more: {stale}"


def test_the_stage_check_sees_an_upward_import_inside_a_function(tmp_path):
    modules = {"profiler.models.x": tmp_path / "x.py", "profiler.capture.record": tmp_path / "record.py",
               "profiler.errors": tmp_path / "errors.py"}
    modules["profiler.models.x"].write_text("from profiler.errors import ProfilerError\n\n\n"
                                            "def f():\n    from profiler.capture.record import tensor_leaves\n")
    modules["profiler.capture.record"].write_text("")
    modules["profiler.errors"].write_text("")
    assert _upward(modules) == [("profiler.models.x", "profiler.capture.record")]


def test_importing_the_report_imports_neither_torch_nor_pandas():
    code = ("import sys, profiler.report, profiler.columns; "
            "print(sorted(m for m in ('torch', 'torchvision', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_import_profiler_reaches_every_stage_by_attribute():
    """`import profiler` alone, then `profiler.measure.measure`, `profiler.compare.compare`,
    as after importing each: the stages load on first use, and a name that is none of
    them is still an AttributeError."""
    code = ("import sys, profiler; loaded = 'torch' in sys.modules; "
            "from profiler.measure.timing import measure; from profiler.compare import compare; "
            "assert profiler.measure.measure is measure and profiler.compare.compare is compare\n"
            "try:\n    profiler.no_such_stage\nexcept AttributeError as exc:\n    print(loaded, exc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False module 'profiler' has no attribute 'no_such_stage'"


# --- tests mirror the package -------------------------------------------------------

TESTS = Path(__file__).parent


def _defines_code(path: Path) -> bool:
    """A package __init__ that holds more than a docstring, imports and a lazy
    ``__getattr__`` (the Report, the CLI's main) is a module of its own."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name != "__getattr__"
               for node in tree.body)


def mirror_of(path: Path) -> Path | None:
    """The test file of a package module: profiler/a/b.py is tested in tests/a/test_b.py,
    a package __init__ with code of its own (profiler/report) in tests/report/test_report.py."""
    rel = path.relative_to(PACKAGE)
    if rel.name == "__main__.py" or (rel.name == "__init__.py" and not _defines_code(path)):
        return None
    if rel.name == "__init__.py":
        return TESTS / rel.parent / f"test_{rel.parent.name}.py"
    return TESTS / rel.parent / f"test_{rel.stem}.py"


def test_every_module_has_a_test_file_that_mirrors_it():
    missing = sorted(str(test.relative_to(TESTS.parent)) for path in PACKAGE.rglob("*.py")
                     if (test := mirror_of(path)) is not None and not test.exists())
    assert not missing, "modules without their test file: " + ", ".join(missing)
