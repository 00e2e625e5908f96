"""The review web app (starlette): the page, its JSON API and the videos.

    app = create_app(session, token=None, reviewer=None)

Routes (docs/review.md#api):

=========================  ==================================================================
``GET /``                  the review page (``static/review.html``)
``GET /static/<name>``     the page's files (``veolab/review/static/``)
``GET /api/config``        experiment, by, the reviewer given by flag, ``groups_hidden``
``GET /api/pair``          ``?reviewer=NAME[&skip=1]``: the pair to judge
``POST /api/vote``         ``{"pair", "reviewer", "choice", "note"}``: the vote, and the groups
``GET /api/ranking``       the Bradley-Terry ranking, votes per reviewer, agreement
``GET /video/<run_id>``    a shown generation's MP4 (HTTP Range: the player seeks)
=========================  ==================================================================

Every error is a 4xx (or 5xx) with one line of JSON, ``{"error": "..."}``, and changes nothing.
With a token (``--token``, or any ``--host`` that is not loopback), every API and video request
carries it as ``?token=`` or ``Authorization: Bearer`` (the page and its static files, which hold
no data, do not need it: the page reads it from its own URL); the video URLs the API returns
carry it already.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from veolab.errors import VeolabError, VoteError
from veolab.review.session import ReviewSession

STATIC = Path(__file__).parent / "static"
BODY_MAX = 16 * 1024  # a vote is a few hundred bytes; a note at most 2000 characters
VOTE_FIELDS = {"pair", "reviewer", "choice", "note"}
NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}

PLACEHOLDER = """<!doctype html>
<html lang="en"><meta charset="utf-8"><title>veolab review</title>
<body><h1>veolab review</h1>
<p>The review page (veolab/review/static/review.html) is not installed. The JSON API works:
<a href="api/config">/api/config</a>, /api/pair?reviewer=NAME, POST /api/vote,
<a href="api/ranking">/api/ranking</a>.</p></body></html>
"""


def error(message: str, status: int = 400) -> JSONResponse:
    """One line of JSON: ``{"error": message}``."""
    return JSONResponse({"error": " ".join(message.split())}, status_code=status, headers=NO_STORE)


def _ok(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, headers=NO_STORE)


def create_app(
    session: ReviewSession, *, token: str | None = None, reviewer: str | None = None
) -> Starlette:
    """The app serving ``session``; ``token`` (when set) is required on every request."""

    def video_url(run_id: str) -> str:
        url = f"/video/{quote(run_id)}"
        return f"{url}?token={quote(token)}" if token else url

    def reviewer_of(value: Any) -> Any:
        return reviewer if value in (None, "") and reviewer else value

    async def page(request: Request) -> Response:
        path = STATIC / "review.html"
        if path.is_file():
            return FileResponse(path, headers={"Cache-Control": "no-cache"})
        return HTMLResponse(PLACEHOLDER)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        path = (STATIC / name).resolve()
        if not path.is_relative_to(STATIC.resolve()) or not path.is_file():
            return error(f"no file {name!r} in the review page's files", 404)
        return FileResponse(path, headers={"Cache-Control": "no-cache"})

    async def config(request: Request) -> Response:
        return _ok(
            {
                "experiment": session.experiment,
                "by": session.by,
                "reviewer": reviewer,
                "groups_hidden": True,
                "groups": len(session.plan.groups),
                "pairs": len(session.plan.all_pairs),
            }
        )

    async def pair(request: Request) -> Response:
        q = request.query_params
        skip = q.get("skip", "") not in ("", "0", "false")
        body = await run_in_threadpool(session.next_pair, reviewer_of(q.get("reviewer")), skip=skip)
        for side in ("left", "right"):
            body[side]["video"] = video_url(body[side]["run_id"])
        return _ok(body)

    async def vote(request: Request) -> Response:
        size = request.headers.get("content-length")
        if size is not None and (not size.isdigit() or int(size) > BODY_MAX):
            return error(f"the body is larger than {BODY_MAX} bytes", 413)
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > BODY_MAX:
                return error(f"the body is larger than {BODY_MAX} bytes", 413)
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return error(
                'the body is not JSON: send {"pair": ID, "reviewer": NAME, "choice": '
                '"left"|"right"|"tie"|"both_bad", "note": TEXT}'
            )
        if not isinstance(data, dict):
            return error("the body must be a JSON object with pair, reviewer and choice")
        unknown = sorted(set(data) - VOTE_FIELDS)
        if unknown:
            return error(f"unknown field {unknown[0]!r}: send pair, reviewer, choice and note")
        if "pair" not in data or "choice" not in data:
            missing = "pair" if "pair" not in data else "choice"
            return error(f"{missing} is required")
        body = await run_in_threadpool(
            session.vote,
            data["pair"],
            reviewer_of(data.get("reviewer")),
            data["choice"],
            data.get("note"),
        )
        return _ok(body)

    async def ranking(request: Request) -> Response:
        return _ok(await run_in_threadpool(session.ranking_dict))

    async def video(request: Request) -> Response:
        path = await run_in_threadpool(session.video_path, request.path_params["run_id"])
        return FileResponse(path, media_type="video/mp4")

    async def on_vote_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, VoteError)
        return error(str(exc), exc.status)

    async def on_veolab_error(request: Request, exc: Exception) -> Response:
        return error(str(exc), 400 if getattr(exc, "exit_code", 1) == 2 else 500)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error(exc.detail or "error", exc.status_code)

    async def on_crash(request: Request, exc: Exception) -> Response:
        return error(f"internal error: {type(exc).__name__}: {exc}", 500)

    routes = [
        Route("/", page),
        Route("/static/{name:path}", static),
        Route("/api/config", config),
        Route("/api/pair", pair),
        Route("/api/vote", vote, methods=["POST"]),
        Route("/api/ranking", ranking),
        Route("/video/{run_id}", video),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            VoteError: on_vote_error,
            VeolabError: on_veolab_error,
            HTTPException: on_http,
            Exception: on_crash,
        },
    )
    if token:
        app.add_middleware(TokenMiddleware, token=token)
    app.state.session = session
    return app


def _needs_token(path: str) -> bool:
    """The API and the videos need the token; the page and its files (the same for everyone,
    no data in them) do not, so the page loads and then sends the token from its own URL."""
    return path.startswith(("/api/", "/video/"))


class TokenMiddleware:
    """Refuse (401) an API or video request without the token, as ``?token=`` or
    ``Authorization: Bearer``."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not _needs_token(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        given = request.query_params.get("token") or ""
        auth = request.headers.get("authorization", "")
        if not given and auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if not secrets.compare_digest(given.encode(), self.token):
            what = "a wrong token" if given else "no token"
            response = error(
                f"{what}: open the link veolab review printed (it carries ?token=), or send "
                "Authorization: Bearer TOKEN",
                401,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


__all__ = ["BODY_MAX", "STATIC", "TokenMiddleware", "create_app", "error"]
