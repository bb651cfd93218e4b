"""The routes of `labs serve`: HTML pages and the JSON API under /api (documented in docs/web.md).

Every button is a core function the CLI also calls: the catalog, lifecycle's
start/reset/stop (through ops, for progress), check_runner.run_checks,
progress.reveal_hint and the history. Routes parse, authorize, call, render.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from orchestrator.errors import ExitCode, LabsError, NotFound
from orchestrator.web.access import INSTRUCTOR_COOKIE, SEAT_COOKIE, Caller, Classroom, caller_of

HERE = Path(__file__).resolve().parent
STATUS_OF = {
    ExitCode.USAGE: 400, ExitCode.NOT_FOUND: 404, ExitCode.CONFLICT: 409, ExitCode.ENGINE: 503,
    ExitCode.TIMEOUT: 504, ExitCode.BUILD: 500, ExitCode.INTERRUPTED: 503, ExitCode.CHECKS_FAILED: 200,
}
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


@dataclass
class WebConfig:
    labs_dir: Path | None = None
    classroom: Classroom | None = None
    idle_warn: float = 20 * 60
    idle_stop: float = 40 * 60
    idle_poll: float = 15.0
    admission: object | None = None  # callable(lab) raising LabsError when a lab will not fit
    check_workers: int = 2
    status_ttl: float = 1.0
    extra: dict = field(default_factory=dict)


class Forbidden(LabsError):
    code = ExitCode.USAGE


def render_markdown(text: str) -> str:
    """Lab text as HTML, safely: raw HTML in it is shown as text, unsafe link schemes dropped."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").render(text)


def create_app(config: WebConfig):
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
    from starlette.routing import Mount, Route, WebSocketRoute
    from starlette.staticfiles import StaticFiles
    from starlette.templating import Jinja2Templates
    from starlette.websockets import WebSocket

    from orchestrator.web.ops import Operations
    from orchestrator.web.terminal import Terminals, bridge

    templates = Jinja2Templates(directory=str(HERE / "templates"))
    terminals = Terminals()
    ops = Operations(config.labs_dir, on_stopped=terminals.close_instance, check_workers=config.check_workers)
    classroom = config.classroom
    status_cache: dict = {"at": 0.0, "instances": []}
    last_checks: dict[str, dict] = {}  # instance key -> {"passed": n, "total": m, "at": t}

    # -- helpers -----------------------------------------------------------------------------

    def caller(request) -> Caller:
        return caller_of(request.cookies, classroom)

    def is_poll(request) -> bool:
        return request.headers.get("x-labs-poll") == "1"

    def require_instance(request, lab_id: str, instance: str) -> Caller:
        who = caller(request)
        if who.kind == "nobody":
            raise HTTPException(401, "open your personal link first")
        if not who.may_use(instance):
            raise HTTPException(403, "that is not your lab instance")
        if who.seat is not None:
            if classroom.fixed_lab and lab_id != classroom.fixed_lab:
                raise HTTPException(403, f"this classroom works on {classroom.fixed_lab}")
            if not is_poll(request):
                who.seat.touch()
        from orchestrator.engine.instances import check_instance_name

        check_instance_name(instance)
        return who

    def key_of(lab_id: str, instance: str) -> str:
        from orchestrator.engine.instances import instance_key

        return instance_key(lab_id, instance)

    def catalog():
        from orchestrator.catalog import Catalog

        return Catalog.from_env(config.labs_dir)

    def lab_summary(lab) -> dict:
        return {"id": lab.id, "title": lab.title, "summary": getattr(lab, "summary", "") or "", "difficulty": lab.difficulty,
                "minutes": lab.minutes, "tags": list(lab.tags), "services": list(lab.services), "main": lab.main_service,
                "hints": len(lab.hints)}

    def instances_now() -> list:
        if time.monotonic() - status_cache["at"] > config.status_ttl:
            from orchestrator.lifecycle import lab_status

            status_cache["instances"] = lab_status()
            status_cache["at"] = time.monotonic()
        return status_cache["instances"]

    def instance_state(key: str) -> dict:
        found = next((i for i in instances_now() if i.key == key), None)
        if found is None:
            return {"state": "stopped", "services": [], "ports": {}}
        return {"state": found.state, "services": list(found.containers), "ports": found.ports()}

    def history_of(key: str):
        from orchestrator.history import History

        lab, _, instance = key.partition(".")
        history = History()
        try:
            rows = history.summaries(lab, instance or "default")
            return rows[0] if rows else None
        finally:
            history.close()

    async def blocking(function, *args):
        return await asyncio.to_thread(function, *args)

    # -- errors ------------------------------------------------------------------------------

    async def labs_error(request, err: LabsError):
        return JSONResponse(err.to_dict(), status_code=STATUS_OF.get(err.code, 500))

    async def http_error(request, exc):
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.detail, "fix": None, "exit_code": None}, status_code=exc.status_code)
        return templates.TemplateResponse(request, "message.html", {"title": f"{exc.status_code}", "message": exc.detail}, status_code=exc.status_code)

    # -- pages -------------------------------------------------------------------------------

    async def home(request: Request):
        who = caller(request)
        if who.kind == "instructor":
            return RedirectResponse("/instructor", 303)
        if who.kind == "nobody":
            raise HTTPException(401, "This is a classroom: open the personal link your instructor gave you.")
        if who.seat is not None and classroom.fixed_lab:
            return RedirectResponse(f"/labs/{classroom.fixed_lab}", 303)
        return templates.TemplateResponse(request, "catalogue.html", {"who": who})

    async def lab_page(request: Request):
        lab_id = request.path_params["lab"]
        who = caller(request)
        if who.kind == "nobody":
            raise HTTPException(401, "This is a classroom: open the personal link your instructor gave you.")
        if who.kind == "instructor":
            raise HTTPException(403, "The instructor page is /instructor; lab pages belong to seats.")
        instance = who.seat.instance if who.seat else request.query_params.get("instance", "default")
        require_instance(request, lab_id, instance)
        try:
            lab = catalog().get(lab_id)
        except NotFound as err:
            raise HTTPException(404, err.message) from None
        return templates.TemplateResponse(request, "lab.html", {
            "lab": lab_summary(lab), "briefing": render_markdown(lab.briefing_text), "instance": instance, "who": who,
        })

    async def instructor_page(request: Request):
        if caller(request).kind != "instructor":
            raise HTTPException(403, "The instructor page needs the instructor's link.")
        return templates.TemplateResponse(request, "instructor.html", {"classroom": classroom})

    async def join(request: Request):
        token = request.path_params["token"]
        if classroom is None:
            raise HTTPException(404, "not a classroom")
        secure = request.url.scheme == "https"
        if classroom.is_instructor(token):
            response = RedirectResponse("/instructor", 303)
            response.set_cookie(INSTRUCTOR_COOKIE, token, httponly=True, samesite="strict", secure=secure, max_age=7 * 86400)
            response.delete_cookie(SEAT_COOKIE)
            return response
        seat = classroom.seat_for(token)
        if seat is None:
            raise HTTPException(404, "This link is not valid for this classroom. Ask your instructor for yours.")
        seat.touch()
        response = RedirectResponse("/", 303)
        response.set_cookie(SEAT_COOKIE, token, httponly=True, samesite="strict", secure=secure, max_age=7 * 86400)
        response.delete_cookie(INSTRUCTOR_COOKIE)
        return response

    # -- API ---------------------------------------------------------------------------------

    async def api_me(request: Request):
        who = caller(request)
        body = {"kind": who.kind, "classroom": classroom is not None}
        if who.seat is not None:
            body["seat"] = {"name": who.seat.name, "instance": who.seat.instance, "lab": who.seat.lab,
                            "idle_warning": who.seat.idle_warning, "notice": who.seat.notice}
        return JSONResponse(body)

    async def api_labs(request: Request):
        if caller(request).kind == "nobody":
            raise HTTPException(401, "open your personal link first")
        labs, errors = await blocking(lambda: catalog().all())
        labs = [lab_summary(lab) for lab in sorted(labs, key=lambda lab: lab.id)]
        if classroom is not None and classroom.fixed_lab:
            labs = [lab for lab in labs if lab["id"] == classroom.fixed_lab]
        return JSONResponse({"labs": labs, "problems": [e.message for e in errors] if classroom is None else []})

    async def api_lab(request: Request):
        lab_id = request.path_params["lab"]
        if caller(request).kind == "nobody":
            raise HTTPException(401, "open your personal link first")
        lab = await blocking(catalog().get, lab_id)
        return JSONResponse({**lab_summary(lab), "briefing_html": render_markdown(lab.briefing_text)})

    async def api_instance(request: Request):
        lab_id, instance = request.path_params["lab"], request.path_params["instance"]
        require_instance(request, lab_id, instance)
        key = key_of(lab_id, instance)
        state = await blocking(instance_state, key)
        op = ops.running(key)
        from orchestrator.progress import revealed_hints

        lab = await blocking(catalog().get, lab_id)
        shown, count = await blocking(revealed_hints, lab, key)
        return JSONResponse({**state, "key": key, "operation": op.to_dict() if op else None,
                             "hints": [{"hint": i + 1, "text": t} for i, t in enumerate(shown)], "of": count,
                             "last_check": last_checks.get(key)})

    def operation_route(kind: str):
        async def route(request: Request):
            lab_id, instance = request.path_params["lab"], request.path_params["instance"]
            who = require_instance(request, lab_id, instance)
            before = config.admission if (kind in ("start", "reset") and config.admission) else None
            op = await blocking(lambda: ops.submit(kind, lab_id, instance, before=before))
            status_cache["at"] = 0.0
            if who.seat is not None:
                if kind == "stop":
                    who.seat.started_at = None
                else:
                    who.seat.lab = lab_id
                    who.seat.started_at = who.seat.started_at or time.time()
                who.seat.notice = None
            return JSONResponse(op.to_dict(), status_code=202)

        return route

    async def api_operation(request: Request):
        op = ops.get(int(request.path_params["op"]))
        if op is None:
            raise HTTPException(404, "no such operation")
        require_instance(request, op.lab, op.instance)
        if op.state != "running":
            status_cache["at"] = 0.0
        return JSONResponse(op.to_dict())

    async def api_check(request: Request):
        lab_id, instance = request.path_params["lab"], request.path_params["instance"]
        require_instance(request, lab_id, instance)
        result = await asyncio.wrap_future(ops.check(lab_id, instance))
        if "error" in result:
            error = result["error"]
            return JSONResponse(error, status_code=STATUS_OF.get(ExitCode(error["exit_code"]), 500))
        report = result["report"]
        passed = sum(1 for o in report["objectives"] if o["passed"])
        last_checks[key_of(lab_id, instance)] = {"passed": passed, "total": len(report["objectives"]), "at": time.time()}
        return JSONResponse(report)

    async def api_hint(request: Request):
        lab_id, instance = request.path_params["lab"], request.path_params["instance"]
        require_instance(request, lab_id, instance)
        lab = await blocking(catalog().get, lab_id)
        from orchestrator.progress import reveal_hint

        return JSONResponse(await blocking(reveal_hint, lab, key_of(lab_id, instance)))

    async def api_history(request: Request):
        lab_id, instance = request.path_params["lab"], request.path_params["instance"]
        require_instance(request, lab_id, instance)
        from orchestrator.history import History

        def read():
            history = History()
            try:
                rows = history.summaries(lab_id, instance)
                return {"summary": rows[0].to_dict() if rows else None, "events": history.events(lab_id, instance)}
            finally:
                history.close()

        return JSONResponse(await blocking(read))

    def seat_rows() -> list[dict]:
        now = time.time()
        rows = []
        from orchestrator.history import History

        history = History()
        try:
            summaries = {(s.lab, s.instance): s for s in history.summaries()}
        finally:
            history.close()
        for seat in classroom.seats:
            key = key_of(seat.lab, seat.instance) if seat.lab else None
            state = instance_state(key)["state"] if key else "not started"
            op = ops.running(key) if key else None
            if op is not None and op.state == "running":
                state = f"{op.kind}ing"
            elif op is not None and op.state == "failed" and state == "stopped":
                state = "failed"
            summary = summaries.get((seat.lab, seat.instance)) if seat.lab else None
            last = last_checks.get(key) if key else None
            passing = f"{last['passed']}/{last['total']}" if last else (summary.last_check if summary else "")
            rows.append({
                "seat": seat.number, "name": seat.name, "instance": seat.instance, "lab": seat.lab or "", "state": state,
                "objectives": passing, "solved": bool(summary and summary.solved),
                "hints": summary.hints if summary else 0,
                "time_on_task": round(now - seat.started_at) if seat.started_at else 0,
                "last_activity": round(now - seat.last_activity), "idle_warning": seat.idle_warning or "", "notice": seat.notice or "",
                "error": (op.error or {}).get("error", "") if op is not None and op.state == "failed" else "",
            })
        return rows

    def require_instructor(request):
        if classroom is None:
            raise HTTPException(404, "not a classroom")
        if caller(request).kind != "instructor":
            raise HTTPException(403, "the instructor's link is needed")

    async def api_classroom(request: Request):
        require_instructor(request)
        return JSONResponse({"lab": classroom.fixed_lab, "seats": await blocking(seat_rows)})

    async def api_classroom_csv(request: Request):
        require_instructor(request)
        import csv
        import io

        rows = await blocking(seat_rows)
        buffer = io.StringIO()
        columns = ["seat", "name", "instance", "lab", "state", "objectives", "solved", "hints", "time_on_task", "last_activity", "idle_warning", "notice"]
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        return PlainTextResponse(buffer.getvalue(), media_type="text/csv", headers={"content-disposition": 'attachment; filename="classroom.csv"'})

    async def terminal_socket(websocket: WebSocket):
        lab_id, instance, service = (websocket.path_params[k] for k in ("lab", "instance", "service"))
        who = caller_of(websocket.cookies, classroom)
        origin = websocket.headers.get("origin")
        if not origin or not same_origin(origin, websocket.headers.get("host", "")):
            await websocket.close(code=4403, reason="cross-origin terminal refused")
            return
        if who.kind == "nobody" or not who.may_use(instance) or (who.seat and classroom.fixed_lab and lab_id != classroom.fixed_lab):
            await websocket.close(code=4403, reason="not your lab instance")
            return
        await websocket.accept()
        from orchestrator.lifecycle import running_instance

        try:
            inst = await blocking(running_instance, lab_id, instance)
            if service not in inst.containers:
                raise NotFound(f"{inst.key} has no service {service!r}", f"services: {', '.join(inst.containers)}")
            shell = websocket.query_params.get("shell", "0")
            if not (shell.isdigit() and int(shell) < 10):
                raise LabsError(f"shell {shell!r}: use 0 to 9", "several shells per service are numbered 0-9")
            session = await blocking(terminals.get_or_open, inst, service, int(shell))
        except Exception as err:  # not running, or restarting after a check: the page retries
            import json

            message = err.message if isinstance(err, LabsError) else f"{service} of {key_of(lab_id, instance)} is not reachable right now ({type(err).__name__})"
            await websocket.send_text(json.dumps({"type": "error", "error": message, "fix": getattr(err, "fix", None)}))
            await websocket.close()
            return
        touch = who.seat.touch if who.seat is not None else None
        await bridge(websocket, session, on_input=touch)
        from contextlib import suppress

        with suppress(Exception):
            await websocket.close()

    # -- protections -------------------------------------------------------------------------

    def same_origin(origin: str, host: str) -> bool:
        return urlsplit(origin).netloc.lower() == host.lower()

    class Guard:
        """Host check on loopback (no DNS rebinding), origin check on state-changing requests,
        and safe headers on every response."""

        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            if scope["type"] not in ("http", "websocket"):
                return await self.app(scope, receive, send)
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            host = headers.get("host", "")
            hostname = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
            problem = None
            if classroom is None and hostname.lower() not in LOOPBACK_HOSTS:
                problem = "this server answers on 127.0.0.1 and localhost only"
            elif scope["type"] == "http" and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
                origin = headers.get("origin")
                if origin and not same_origin(origin, host):
                    problem = "cross-origin request refused"
            if problem:
                response = PlainTextResponse(problem, status_code=403)
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 4403})
                    return
                return await response(scope, receive, send)

            async def send_with_headers(message):
                if message["type"] == "http.response.start":
                    extra = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                             (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"), (b"cache-control", b"no-store")]
                    message = {**message, "headers": list(message.get("headers", [])) + extra}
                await send(message)

            return await self.app(scope, receive, send_with_headers)

    # -- idle seats --------------------------------------------------------------------------

    async def watch_idle_seats():
        while True:
            await asyncio.sleep(config.idle_poll)
            try:
                await blocking(check_idle_seats)
            except Exception as err:  # never let the watcher die quietly
                print(f"labs serve: idle watcher: {err}", flush=True)

    def check_idle_seats():
        now = time.time()
        for seat in classroom.seats:
            if not seat.lab or not seat.started_at:
                continue
            idle = now - seat.last_activity
            if config.idle_stop and idle >= config.idle_stop:
                try:
                    ops.submit("stop", seat.lab, seat.instance)
                except LabsError:
                    continue
                seat.started_at = None
                seat.idle_warning = None
                seat.notice = f"your lab was stopped after {int(idle // 60)} min without activity ({time.strftime('%H:%M')}); Start brings it back, broken again"
                print(f"labs serve: {seat.name} ({seat.instance}): {seat.lab} stopped after {int(idle)} s idle", flush=True)
            elif idle >= config.idle_warn and seat.idle_warning is None:
                left = max(0, int((config.idle_stop - idle) // 60)) if config.idle_stop else None
                seat.idle_warning = (f"no activity for {int(idle // 60)} min: your lab will be stopped in about {left} min unless you continue"
                                     if left is not None else f"no activity for {int(idle // 60)} min")
                print(f"labs serve: {seat.name} ({seat.instance}): idle warning after {int(idle)} s", flush=True)

    idle_task: dict = {}

    async def on_startup():
        if classroom is not None:
            idle_task["task"] = asyncio.create_task(watch_idle_seats())

    async def on_shutdown():
        if "task" in idle_task:
            idle_task["task"].cancel()
        terminals.close_all()
        ops.shutdown()

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app):
        await on_startup()
        try:
            yield
        finally:
            await on_shutdown()

    inst_path = "/api/labs/{lab}/instances/{instance}"
    routes = [
        Route("/", home),
        Route("/labs/{lab}", lab_page),
        Route("/instructor", instructor_page),
        Route("/join/{token}", join),
        Route("/api/me", api_me),
        Route("/api/labs", api_labs),
        Route("/api/labs/{lab}", api_lab),
        Route(inst_path, api_instance),
        Route(inst_path + "/start", operation_route("start"), methods=["POST"]),
        Route(inst_path + "/reset", operation_route("reset"), methods=["POST"]),
        Route(inst_path + "/stop", operation_route("stop"), methods=["POST"]),
        Route(inst_path + "/check", api_check, methods=["POST"]),
        Route(inst_path + "/hint", api_hint, methods=["POST"]),
        Route(inst_path + "/history", api_history),
        Route("/api/operations/{op:int}", api_operation),
        Route("/api/classroom", api_classroom),
        Route("/api/classroom.csv", api_classroom_csv),
        WebSocketRoute("/ws/terminal/{lab}/{instance}/{service}", terminal_socket),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={LabsError: labs_error, HTTPException: http_error}, lifespan=lifespan)
    app.state.ops = ops
    app.state.terminals = terminals
    app.state.check_idle_seats = check_idle_seats if classroom is not None else None
    guarded = Guard(app)
    guarded.state = app.state
    return guarded
