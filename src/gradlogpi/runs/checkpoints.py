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
