"""`labs serve` through its HTTP and WebSocket API: tokens and cookies, who may reach what (a seat
never another seat's instance nor the instructor's page), origin and host checks, safe briefing
rendering, the serve options, and the terminal's ring buffer and flow control (over a real socket)."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time

import pytest

from orchestrator.web.access import Classroom, read_roster, scrub
from orchestrator.web.app import WebConfig, create_app, render_markdown

LAB = "nginx-misconfig"


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("LABS_STATE_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def classroom():
    return Classroom(["Alice", "Bob"], LAB)


@pytest.fixture
def client_for(state, classroom):
    from starlette.testclient import TestClient

    app = create_app(WebConfig(classroom=classroom))
    clients = []

    def make(token: str | None = None):
        client = TestClient(app, base_url="http://testserver", follow_redirects=False)
        clients.append(client)
        if token:
            response = client.get(f"/join/{token}")
            assert response.status_code == 303
        return client

    yield make
    for client in clients:
        client.close()


def inst(instance: str, tail: str = "") -> str:
    return f"/api/labs/{LAB}/instances/{instance}{tail}"


def test_join_sets_a_strict_httponly_cookie_and_redirects(client_for, classroom):
    client = client_for()
    response = client.get(f"/join/{classroom.seats[0].token}")
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and classroom.seats[0].token.lower() in cookie
    assert client.get("/api/me").json()["seat"]["instance"] == "seat-1"
    assert client_for().get("/join/not-a-token").status_code == 404
    teacher = client_for().get(f"/join/{classroom.instructor_token}")
    assert teacher.headers["location"] == "/instructor"


def test_without_a_token_nothing_is_reachable(client_for):
    client = client_for()
    assert client.get("/").status_code == 401
    assert client.get("/api/labs").status_code == 401
    assert client.get(inst("seat-1")).status_code == 401
    assert client.post(inst("seat-1", "/check")).status_code == 401
    assert client.get("/instructor").status_code == 403
    assert client.get("/api/classroom").status_code == 403


def test_a_seat_reaches_only_its_own_instance(client_for, classroom):
    alice = client_for(classroom.seats[0].token)
    for method, tail in (("GET", ""), ("POST", "/check"), ("POST", "/hint"), ("GET", "/history"), ("POST", "/start"), ("POST", "/reset"), ("POST", "/stop")):
        response = alice.request(method, inst("seat-2", tail))
        assert response.status_code == 403, (method, tail, response.text)
        assert alice.request(method, inst("default", tail)).status_code == 403
    assert alice.get(f"/labs/{LAB}?instance=seat-2").status_code == 200  # the page ignores it: always her own seat
    assert 'data-instance="seat-1"' in alice.get(f"/labs/{LAB}?instance=seat-2").text
    mine = alice.get(inst("seat-1", "/history"))
    assert mine.status_code == 200 and mine.json()["events"] == []
    assert alice.post(inst("seat-1", "/hint")).json()["hint"] == 1
    assert alice.get("/api/labs/slow-postgres/instances/seat-1").status_code == 403  # the classroom's lab only


def test_a_learner_token_never_opens_the_instructor_pages(client_for, classroom):
    alice = client_for(classroom.seats[0].token)
    assert alice.get("/instructor").status_code == 403
    assert alice.get("/api/classroom").status_code == 403
    assert alice.get("/api/classroom.csv").status_code == 403
    teacher = client_for(classroom.instructor_token)
    seats = teacher.get("/api/classroom").json()["seats"]
    assert [s["name"] for s in seats] == ["Alice", "Bob"] and seats[0]["instance"] == "seat-1"
    csv_text = teacher.get("/api/classroom.csv").text
    assert csv_text.splitlines()[0].startswith("seat,name,instance,lab,state,objectives") and "Bob" in csv_text
    assert classroom.seats[0].token not in csv_text and classroom.instructor_token not in teacher.get("/instructor").text


def test_terminal_of_another_seat_is_refused(client_for, classroom):
    from starlette.websockets import WebSocketDisconnect

    alice = client_for(classroom.seats[0].token)
    with pytest.raises(WebSocketDisconnect) as refused:
        with alice.websocket_connect(f"/ws/terminal/{LAB}/seat-2/proxy", headers={"origin": "http://testserver"}) as ws:
            ws.receive_text()
    assert refused.value.code == 4403
    for origin in (None, "http://evil.example"):
        headers = {"origin": origin} if origin else {}
        with pytest.raises(WebSocketDisconnect) as refused:
            with alice.websocket_connect(f"/ws/terminal/{LAB}/seat-1/proxy", headers=headers) as ws:
                ws.receive_text()
        assert refused.value.code == 4403


def test_solo_mode_answers_loopback_names_only_and_refuses_cross_origin_posts(state):
    from starlette.testclient import TestClient

    app = create_app(WebConfig())
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        assert client.get("/api/labs").status_code == 200
        assert client.get("/api/labs", headers={"host": "attacker.example"}).status_code == 403  # DNS rebinding
        refused = client.post(inst("solo", "/hint"), headers={"origin": "http://attacker.example"})
        assert refused.status_code == 403
        assert client.post(inst("solo", "/hint"), headers={"origin": "http://127.0.0.1:8000"}).json()["hint"] == 1
        assert client.post(inst("Not Valid!", "/hint")).status_code == 400
        assert client.get("/api/labs/no-such-lab").status_code == 404
        page = client.get("/")
        assert "default-src 'self'" in page.headers["content-security-policy"] and page.headers["x-frame-options"] == "DENY"


def test_briefing_markdown_never_passes_html_or_script_links():
    html = render_markdown("# Ticket\n<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n[click](javascript:alert(1)) `code`")
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;" in html and "<h1>Ticket</h1>" in html and "<code>code</code>" in html


def test_serve_options_refuse_public_binding_without_classroom(tmp_path):
    from orchestrator.errors import UsageError
    from orchestrator.web.server import ServeOptions, build_config

    with pytest.raises(UsageError, match="needs classroom mode"):
        build_config(ServeOptions(host="0.0.0.0"))
    with pytest.raises(UsageError, match="not both"):
        build_config(ServeOptions(roster=tmp_path / "r.csv", seats=2))
    with pytest.raises(UsageError, match="longer than --idle-warn"):
        build_config(ServeOptions(seats=2, idle_warn=600, idle_stop=300))
    config = build_config(ServeOptions(host="0.0.0.0", seats=3))
    assert len(config.classroom.seats) == 3 and len({s.token for s in config.classroom.seats} | {config.classroom.instructor_token}) == 4


def test_roster_csv(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("email,name\na@x,Ada Lovelace\nb@x,Grace Hopper\n\n")
    assert read_roster(roster) == ["Ada Lovelace", "Grace Hopper"]
    roster.write_text("Linus\nMargaret\n")
    assert read_roster(roster) == ["Linus", "Margaret"]
    from orchestrator.errors import UsageError

    roster.write_text("\n")
    with pytest.raises(UsageError, match="no learners"):
        read_roster(roster)


def test_no_token_reaches_the_log():
    from orchestrator.web.server import ScrubSecrets

    token = Classroom(["a"]).seats[0].token
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5", "GET", f"/join/{token}", "1.1", 303), None)
    ScrubSecrets().filter(record)
    assert token not in record.getMessage() and "/join/…" in record.getMessage()
    assert scrub(f"/join/{token}?x=1") == "/join/…?x=1"


# -- the terminal's ring buffer and flow control, over a real socket pair -----------------------


class SocketExec:
    """The shape of engine.terminal.ExecSession over one end of a socket pair (the other end
    plays the shell)."""

    def __init__(self, sock):
        self.socket = sock
        self.resized = None

    def read(self, size=65536):
        return self.socket.recv(size)

    def write(self, data):
        self.socket.sendall(data)

    def resize(self, rows, cols):
        self.resized = (rows, cols)

    def exit_code(self):
        return 0

    def close(self):
        self.socket.close()


def test_a_flood_is_bounded_skipped_with_notice_and_never_blocks_the_shell_for_long():
    import asyncio

    from orchestrator.web import terminal

    async def scenario():
        server_end, shell_end = socket.socketpair()
        session = terminal.TerminalSession("t/proxy", SocketExec(server_end))
        client = session.attach()  # never acknowledges anything: a frozen tab
        total = 6 * 1024 * 1024
        written = threading.Event()

        def flood():
            chunk = b"y\n" * 32768
            sent = 0
            while sent < total:
                shell_end.sendall(chunk)
                sent += len(chunk)
            written.set()

        threading.Thread(target=flood, daemon=True).start()
        deadline = time.monotonic() + 120
        skipped = 0
        while not written.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            skipped += session.next_frame(client)[0]  # the sender keeps trying; the window stays full
            assert client.sent - client.acked <= terminal.WINDOW
        assert written.is_set(), "the shell stayed blocked behind a client that never acknowledged"
        await asyncio.sleep(0.3)
        assert len(session.ring) <= terminal.RING
        skipped += session.next_frame(client)[0]
        assert skipped > total // 2  # told how much it missed
        session.ack(client, client.sent - client.acked)
        assert session.next_frame(client)[1]  # then the recent output
        # Ctrl-C drops the backlog of that client at once
        shell_end.sendall(b"x" * 100000)
        await asyncio.sleep(0.3)
        assert session.skip_backlog(client) > 0 and session.next_frame(client) == (0, None)
        shell_end.close()
        for _ in range(100):
            if session.closed:
                break
            await asyncio.sleep(0.05)
        assert session.closed

    asyncio.run(scenario())


def test_reconnect_replays_recent_output_from_a_line_start():
    import asyncio

    from orchestrator.web import terminal

    async def scenario():
        server_end, shell_end = socket.socketpair()
        session = terminal.TerminalSession("t/proxy", SocketExec(server_end))
        output = "".join(f"line {n} é\n" for n in range(20000)).encode()
        shell_end.sendall(output)
        for _ in range(600):
            if session.head >= len(output):
                break
            await asyncio.sleep(0.05)
        assert session.head == len(output)
        client = session.attach()
        replay = bytearray()
        while True:
            _, data = session.next_frame(client)
            if data is None:
                session.ack(client, client.sent - client.acked)
                _, data = session.next_frame(client)
                if data is None:
                    break
            replay += data
        assert 0 < len(replay) <= terminal.REPLAY
        assert replay.startswith(b"line ") and replay.endswith(b"line 19999 \xc3\xa9\n")
        replay.decode("utf-8")  # a whole-line start: never a cut character
        session.detach(client)
        shell_end.close()

    asyncio.run(scenario())


# -- against the real engine --------------------------------------------------------------------


@pytest.mark.docker
def test_admission_refuses_what_will_not_fit(engine):
    from orchestrator.catalog import Catalog
    from orchestrator.errors import Conflict
    from orchestrator.web.server import admit

    lab = Catalog.from_env().get(LAB)
    admit(lab, 1)
    with pytest.raises(Conflict, match=r"not enough memory for 100000 instance\(s\) of nginx-misconfig") as refused:
        admit(lab, 100000)
    assert "at most" in refused.value.fix


@pytest.mark.docker
def test_terminal_over_websocket_resumes_the_same_shell(engine, lab_instance, instance_name, state):
    from starlette.testclient import TestClient

    assert lab_instance(LAB).returncode == 0
    app = create_app(WebConfig())
    path = f"ws://127.0.0.1/ws/terminal/{LAB}/{instance_name}/proxy"
    headers = {"origin": "http://127.0.0.1"}

    def read_until(ws, needle: bytes, limit: float = 30) -> bytes:
        seen = b""
        deadline = time.monotonic() + limit
        while needle not in seen and time.monotonic() < deadline:
            message = ws.receive()
            if message.get("bytes"):
                seen += message["bytes"]
                ws.send_text(json.dumps({"type": "ack", "bytes": len(message["bytes"])}))
        assert needle in seen, seen[-500:]
        return seen

    with TestClient(app, base_url="http://127.0.0.1") as client:
        with client.websocket_connect(path, headers=headers) as ws:
            assert json.loads(ws.receive_text())["type"] == "hello"
            ws.send_text(json.dumps({"type": "resize", "rows": 30, "cols": 100}))
            ws.send_bytes(b"echo pid=$$ cols=$(tput cols)\n")
            first = read_until(ws, b"cols=100")
            pid = first.split(b"pid=")[-1].split(b" ")[0]
        with client.websocket_connect(path, headers=headers) as ws:
            hello = json.loads(ws.receive_text())
            assert hello["type"] == "hello" and hello["replay"] > 0
            read_until(ws, b"pid=" + pid)  # the replay shows what was there
            ws.send_bytes(b"echo again=$$\n")
            read_until(ws, b"again=" + pid)  # the same shell, not a new one
        with client.websocket_connect(path + "?shell=1", headers=headers) as ws:
            assert json.loads(ws.receive_text())["type"] == "hello"
            ws.send_bytes(b"echo other=$$ $((1+1))end\n")
            other = read_until(ws, b" 2end").split(b"other=")[-1].split(b" ")[0]
            assert other.isdigit() and other != pid  # a second, independent shell


@pytest.mark.docker
def test_idle_seats_are_warned_then_stopped_never_silently(engine, state, classroom, client_for):
    from orchestrator.web.app import create_app as make_app

    config = WebConfig(classroom=classroom, idle_warn=60, idle_stop=120)
    app = make_app(config)
    seat = classroom.seats[0]
    seat.lab, seat.started_at = LAB, time.time() - 500
    seat.last_activity = time.time() - 90
    app.state.check_idle_seats()
    assert seat.idle_warning and "will be stopped in about" in seat.idle_warning and seat.started_at
    seat.last_activity = time.time() - 130
    app.state.check_idle_seats()
    assert seat.started_at is None and seat.notice and "stopped after 2 min without activity" in seat.notice
    op = app.state.ops.running(f"{LAB}.seat-1")
    assert op is not None and op.kind == "stop"
    deadline = time.monotonic() + 60
    while op.state == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert op.state == "done", op.to_dict()
    alice = client_for(seat.token)  # the learner's page says why
    assert "stopped after 2 min" in alice.get("/api/me").json()["seat"]["notice"]
    seat.touch()
    assert seat.idle_warning is None
