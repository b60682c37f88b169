"""One module of the project as an earlier git revision had it, loaded beside today's: for before/after tables."""

import importlib.util
import subprocess
import tempfile
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
