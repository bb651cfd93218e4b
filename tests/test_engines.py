"""Which engine labs talks to: the docker CLI's current context, followed exactly as the CLI does."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from orchestrator.engine.contexts import current_endpoint
from orchestrator.errors import EngineUnavailable


def _make_context(config: Path, name: str, host: str) -> None:
    """A context the way `docker context create NAME --docker host=HOST` stores it."""
    meta = config / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps({"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": False}}}))


@pytest.fixture
def docker_config(tmp_path, monkeypatch):
    config = tmp_path / "dot-docker"
    config.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    for name in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
        monkeypatch.delenv(name, raising=False)
    return config


def test_the_cli_order_decides_the_engine(docker_config, monkeypatch):
    _make_context(docker_config, "desk", "unix:///tmp/desk.sock")
    _make_context(docker_config, "far", "ssh://builder@engine.example")
    assert current_endpoint().host == "unix:///var/run/docker.sock"
    (docker_config / "config.json").write_text(json.dumps({"currentContext": "desk"}))
    chosen = current_endpoint()
    assert (chosen.context, chosen.host, chosen.source) == ("desk", "unix:///tmp/desk.sock", "config.json")
    monkeypatch.setenv("DOCKER_CONTEXT", "far")
    chosen = current_endpoint()
    assert (chosen.host, chosen.source, chosen.remote, chosen.publish_host) == ("ssh://builder@engine.example", "DOCKER_CONTEXT", True, "engine.example")
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    chosen = current_endpoint()
    assert (chosen.context, chosen.host, chosen.remote, chosen.publish_host) == ("default", "tcp://127.0.0.1:2375", False, "127.0.0.1")


def test_a_missing_context_is_one_clear_error(docker_config, monkeypatch):
    monkeypatch.setenv("DOCKER_CONTEXT", "gone")
    with pytest.raises(EngineUnavailable) as caught:
        current_endpoint()
    assert "'gone'" in caught.value.message and "docker context use" in caught.value.fix


@pytest.mark.docker
def test_a_context_selected_engine_is_used_by_every_command_and_the_list_fast_path(engine, docker_config, labs):
    """A context pointing at the real socket works; the same context pointing nowhere fails and says so."""
    socket_path = engine.api.base_url  # http+docker://localhost for the default socket
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if not host.startswith("unix://"):
        pytest.skip(f"needs a Unix-socket engine, this one is {socket_path}")
    _make_context(docker_config, "real", host)
    _make_context(docker_config, "nowhere", f"unix://{docker_config}/no-engine.sock")
    env = {"DOCKER_CONFIG": str(docker_config), "DOCKER_HOST": "", "DOCKER_CONTEXT": ""}
    (docker_config / "config.json").write_text(json.dumps({"currentContext": "real"}))
    result, listed = labs.json("list", env=env)
    assert result.returncode == 0 and all(row["running"] is not None for row in listed["labs"]), result.stderr
    result = labs("status", env=env)
    assert result.returncode == 0, result.stderr
    result, doctor = labs.json("doctor", env=env)
    (context,) = [f for f in doctor["findings"] if f["check"] == "context"]
    assert "context 'real'" in context["detail"] and "config.json" in context["detail"]

    (docker_config / "config.json").write_text(json.dumps({"currentContext": "nowhere"}))
    result, listed = labs.json("list", env=env)
    assert all(row["running"] is None for row in listed["labs"]), "the fast path must ask the context's engine, not a fixed socket"
    result = labs("status", env=env)
    assert result.returncode == 4
    assert "context 'nowhere'" in result.stderr and "No such file or directory" in result.stderr and "Traceback" not in result.stderr
    result, doctor = labs.json("doctor", env=env)
    assert result.returncode == 4 and "Traceback" not in result.stderr
    assert [f["check"] for f in doctor["findings"] if not f["ok"]] == ["socket", "engine"]
