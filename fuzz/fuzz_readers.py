"""Coverage-guided fuzzing of the config and checkpoint readers with atheris.

    .venv/bin/pip install atheris && .venv/bin/python fuzz/fuzz_readers.py -max_total_time=60

Any exception other than ConfigError / CheckpointError (or a warning about versions) is
a bug: bad input must always get the library's own named error.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from gradlogpi.errors import CheckpointError, ConfigError
    from gradlogpi.runs.checkpoints import load_checkpoint
    from gradlogpi.runs.config import load_config

DIRECTORY = Path(tempfile.mkdtemp(prefix="gradlogpi-fuzz-"))


def one_input(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    split = provider.ConsumeIntInRange(0, len(data))
    first, second = data[:split], data[split:]
    (DIRECTORY / "config.toml").write_bytes(first)
    try:
        load_config(DIRECTORY / "config.toml")
    except ConfigError:
        pass
    (DIRECTORY / "checkpoint.json").write_bytes(first)
    (DIRECTORY / "checkpoint.npz").write_bytes(second)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            load_checkpoint(DIRECTORY / "checkpoint")
        except CheckpointError:
            pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
