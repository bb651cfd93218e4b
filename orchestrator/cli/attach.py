"""An interactive shell in a lab service, attached to this terminal (no docker CLI process).

With a terminal: a TTY exec, the local terminal in raw mode, bytes pumped both
ways over the exec's socket, and the TTY resized with the window. Without one
(a pipe, CI): the command runs non-interactively and its output is copied out.
"""

from __future__ import annotations

import os
import select
import signal
import sys


def run_shell(instance, service: str | None, argv: list[str]) -> int:
    """Run ``argv`` in a service of ``instance`` attached to this terminal; return its exit code."""
    from orchestrator.engine.terminal import open_session

    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    env = {"TERM": os.environ.get("TERM", "xterm"), "PS1": r"\u@\h(lab):\w\$ "}
    session = open_session(instance, service, argv, tty=interactive, environment=env)
    if interactive:
        _pump_tty(session, session.socket)
    else:
        _pump_pipe(session.socket)
    code = session.exit_code()
    return 0 if code is None else int(code)


def _resize(session):
    try:
        size = os.get_terminal_size(sys.stdout.fileno())
    except OSError:
        return
    session.resize(size.lines, size.columns)


def _pump_tty(session, sock):
    import termios
    import tty

    stdin = sys.stdin.fileno()
    saved = termios.tcgetattr(stdin)
    previous = signal.signal(signal.SIGWINCH, lambda *_: _resize(session))
    try:
        tty.setraw(stdin)
        _resize(session)
        while True:
            ready, _, _ = select.select([stdin, sock], [], [])
            if sock in ready:
                data = sock.recv(65536)
                if not data:
                    break
                os.write(sys.stdout.fileno(), data)
            if stdin in ready:
                data = os.read(stdin, 65536)
                if not data:
                    break
                sock.sendall(data)
    finally:
        termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
        signal.signal(signal.SIGWINCH, previous)
        sock.close()


def _pump_pipe(sock):
    """Non-TTY exec: stdin copied in, the multiplexed stdout/stderr frames demultiplexed out."""
    import struct

    stdin_open = True
    buffer = b""
    stdin = sys.stdin.fileno() if not sys.stdin.closed else None
    try:
        while True:
            watch = [sock] + ([stdin] if stdin is not None and stdin_open else [])
            ready, _, _ = select.select(watch, [], [], 0 if _pending(sock) else None)
            if stdin is not None and stdin in ready:
                data = os.read(stdin, 65536)
                if data:
                    sock.sendall(data)
                else:
                    stdin_open = False
                    _end_input(sock)
            if sock in ready or _pending(sock):
                data = sock.recv(65536)
                if not data:
                    break
                buffer += data
                while len(buffer) >= 8:
                    stream, length = struct.unpack(">BxxxL", buffer[:8])
                    if len(buffer) < 8 + length:
                        break
                    out = sys.stderr if stream == 2 else sys.stdout
                    out.buffer.write(buffer[8:8 + length])
                    out.flush()
                    buffer = buffer[8 + length:]
    finally:
        sock.close()


def _pending(sock) -> bool:
    """Bytes already decrypted inside a TLS socket (a node's engine over TLS): select() on the
    descriptor does not see them."""
    return bool(getattr(sock, "pending", lambda: 0)())


def _end_input(sock) -> None:
    """Tell the command its input ended. A plain socket is half-closed (SHUT_WR); a TLS socket
    cannot be (the engine would lose the TLS stream and the output with it): its input stays open
    and the command's output still ends when the command does."""
    import ssl

    if isinstance(sock, ssl.SSLSocket):
        return
    try:
        sock.shutdown(1)
    except OSError:
        pass
