"""The console's entry points: sign in, sign out, the home page, and wiring into the app.

``install(app)`` adds every console page, the console's static files (htmx and Cytoscape.js,
vendored with their licences) and an API docs page served without any CDN.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from services.console import apidocs
from services.console import service as console_service
from services.console.pages import (
    alerts,
    audit,
    cases,
    forfeiture,
    programme,
    reports,
    subjects,
    trace,
)
from services.console.web import (
    PREFIX,
    STATIC_DIR,
    ConsoleRoute,
    KeyDep,
    PostUserDep,
    UserDep,
    build_templates,
    render,
    see_other,
)
from services.deps import SessionDep
from services.errors import ServiceError
from services.kit.time import utc_now

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)

LOGIN_MAX_AGE_S = console_service.LOGIN_NONCE_MAX_AGE_S


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: only a console path of this site (no open redirect)."""
    if target and target.startswith(f"{PREFIX}/") and not target.startswith("//"):
        if "\\" not in target and "\n" not in target and "\r" not in target:
            return target
    return f"{PREFIX}/"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _login_page(
    request: Request, key: bytes, next_url: str, message: str | None, status_code: int = 200
) -> Response:
    nonce = console_service.login_nonce()
    response = render(
        request,
        "login.html",
        {
            "login_csrf": console_service.login_csrf(key, nonce),
            "next_url": _safe_next(next_url),
            "message": message,
        },
        user=None,
        status_code=status_code,
    )
    response.set_cookie(
        console_service.LOGIN_COOKIE,
        nonce,
        max_age=LOGIN_MAX_AGE_S,
        path=f"{PREFIX}/login",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request, key: KeyDep, next_url: Annotated[str | None, Query(alias="next")] = None
) -> Response:
    """The sign-in page: paste an API token."""
    return _login_page(request, key, next_url or f"{PREFIX}/", None)


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    session: SessionDep,
    key: KeyDep,
    token: Annotated[str, Form(max_length=500)] = "",
    login_csrf: Annotated[str, Form(max_length=200)] = "",
    next_url: Annotated[str, Form(alias="next", max_length=2000)] = "",
) -> Response:
    """Opens a console session for a valid, unrevoked token."""
    nonce = request.cookies.get(console_service.LOGIN_COOKIE)
    if not console_service.login_csrf_matches(key, nonce, login_csrf):
        return _login_page(
            request, key, next_url, "The sign-in form expired: please try again.", 403
        )
    try:
        cookie, _user = await run_in_threadpool(
            console_service.sign_in, session, token=token, key=key, now=utc_now()
        )
    except ServiceError as error:
        return _login_page(request, key, next_url, error.message, error.status_code)
    response = RedirectResponse(_safe_next(next_url), status_code=303)
    response.set_cookie(
        console_service.SESSION_COOKIE,
        cookie,
        max_age=int(console_service.SESSION_MAX.total_seconds()),
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    response.delete_cookie(console_service.LOGIN_COOKIE, path=f"{PREFIX}/login")
    return response


@router.post("/logout")
def logout(session: SessionDep, user: PostUserDep) -> Response:
    """Ends the session on the server and forgets the cookie."""
    console_service.sign_out(session, user=user, now=utc_now())
    response = see_other(f"{PREFIX}/login", notice="signed-out")
    response.delete_cookie(console_service.SESSION_COOKIE, path=PREFIX)
    return response


@router.get("/")
def home(user: UserDep) -> Response:
    """Each role lands where its work is."""
    if user.can.investigate:
        return see_other(f"{PREFIX}/alerts")
    return see_other(f"{PREFIX}/reports")


# The page routers, in the order they are installed (tests walk every console route from here).
PAGE_ROUTERS = tuple(
    module.router
    for module in (reports, alerts, subjects, trace, cases, forfeiture, audit, programme)
)


def install(app: FastAPI) -> None:
    """Adds the console pages, their static files and the offline API docs to ``app``."""
    app.state.console_templates = build_templates()
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    app.include_router(router)
    for page_router in PAGE_ROUTERS:
        app.include_router(page_router, prefix=PREFIX, include_in_schema=False)
    apidocs.install(app)
