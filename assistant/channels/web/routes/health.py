"""Liveness and readiness for load balancers and operators."""

import logging
from collections.abc import Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from assistant.channels.web import schemas
from assistant.channels.web.auth import ServicesDep
from assistant.channels.web.services import Services

router = APIRouter(tags=["health"])
log = logging.getLogger("erp.http")


@router.get("/healthz", response_model=schemas.Health)
def healthz() -> schemas.Health:
    """The process is up and answering."""
    return schemas.Health(status="ok")


def _check(name: str, probe: Callable[[], str]) -> tuple[str, bool]:
    try:
        return probe(), True
    except Exception as error:
        log.warning("readiness check %s failed: %s", name, error)
        return f"failed: {type(error).__name__}", False


def _database(svc: Services) -> str:
    svc.db.ping()
    return "ok"


def _conversations(svc: Services) -> str:
    saver = svc.assistant.graph.checkpointer
    if saver is None or isinstance(saver, bool):
        raise RuntimeError("no conversation store")
    saver.get_tuple({"configurable": {"thread_id": "readyz", "checkpoint_ns": ""}})
    return "ok"


def _search(svc: Services) -> str:
    search = svc.assistant.search
    if search is None:
        return "not built (item search matches words only)"
    return "ok" if search.is_built() else "empty"


def _model(svc: Services) -> str:
    load = svc.runner.gate.load()
    return (
        f"{svc.assistant.settings.model}: {load['running']} running, {load['waiting']} waiting, {load['slots']} slot(s)"
    )


@router.get("/readyz", response_model=schemas.Readiness, responses={503: {"model": schemas.Readiness}})
def readyz(svc: ServicesDep) -> JSONResponse:
    """Whether the database, the conversation store and the search index answer (503 if a required one fails)."""
    results = {
        "database": _check("database", lambda: _database(svc)),
        "conversations": _check("conversations", lambda: _conversations(svc)),
        "search": _check("search", lambda: _search(svc)),
        "model": _check("model", lambda: _model(svc)),
    }
    ready = all(ok for _, ok in results.values())
    body = schemas.Readiness(status="ok" if ready else "unavailable", checks={k: v for k, (v, _) in results.items()})
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
