"""``/docs``: Swagger UI from the app's own static files, so it works with no internet access.

FastAPI's default page loads Swagger UI's script and style from a public CDN: on an isolated
network (where a unit runs this) that is a blank page. The same files are vendored under the
console's static folder (``static/vendor/swagger-ui``, with their licence).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

SWAGGER_DIR = "/console/static/vendor/swagger-ui"


def install(app: FastAPI) -> None:
    """Adds ``GET /docs`` (create the app with ``docs_url=None``)."""
    openapi_url = app.openapi_url or "/openapi.json"
    title = f"{app.title} - API documentation"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{SWAGGER_DIR}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_DIR}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_DIR}/favicon-32x32.png",
            # The validator badge would call a public validator service.
            swagger_ui_parameters={"validatorUrl": None},
        )
