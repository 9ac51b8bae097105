"""GraphiQL at /graphql without internet: strawberry's own page, its CDN assets served
from the package (vendored by scripts/vendor-graphiql.py, see static/graphiql/VERSIONS.md).

The page keeps strawberry's behaviour and Subresource Integrity hashes; only the CDN's
address is replaced by the server's own /static/graphiql/. A Content-Security-Policy
lets the page load nothing from anywhere else.
"""

import logging
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope
from strawberry.http.ides import get_graphql_ide_html

log = logging.getLogger("classbridge.graph")

CDN = "https://unpkg.com/"
STATIC_DIR = Path(__file__).parent / "static" / "graphiql"
STATIC_URL = "/static/graphiql"
# The page's inline script and styles are strawberry's; everything else comes from here.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ]
)
_ASSET = re.compile(
    r'(?:src|href)="' + re.escape(CDN) + r'(?P<path>[^"]+)"(?:\s+integrity="(?P<sri>[^"]+)")?'
)


@dataclass(frozen=True)
class CdnAsset:
    path: str  # e.g. "graphiql@3.8.3/graphiql.min.js"
    integrity: str | None


def strawberry_page() -> str:
    return get_graphql_ide_html("graphiql")


def cdn_assets(html: str) -> list[CdnAsset]:
    return [CdnAsset(m["path"], m["sri"]) for m in _ASSET.finditer(html)]


@cache
def graphiql_page() -> str:
    html = strawberry_page()
    for asset in cdn_assets(html):
        if not (STATIC_DIR / asset.path).is_file():
            log.warning(
                "GraphiQL asset %s is not vendored: run scripts/vendor-graphiql.py", asset.path
            )
    # Relative to /graphql, so the page also works behind a proxy that adds a path prefix.
    return html.replace(CDN, STATIC_URL.lstrip("/") + "/")


def graphiql_response() -> Response:
    return HTMLResponse(
        graphiql_page(), headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY}
    )


class VersionedStatic(StaticFiles):
    """The vendored files; their paths name their versions, so browsers may keep them."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def graphiql_assets() -> StaticFiles:
    return VersionedStatic(directory=STATIC_DIR, check_dir=False)
