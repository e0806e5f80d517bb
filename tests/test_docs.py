"""Every ```python block of docs/tutorial.md runs, in order, in one namespace."""

import re
from pathlib import Path

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
