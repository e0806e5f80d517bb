"""The package type-checks: mypy clean on src/ at the strictness pyproject.toml states.

The whole package in mypy's default mode; `core`, `features` and `policies` with --strict's
flags except warn_return_any (NumPy's stubs type most array expressions as Any). A wrong
annotation or a call that does not fit a signature fails here, not in a user's editor.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_is_clean_on_the_package():
    pytest.importorskip("mypy")
    completed = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-1000:]
    assert "Success: no issues found" in completed.stdout


def test_the_typed_marker_ships():
    assert (ROOT / "src" / "gradlogpi" / "py.typed").is_file()
    assert shutil.which("git") is None or "py.typed" in (ROOT / "pyproject.toml").read_text()
