"""The project as an earlier git revision had it, beside today's: for before/after tables. One module loaded alone
(`module_at`), or the whole tree exported to run code in a process of its own (`tree_at`)."""

import importlib.util
import io
import subprocess
import tarfile
import tempfile
from functools import lru_cache
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def module_at(revision: str, path: str) -> ModuleType:
    """`path` (e.g. "retrieval/batching.py") as it was at `revision`, loaded alone under a name of its own; its
    imports of other project modules get today's."""
    source = subprocess.run(["git", "show", f"{revision}:{path}"], cwd=ROOT, check=True, capture_output=True,
                            text=True).stdout
    file = Path(tempfile.mkdtemp(prefix="at-revision-")) / f"{Path(path).stem}_{revision}.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location(file.stem, file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@lru_cache(maxsize=4)
def tree_at(revision: str) -> Path:
    """The project's files at `revision`, exported once per process into a temporary folder (no history, no data),
    for code whose modules import each other and must all be of that revision."""
    archive = subprocess.run(["git", "archive", revision], cwd=ROOT, check=True, capture_output=True).stdout
    folder = Path(tempfile.mkdtemp(prefix=f"at-revision-{revision}-"))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder
