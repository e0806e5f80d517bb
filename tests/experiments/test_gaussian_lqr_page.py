"""docs/gaussian-lqr.md runs: its Python blocks in order, its command, and its numbers are current."""

import csv
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "gaussian-lqr.md"
RESULTS = ROOT / "docs" / "results" / "estimators_lqr"


def blocks(language):
    text = PAGE.read_text(encoding="utf-8")
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def test_the_pages_python_runs():
    found = blocks("python")
    assert len(found) == 4
    namespace: dict = {}
    for block in found:
        exec(compile(block, str(PAGE), "exec"), namespace)
    assert namespace["error"] < 1e-8  # ∇J against finite differences of J


@pytest.fixture(scope="module")
def lab_run(tmp_path_factory):
    """The page's command, as a user runs it, writing to a temporary directory."""
    (command,) = [line for block in blocks("bash") for line in block.splitlines() if line]
    arguments = shlex.split(command)
    assert arguments[0] == "gradlogpi" and arguments[-2] == "--out"
    out = tmp_path_factory.mktemp("estimators_lqr")
    completed = subprocess.run(
        [sys.executable, "-m", "gradlogpi.cli", *arguments[1:-1], str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT, check=True,
    )  # fmt: skip
    return out, completed.stdout


def rows(path):
    with path.open(encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_the_lab_runs_from_the_command_line(lab_run):
    """Its time (under a minute, the issue's bound) is benchmark L1, not a test."""
    out, stdout = lab_run
    assert "K* = [[0.5884]]" in stdout and "First-step directions" in stdout
    for name in ("estimators.csv", "estimators.png", "errors.png", "directions.csv"):
        assert (out / name).stat().st_size > 100, name
    reports = {row["estimator"]: row for row in rows(out / "estimators.csv")}
    for row in reports.values():
        below = float(row["chi"]) < float(row["chi_threshold"])
        assert below == (row["expected_unbiased"] == "True"), row["estimator"]


def test_the_pages_tables_are_the_commands_output(lab_run):
    """The committed CSVs and the page's tables hold what the command writes today."""
    out, _ = lab_run
    page = PAGE.read_text(encoding="utf-8")
    for name, key, columns in (
        ("estimators.csv", "estimator", ("bias_in_standard_errors", "chi", "cosine_to_exact")),
        ("directions.csv", "direction", ("angle_degrees", "noise_angle_degrees")),
    ):
        fresh, committed = rows(out / name), rows(RESULTS / name)
        assert [row[key] for row in fresh] == [row[key] for row in committed]
        for new, old in zip(fresh, committed, strict=True):
            for column in columns:
                assert float(new[column]) == pytest.approx(float(old[column]), rel=1e-3, abs=1e-3)
                shown = f"{float(new[column]):.{4 if column == 'cosine_to_exact' else 2}f}"
                line = next(line for line in page.splitlines() if line.startswith(f"| {new[key]}:"))
                assert shown in line, (new[key], column, shown)
