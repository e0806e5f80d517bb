"""The README's first result, run as a user runs it: a fresh shell after `bash dev.sh demo`.

The bash block under "## A first result in three commands" runs verbatim in a new bash
whose PATH holds no `gradlogpi` (no virtual environment active), from a directory laid out
as a clone after the set-up command: `configs/` and the `.venv` that `dev.sh` made.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEADING = "## A first result in three commands\n"


def quickstart(page: Path) -> str:
    """The one bash block of `page`'s first-result section."""
    section = page.read_text(encoding="utf-8").split(HEADING, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, f"{page}: expected one bash block under {HEADING.strip()!r}"
    return blocks[0]


def fresh_shell_environment() -> dict[str, str]:
    """This environment as a new terminal has it: no venv active, no gradlogpi on PATH."""
    path = [
        folder
        for folder in os.environ.get("PATH", "").split(os.pathsep)
        if folder and not (Path(folder) / "gradlogpi").exists()
    ]
    environment = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PS1")}
    environment.update(PATH=os.pathsep.join(path), MPLBACKEND="Agg", COLUMNS="200")
    return environment


def test_getting_started_shows_the_readmes_quickstart():
    assert quickstart(ROOT / "docs" / "getting-started.md") == quickstart(ROOT / "README.md")


def test_the_quickstart_starts_by_putting_gradlogpi_on_path():
    """The line the demo ends with (tests/test_demo.py) is the quickstart's first."""
    assert quickstart(ROOT / "README.md").splitlines()[0] == "source .venv/bin/activate"


def test_the_readme_quickstart_runs_verbatim_in_a_fresh_shell(tmp_path):
    venv = Path(sys.prefix)
    if not (venv / "bin" / "activate").is_file() or not (venv / "bin" / "gradlogpi").exists():
        pytest.skip("the suite does not run from the virtual environment dev.sh makes")
    block = quickstart(ROOT / "README.md")
    clone = tmp_path / "clone"
    clone.mkdir()
    shutil.copytree(ROOT / "configs", clone / "configs")
    (clone / ".venv").symlink_to(venv, target_is_directory=True)
    environment = fresh_shell_environment()
    before = subprocess.run(
        ["bash", "-c", "command -v gradlogpi"], cwd=clone, env=environment, capture_output=True
    )
    assert before.returncode != 0, "gradlogpi is on PATH before the README's first line"

    completed = subprocess.run(
        ["bash", "-e", "-c", block],
        cwd=clone,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-3000:]
    run = clone / "runs" / "first"
    for name in ("config.toml", "metrics.csv", "checkpoint.npz", "evaluation.json", "curve.png"):
        assert (run / name).is_file(), f"runs/first/{name} missing"
    assert re.search(r"last policy: mean return [\d.]+ .* over 100 fresh", completed.stdout)
    for suffix in (".png", ".svg"):
        assert (clone / "results" / f"first{suffix}").stat().st_size > 1000
