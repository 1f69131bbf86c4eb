"""Pages for people, under `/`: the programmes, a programme, an initiative; sign-in
and sign-out; the language switch; the stylesheet.

Each page runs its operations (app/pages/operations.py) through the schema with the
caller's context (a session cookie's, or anonymous where ANONYMOUS_READ is on), so it
shows what the API answers that caller and nothing else. Forms post with a CSRF token.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import strawberry
from fastapi import APIRouter, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import RedirectResponse, Response

from app.auth.authenticate import AuthenticationFailed, looks_like_jwt
from app.auth.principal import Principal
from app.auth.sessions import (
    CSRF_COOKIE,
    CSRF_FIELD,
    SESSION_COOKIE,
    SESSION_SECONDS,
    csrf_valid,
    mint_session,
)
from app.config import Settings
from app.errors import ErrorCode
from app.graphql.context import Context
from app.http.browser import BrowserCaller
from app.pages import operations as ops
from app.pages.graphiql import graphiql_page
from app.pages.i18n import LANGUAGE_COOKIE, available
from app.pages.rendering import BadControl, Controls, headers, render, secure
from app.pages.run import PageFailed, run

STATIC = Path(__file__).parent / "static"


def N_(message: str) -> str:
    """Marks a message for the catalogues (`make messages`); the template translates it."""
    return message


# A sign-in form's body is a few fields; more is refused before it is read further.
MAX_FORM_FIELDS = 8
MAX_KEY_LENGTH = 200


def _local(target: str | None) -> str:
    """Where to go after a form: a path of this site only (never `//elsewhere`)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target[:2000]


# Why a person is asked to sign in again: a code in the link, a fixed sentence on the
# page (a link cannot put words of its own on the sign-in page).
SIGNED_OUT = {
    "ended": N_("Your session has ended (it expired, or its key was revoked): sign in again."),
}


async def _form(request: Request) -> dict[str, str]:
    """A posted form's fields; an empty form when it has more than MAX_FORM_FIELDS (its
    CSRF check then refuses it)."""
    body = (await request.body()).decode("utf-8", "replace")
    try:
        fields = parse_qsl(body, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        return {}
    return dict(fields)


def add_pages(
    app: FastAPI, schema: strawberry.Schema, settings: Settings, browser: BrowserCaller
) -> None:
    router = APIRouter(include_in_schema=False)
    secret = browser.secret
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if settings.graphiql:
        browser.graphql.ide_page = graphiql_page

    async def context_or_sign_in(request: Request) -> Context | Response:
        try:
            return await browser.context(request)
        except AuthenticationFailed:
            # A cookie that no longer signs anyone in (expired, key revoked): out.
            response = _sign_in_redirect(request, "ended")
            response.delete_cookie(SESSION_COOKIE)
            return response

    async def page(request: Request, template: str, load: Load, **values: Any) -> Response:
        context = await context_or_sign_in(request)
        if isinstance(context, Response):
            return context
        principal = context.principal
        try:
            data = await load(context)
        except PageFailed as failed:
            # Also a page that found nothing: the same page for what does not exist and
            # for what the caller may not see (a partner learns nothing of the rest).
            if failed.code == ErrorCode.UNAUTHENTICATED.value:
                return _sign_in_redirect(request, None)
            return render(
                request,
                secret,
                "error.html",
                principal=principal,
                status=failed.status,
                failure=failed,
                controls=values.get("controls"),
            )
        return render(request, secret, template, principal=principal, data=data, **values)

    def controls_or_error(request: Request) -> Controls | Response:
        try:
            return Controls.of(request)
        except BadControl as exc:
            failed = PageFailed(ErrorCode.INVALID_ARGUMENT.value, str(exc), 400)
            return render(request, secret, "error.html", principal=None, status=400, failure=failed)

    @router.get("/")
    async def programmes(request: Request) -> Response:
        controls = controls_or_error(request)
        if isinstance(controls, Response):
            return controls
        after = request.query_params.get("after")
        variables = {"asOf": controls.as_of, "after": after[:500] if after else None}
        return await page(
            request, "index.html", _one(schema, ops.PROGRAMS, variables), controls=controls
        )

    @router.get("/programmes/{ref}")
    async def programme(ref: str, request: Request) -> Response:
        controls = controls_or_error(request)
        if isinstance(controls, Response):
            return controls
        variables = {
            "ref": ref[:200],
            "currency": controls.currency,
            "converted": controls.currency is not None,
            # Only read when converted (`@include`); a non-null placeholder otherwise.
            "convertTo": controls.currency or "XXX",
            "asOf": controls.as_of,
            "asOfDate": controls.as_of_day.isoformat(),
        }

        async def load_programme(context: Context) -> dict[str, Any]:
            found = await run(schema, context, ops.PROGRAM, variables)
            if not found["programs"]["nodes"]:
                raise _not_found(N_("There is no programme %(name)s, or you may not see it."), ref)
            return found

        scope = {"program": {"ref": {"eq": ref}}}
        downloads = partial(
            _downloads,
            controls,
            budget={"groupBy": "INITIATIVE", "filter": {"initiative": scope}},
            timeline="timeline-initiatives",
            scope=scope,
            iati=ref,
        )
        return await page(
            request,
            "programme.html",
            load_programme,
            controls=controls,
            ladder=ops.LADDER,
            downloads=downloads,
            ref=ref,
        )

    @router.get("/initiatives/{code}")
    async def initiative(code: str, request: Request) -> Response:
        controls = controls_or_error(request)
        if isinstance(controls, Response):
            return controls
        variables = {"code": code[:200], "currency": controls.currency, "asOf": controls.as_of}

        async def load(context: Context) -> dict[str, Any]:
            found = await run(schema, context, ops.INITIATIVE, variables)
            if found["initiative"] is None:
                missing = N_("There is no initiative %(name)s, or you may not see it.")
                raise _not_found(missing, code)
            currency = controls.currency or found["initiative"]["program"]["pledged"]["currency"]
            reports = {
                **variables,
                "currency": currency,
                "asOfDate": controls.as_of_day.isoformat(),
            }
            return {**found, **await run(schema, context, ops.INITIATIVE_REPORTS, reports)}

        scope = {"code": {"eq": code}}
        downloads = partial(
            _downloads,
            controls,
            budget={"groupBy": "QUARTER", "filter": {"initiative": scope}},
            timeline="timeline-milestones",
            scope=scope,
            iati=None,
        )
        return await page(
            request,
            "initiative.html",
            load,
            controls=controls,
            downloads=downloads,
            code=code,
        )

    @router.get("/sign-in")
    async def sign_in_form(request: Request) -> Response:
        return render(
            request,
            secret,
            "sign_in.html",
            principal=None,
            next=_local(request.query_params.get("next")),
            message=SIGNED_OUT.get(request.query_params.get("reason") or ""),
        )

    @router.post("/sign-in")
    async def sign_in(request: Request) -> Response:
        form = await _form(request)
        refused = _csrf_refused(request, form, secret)
        if refused is not None:
            return refused
        target = _local(form.get("next"))
        key = form.get("key", "").strip()
        problem = None
        principal: Principal | None = None
        if not key or len(key) > MAX_KEY_LENGTH or looks_like_jwt(key):
            problem = N_("Enter an API key (pledge-ledger keys create prints one).")
        else:
            try:
                context = await browser.graphql.context_as(
                    request,
                    lambda sessions: browser.graphql.authenticator.principal(
                        f"Bearer {key}", sessions
                    ),
                )
                principal = context.principal
            except AuthenticationFailed:
                problem = N_("This key is unknown or has been revoked.")
        if principal is None or principal.via != "api-key":
            response = render(
                request,
                secret,
                "sign_in.html",
                principal=None,
                status=401,
                next=target,
                problem=problem,
            )
            return response
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            mint_session(secret, principal, time.time()),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="lax",
            secure=secure(request),
        )
        headers(response)
        return response

    @router.post("/sign-out")
    async def sign_out(request: Request) -> Response:
        form = await _form(request)
        refused = _csrf_refused(request, form, secret)
        if refused is not None:
            return refused
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(
            SESSION_COOKIE, httponly=True, samesite="lax", secure=secure(request)
        )
        headers(response)
        return response

    @router.post("/language")
    async def language(request: Request) -> Response:
        form = await _form(request)
        refused = _csrf_refused(request, form, secret)
        if refused is not None:
            return refused
        response = RedirectResponse(_local(form.get("next")), status_code=303)
        chosen = form.get("lang")
        if chosen in available():
            response.set_cookie(
                LANGUAGE_COOKIE,
                chosen,
                max_age=365 * 24 * 3600,
                httponly=True,
                samesite="lax",
                secure=secure(request),
            )
        headers(response)
        return response

    app.include_router(router)


Load = Callable[[Context], Awaitable[dict[str, Any]]]


def _one(schema: strawberry.Schema, query: str, variables: dict[str, Any]) -> Load:
    async def load(context: Context) -> dict[str, Any]:
        return await run(schema, context, query, variables)

    return load


def _not_found(message: str, name: str) -> PageFailed:
    return PageFailed(ErrorCode.NOT_FOUND.value, message, 404, {"name": name, "ours": True})


def _csrf_refused(request: Request, form: dict[str, str], secret: bytes) -> Response | None:
    if csrf_valid(secret, request.cookies.get(CSRF_COOKIE), form.get(CSRF_FIELD)):
        return None
    failed = PageFailed(
        ErrorCode.FORBIDDEN.value,
        N_("This form has expired or did not come from this site: reload the page and try again."),
        403,
        {"ours": True},
    )
    return render(request, secret, "error.html", principal=None, status=403, failure=failed)


def _sign_in_redirect(request: Request, reason: str | None) -> Response:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    query = {"next": here, **({"reason": reason} if reason else {})}
    response = RedirectResponse("/sign-in?" + urlencode(query), status_code=303)
    headers(response)
    return response


def _downloads(
    controls: Controls,
    currency: str,
    *,
    budget: dict[str, Any],
    timeline: str,
    scope: dict[str, Any],
    iati: str | None,
) -> list[tuple[str, str]]:
    """The page's download links (label, URL): its figures as CSV, and the programme's
    IATI file, read with the same asOf, and in the chosen currency, else the page's
    `currency` (the pledge's: a summary needs one when programmes differ). The template
    calls this with the currency the page's answer names."""
    as_of = controls.as_of
    budget_params = {
        "groupBy": budget["groupBy"],
        "filter": json.dumps(budget["filter"], separators=(",", ":")),
        "currency": controls.currency or currency,
        "asOf": as_of,
    }
    scope_text = json.dumps(scope, separators=(",", ":"))
    timeline_params = {
        "filter": scope_text,
        "asOfDate": controls.as_of_day.isoformat(),
        "asOf": as_of,
    }
    reach_params = {"filter": scope_text, "asOf": as_of}

    def url(path: str, params: dict[str, str | None]) -> str:
        return path + "?" + urlencode([(k, v) for k, v in params.items() if v])

    links = [
        (N_("Budget and spending (CSV)"), url("/reports/budget-summary.csv", budget_params)),
        (N_("Timeline (CSV)"), url(f"/reports/{timeline}.csv", timeline_params)),
        (N_("Reach against target (CSV)"), url("/reports/reach.csv", reach_params)),
    ]
    if iati is not None:
        links.append(
            (
                N_("IATI activity file (XML)"),
                url("/exports/iati.xml", {"program": iati, "asOf": as_of}),
            )
        )
    return links
