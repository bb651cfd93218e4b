"""Running `labs serve`: the checks before listening, admission control, and uvicorn with a scrubbed log.

- Anything but loopback needs classroom mode (every request then carries a token).
- Classroom mode: seats from a roster or a count; each seat's personal link and the
  instructor's are printed once, here, and never logged (the access log scrubs /join/ paths).
- Admission control: the memory a seat's lab needs (its services' limits) against what
  the engine has free; a classroom that cannot fit is refused before it starts, and a
  start that would not fit is refused with the same kind of message.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import Conflict, UsageError

HEADROOM = 0.9  # never promise more than this share of the engine's free memory


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    roster: Path | None = None
    seats: int | None = None
    lab: str | None = None
    idle_warn: float = 20 * 60
    idle_stop: float = 40 * 60
    labs_dir: Path | None = None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def admit(lab, count: int = 1) -> None:
    """Refuse (Conflict) when ``count`` more instances of ``lab`` would not fit: in the engine's
    free memory, or on a Swarm cluster, in what its nodes have not reserved."""
    from orchestrator.engine import open_engine
    from orchestrator.engine.capacity import human_size as _size, seat_memory

    fits, where = open_engine().seats_that_fit(lab, HEADROOM)
    if count > fits:
        need = seat_memory(lab) * count
        what = f"{count} instance(s) of {lab.id}" if count > 1 else f"another instance of {lab.id}"
        raise Conflict(
            f"not enough memory for {what}: they need {_size(need)} (the memory limits of its services, {_size(seat_memory(lab))} each); {where}",
            f"at most {fits} fit now: use fewer seats, stop other labs (`labs status`), or give the engine more memory",
        )


def build_config(options: ServeOptions):
    """Validate the options (before anything listens) and build the web app's configuration."""
    from orchestrator.catalog import Catalog
    from orchestrator.web.access import Classroom, read_roster
    from orchestrator.web.app import WebConfig

    classroom_mode = options.roster is not None or options.seats is not None
    if options.roster is not None and options.seats is not None:
        raise UsageError("give --classroom ROSTER or --seats N, not both", "a roster names the learners; --seats N makes anonymous seats")
    if not is_loopback(options.host) and not classroom_mode:
        raise UsageError(
            f"--host {options.host}: listening beyond this machine needs classroom mode (personal links with tokens)",
            "add --classroom ROSTER.csv or --seats N, or keep the default --host 127.0.0.1",
        )
    if options.idle_stop and options.idle_stop <= options.idle_warn:
        raise UsageError("--idle-stop must be longer than --idle-warn (learners are warned before their lab is stopped)", "for example --idle-warn 20 --idle-stop 40, or --idle-stop 0 to never stop")
    catalog = Catalog.from_env(options.labs_dir)
    fixed = catalog.get(options.lab) if options.lab else None
    classroom = None
    if classroom_mode:
        names = read_roster(options.roster) if options.roster is not None else None
        classroom = Classroom(names, fixed.id if fixed else None) if names else Classroom.anonymous(options.seats, fixed.id if fixed else None)
        if fixed is not None:
            admit(fixed, len(classroom.seats))
    return WebConfig(labs_dir=options.labs_dir, classroom=classroom, idle_warn=options.idle_warn, idle_stop=options.idle_stop,
                     admission=(lambda lab: admit(lab, 1)) if classroom_mode else None)


class ScrubSecrets(logging.Filter):
    """No token of a /join/ link reaches a log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        from orchestrator.web.access import scrub

        if isinstance(record.args, tuple):
            record.args = tuple(scrub(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = scrub(record.msg)
        return True


def links(config, base: str) -> list[str]:
    classroom = config.classroom
    lines = [f"instructor: {base}/join/{classroom.instructor_token}"]
    lines += [f"seat {seat.number:>3} {seat.name}: {base}/join/{seat.token}" for seat in classroom.seats]
    return lines


def run(options: ServeOptions) -> None:
    import uvicorn

    from orchestrator.web.app import create_app

    config = build_config(options)
    app = create_app(config)
    shown = options.host if is_loopback(options.host) or options.host not in ("0.0.0.0", "::") else "<this machine's address>"
    base = f"http://{shown}:{options.port}"
    if config.classroom is not None:
        print(f"classroom: {len(config.classroom.seats)} seat(s){' on ' + config.classroom.fixed_lab if config.classroom.fixed_lab else ''}. "
              "Hand each learner their link (behind a TLS proxy, use its https address instead):", flush=True)
        for line in links(config, base):
            print(f"  {line}", flush=True)
    else:
        print(f"labs serve: {base}/", flush=True)
    uvicorn.run(app, host=options.host, port=options.port, log_level="info", ws="websockets-sansio", ws_max_size=1 << 20,
                proxy_headers=True, server_header=False, log_config=log_config())


def log_config() -> dict:
    """uvicorn's own logging, with every handler passing through ScrubSecrets."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["scrub"] = {"()": ScrubSecrets}
    for handler in config["handlers"].values():
        handler["filters"] = ["scrub"]
    return config
