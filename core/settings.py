"""Where the core finds its database: `ERP_DATABASE_URL`, else a SQLite file in the data folder."""

import os
from pathlib import Path


def data_dir() -> Path:
    """The folder for embedded data (SQLite file, later Chroma); `ERP_DATA_DIR` overrides."""
    return Path(os.environ.get("ERP_DATA_DIR", "data")).resolve()


def database_url() -> str:
    """The SQLAlchemy URL of the ERP database."""
    configured = os.environ.get("ERP_DATABASE_URL")
    if configured:
        return configured
    return f"sqlite:///{data_dir() / 'erp.db'}"
