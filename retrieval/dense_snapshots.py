"""The dense index's snapshot files: one folder per snapshot, published by atomically rewriting `CURRENT`."""

import io
import json
import os
import shutil
import uuid
from pathlib import Path

import faiss
import numpy as np

from retrieval.dense import DenseConfig, DenseIndex


def save_snapshot(index: DenseIndex, folder: Path, version: int) -> None:
    """Write a snapshot of `index` that reflects index `version` (see `retrieval.changes`).

    Each snapshot is a folder of its own, published by atomically rewriting `CURRENT`, so a process
    that loads while another saves never mixes the files of two snapshots.
    """
    folder.mkdir(parents=True, exist_ok=True)
    snapshot = folder / f"snapshot-{version}-{uuid.uuid4().hex[:8]}"
    snapshot.mkdir()
    with index.frozen() as (stored, vector_of_row, fingerprint_of_row):
        meta = {"model_id": index.model_id, "dimension": index.dimension, "version": version,
                "rows": stored.ntotal}
        faiss.write_index(stored, str(snapshot / "dense.faiss"))
        (snapshot / "rows.npy").write_bytes(_npy(vector_of_row))
        (snapshot / "fingerprints.npy").write_bytes(_npy(fingerprint_of_row))
    (snapshot / "meta.json").write_text(json.dumps(meta))
    pointer = folder / f"CURRENT.{uuid.uuid4().hex[:8]}.tmp"
    pointer.write_text(snapshot.name)
    previous = _current(folder)
    os.replace(pointer, folder / "CURRENT")
    for old in folder.glob("snapshot-*"):  # keep the previous one for a process loading it right now
        if old.name not in (snapshot.name, previous):
            shutil.rmtree(old, ignore_errors=True)


def load_snapshot(folder: Path, dimension: int, model_id: str,
                  config: DenseConfig = DenseConfig()) -> tuple[DenseIndex, int] | None:
    """(index, version) from the current snapshot, or None when there is none or another model made it."""
    name = _current(folder)
    if name is None:
        return None
    try:
        meta = json.loads((folder / name / "meta.json").read_text())
        vector_of_row = np.load(folder / name / "rows.npy", allow_pickle=False)
        fingerprint_of_row = np.load(folder / name / "fingerprints.npy", allow_pickle=False)
        stored = faiss.read_index(str(folder / name / "dense.faiss"))
    except (OSError, ValueError, RuntimeError):
        return None
    if (meta.get("model_id"), meta.get("dimension")) != (model_id, dimension):
        return None
    if not stored.ntotal == meta["rows"] == len(vector_of_row) == len(fingerprint_of_row):
        return None
    index = DenseIndex.restored(stored, vector_of_row, fingerprint_of_row, dimension, model_id, config)
    return index, int(meta["version"])


def _current(folder: Path) -> str | None:
    try:
        return (folder / "CURRENT").read_text().strip() or None
    except OSError:
        return None


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()
