"""Importing master data from CSV and XLSX files: see `core.imports.service`."""

from core.imports.reading import SourceTable
from core.imports.service import (
    import_master_data,
    import_tables,
    importing_actor,
    read_files,
    read_uploads,
    require_admin,
    setup_actor,
)
from core.imports.spec import Column, ImportReport, Kind, KindReport, Problem, Problems, Refusal

__all__ = [
    "Column",
    "ImportReport",
    "Kind",
    "KindReport",
    "Problem",
    "Problems",
    "Refusal",
    "SourceTable",
    "import_master_data",
    "import_tables",
    "importing_actor",
    "read_files",
    "read_uploads",
    "require_admin",
    "setup_actor",
]
