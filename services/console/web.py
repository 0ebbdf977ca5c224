"""What every console page shares: the signed-in user, CSRF checks, rendering, HTML errors.

Pages are thin: they read the query or the form, call the same domain services as the API
with the user's :class:`~services.auth.service.Principal`, and render a template. A
:class:`ServiceError` anywhere in a page (its dependencies included, after the request's
transaction was rolled back) becomes an HTML page with the error's status, a 401 a redirect
to the sign-in page.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from services.console import service as console_service
from services.console import views
from services.console.service import ConsoleUser, CsrfRefused, SignInRequired
from services.deps import SessionDep
from services.errors import ServiceError
from services.kit.time import utc_now

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
PREFIX = "/console"

# Console pages show confidential data: never cached, never framed, scripts only from here.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline';"
        " img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none';"
        " base-uri 'none'; object-src 'none'"
    ),
}


def build_templates() -> Jinja2Templates:
    """The console's template environment (autoescaped; an undefined name is an error)."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(["html", "svg"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(views.FILTERS)
    environment.globals.update(views.GLOBALS)
    return Jinja2Templates(env=environment)


def templates_of(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.console_templates
    return templates


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any],
    *,
    user: ConsoleUser | None,
    status_code: int = 200,
) -> HTMLResponse:
    """Renders a page; ``user`` decides the navigation and what the page offers."""
    response = templates_of(request).TemplateResponse(
        request,
        name,
        {
            "user": user,
            "can": user.can if user else None,
            "csrf_token": user.csrf_token if user else "",
            "now": utc_now(),
            "notice": views.notice(request.query_params.get("notice")),
            **context,
        },
        status_code=status_code,
    )
    response.headers.update(SECURITY_HEADERS)
    return response


def see_other(url: str, *, notice: str | None = None) -> RedirectResponse:
    """The redirect after a successful form (POST → GET), with an optional notice key."""
    if notice is not None:
        url += ("&" if "?" in url else "?") + f"notice={quote(notice)}"
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def _same_site_back(request: Request) -> str | None:
    """The page the user came from, when it is a console page of this site."""
    referer = request.headers.get("referer") or ""
    origin = f"{request.url.scheme}://{request.url.netloc}"
    if referer.startswith(f"{origin}{PREFIX}/"):
        return referer[len(origin) :]
    return None


def error_page(request: Request, error: ServiceError) -> Response:
    if error.status_code == 401 and request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return see_other(f"{PREFIX}/login?next={quote(target, safe='')}")
    user = getattr(request.state, "console_user", None)
    details = error.details if isinstance(error.details, list) else []
    return render(
        request,
        "error.html",
        {"error": error, "details": details, "back": _same_site_back(request)},
        user=user,
        status_code=error.status_code,
    )


class ConsoleRoute(APIRoute):
    """A route whose service errors and invalid input are HTML pages, not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except ServiceError as error:
                return error_page(request, error)
            except RequestValidationError as error:
                details = [
                    {
                        "field": ".".join(str(part) for part in item.get("loc", ())[1:]),
                        "message": str(item.get("msg", "invalid")),
                    }
                    for item in error.errors()
                ]
                return error_page(request, ServiceError("the form is incomplete", 422, details))

        return route


def _key(request: Request, session: Session) -> bytes:
    """The signing key, read once per process (it never changes once created)."""
    key: bytes | None = getattr(request.app.state, "console_key", None)
    if key is None:
        key = console_service.signing_key(session, utc_now())
        request.app.state.console_key = key
    return key


async def console_key(request: Request, session: SessionDep) -> bytes:
    key: bytes | None = getattr(request.app.state, "console_key", None)
    if key is not None:
        return key
    return await run_in_threadpool(_key, request, session)


KeyDep = Annotated[bytes, Depends(console_key)]


async def current_user(request: Request, session: SessionDep, key: KeyDep) -> ConsoleUser:
    """The signed-in user (raises SignInRequired → the sign-in page)."""
    user = await run_in_threadpool(
        console_service.resolve,
        session,
        cookie=request.cookies.get(console_service.SESSION_COOKIE),
        key=key,
        now=utc_now(),
    )
    request.state.console_user = user
    return user


UserDep = Annotated[ConsoleUser, Depends(current_user)]


async def checked_user(request: Request, user: UserDep) -> ConsoleUser:
    """The signed-in user of a POST whose CSRF token (form field or header) matches."""
    submitted = request.headers.get("X-CSRF-Token")
    if submitted is None:
        form = await request.form()
        value = form.get("csrf_token")
        submitted = value if isinstance(value, str) else None
    if not console_service.csrf_matches(user, submitted):
        raise CsrfRefused()
    return user


PostUserDep = Annotated[ConsoleUser, Depends(checked_user)]


def require(allowed: bool, message: str) -> None:
    """Refuses a page the role may not see (the services refuse the data anyway)."""
    if not allowed:
        raise ServiceError(message, 403)


__all__ = [
    "PREFIX",
    "ConsoleRoute",
    "KeyDep",
    "PostUserDep",
    "SignInRequired",
    "UserDep",
    "render",
    "see_other",
]
