"""Importing master data over the API: upload CSV or XLSX files (admins only), read the kinds' column specs.

The route only hands the uploaded bytes to the core's import (`core.imports`), which checks them, decides who may,
and writes them in one transaction; a file set with problems answers 200 with the problems and writes nothing.
"""

import logging
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Form, UploadFile

from assistant.channels.web import schemas
from assistant.channels.web.auth import WEB_CHANNEL, CurrentUser, ServicesDep
from assistant.channels.web.errors import documented
from assistant.channels.web.services import Services
from core.identity import SignedIn
from core.imports import ImportReport, Problems, import_master_data, read_uploads, require_admin
from core.imports.kinds import KINDS

router = APIRouter(prefix="/api/import", tags=["import"])
log = logging.getLogger("erp.import")


def admin(user: CurrentUser) -> SignedIn:
    """The signed-in user if they are an admin: refused before the upload is read (the core checks it again)."""
    require_admin(user.actor)
    return user


@router.post("", response_model=schemas.ImportResult, responses=documented(401, 403, 413, 422))
def upload(
    files: list[UploadFile],
    user: Annotated[SignedIn, Depends(admin)],
    svc: ServicesDep,
    background: BackgroundTasks,
    dry_run: Annotated[bool, Form()] = False,
) -> schemas.ImportResult:
    """Import one or more files named after their kind (`items.csv`, `customers.xlsx`, or a workbook with a sheet per
    kind). Admins only (403 otherwise). With `dry_run`, reports what would be created, updated and refused and writes
    nothing. Problems come back with file, row, column and what to fix, and then nothing is written."""
    problems = Problems()
    tables = read_uploads(((f.filename or "upload", f.file.read()) for f in files), problems)
    report = import_master_data(svc.db, user.actor, tables, problems, dry_run=dry_run, channel=WEB_CHANNEL)
    if report.applied and report.changed:
        background.add_task(_update_item_index, svc)  # after the answer: embedding many items takes minutes
    return _result(report)


def _update_item_index(svc: Services) -> None:
    """New and changed items become searchable by the assistant (the CLI's import does the same, with a bar)."""
    search = svc.assistant.search
    if search is None:
        return
    try:
        synced = search.sync_items(svc.db)
    except Exception:  # the index is a derived copy: a failure leaves the import done and `erp-assistant index` to run
        log.exception("updating the item search index after an import failed")
        return
    log.info("item search index after an import: %s", synced)


def _result(report: ImportReport) -> schemas.ImportResult:
    return schemas.ImportResult(
        ok=report.ok,
        applied=report.applied,
        dry_run=report.dry_run,
        kinds=[
            schemas.ImportKindCounts(
                kind=k.kind,
                created=k.created,
                updated=k.updated,
                unchanged=k.unchanged,
                refused=[schemas.ImportRefusal(key=r.key, column=r.column, reason=r.reason) for r in k.refused],
            )
            for k in report.kinds
        ],
        problems=[
            schemas.ImportProblem(file=p.file, row=p.row, column=p.column, message=p.message) for p in report.problems
        ],
        problem_count=report.problem_count,
    )


@router.get("/kinds", response_model=list[schemas.ImportKind], responses=documented(401))
def kinds(user: CurrentUser) -> list[schemas.ImportKind]:
    """The kinds of import file in load order, with each column's type, whether it is required, an example and what
    it means."""
    return [
        schemas.ImportKind(
            name=k.name,
            title=k.title,
            doc=k.doc,
            key=list(k.key),
            depends=list(k.depends),
            columns=[
                schemas.ImportColumn(name=c.name, type=c.type, required=c.required, example=c.example, doc=c.doc)
                for c in k.columns
            ],
        )
        for k in KINDS
    ]
