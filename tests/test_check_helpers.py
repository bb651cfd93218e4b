"""Check helpers that need no engine: discovery objectives (checks that search) and latency verdicts."""

from __future__ import annotations

import pytest

from checks.latency import Timing, measure
from orchestrator.check_runner import run_suite
from orchestrator.scaffold import new_lab
from orchestrator.spec import load_lab

SEARCH_SUITE = '''
import pytest


@pytest.mark.discovery("a secret is still served over HTTP")
def test_no_secret_served():
    """No secret is served over HTTP"""
    assert False, "found it at /backup/.env and /static/.env"


@pytest.mark.discovery
def test_no_copies_left():
    """No copy of the key is left"""
    assert False, "copies: /root/key.bak"


def test_plain_objective():
    """An ordinary objective"""
    assert False, "GET / got HTTP 502 — look at the upstream"


@pytest.mark.discovery("never shown")
def test_found_nothing():
    """A search that finds nothing passes"""
'''


@pytest.fixture
def search_lab(tmp_path):
    folder = new_lab("search-lab", tmp_path)
    (folder / "test_objectives.py").write_text(SEARCH_SUITE)
    return load_lab(folder)


def test_a_discovery_objective_says_something_remains_but_not_where(search_lab):
    report = run_suite(search_lab, "search-lab.x", context=object())
    verdicts = {o.id: o for o in report.objectives}
    assert verdicts["test_no_secret_served"].message == "a secret is still served over HTTP"
    assert verdicts["test_no_secret_served"].discovery and not verdicts["test_plain_objective"].discovery
    assert "/root/key.bak" not in verdicts["test_no_copies_left"].message and "remains" in verdicts["test_no_copies_left"].message
    assert verdicts["test_plain_objective"].message == "GET / got HTTP 502 — look at the upstream"
    assert verdicts["test_found_nothing"].passed and verdicts["test_found_nothing"].message == ""
    assert not any("/backup/.env" in o.message for o in report.objectives)


def test_authors_can_ask_for_what_a_discovery_objective_found(search_lab):
    report = run_suite(search_lab, "search-lab.x", context=object(), reveal=True)
    message = next(o.message for o in report.objectives if o.id == "test_no_secret_served")
    assert message.startswith("a secret is still served over HTTP") and "/backup/.env and /static/.env" in message


def test_latency_is_slow_only_when_even_the_fastest_run_is_over():
    loaded_but_fixed = Timing([0.9, 0.04, 0.3, 0.05, 1.2], baseline=[0.02, 0.004, 0.5, 0.003, 0.01])
    assert not loaded_but_fixed.slow(bound=0.1)  # one fast run proves the fix under any load
    assert not loaded_but_fixed.slow(ratio=20, floor=0.05)
    broken = Timing([2.1, 2.4, 3.0], baseline=[0.003, 0.02, 0.004])
    assert broken.slow(bound=0.5) and broken.slow(ratio=20, floor=0.05)
    assert broken.slow(bound=0.5, ratio=20)
    assert "fastest 2100 ms" in broken.describe() and "baseline fastest 3 ms" in broken.describe()
    with pytest.raises(ValueError):
        broken.slow()
    with pytest.raises(ValueError):
        Timing([0.1]).slow(ratio=3)
    nothing = Timing([], failures=3)
    assert not nothing.ok and nothing.slow(bound=1) and "no run succeeded" in nothing.describe()


def test_measure_alternates_with_the_baseline_and_counts_failures():
    calls = []

    class Answer:
        def __init__(self, ok):
            self.ok = ok

    answers = iter([Answer(True), Answer(False), Answer(True), Answer(True), Answer(True)])

    def probe():
        calls.append("probe")
        return next(answers)

    def base():
        calls.append("base")
        return True

    timing = measure(probe, baseline=base, repeat=4, warmup=1)
    assert calls == ["probe", "base"] + ["base", "probe"] * 4
    assert len(timing.samples) == 3 and timing.failures == 1 and len(timing.baseline) == 4
