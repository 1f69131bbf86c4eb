"""GraphiQL, served offline: its scripts and styles are the app's own files
(app/pages/static/graphiql/, vendored from the npm registry by `make graphiql`, with
their licences), so it works air-gapped; the Content-Security-Policy lets the page
load nothing from anywhere else."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse

from app.pages.rendering import headers

# GraphiQL's editor sets styles inline; scripts and everything else are the app's own.
GRAPHIQL_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pledge Ledger · GraphiQL</title>
<link rel="stylesheet" href="/static/graphiql/graphiql.min.css">
<link rel="stylesheet" href="/static/graphiql-page.css">
</head>
<body>
<div id="graphiql" data-endpoint="/graphql">Loading GraphiQL…</div>
<script src="/static/graphiql/react.production.min.js"></script>
<script src="/static/graphiql/react-dom.production.min.js"></script>
<script src="/static/graphiql/graphiql.min.js"></script>
<script src="/static/graphiql-start.js"></script>
</body>
</html>
"""


async def graphiql_page(request: Request) -> HTMLResponse:
    response = HTMLResponse(_PAGE)
    headers(response, GRAPHIQL_CSP)
    return response
