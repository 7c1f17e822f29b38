"""The house rules, checked on the source: method packages hold methods only, and sciml's packages import no circle."""

import ast
from pathlib import Path

import pytest

SCIML = Path(__file__).resolve().parents[1] / "sciml"
METHOD_PACKAGES = ("nn", "pde", "pinn", "operators", "dynamics", "uq", "gp", "battery", "solvers", "data", "train",
                   "rgnp", "discovery", "rl")


def _modules(package: Path):
    return sorted(package.rglob("*.py"))


def _imports(tree: ast.AST, module: str):
    """Every module name imported anywhere in `tree` (module level and inside functions), absolute."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(module.split(".")[: -node.level] + ([base] if base else []))
            # `from sciml import metrics` imports the module sciml.metrics; `from sciml import load` the package
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _name(path: Path) -> str:
    parts = path.relative_to(SCIML.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _rule_breaks(source: str, module: str) -> list[str]:
    tree = ast.parse(source)
    found = []
    for name in set(_imports(tree, module)):
        if name.split(".")[0] == "matplotlib":
            found.append("imports matplotlib (figures belong to sciml.studies)")
        if name.startswith("sciml.studies"):
            found.append("imports the study layer")
    fit_names = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                 and (n.module or "").startswith("sciml.train") for a in n.names if a.name == "fit"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name.endswith("Config"):
            found.append(f"defines the config class {node.name} (experiment configs belong to sciml.studies)")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in fit_names
                and not module.startswith("sciml.train")):
            found.append(f"calls fit at line {node.lineno} (training runs belong to sciml.studies)")
    return sorted(set(found))


@pytest.mark.parametrize("package", METHOD_PACKAGES)
def test_method_packages_hold_methods_only(package):
    broken = {_name(p): why for p in _modules(SCIML / package) if (why := _rule_breaks(p.read_text(), _name(p)))}
    assert not broken, "\n".join(f"{module}: {'; '.join(why)}" for module, why in broken.items())


def _node(name: str) -> str | None:
    """The part of sciml a module belongs to: a subpackage or top-level module (`sciml` for the root)."""
    parts = name.split(".")
    if parts[0] != "sciml":
        return None
    if len(parts) == 1:
        return "sciml"
    candidate = SCIML / parts[1]
    return f"sciml.{parts[1]}" if candidate.is_dir() or candidate.with_suffix(".py").exists() else "sciml"


def _import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in _modules(SCIML):
        source = _node(_name(path))
        targets = graph.setdefault(source, set())
        for name in _imports(ast.parse(path.read_text()), _name(path)):
            target = _node(name)
            if target is not None and target != source:
                targets.add(target)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_circle_between_the_parts_of_sciml():
    graph = _import_graph()
    assert {"sciml.train", "sciml.studies", "sciml.pinn"} <= graph.keys()
    cycle = _cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_planted_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_rule_checker_names_what_breaks_the_rule():
    source = ("import dataclasses\nimport matplotlib.pyplot as plt\nfrom sciml.train import fit\n"
              "@dataclasses.dataclass\nclass RunConfig:\n    steps: int = 1\n"
              "def run(m, l, d):\n    return fit(m, l, d, None, 1, key=None)\n")
    assert _rule_breaks(source, "sciml.nn._planted") == [
        "calls fit at line 8 (training runs belong to sciml.studies)",
        "defines the config class RunConfig (experiment configs belong to sciml.studies)",
        "imports matplotlib (figures belong to sciml.studies)"]
