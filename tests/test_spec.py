"""Unit tests for the lab spec loader: valid labs load, invalid ones give one precise message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestrator.errors import ExitCode, SpecError
from orchestrator.spec import load_lab, parse_size

SHIPPED = Path(__file__).resolve().parent.parent / "labs"


@pytest.fixture
def lab_dir(tmp_path):
    """A writable copy of nginx-misconfig."""
    target = tmp_path / "nginx-misconfig"
    shutil.copytree(SHIPPED / "nginx-misconfig", target)
    return target


def _rewrite(lab_dir: Path, old: str, new: str) -> None:
    spec = lab_dir / "lab.yaml"
    text = spec.read_text()
    assert old in text, f"fixture drifted: {old!r} not in lab.yaml"
    spec.write_text(text.replace(old, new, 1))


def _error(lab_dir: Path) -> SpecError:
    with pytest.raises(SpecError) as caught:
        load_lab(lab_dir)
    assert caught.value.code == ExitCode.USAGE
    assert "\n" not in caught.value.message.split(":", 1)[0]
    return caught.value


def test_every_shipped_lab_loads():
    for folder in sorted(p for p in SHIPPED.iterdir() if (p / "lab.yaml").exists()):
        lab = load_lab(folder)
        assert lab.id == folder.name
        assert lab.hints and lab.services


def test_valid_lab_fields(lab_dir):
    lab = load_lab(lab_dir)
    assert lab.main_service == "proxy"
    assert lab.services["proxy"].ports[0].host == 8080
    assert lab.services["proxy"].ports[0].container == 80
    assert lab.services["proxy"].limits.memory_bytes == 64 * 1024**2
    assert lab.prepare == "break.py" and lab.kind == "repair"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("difficulty: beginner", "difficulty: impossible", "difficulty"),
        ("minutes: 20", "minutes: twenty", "minutes"),
        ("main: proxy", "main: gateway", "main service 'gateway' is not one of the services"),
        ('ports: ["8080:80"]', 'ports: ["80:80:80"]', "is not a port"),
        ("limits: {memory: 64m, cpus: 0.5, pids: 64}", "limits: {memory: 64g, cpus: 0.5, pids: 64}", "above the 2g ceiling"),
        ("limits: {memory: 64m, cpus: 0.5, pids: 64}", "limits: {memory: 64m, cpus: 16, pids: 64}", "services.proxy.limits.cpus"),
        ("    image: nginx\n", "    image: ../../etc\n", "services.proxy.image"),
        ("tags: [nginx, reverse-proxy, http]", "tags: [nginx]\ncolour: blue", "colour: Extra inputs are not permitted"),
    ],
)
def test_invalid_fields_name_file_and_field(lab_dir, old, new, expected):
    _rewrite(lab_dir, old, new)
    err = _error(lab_dir)
    assert str(lab_dir / "lab.yaml") in err.message
    assert expected in err.message


def test_yaml_syntax_error_names_line(lab_dir):
    (lab_dir / "lab.yaml").write_text("id: nginx-misconfig\ntitle: [unclosed\n")
    err = _error(lab_dir)
    assert "invalid YAML" in err.message and "line" in err.message


def test_id_must_match_folder(lab_dir):
    _rewrite(lab_dir, "id: nginx-misconfig", "id: other-lab")
    assert "does not match the folder name" in _error(lab_dir).message


def test_missing_referenced_file(lab_dir):
    (lab_dir / "solution.py").unlink()
    err = _error(lab_dir)
    assert "solution" in err.message and "does not exist" in err.message


def test_file_outside_the_lab_folder_is_refused(lab_dir):
    _rewrite(lab_dir, "main: proxy", "main: proxy\nsuite: ../../etc/passwd")
    assert "must be a file inside the lab folder" in _error(lab_dir).message


def test_not_a_mapping(lab_dir):
    (lab_dir / "lab.yaml").write_text("- just\n- a list\n")
    assert "expected a mapping" in _error(lab_dir).message


def test_no_lab_yaml(tmp_path):
    assert "no lab.yaml" in _error(tmp_path).message


def test_sizes():
    assert parse_size("64m") == 64 * 1024**2
    assert parse_size("1g") == 1024**3
    assert parse_size("512k") == 512 * 1024
    with pytest.raises(ValueError):
        parse_size("lots")



def test_image_hash_ignores_bytecode_and_dockerignore(tmp_path):
    from orchestrator.engine.images import context_hash

    (tmp_path / "Dockerfile").write_text("FROM debian:bookworm\n")
    (tmp_path / "app.py").write_text("print('hi')\n")
    # .dockerignore itself is sent with the context (as Docker does), so it is there from the start.
    (tmp_path / ".dockerignore").write_text("notes/\n")
    before = context_hash(tmp_path)
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0junk")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("later\n")
    assert context_hash(tmp_path) == before
    (tmp_path / "app.py").write_text("print('changed')\n")
    assert context_hash(tmp_path) != before


def test_tmpfs_mounts_are_bounded():
    from pydantic import ValidationError

    from orchestrator.spec import Service

    service = Service.model_validate({"image": "opsbox", "tmpfs": [{"path": "/srv/data/", "size": "40m"}], "limits": {"memory": "128m"}})
    assert service.tmpfs[0].path == "/srv/data" and service.tmpfs[0].size_bytes == 40 * 1024**2 and service.tmpfs[0].mode == "755"
    bad = [
        {"tmpfs": [{"path": "/etc"}]},  # hides a system folder
        {"tmpfs": [{"path": "/run/labs/x"}]},  # the readiness marker's folder
        {"tmpfs": [{"path": "/srv/../etc"}]},
        {"tmpfs": [{"path": "srv"}]},  # not absolute
        {"tmpfs": [{"path": "/srv/a", "size": "1g"}]},  # over 512m
        {"tmpfs": [{"path": "/srv/a", "size": "200m"}], "limits": {"memory": "128m"}},  # more than the memory limit
        {"tmpfs": [{"path": "/srv/a"}, {"path": "/srv/a/"}]},  # twice
        {"tmpfs": [{"path": "/srv/a", "mode": "999"}]},
    ]
    for fields in bad:
        with pytest.raises(ValidationError):
            Service.model_validate({"image": "opsbox", **fields})
