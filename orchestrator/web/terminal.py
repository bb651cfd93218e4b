"""Browser terminals: a shell in a service (an engine exec with a TTY) shared with WebSocket clients.

One ``TerminalSession`` per (instance, service, shell number) lives on the server, so a page
reload or a dropped connection resumes the same shell, with the recent output
replayed from a ring buffer. The wire protocol (see docs/web.md):

- server → browser, binary frames: the terminal's raw bytes (xterm.js decodes
  UTF-8 itself, statefully, so a character split across frames is intact);
- server → browser, text frames: JSON notices (``hello``, ``skipped``, ``exit``);
- browser → server, binary frames: keystrokes; text frames: JSON ``resize``
  ``{rows, cols}`` and ``ack`` ``{bytes}`` (how many more bytes the browser rendered).

Backpressure: a client is sent at most ``WINDOW`` bytes it has not acknowledged;
the reader thread waits (at most ``STALL`` seconds) while a connected, live client
is that far behind, which slows the shell's output to what the browser can render
(the shell blocks on a full TTY, as it would on a slow real terminal). Memory
stays bounded by the ring; a client too far behind skips ahead and is told how
much it missed. Keystrokes never wait behind output, so Ctrl-C always reaches
the shell, and a Ctrl-C also drops that client's unsent backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time

RING = 512 * 1024  # bytes of recent output kept per terminal (replay and slow clients)
REPLAY = 64 * 1024  # bytes replayed to a client that (re)connects
WINDOW = 256 * 1024  # unacknowledged bytes in flight to one client
CHUNK = 32 * 1024  # largest frame sent
STALL = 1.0  # longest the reader waits for a slow client before leaving it behind
LIVE = 5.0  # a client that acknowledged nothing for this long is left behind at once

SHELL = ["/bin/bash", "-l"]
SHELL_ENV = {"TERM": "xterm-256color", "PS1": r"\u@\h(lab):\w\$ "}


class Client:
    """One WebSocket attached to a session: what it has been sent and has rendered."""

    def __init__(self, session: TerminalSession, start: int):
        self.session = session
        self.sent = start
        self.acked = start
        self.wake = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        self.last_ack = time.monotonic()  # a client silent for LIVE seconds no longer holds the shell back

    def notify(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self.wake.set)
        except RuntimeError:
            pass  # its event loop is gone: the client went with it


class TerminalSession:
    """A shell in one service of one instance, its recent output, and the clients watching it."""

    def __init__(self, key: str, exec_session):
        self.key = key
        self.exec = exec_session
        self.ring = bytearray()
        self.start = 0  # absolute offset of ring[0]
        self.head = 0  # absolute offset just past the last byte read
        self.lock = threading.Condition()
        self.clients: set[Client] = set()
        self.closed = False
        self.exit_code: int | None = None
        self.last_input = time.time()
        self.reader = threading.Thread(target=self._read, name=f"terminal {key}", daemon=True)
        self.reader.start()

    # -- the reader thread -------------------------------------------------------------------

    def _read(self) -> None:
        try:
            while True:
                try:
                    data = self.exec.read(65536)
                except OSError:
                    break
                if not data:
                    break
                with self.lock:
                    self.ring += data
                    self.head += len(data)
                    if len(self.ring) > RING:
                        drop = len(self.ring) - RING
                        del self.ring[:drop]
                        self.start += drop
                    clients = list(self.clients)
                for client in clients:
                    client.notify()
                self._wait_for_slow_clients()
        finally:
            with self.lock:
                self.closed = True
                clients = list(self.clients)
            with contextlib.suppress(Exception):
                self.exit_code = self.exec.exit_code()
            for client in clients:
                client.notify()

    def _behind(self) -> bool:
        now = time.monotonic()
        return any(self.head - c.acked > WINDOW and now - c.last_ack < LIVE for c in self.clients)

    def _wait_for_slow_clients(self) -> None:
        deadline = time.monotonic() + STALL
        with self.lock:
            while self._behind():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self.lock.wait(remaining)

    # -- used from the event loop ------------------------------------------------------------

    def attach(self) -> Client:
        with self.lock:
            start = max(self.start, self.head - REPLAY)
            if start > self.start:  # begin the replay at a line start, not mid-sequence
                newline = self.ring.find(b"\n", start - self.start, start - self.start + 4096)
                if newline >= 0:
                    start = self.start + newline + 1
            client = Client(self, start)
            self.clients.add(client)
            client.wake.set()
            return client

    def detach(self, client: Client) -> None:
        with self.lock:
            self.clients.discard(client)
            self.lock.notify_all()

    def ack(self, client: Client, rendered: int) -> None:
        """The browser rendered ``rendered`` more bytes."""
        with self.lock:
            client.acked = min(client.acked + max(0, int(rendered)), client.sent)
            client.last_ack = time.monotonic()
            self.lock.notify_all()
        client.wake.set()

    def next_frame(self, client: Client) -> tuple[int, bytes | None]:
        """(bytes skipped, data to send or None when nothing may be sent now)."""
        with self.lock:
            skipped = 0
            if client.sent < self.start:
                skipped = self.start - client.sent
                in_flight = client.sent - client.acked  # still counts against the window
                client.sent = self.start
                client.acked = self.start - in_flight
            if client.sent - client.acked >= WINDOW or client.sent >= self.head:
                return skipped, None
            begin = client.sent - self.start
            data = bytes(self.ring[begin:begin + CHUNK])
            client.sent += len(data)
            return skipped, data

    def skip_backlog(self, client: Client) -> int:
        """Drop what this client has not been sent yet (after a Ctrl-C); returns how much."""
        with self.lock:
            skipped = max(0, self.head - client.sent)
            client.sent = client.acked = self.head
            self.lock.notify_all()
            return skipped

    def write(self, data: bytes) -> None:
        self.last_input = time.time()
        self.exec.write(data)

    def close(self) -> None:
        self.exec.close()


class Terminals:
    """Every open terminal session, by (instance key, service, shell number)."""

    def __init__(self):
        self.sessions: dict[tuple[str, str], TerminalSession] = {}
        self.lock = threading.Lock()

    def get_or_open(self, instance, service: str, shell: int = 0) -> TerminalSession:
        """The live session ``shell`` (0-9: several shells side by side) of that service, or a new
        shell in it (``instance`` is a LabInstance)."""
        from orchestrator.engine.terminal import open_session

        key = (instance.key, service, shell)
        with self.lock:
            session = self.sessions.get(key)
            if session is not None and not session.closed:
                return session
            exec_session = open_session(instance, service, SHELL, tty=True, environment=SHELL_ENV)
            session = TerminalSession(f"{instance.key}/{service}/{shell}", exec_session)
            self.sessions[key] = session
            return session

    def close_instance(self, instance_key: str) -> None:
        with self.lock:
            doomed = [k for k in self.sessions if k[0] == instance_key]
            sessions = [self.sessions.pop(k) for k in doomed]
        for session in sessions:
            session.close()

    def close_all(self) -> None:
        with self.lock:
            sessions = list(self.sessions.values())
            self.sessions.clear()
        for session in sessions:
            session.close()


async def bridge(websocket, session: TerminalSession, on_input=None) -> None:
    """Pump one WebSocket (Starlette) to and from a terminal session until either side ends."""
    client = session.attach()
    await websocket.send_text(json.dumps({"type": "hello", "session": session.key, "replay": session.head - client.sent}))

    async def send_output():
        while True:
            await client.wake.wait()
            client.wake.clear()
            while True:
                skipped, data = session.next_frame(client)
                if skipped:
                    await websocket.send_text(json.dumps({"type": "skipped", "bytes": skipped}))
                if data is None:
                    break
                await websocket.send_bytes(data)
            if session.closed and client.sent >= session.head:
                await websocket.send_text(json.dumps({"type": "exit", "code": session.exit_code}))
                return

    async def receive_input():
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if data is not None:
                if on_input:
                    on_input()
                if b"\x03" in data:
                    skipped = session.skip_backlog(client)
                    if skipped > 4096:
                        await websocket.send_text(json.dumps({"type": "skipped", "bytes": skipped, "reason": "interrupt"}))
                await asyncio.to_thread(session.write, data)
                continue
            try:
                control = json.loads(message.get("text") or "{}")
            except ValueError:
                continue
            if control.get("type") == "ack":
                session.ack(client, control.get("bytes", 0))
            elif control.get("type") == "resize":
                rows, cols = int(control.get("rows", 24)), int(control.get("cols", 80))
                await asyncio.to_thread(session.exec.resize, max(1, min(rows, 500)), max(1, min(cols, 1000)))

    sender = asyncio.create_task(send_output())
    receiver = asyncio.create_task(receive_input())
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        session.detach(client)
        for task in (sender, receiver):
            task.cancel()
        for task in (sender, receiver):
            with contextlib.suppress(BaseException):
                await task
