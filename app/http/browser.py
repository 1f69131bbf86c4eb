"""Who a browser request is: its `Authorization` header if it sends one, else its
session cookie (app/auth/sessions.py, set by the pages' sign-in), else anonymous.

The pages and the downloads (CSV, IATI) read their caller this way, so a person
signed in on a page can open its download links. `/graphql` does not: it takes a
header only, so a page of another site can never run an operation with a person's
cookie.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request

from app.auth.sessions import SESSION_COOKIE, session_caller
from app.config import Settings
from app.graphql.context import Context
from app.graphql.reports.csv import link_secret
from app.http.router import PledgeRouter


class BrowserCaller:
    def __init__(self, graphql: PledgeRouter, settings: Settings) -> None:
        self.graphql = graphql
        self.secret = link_secret(settings)

    def signed_in(self, request: Request) -> bool:
        return request.cookies.get(SESSION_COOKIE) is not None

    async def context(self, request: Request) -> Context:
        """The context an operation of this request runs with; AuthenticationFailed
        (401) for a cookie that no longer signs anyone in."""
        cookie = request.cookies.get(SESSION_COOKIE)
        if request.headers.get("authorization") is not None or cookie is None:
            context = await self.graphql.context_for(request)
        else:
            context = await self.graphql.context_as(
                request,
                lambda sessions: session_caller(cookie, self.secret, time.time(), sessions),
            )
        context.request = request
        return context

    async def __call__(self, request: Any) -> Context:
        return await self.context(request)
