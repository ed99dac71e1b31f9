"""The pages: the demo intranet with the widget, sign-in, the approvals inbox, the exceptions board."""

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

STATIC = Path(__file__).resolve().parents[1] / "static"
router = APIRouter(include_in_schema=False)


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC / name, media_type="text/html", headers={"Cache-Control": "no-cache"})


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/demo", status_code=307)


@router.get("/demo")
def demo() -> FileResponse:
    return _page("demo.html")


@router.get("/signin")
def signin() -> FileResponse:
    return _page("signin.html")


@router.get("/inbox")
def inbox() -> FileResponse:
    return _page("inbox.html")


@router.get("/exceptions")
def exceptions() -> FileResponse:
    return _page("exceptions.html")
