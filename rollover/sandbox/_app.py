"""The HTTP face of the sandbox: Starlette routes translating requests to `LearnSandbox` calls."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ._date_calls import PATCHED
from ._journal import EndpointCall, SiteJournal
from ._model import LearnSandbox
from ._replies import InvalidJson, Reply
from ._site import API

Handler = Callable[[Request], Awaitable[Response]]
Work = Callable[[Request, bytes], EndpointCall]

ANY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def create_app(sandbox: LearnSandbox, *, state_path: Path | None = None) -> Starlette:
    """A Starlette app serving `sandbox` as Learn's REST API; journals each call to `state_path`."""
    journal = SiteJournal(sandbox, state_path) if state_path is not None else None

    def endpoint(work: Work) -> Handler:
        async def handle(request: Request) -> Response:
            if sandbox.config.latency > 0:
                await asyncio.sleep(sandbox.config.latency)
            call = work(request, await request.body())
            # From here to the response nothing awaits: a check and its write cannot interleave.
            reply = journal.answer(call) if journal is not None else call.apply(sandbox)
            return _to_response(reply)

        return handle

    def token(request: Request, raw: bytes) -> EndpointCall:
        form = dict(request.query_params)
        form.update(parse_qsl(raw.decode("latin-1")))
        return EndpointCall("request_token", (_auth(request), form))

    def copy(request: Request, raw: bytes) -> EndpointCall:
        course = request.path_params["course"]
        return EndpointCall("copy_course", (course, _json_body(raw), _auth(request)))

    def task(request: Request, raw: bytes) -> EndpointCall:
        params = request.path_params
        return EndpointCall("get_task", (params["course"], params["task"], _auth(request)))

    def course_getter(version: str) -> Work:
        def get_course(request: Request, raw: bytes) -> EndpointCall:
            return EndpointCall(
                "get_course",
                (
                    version,
                    request.path_params["course"],
                    _auth(request),
                    request.query_params.get("fields"),
                ),
            )

        return get_course

    def list_courses(request: Request, raw: bytes) -> EndpointCall:
        return EndpointCall("list_courses", (dict(request.query_params), _auth(request)))

    def patch(request: Request, raw: bytes) -> EndpointCall:
        course = request.path_params["course"]
        return EndpointCall("patch_course", (course, _json_body(raw), _auth(request)))

    def term(request: Request, raw: bytes) -> EndpointCall:
        return EndpointCall("get_term", (request.path_params["term"], _auth(request)))

    def terms(request: Request, raw: bytes) -> EndpointCall:
        return EndpointCall("list_terms", (dict(request.query_params), _auth(request)))

    def user(request: Request, raw: bytes) -> EndpointCall:
        return EndpointCall(
            "get_user",
            (request.path_params["user"], _auth(request), request.query_params.get("fields")),
        )

    def membership(request: Request, raw: bytes) -> EndpointCall:
        course, user = request.path_params["course"], request.path_params["user"]
        if request.method == "GET":
            fields = request.query_params.get("fields")
            return EndpointCall("get_membership", (course, user, _auth(request), fields))
        method = "put_membership" if request.method == "PUT" else "patch_membership"
        return EndpointCall(method, (course, user, _json_body(raw), _auth(request)))

    def memberships(request: Request, raw: bytes) -> EndpointCall:
        return EndpointCall(
            "list_memberships",
            (request.path_params["course"], dict(request.query_params), _auth(request)),
        )

    def contents(request: Request, raw: bytes) -> EndpointCall:
        return EndpointCall(
            "list_contents",
            (request.path_params["course"], dict(request.query_params), _auth(request)),
        )

    def children(request: Request, raw: bytes) -> EndpointCall:
        params = request.path_params
        return EndpointCall(
            "list_content_children",
            (params["course"], params["content"], dict(request.query_params), _auth(request)),
        )

    def course_children(request: Request, raw: bytes) -> EndpointCall:
        return EndpointCall(
            "list_children",
            (request.path_params["course"], dict(request.query_params), _auth(request)),
        )

    def course_child(request: Request, raw: bytes) -> EndpointCall:
        method = {"GET": "get_child", "PUT": "attach_child", "DELETE": "separate_child"}
        params = request.path_params
        return EndpointCall(
            method[request.method],
            (params["course"], params["child"], dict(request.query_params), _auth(request)),
        )

    def cross_list_set(request: Request, raw: bytes) -> EndpointCall:
        return EndpointCall(
            "get_cross_list_set",
            (request.path_params["course"], dict(request.query_params), _auth(request)),
        )

    def columns_getter(version: str) -> Work:
        def columns(request: Request, raw: bytes) -> EndpointCall:
            return EndpointCall(
                "list_columns",
                (
                    version,
                    request.path_params["course"],
                    dict(request.query_params),
                    _auth(request),
                ),
            )

        return columns

    def announcements(request: Request, raw: bytes) -> EndpointCall:
        return EndpointCall(
            "list_announcements",
            (request.path_params["course"], dict(request.query_params), _auth(request)),
        )

    def item_patcher(kind: str) -> Work:
        def patch_item(request: Request, raw: bytes) -> EndpointCall:
            params = request.path_params
            return EndpointCall(
                "patch_item",
                (kind, params["course"], params["item"], _json_body(raw), _auth(request)),
            )

        return patch_item

    def calendars(request: Request, raw: bytes) -> EndpointCall:
        return EndpointCall("list_calendars", (dict(request.query_params), _auth(request)))

    def calendar_items(request: Request, raw: bytes) -> EndpointCall:
        return EndpointCall("list_calendar_items", (dict(request.query_params), _auth(request)))

    def calendar_item(request: Request, raw: bytes) -> EndpointCall:
        params = request.path_params
        return EndpointCall(
            "patch_calendar_item",
            (
                params["type"],
                params["item"],
                dict(request.query_params),
                _json_body(raw),
                _auth(request),
            ),
        )

    def unknown(request: Request, raw: bytes) -> EndpointCall:
        return EndpointCall("unknown_endpoint", (request.method, _auth(request), request.url.path))

    async def record(request: Request) -> Response:
        return JSONResponse({**sandbox.record.to_dict(), "queue": sandbox.queue.summary()})

    async def summary(request: Request) -> Response:
        return JSONResponse({**sandbox.record.summary(), "queue": sandbox.queue.summary()})

    routes = [
        Route(f"{API}/v1/oauth2/token", endpoint(token), methods=["POST"]),
        Route(f"{API}/v2/courses/{{course}}/copy", endpoint(copy), methods=["POST"]),
        Route(f"{API}/v1/courses/{{course}}/tasks/{{task}}", endpoint(task), methods=["GET"]),
        Route(f"{API}/v3/courses", endpoint(list_courses), methods=["GET"]),
        Route(f"{API}/v3/courses/{{course}}", endpoint(patch), methods=["PATCH"]),
        *(
            Route(
                f"{API}/{version}/courses/{{course}}",
                endpoint(course_getter(version)),
                methods=["GET"],
            )
            for version in ("v1", "v2", "v3")
        ),
        Route(f"{API}/v1/users/{{user}}", endpoint(user), methods=["GET"]),
        Route(f"{API}/v1/courses/{{course}}/users", endpoint(memberships), methods=["GET"]),
        Route(
            f"{API}/v1/courses/{{course}}/users/{{user}}",
            endpoint(membership),
            methods=["GET", "PUT", "PATCH"],
        ),
        Route(f"{API}/v1/courses/{{course}}/contents", endpoint(contents), methods=["GET"]),
        *(
            Route(
                API + path.replace("{id}", "{course}", 1).replace("{id}", "{item}"),
                endpoint(item_patcher(kind)),
                methods=["PATCH"],
            )
            for kind, path in PATCHED.items()
        ),
        Route(
            f"{API}/v1/courses/{{course}}/announcements", endpoint(announcements), methods=["GET"]
        ),
        Route(
            f"{API}/v1/courses/{{course}}/contents/{{content}}/children",
            endpoint(children),
            methods=["GET"],
        ),
        Route(f"{API}/v1/courses/{{course}}/children", endpoint(course_children), methods=["GET"]),
        Route(
            f"{API}/v1/courses/{{course}}/children/{{child}}",
            endpoint(course_child),
            methods=["GET", "PUT", "DELETE"],
        ),
        Route(
            f"{API}/v1/courses/{{course}}/crossListSet", endpoint(cross_list_set), methods=["GET"]
        ),
        *(
            Route(
                f"{API}/{version}/courses/{{course}}/gradebook/columns",
                endpoint(columns_getter(version)),
                methods=["GET"],
            )
            for version in ("v1", "v2")
        ),
        Route(f"{API}/v1/calendars", endpoint(calendars), methods=["GET"]),
        Route(f"{API}/v1/calendars/items", endpoint(calendar_items), methods=["GET"]),
        Route(
            f"{API}/v1/calendars/items/{{type}}/{{item}}",
            endpoint(calendar_item),
            methods=["PATCH"],
        ),
        Route(f"{API}/v1/terms", endpoint(terms), methods=["GET"]),
        Route(f"{API}/v1/terms/{{term}}", endpoint(term), methods=["GET"]),
        Route("/__sandbox__/record", record, methods=["GET"]),
        Route("/__sandbox__/summary", summary, methods=["GET"]),
        Route("/{path:path}", endpoint(unknown), methods=ANY_METHOD),
    ]
    return Starlette(routes=routes)


def _auth(request: Request) -> str | None:
    return request.headers.get("authorization")


def _json_body(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return InvalidJson()


def _to_response(reply: Reply) -> Response:
    if reply.status == 204:  # No Content: no body at all, not even JSON's null
        return Response(status_code=204, headers=reply.headers)
    if reply.text is not None:
        return PlainTextResponse(reply.text, status_code=reply.status, headers=reply.headers)
    return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)
