"""Checkpoints: arrays in `.npz` (read with allow_pickle=False) plus JSON metadata.

Both files are written to temporary names, fsynced and moved into place with os.replace,
arrays first and metadata last: a checkpoint counts as complete only when its metadata
names the arrays' SHA-256, so a crash mid-save leaves the previous checkpoint loadable.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from gradlogpi.errors import CheckpointError
from gradlogpi.runs.files import atomic_open

FORMAT_VERSION = 1


def package_versions() -> dict[str, str]:
    """Versions of what made the checkpoint; PyTorch's only where it was used (imported):
    importing it to ask would cost a linear run's first checkpoint seconds."""
    import gymnasium

    import gradlogpi

    versions = {
        "gradlogpi": gradlogpi.__version__,
        "numpy": np.__version__,
        "gymnasium": gymnasium.__version__,
    }
    versions["python"] = platform.python_version()
    torch = sys.modules.get("torch")
    if torch is not None:
        versions["torch"] = str(torch.__version__)
    return versions


def save_checkpoint(
    path: str | Path, arrays: dict[str, np.ndarray], metadata: dict[str, Any]
) -> Path:
    """Write `path`.npz and `path`.json atomically; returns the .npz path."""
    path = Path(path)
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(value) for name, value in arrays.items()})  # type: ignore[arg-type]
    payload = buffer.getvalue()
    npz_path, json_path = path.with_suffix(".npz"), path.with_suffix(".json")
    with atomic_open(npz_path, "wb") as handle:
        handle.write(payload)
    document = {
        "format_version": FORMAT_VERSION,
        "versions": package_versions(),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "arrays": sorted(arrays),
        **metadata,
    }
    with atomic_open(json_path, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2, sort_keys=True, default=_json_default)
    return npz_path


def load_checkpoint(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a checkpoint; CheckpointError if missing, truncated, garbled, mismatched or pickled."""
    path = Path(path)
    npz_path, json_path = path.with_suffix(".npz"), path.with_suffix(".json")
    try:
        metadata = json.loads(json_path.read_text(encoding="utf-8"))
        payload = npz_path.read_bytes()
    except FileNotFoundError as error:
        raise CheckpointError(f"checkpoint {path}: missing file {error.filename}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(
            f"checkpoint {json_path}: metadata is not valid JSON ({error})"
        ) from None
    if not isinstance(metadata, dict) or "sha256" not in metadata:
        raise CheckpointError(f"checkpoint {json_path}: metadata lacks the arrays' sha256")
    if hashlib.sha256(payload).hexdigest() != metadata["sha256"]:
        raise CheckpointError(
            f"checkpoint {npz_path}: contents do not match the sha256 in {json_path.name} (truncated or garbled)"
        )
    if metadata.get("format_version") != FORMAT_VERSION:
        warnings.warn(
            f"checkpoint {path} has format version {metadata.get('format_version')}, this gradlogpi reads {FORMAT_VERSION}",
            stacklevel=2,
        )
    versions = metadata.get("versions")
    saved = versions.get("gradlogpi") if isinstance(versions, dict) else None
    import gradlogpi

    if saved != gradlogpi.__version__:
        warnings.warn(
            f"checkpoint {path} was written by gradlogpi {saved}; this is {gradlogpi.__version__}",
            stacklevel=2,
        )
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except ValueError as error:
        raise CheckpointError(
            f"checkpoint {npz_path}: refused to load a pickled object ({error})"
        ) from None
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise CheckpointError(
            f"checkpoint {npz_path}: not a valid .npz archive ({error})"
        ) from None
    return arrays, metadata


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in checkpoint metadata")


NUMERIC_KINDS = "biuf"
"""dtype kinds a checkpoint array may have: bool, integer, unsigned integer, float."""

KIND_NAMES = {"b": "bool", "i": "integer", "u": "integer", "f": "float"}

ArraySpec = tuple[str, tuple[int | None, ...]]
"""(dtype kinds allowed, e.g. "f" or "iu"; shape, None where any length is allowed)."""


def check_arrays(
    where: str | Path, arrays: dict[str, np.ndarray], expected: dict[str, ArraySpec]
) -> None:
    """Refuse, before any of them is used, a checkpoint whose arrays are not what its config
    implies: every array numeric (but an algorithm's own `extra_*`), and each one in `expected` present with its kind and shape.

    Raises:
      CheckpointError: naming the file, the array, what was expected and what was found.
    """
    for name, value in arrays.items():
        # extra_*: an algorithm's own state, which may hold text (an env's wrapper names)
        if value.dtype.kind not in NUMERIC_KINDS and not name.startswith("extra_"):
            raise CheckpointError(
                f"checkpoint {where}: array `{name}` must have a numeric dtype (bool, integer "
                f"or float); got {value.dtype}"
            )
    for name, (kinds, shape) in expected.items():
        wanted = _describe(kinds, shape)
        if name not in arrays:
            raise CheckpointError(
                f"checkpoint {where}: array `{name}` is missing; expected {wanted}; found "
                f"arrays {sorted(arrays)}"
            )
        value = arrays[name]
        fits = len(value.shape) == len(shape) and all(
            n is None or n == m for n, m in zip(shape, value.shape, strict=True)
        )
        if value.dtype.kind not in kinds or not fits:
            raise CheckpointError(
                f"checkpoint {where}: array `{name}` must be {wanted}; got {value.dtype} of "
                f"shape {value.shape}"
            )


def _describe(kinds: str, shape: tuple[int | None, ...]) -> str:
    """E.g. "float of shape (2, 10)"; "any" for a length that may be anything."""
    kind = " or ".join(dict.fromkeys(KIND_NAMES[k] for k in kinds))
    lengths = ["any" if n is None else str(n) for n in shape]
    return f"{kind} of shape ({', '.join(lengths)}{',' if len(lengths) == 1 else ''})"
