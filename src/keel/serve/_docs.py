"""``/docs``: Swagger UI served from the files the ``swagger-ui-bundle-v2`` package ships.

Nothing is loaded from a CDN, so the page works offline and tells no third party who reads it.
The assets are a fixed list of files (no path from the client reaches the file system); ReDoc,
which FastAPI would load from a CDN, is not served.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, Response
from swagger_ui_bundle import swagger_ui_path

from keel.errors import NotFoundError

__all__ = ["ASSETS", "add_docs"]

PREFIX = "/docs/assets/"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


def add_docs(app: FastAPI, title: str) -> None:
    """Add ``GET /docs`` and ``GET /docs/assets/{name}`` to ``app`` (open, not in the schema)."""

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{title} - docs",
            swagger_js_url=PREFIX + "swagger-ui-bundle.js",
            swagger_css_url=PREFIX + "swagger-ui.css",
            swagger_favicon_url=PREFIX + "favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},  # the default asks swagger.io
        )

    @app.get(PREFIX + "{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        media_type = ASSETS.get(name)
        if media_type is None:
            raise NotFoundError(f"no docs asset {name[:60]!r}; see /docs")
        return FileResponse(
            Path(str(swagger_ui_path)) / name, media_type=media_type,
            headers={"Cache-Control": "public, max-age=86400"},
        )  # fmt: skip
