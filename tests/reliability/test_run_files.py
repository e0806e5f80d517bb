"""Random checkpoint and metrics files beside a valid config: every reader loads a valid run
or raises a named error (a GradlogpiError), never anything else (issue 30)."""

import hashlib
import json
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gradlogpi.errors import GradlogpiError
from gradlogpi.runs.checkpoints import load_checkpoint, save_checkpoint
from gradlogpi.runs.config import load_config
from gradlogpi.runs.evaluate import load_run
from gradlogpi.runs.metrics import read_returns
from gradlogpi.runs.train import resume, train

KNOWN = [
    "theta", "w", "tracker_returns", "tracker_lengths", "tracker_truncated",
    "tracker_diverged_at", "optimizer_0_step", "extra_collector_steps", "observation_mean",
]  # fmt: skip
DTYPES = ["float64", "float32", "int64", "int8", "uint8", "bool", "complex128", "<U3", "S2"]
TOKENS = ["0", "1", "2", "-1", "3.5", "nan", "inf", "-inf", "1e400", "abc", "", "999999999", " "]


@pytest.fixture(scope="module")
def valid_run(tmp_path_factory):
    """A finished one-run corridor run (θ [1, 2], 3 episodes), made once."""
    run_dir = tmp_path_factory.mktemp("valid") / "run"
    overrides = {"runs": 1, "hyperparameters.n_episodes": 3, "evaluation_episodes": 1}
    train(load_config("configs/short_corridor.toml", overrides), run_dir)
    return run_dir


@st.composite
def random_array(draw):
    dtype = draw(st.sampled_from([*DTYPES, "object"]))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    if dtype == "object":
        array = np.empty(shape, dtype=object)
        array.fill(None)
        return array
    if dtype.startswith("float"):
        elements = st.floats(allow_nan=True, allow_infinity=True, width=int(dtype[5:]))
        return draw(hnp.arrays(dtype, shape, elements=elements))
    return draw(hnp.arrays(dtype, shape))


@st.composite
def checkpoint_arrays(draw, valid):
    """The valid arrays with some changed, dropped or added, or arrays entirely random."""
    if draw(st.booleans()):
        arrays = dict(valid)
        for name in draw(st.lists(st.sampled_from(KNOWN), max_size=3, unique=True)):
            change = draw(st.sampled_from(["drop", "random", "resize", "nan", "retype"]))
            old = arrays.get(name, np.zeros((1, 2)))
            if change == "drop":
                arrays.pop(name, None)
            elif change == "random":
                arrays[name] = draw(random_array())
            elif change == "resize":  # the right kind, one length off
                shape = [n + draw(st.sampled_from([-1, 1])) for n in old.shape]
                arrays[name] = np.zeros([max(n, 0) for n in shape], dtype=old.dtype)
            elif change == "nan":
                arrays[name] = np.full(old.shape, np.nan)
            else:
                arrays[name] = old.astype(draw(st.sampled_from(DTYPES)))
        return arrays
    names = st.one_of(
        st.sampled_from(KNOWN), st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,8}", fullmatch=True)
    )
    return draw(st.dictionaries(names, random_array(), max_size=5))


@st.composite
def metrics_text(draw, valid):
    """A valid metrics.csv damaged, rows of random tokens, or random bytes."""
    kind = draw(st.sampled_from(["cut", "tokens", "bytes"]))
    if kind == "cut":
        return valid[: draw(st.integers(0, len(valid)))]
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    header = valid.split(b"\n", 1)[0] if draw(st.booleans()) else b"run,episode,return"
    width = header.count(b",") + 1
    row = st.lists(st.sampled_from(TOKENS), min_size=width, max_size=width).map(",".join)
    rows = draw(st.lists(row, max_size=6))
    return b"\n".join([header, *(r.encode() for r in rows)]) + b"\n"


def write_run(valid_run, target, arrays, complete, truncate, metrics):
    shutil.copytree(valid_run, target)
    _, metadata = load_checkpoint(valid_run / "checkpoint")
    metadata["complete"] = complete
    for key in ("sha256", "format_version", "versions", "arrays"):
        metadata.pop(key, None)
    npz = save_checkpoint(target / "checkpoint", arrays, metadata)
    if truncate is not None:  # cut the arrays, and (half the time) sign the cut file
        cut, resign = truncate
        payload = npz.read_bytes()[: int(cut * npz.stat().st_size)]
        npz.write_bytes(payload)
        if resign:
            document = json.loads((target / "checkpoint.json").read_text())
            document["sha256"] = hashlib.sha256(payload).hexdigest()
            (target / "checkpoint.json").write_text(json.dumps(document))
    (target / "metrics.csv").write_bytes(metrics)


def succeeds_or_names_its_error(reader, *args):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader(*args)
    except GradlogpiError:
        pass


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_reader_loads_or_raises_a_named_error(valid_run, data):
    valid_arrays, _ = load_checkpoint(valid_run / "checkpoint")
    arrays = data.draw(checkpoint_arrays(valid_arrays), label="arrays")
    complete = data.draw(st.booleans(), label="complete")
    truncate = data.draw(st.none() | st.tuples(st.floats(0, 0.99), st.booleans()), label="truncate")
    metrics = data.draw(metrics_text((valid_run / "metrics.csv").read_bytes()), label="metrics")
    with tempfile.TemporaryDirectory(dir=valid_run.parent) as scratch:
        run_dir = Path(scratch) / "run"
        write_run(valid_run, run_dir, arrays, complete, truncate, metrics)
        succeeds_or_names_its_error(read_returns, run_dir / "metrics.csv")
        succeeds_or_names_its_error(load_run, run_dir)
        succeeds_or_names_its_error(resume, run_dir)
