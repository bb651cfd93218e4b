"""The benchmark script runs (its timings are reported, never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_bench_runs_quick_cli(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--quick", "--only", "cli", "--repeat", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    figures = {f["figure"]: f for f in result["figures"]}
    assert set(figures) == {"labs --help", "labs list"}
    for figure in figures.values():
        assert figure["error"] is None
        assert figure["labs"] > 0 and figure["raw"] > 0 and figure["ratio"] > 0
    assert result["machine"]["cores"] >= 1
    assert "labs --help" in proc.stdout  # the table
    assert (tmp_path / "bench.md").read_text().count("|") > 10
