"""The planning file: read in one place, each analysis's section checked against that analysis's own schema."""

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml  # type: ignore[import-untyped, unused-ignore]
from pydantic import BaseModel, ValidationError

from core.errors import ErpError
from core.settings import get_settings

DEFAULT_PLANNING_FILE = Path(__file__).with_name("default_planning.yaml")
PLANNING_FILE_ENV = "ERP_PLANNING_FILE"

M = TypeVar("M", bound=BaseModel)


class PlanningFileError(ErpError):
    """The planning file is missing, unreadable, not YAML, or a section breaks its schema."""

    code = "invalid_planning_file"

    def __init__(self, path: str, problems: list[str]) -> None:
        super().__init__(
            "planning file is invalid: " + "; ".join(f"{path}: {p}" for p in problems),
            path=path,
            problems=problems,
            suggestions=[f"fix the file, or unset {PLANNING_FILE_ENV} to use the shipped default"],
        )


@dataclass(frozen=True)
class PlanningFile:
    path: str
    sha256: str
    sections: dict[str, Any]

    def section(self, name: str, schema: type[M]) -> M:
        """The section `name` checked against `schema`; a missing section is the schema's defaults."""
        raw = self.sections.get(name) or {}
        try:
            return schema.model_validate(raw)
        except ValidationError as error:
            problems = [
                f"{name}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" if e["loc"] else f"{name}: {e['msg']}"
                for e in error.errors()
            ]
            raise PlanningFileError(self.path, problems) from error


_cache: dict[tuple[str, int, int], PlanningFile] = {}


def planning_file_path(path: Path | None = None) -> Path:
    """The planning file in force: the one given, else `ERP_PLANNING_FILE`, else the shipped default."""
    if path is not None:
        return Path(path)
    return get_settings().planning_file or DEFAULT_PLANNING_FILE


def load_planning(path: Path | None = None) -> PlanningFile:
    """The planning file, parsed once per version of the file on disk."""
    file = planning_file_path(path)
    try:
        stat = file.stat()
        key = (str(file.resolve()), stat.st_mtime_ns, stat.st_size)
        if key not in _cache:
            _cache.clear()
            _cache[key] = parse_planning(file.read_bytes(), str(file))
    except OSError as error:
        raise PlanningFileError(str(file), [f"cannot read it ({error.strerror})"]) from error
    return _cache[key]


def parse_planning(data: bytes, source: str = "<planning>") -> PlanningFile:
    try:
        loaded = yaml.safe_load(data.decode("utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise PlanningFileError(source, [f"not valid YAML: {error}"]) from error
    if not isinstance(loaded, dict):
        raise PlanningFileError(source, ["the top level must be a mapping of sections"])
    if loaded.get("version") != 1:
        raise PlanningFileError(source, ["version: must be 1"])
    sections = {str(k): v for k, v in loaded.items() if k != "version"}
    return PlanningFile(source, hashlib.sha256(data).hexdigest(), sections)


def planning_section(name: str, schema: type[M], path: Path | None = None) -> M:
    """One analysis's parameters from the planning file in force."""
    return load_planning(path).section(name, schema)
