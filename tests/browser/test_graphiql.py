"""GraphiQL in a real headless Chromium, with no internet: the page loads, takes a token
in its headers editor, runs `{ __typename }` and shows the answer, and every request it
makes goes to the server itself."""

import json
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from classbridge.graph.graphiql import CONTENT_SECURITY_POLICY
from tests.browser.chromium import Page, chromium
from tests.processes import running_server
from tests.studio import Studio

# Collects what the page's Content-Security-Policy blocked (nothing should be).
WATCH_CSP = """
window.__blocked = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__blocked.push(e.violatedDirective + " " + e.blockedURI));
"""
QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
HEADERS_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
RESPONSE = ".graphiql-response"


async def run(page: Page, query: str, expect: str) -> None:
    """Type the query into the editor, press the run button, and wait until the response
    pane shows `expect`."""
    await page.evaluate(
        f"document.querySelector({QUERY_EDITOR!r}).CodeMirror.setValue({json.dumps(query)})"
    )
    await page.evaluate("document.querySelector('.graphiql-execute-button').click()")
    shown = f"document.querySelector({RESPONSE!r}).innerText"
    try:
        await page.wait_for(f"{shown}.includes({json.dumps(expect)})")
    except TimeoutError:
        now = await page.evaluate(shown)
        raise AssertionError(f"{expect!r} not shown; the page shows {now!r}") from None


async def test_graphiql_runs_a_query_with_a_token_offline(
    database_url: str, studio: Studio, tmp_path: Path
) -> None:
    async with running_server(database_url) as server, chromium() as browser:
        page = await browser.new_page(before_scripts=WATCH_CSP)
        await page.goto(f"{server.url}/graphql")
        await page.wait_for("!!document.querySelector('.graphiql-execute-button')")

        # The token goes into GraphiQL's headers editor, as a person would put it.
        await page.evaluate(
            "[...document.querySelectorAll('.graphiql-editor-tools button')]"
            ".find((b) => b.textContent === 'Headers').click()"
        )
        headers = json.dumps({"Authorization": f"Bearer {studio.token}"})
        await page.wait_for(f"!!document.querySelector({HEADERS_EDITOR!r})")
        await page.evaluate(
            f"document.querySelector({HEADERS_EDITOR!r}).CodeMirror.setValue({json.dumps(headers)})"
        )

        await run(page, "{ __typename }", expect='"__typename": "Query"')
        await page.screenshot(tmp_path / "graphiql.png")
        # Only a valid token reads the studio: the header really went with the request.
        await run(page, "{ company { name } }", expect='"name": "Yoga Loft"')

        assert await page.evaluate("window.__blocked") == []
        assert page.exceptions == []
        origin = urlsplit(server.url).netloc
        network = [u for u in page.requests if urlsplit(u).scheme not in ("data", "blob", "about")]
        elsewhere = [u for u in network if urlsplit(u).netloc != origin]
        assert elsewhere == [], f"the page requested {elsewhere}"
        assert sum("/static/graphiql/" in u for u in network) >= 7  # its scripts and styles
        assert network.count(f"{server.url}/graphql") >= 3  # the page and two queries


async def test_the_page_is_strawberrys_with_its_assets_from_the_package(
    client: httpx.AsyncClient,
) -> None:
    from classbridge.graph.graphiql import STATIC_DIR, cdn_assets, strawberry_page

    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "unpkg.com" not in response.text and "https://" not in response.text.split("<body")[0]
    assets = cdn_assets(strawberry_page())
    assert len(assets) >= 7
    for asset in assets:
        # Every asset of the installed strawberry's page is vendored, byte for byte the
        # file its integrity hash names (else: run scripts/vendor-graphiql.py).
        assert (STATIC_DIR / asset.path).is_file(), f"{asset.path} is not vendored"
        assert f'src="static/graphiql/{asset.path}"' in response.text or (
            f'href="static/graphiql/{asset.path}"' in response.text
        )
        served = await client.get(f"/static/graphiql/{asset.path}")
        assert served.status_code == 200
        assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert asset.integrity is not None
        assert _sri(served.content) == asset.integrity
    assert (await client.get("/static/graphiql/../../app.py")).status_code == 404


def _sri(content: bytes) -> str:
    import base64
    import hashlib

    return "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode()
