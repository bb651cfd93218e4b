"""`labs serve`: the labs in a browser (an ASGI face over the same core the CLI calls).

    server     options, checks before listening (loopback, admission), uvicorn with a scrubbed log
    app        routes: pages and the JSON API under /api; no lifecycle logic of its own
    access     who is asking: solo (loopback) or classroom seats and the instructor, by token
    ops        start/reset/stop run in the background with their progress; checks in worker processes
    terminal   browser terminals: an engine exec with a TTY, a ring buffer, flow control, reconnect
"""
