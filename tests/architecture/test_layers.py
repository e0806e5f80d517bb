"""The architecture holds: imports point down the layers, and the contract is used.

The layers (docs/architecture.md), lowest first; a module may import its own layer and
the layers below it, never one above:

    core ← features, check ← policies, envs ← rollouts, exact ← algorithms ← runs ← experiments, cli

Every import counts, function-level ones included: a hidden upward import is still a
cycle a reader has to untangle.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "src" / "gradlogpi"

LAYERS = {
    "errors": 0,
    "core": 0,
    "features": 1,
    "check": 1,
    "policies": 2,
    "envs": 2,
    "rollouts": 3,
    "exact": 3,
    "algorithms": 4,
    "runs": 5,
    "experiments": 6,
    "cli": 6,
    "demo": 7,
}


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every gradlogpi import in a file, wherever it sits."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # `from gradlogpi import features` names a subpackage too
            if node.module == "gradlogpi":
                found += [(node.lineno, f"gradlogpi.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
            if node.args and isinstance(node.args[0], ast.Constant):
                found.append((node.lineno, str(node.args[0].value)))
    return [(line, name) for line, name in found if name.startswith("gradlogpi.")]


def layer_of(module: str) -> str:
    return module.split(".")[1]


def source_files():
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in ("__init__.py", "__main__.py"):
            continue  # the package root re-exports the public API of every layer
        yield path, relative.parts[0].removesuffix(".py")


def test_every_subpackage_has_a_layer():
    names = {p.name.removesuffix(".py") for p in PACKAGE.iterdir() if not p.name.startswith("_")}
    names -= {"__pycache__", "py.typed"}
    assert names <= set(LAYERS), f"give {sorted(names - set(LAYERS))} a layer in LAYERS"


def test_imports_point_down_the_layers():
    upward = []
    for path, layer in source_files():
        for line, module in imports_of(path):
            target = layer_of(module)
            if target in LAYERS and LAYERS[target] > LAYERS[layer]:
                upward.append(f"{path.relative_to(PACKAGE)}:{line} ({layer}) imports {module}")
    assert not upward, "imports pointing up the layers:\n" + "\n".join(upward)


def test_no_import_cycles_between_modules():
    modules = {
        ".".join(("gradlogpi", *path.relative_to(PACKAGE).with_suffix("").parts)): path
        for path, _ in source_files()
    }
    graph = {
        name: {module for _, module in imports_of(path) if module in modules and module != name}
        for name, path in modules.items()
    }
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    cycles = []

    def visit(name: str, stack: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycles.append(" → ".join([*stack[stack.index(target) :], target]))
            elif target not in state:
                visit(target, [*stack, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_layers_above_policies_use_the_contract_not_probes():
    pattern = re.compile(r"policy: Any|(has|get)attr\((policy|value|critic|features)\b")
    offending = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for folder in ("algorithms", "rollouts", "runs")
        for path in sorted((PACKAGE / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offending, "\n".join(offending)


PER_STEP_KERNELS = {"_actor_critic_raw_step_python", "_actor_critic_tiles_step_python"}
"""Compiled kernels called once per environment step, exempt: Numba unboxes a tuple argument
several times slower than the arrays in it (measured: 2.6 µs against 1.2 µs a call), and the
call is most of the library's cost per step."""


def test_the_contract_types_what_it_asks_for():
    """`Any` only where the contract names why: a torch tensor (an optional extra) and the
    JSON settings of a checkpoint."""
    contract = (PACKAGE / "policies" / "contract.py").read_text(encoding="utf-8")
    loose = [
        line.strip()
        for line in contract.splitlines()
        if re.search(r"\bAny\b", line)
        and not line.startswith(
            (
                "from typing import",
                "TorchTensor = Any",
                "JSON = dict[str, Any]",
                "BackendArray = Any",
                "ArrayNamespace = Any",
            )
        )
    ]
    assert loose == []


def test_no_algorithm_module_imports_another():
    """The on-policy improvers share the loop, the advantages and the gradients, not each other."""
    algorithms = {"batch_pg", "a2c", "ppo", "trpo"}
    crossing = []
    for name in algorithms:
        path = PACKAGE / "algorithms" / "on_policy" / f"{name}.py"
        for line, module in imports_of(path):
            if module.rsplit(".", 1)[-1] in algorithms - {name}:
                crossing.append(f"{path.name}:{line}: {module}")
    assert crossing == []


def test_no_function_takes_more_than_eight_parameters():
    """Typer commands are exempt: each option is a parameter there by design."""
    crowded = []
    for path, layer in source_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if (layer == "cli" and node.decorator_list) or node.name in PER_STEP_KERNELS:
                continue
            arguments = node.args
            names = [
                a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
            ]
            names = [n for n in names if n not in ("self", "cls")]
            count = len(names) + bool(arguments.vararg) + bool(arguments.kwarg)
            if count > 8:
                crowded.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}: {count}")
    assert not crowded, "functions with more than 8 parameters:\n" + "\n".join(crowded)


@pytest.mark.parametrize(
    "layer", ["core", "features", "policies", "rollouts", "exact", "algorithms"]
)
def test_lower_layers_import_without_the_upper_ones(layer):
    """Importing a layer loads nothing above it (checked in a fresh interpreter)."""
    above = [name for name, level in LAYERS.items() if level > LAYERS[layer] and name != "demo"]
    script = (
        "import sys\n"
        f"import gradlogpi.{layer}\n"
        f"loaded = [m for m in sys.modules if m.split('.')[:2] in "
        f"[['gradlogpi', n] for n in {above!r}]]\n"
        "print(sorted(loaded))\n"
    )
    # `import gradlogpi` itself re-exports the API; load the layer through its own path
    script = script.replace(
        f"import gradlogpi.{layer}\n",
        "import importlib.util, types\n"
        "root = types.ModuleType('gradlogpi')\n"
        f"root.__path__ = [{str(PACKAGE)!r}]\n"
        "sys.modules['gradlogpi'] = root\n"
        f"importlib.import_module('gradlogpi.{layer}')\n",
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "[]", completed.stdout
