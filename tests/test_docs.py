"""Every ```python block of docs/tutorial.md runs, in order, in one namespace."""

import re
from pathlib import Path

import numpy as np
import pytest

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial.md"


def test_tutorial_code_runs():
    pytest.importorskip("torch")
    blocks = re.findall(r"```python\n(.*?)```", TUTORIAL.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 6
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(TUTORIAL), "exec"), namespace)


def test_every_public_name_is_documented():
    """Each name a package exports has a docstring (rlax-style API coverage)."""
    import importlib

    for package in (
        "gradlogpi.core",
        "gradlogpi.features",
        "gradlogpi.policies",
        "gradlogpi.check",
        "gradlogpi.algorithms",
    ):
        module = importlib.import_module(package)
        for name in module.__all__:
            assert getattr(module, name).__doc__, f"{package}.{name} has no docstring"


def test_the_cli_reference_is_current():
    """docs/cli.md is what `scripts/cli_reference.py` writes from today's --help texts."""
    import importlib.util

    script = TUTORIAL.parents[1] / "scripts" / "cli_reference.py"
    spec = importlib.util.spec_from_file_location("cli_reference", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    current = module.PATH.read_text(encoding="utf-8")
    assert current == module.reference(), "run: .venv/bin/python scripts/cli_reference.py"
    assert "## gradlogpi sweep" in current
    assert "extra gradlogpi[video]" in current  # rich would read "[video]" as markup
    assert not re.search(r"\w…", current)  # rich cuts a word short as "alpha_thet…"


def test_the_site_builds_strict(tmp_path):
    """mkdocs build --strict: a renamed function, a broken link or a bad docstring fails here."""
    import os
    import subprocess
    import sys

    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    root = TUTORIAL.parents[1]
    completed = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    api = (tmp_path / "api" / "core" / "index.html").read_text(encoding="utf-8")
    assert "linear_softmax_score" in api  # the reference is generated from the docstrings
    home = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "<math" in home  # formulas are rendered as MathML at build time


def test_every_link_of_the_readme_reaches_a_file():
    """The README is short and links into docs/: a moved or renamed page fails here."""
    root = TUTORIAL.parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    assert len(targets) >= 15
    missing = [t for t in targets if not t.startswith("http") and not (root / t).exists()]
    assert not missing, missing


def documented_commands():
    """(page, command line) of every `gradlogpi …` line in the bash blocks of the README,
    Getting started and the guide pages."""
    import shlex

    root = TUTORIAL.parents[1]
    pages = [root / "README.md", root / "docs" / "getting-started.md"]
    pages += sorted((root / "docs" / "guide").glob("*.md"))
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
            for line in block.splitlines():
                words = shlex.split(line, comments=True)
                if words[:1] == ["gradlogpi"]:
                    yield page.name, words[1:]


def test_every_documented_command_parses():
    """Each documented command names a real subcommand and real flags with valid values
    (parsed by the CLI itself, not run): a renamed flag or command fails here."""
    from typer.main import get_command

    from gradlogpi.cli.app import app

    commands = list(documented_commands())
    assert len(commands) >= 25
    for page, words in commands:
        command, rest = get_command(app), list(words)
        while hasattr(command, "commands"):  # a group: the next word names its command
            assert rest and rest[0] in command.commands, f"{page}: gradlogpi {' '.join(words)}"
            command, rest = command.commands[rest[0]], rest[1:]
        command.make_context(command.name, rest)  # raises on an unknown flag or a bad value


def test_a_documented_command_with_a_wrong_flag_is_refused():
    """The check above can fail: a misspelt flag and an out-of-range value are refused."""
    from typer.main import get_command

    from gradlogpi.cli.app import app

    train = get_command(app).commands["train"]
    cartpole = get_command(app).commands["experiment"].commands["cartpole"]
    with pytest.raises(Exception, match="--confg"):
        train.make_context("train", ["--confg", "x.toml"])
    with pytest.raises(Exception, match="greater than or equal to 1"):  # --seeds 0
        cartpole.make_context("cartpole", ["--config", "c.toml", "--seeds", "0"])


def test_the_python_of_the_runs_guide_runs():
    """The guide's example of runs learned together (docs/guide/runs.md) runs as written."""
    pytest.importorskip("jax")
    guide = Path(__file__).resolve().parents[1] / "docs" / "guide" / "runs.md"
    blocks = re.findall(r"```python\n(.*?)```", guide.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "the guide has an example"
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(guide), "exec"), namespace)
    assert namespace["result"].parameters.shape[0] == 4


def test_the_python_of_the_backends_guide_runs():
    """The guide's own-network examples (docs/guide/backends.md) run as written: a
    convolution's scores pass the gradient check and PPO trains it, in PyTorch and JAX."""
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    guide = Path(__file__).resolve().parents[1] / "docs" / "guide" / "backends.md"
    blocks = re.findall(r"```python\n(.*?)```", guide.read_text(encoding="utf-8"), flags=re.S)
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(guide), "exec"), namespace)
    result = namespace["result"]
    assert result.returns.shape[0] == 1 and result.returns.shape[1] > 0
    assert np.isfinite(result.parameters).all()
    assert not np.allclose(result.parameters[0], namespace["start"])
    jax_result = namespace["jax_result"]
    assert np.isfinite(jax_result.parameters).all()
    assert not np.allclose(jax_result.parameters[0], namespace["jax_start"])
