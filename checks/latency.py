"""Latency verdicts that hold on a busy machine: "slow" only when it is slow.

An absolute threshold on one measurement fails a correct fix whenever the machine is loaded
(a shared 2-core laptop swings 2-5x). Two ways that hold instead:

- **against a baseline measured in the same check**: time the probe and a cheap reference
  request of the same path (``/healthz``, ``SELECT 1``) alternately, so load slows both; the
  probe is slow when even its fastest run is many times the baseline's fastest run;
- **repeat with a bound**: load only ever adds time, so the fastest of a few runs is the honest
  figure; the probe is slow only when every run is over the bound.

    timing = measure(lambda: lab.http("api", 8000, "/statement/42"), baseline=lambda: lab.http("api", 8000, "/healthz"))
    assert not timing.slow(ratio=20, floor=0.05), f"GET /statement/42 is slow: {timing.describe()} — look at the query's plan"

A broken system (a full scan taking seconds) stays slow by a wide margin under either rule; a
fixed one passes at load average 8 on 2 cores.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Timing:
    samples: list[float]  # seconds, one per run of the probe
    baseline: list[float] = field(default_factory=list)  # seconds, one per run of the baseline
    failures: int = 0  # runs where the call raised or returned a falsy answer

    @property
    def ok(self) -> bool:
        """At least one run succeeded (check this first: with none, everything is "slow")."""
        return bool(self.samples)

    @property
    def best(self) -> float:
        return min(self.samples) if self.samples else float("inf")

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("inf")

    @property
    def baseline_best(self) -> float | None:
        return min(self.baseline) if self.baseline else None

    def slow(self, *, bound: float | None = None, ratio: float | None = None, floor: float = 0.0) -> bool:
        """Slow only when even the fastest run is over: ``bound`` seconds, and/or ``ratio`` times
        the baseline's fastest run (never less than ``floor`` seconds, so a baseline of a few
        microseconds does not make a fast probe look slow)."""
        if bound is None and ratio is None:
            raise ValueError("give a bound (seconds) or a ratio to the baseline")
        limits = []
        if bound is not None:
            limits.append(bound)
        if ratio is not None:
            if self.baseline_best is None:
                raise ValueError("a ratio needs a baseline: measure(..., baseline=...)")
            limits.append(max(floor, ratio * self.baseline_best))
        return self.best > max(limits)

    def describe(self) -> str:
        """What was measured, in a few words, for a verdict."""
        if not self.samples:
            return f"no run succeeded ({self.failures} failed)"
        text = f"fastest {self.best * 1000:.0f} ms, median {self.median * 1000:.0f} ms over {len(self.samples)} runs"
        if self.baseline:
            text += f" (baseline fastest {self.baseline_best * 1000:.0f} ms)"
        if self.failures:
            text += f"; {self.failures} run(s) failed"
        return text


def _timed(call: Callable[[], object]) -> tuple[float, bool]:
    started = time.perf_counter()
    try:
        answer = call()
        ok = bool(getattr(answer, "ok", answer is not False and answer is not None))
    except Exception:  # noqa: BLE001 - a failed run is counted, not raised
        ok = False
    return time.perf_counter() - started, ok


def measure(call: Callable[[], object], *, baseline: Callable[[], object] | None = None, repeat: int = 5, warmup: int = 1, budget: float = 60.0) -> Timing:
    """Time ``call`` ``repeat`` times (after ``warmup`` untimed runs), alternating with
    ``baseline`` when given. A call that raises or answers falsy (an ``.ok`` that is False)
    counts as a failure, not a sample. Stops early once ``budget`` seconds are spent."""
    for _ in range(warmup):
        call()
        if baseline is not None:
            baseline()
    timing = Timing([])
    deadline = time.monotonic() + budget
    for _ in range(repeat):
        if baseline is not None:
            seconds, ok = _timed(baseline)
            if ok:
                timing.baseline.append(seconds)
        seconds, ok = _timed(call)
        if ok:
            timing.samples.append(seconds)
        else:
            timing.failures += 1
        if time.monotonic() > deadline:
            break
    return timing
