"""The walls of the house: each module imports only its own floor or the floors below it.

Floors, bottom to top (``../shared/DESIGN.md``): the catalog and plain helpers, the
graph model, dsp, the renderer, data (sources, synthesis, datasets), models,
decoders, the estimator, the jobs built on it (metrics, training, bench), the CLI.
Imports inside functions count too (they are the usual way round a wall), and so
does a cycle between two modules of one floor. ``TYPE_CHECKING`` blocks do not count.
"""
import ast
import importlib
import pathlib
import subprocess
import sys

import pytest

import graphfx

PACKAGE = pathlib.Path(graphfx.__file__).parent

#: Module name prefixes, bottom floor first (the longest matching prefix wins).
FLOORS = [
    ("graphfx.errors", "graphfx.files", "graphfx.outputs", "graphfx.memory", "graphfx.provenance", "graphfx.catalog",
     "graphfx.audio", "graphfx.losses"),
    ("graphfx.graph", "graphfx.validation", "graphfx.canonical", "graphfx.tokens", "graphfx.draw"),
    ("graphfx.dsp",),
    ("graphfx.renderer",),
    ("graphfx.sources", "graphfx.synth", "graphfx.dataformat", "graphfx.datasets", "graphfx.stats"),
    ("graphfx.models",),
    ("graphfx.decoders",),
    ("graphfx.estimator", "graphfx.presets", "graphfx.pretrained"),
    ("graphfx.metrics", "graphfx.priors", "graphfx.dashboard", "graphfx.train", "graphfx.bench", "graphfx.estimate",
     "graphfx.export"),
    ("graphfx.cli",),
]


def module_names():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


MODULES = dict(module_names())


def floor(module: str) -> int:
    best = None
    for level, prefixes in enumerate(FLOORS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (level, len(prefix))
    if best is None:
        raise AssertionError(f"{module} has no floor in tests/test_layering.py: add it to FLOORS")
    return best[0]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(module: str):
    """The graphfx modules ``module`` imports, anywhere in its body (``TYPE_CHECKING`` blocks aside)."""
    tree = ast.parse(MODULES[module].read_text())
    found = set()

    def visit(node):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("graphfx"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("graphfx"):
            for alias in node.names:  # `from graphfx import catalog` imports the module graphfx.catalog
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard(module)
    return {name for name in found if name in MODULES}


# The package's __init__ exposes the top-level API (lazily); it is the front door, not a floor.
LIBRARY = [m for m in MODULES if m != "graphfx"]


@pytest.mark.parametrize("module", LIBRARY)
def test_imports_only_downward(module):
    mine = floor(module)
    for target in imports_of(module):
        if target == "graphfx":
            continue  # `from graphfx import X` of a name the package itself defines (errors, catalog ...)
        assert floor(target) <= mine, f"{module} (floor {mine}) imports {target} (floor {floor(target)})"


def test_library_never_imports_the_cli():
    for module in LIBRARY:
        if module != "graphfx.cli":
            assert "graphfx.cli" not in imports_of(module), module


def test_no_import_cycles():
    graph = {m: imports_of(m) - {"graphfx"} for m in LIBRARY}
    state = {}

    def visit(module, stack):
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycle = stack[stack.index(target):] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, stack + [target])
        state[module] = "done"

    for module in LIBRARY:
        if module not in state:
            visit(module, [module])


def test_every_module_imports():
    for module in MODULES:
        importlib.import_module(module)


def test_inference_imports_no_training():
    code = ("import sys, graphfx.estimator; "
            "bad = [m for m in sys.modules if m in ('graphfx.train', 'graphfx.dashboard') "
            "or m.startswith('tensorboard') or m.startswith('torch.utils.tensorboard')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
