import json
import pickle
import re

import numpy as np
import pytest

from gradlogpi.errors import CheckpointError
from gradlogpi.runs.checkpoints import load_checkpoint, save_checkpoint


def test_round_trip_keeps_arrays_equal(tmp_path, rng):
    theta = rng.normal(size=(3, 5))
    save_checkpoint(tmp_path / "ck", {"theta": theta}, {"episodes": 7})
    arrays, metadata = load_checkpoint(tmp_path / "ck")
    np.testing.assert_array_equal(arrays["theta"], theta)
    assert metadata["episodes"] == 7 and "numpy" in metadata["versions"]


def test_failed_save_keeps_previous_checkpoint(tmp_path, rng, monkeypatch):
    first = rng.normal(size=4)
    save_checkpoint(tmp_path / "ck", {"theta": first}, {})

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(json, "dump", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(tmp_path / "ck", {"theta": first + 1}, {})
    monkeypatch.undo()
    # the new arrays landed but the metadata did not: the sha256 no longer matches, so the
    # half-written checkpoint is refused rather than silently mixing old and new
    with pytest.raises(CheckpointError, match="do not match the sha256"):
        load_checkpoint(tmp_path / "ck")
    assert not list(tmp_path.glob("*.tmp"))


def test_truncated_file_raises_checkpoint_error(tmp_path, rng):
    save_checkpoint(tmp_path / "ck", {"theta": rng.normal(size=100)}, {})
    payload = (tmp_path / "ck.npz").read_bytes()
    (tmp_path / "ck.npz").write_bytes(payload[: len(payload) // 2])
    with pytest.raises(CheckpointError, match=re.escape("truncated or garbled")):
        load_checkpoint(tmp_path / "ck")


def test_garbled_metadata_raises_checkpoint_error(tmp_path, rng):
    save_checkpoint(tmp_path / "ck", {"theta": rng.normal(size=3)}, {})
    (tmp_path / "ck.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="metadata is not valid JSON"):
        load_checkpoint(tmp_path / "ck")


def test_pickled_object_is_refused(tmp_path):
    import hashlib
    import io

    buffer = io.BytesIO()
    np.save(buffer, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    import zipfile

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("theta.npy", buffer.getvalue())
    payload = archive.getvalue()
    (tmp_path / "ck.npz").write_bytes(payload)
    import gradlogpi

    (tmp_path / "ck.json").write_text(
        json.dumps(
            {
                "format_version": 1,
                "sha256": hashlib.sha256(payload).hexdigest(),
                "versions": {"gradlogpi": gradlogpi.__version__},
            }
        )
    )
    with pytest.raises(CheckpointError, match="refused to load a pickled object"):
        load_checkpoint(tmp_path / "ck")
    assert pickle  # the module under test never calls pickle; this file only builds the bad input


def test_version_mismatch_warns(tmp_path, rng):
    save_checkpoint(tmp_path / "ck", {"theta": rng.normal(size=3)}, {})
    document = json.loads((tmp_path / "ck.json").read_text())
    document["versions"]["gradlogpi"] = "0.0.1"
    (tmp_path / "ck.json").write_text(json.dumps(document))
    with pytest.warns(UserWarning, match="written by gradlogpi 0.0.1"):
        load_checkpoint(tmp_path / "ck")


def test_missing_checkpoint_named(tmp_path):
    with pytest.raises(CheckpointError, match="missing file"):
        load_checkpoint(tmp_path / "nothing")


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("metadata_is_valid", [False, True])
def test_random_bytes_only_ever_give_checkpoint_error(tmp_path, metadata_is_valid):
    """A small fuzz: garbage arrays (and garbage or matching metadata) never leak raw errors."""
    import hashlib

    rng = np.random.default_rng(0)
    for size in (0, 1, 22, 100, 1000):
        payload = rng.integers(0, 256, size=size, dtype=np.uint8).tobytes()
        (tmp_path / "ck.npz").write_bytes(payload)
        if metadata_is_valid:
            document = {
                "format_version": 1,
                "sha256": hashlib.sha256(payload).hexdigest(),
                "versions": [1],
            }
            (tmp_path / "ck.json").write_text(json.dumps(document))
        else:
            (tmp_path / "ck.json").write_bytes(
                rng.integers(0, 256, size=size, dtype=np.uint8).tobytes()
            )
        with pytest.raises(CheckpointError):
            load_checkpoint(tmp_path / "ck")


def test_a_checkpoint_records_torch_only_where_it_was_used():
    """Asking for PyTorch's version must not import it (seconds on a linear run's first
    checkpoint); a run that used it records it."""
    import subprocess
    import sys

    script = (
        "import sys; from gradlogpi.runs.checkpoints import package_versions as v; "
        "first = v(); assert 'torch' not in sys.modules and 'torch' not in first, first; "
        "import torch; assert v()['torch'] == torch.__version__; print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.strip() == "ok", done.stderr


def test_check_arrays_accepts_what_the_config_implies():
    from gradlogpi.runs.checkpoints import check_arrays

    arrays = {"theta": np.zeros((2, 3)), "n": np.arange(2), "extra_names": np.array(["a"])}
    check_arrays("ck.npz", arrays, {"theta": ("f", (2, None)), "n": ("iu", (2,))})


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (
            {"w": np.zeros((2, 3))},
            "checkpoint ck.npz: array `theta` is missing; expected float of shape (2, 3); "
            "found arrays ['w']",
        ),
        (
            {"theta": np.zeros((2, 3), dtype=np.int64)},
            "checkpoint ck.npz: array `theta` must be float of shape (2, 3); got int64 of "
            "shape (2, 3)",
        ),
        (
            {"theta": np.zeros((3,))},
            "checkpoint ck.npz: array `theta` must be float of shape (2, 3); got float64 of "
            "shape (3,)",
        ),
        (
            {"theta": np.zeros((2, 3)), "optimizer_0": np.array(["abc"])},
            "checkpoint ck.npz: array `optimizer_0` must have a numeric dtype (bool, integer or "
            "float); got <U3",
        ),
        (
            {"theta": np.zeros((2, 3), dtype=np.complex128)},
            "checkpoint ck.npz: array `theta` must have a numeric dtype (bool, integer or "
            "float); got complex128",
        ),
    ],
)
def test_check_arrays_names_the_array_what_was_expected_and_what_was_found(arrays, message):
    from gradlogpi.runs.checkpoints import check_arrays

    with pytest.raises(CheckpointError, match=re.escape(message)):
        check_arrays("ck.npz", arrays, {"theta": ("f", (2, 3))})
