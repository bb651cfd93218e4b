"""Images on the real engine: the offline Debian base, and build-once tags by context hash."""

from __future__ import annotations

import shutil
import uuid

import pytest

from orchestrator.errors import BuildFailed
from orchestrator.engine.images import build_debian_base, ensure_base_image, ensure_image

pytestmark = pytest.mark.docker


@pytest.mark.skipif(not shutil.which("debootstrap") and not __import__("os").path.exists("/usr/sbin/debootstrap"), reason="needs debootstrap (scripts/docker-engine installs it)")
def test_offline_base_is_built_with_debootstrap_and_runs(engine):
    """With no registry, the base is debootstrapped and imported under the requested name."""
    ref = f"labs-test-base:{uuid.uuid4().hex[:8]}"
    steps = []
    try:
        build_debian_base(engine, ref, "bookworm", steps.append)
        assert any("debootstrap" in s for s in steps) and any("importing" in s for s in steps)
        output = engine.containers.run(ref, ["sh", "-c", ". /etc/os-release && echo $VERSION_CODENAME"], remove=True)
        assert output.strip() == b"bookworm"
    finally:
        for image in engine.images.list(name=ref.split(":")[0]):
            engine.images.remove(image.id, force=True)


def test_a_base_that_cannot_be_had_is_one_clear_error(engine, monkeypatch):
    """The suite never asks a registry (LABS_NO_PULL, tests/conftest.py): the error says so."""
    monkeypatch.setenv("LABS_NO_PULL", "1")
    steps: list[str] = []
    with pytest.raises(BuildFailed) as caught:
        ensure_base_image(engine, f"labs-test-nowhere/base:{uuid.uuid4().hex[:8]}", steps.append)
    assert "is not present and LABS_NO_PULL forbids pulling it" in caught.value.message
    assert not any("pulling" in step for step in steps), steps


def test_images_are_built_once_and_rebuilt_when_their_context_changes(engine, tmp_path):
    lab = tmp_path / "lab"
    context = lab / "images" / "tiny"
    context.mkdir(parents=True)
    (context / "Dockerfile").write_text("FROM debian:bookworm\nCOPY motd /etc/motd\n")
    (context / "motd").write_text("first\n")
    steps: list[str] = []
    tags = []
    try:
        tags.append(ensure_image(engine, "tiny", steps.append, lab))
        assert any("building" in s for s in steps)
        steps.clear()
        assert ensure_image(engine, "tiny", steps.append, lab) == tags[0]
        assert steps == [], "an unchanged image must not be rebuilt"
        (context / "motd").write_text("second\n")
        tags.append(ensure_image(engine, "tiny", steps.append, lab))
        assert tags[1] != tags[0] and any("building" in s for s in steps)
        assert engine.containers.run(tags[1], ["cat", "/etc/motd"], remove=True) == b"second\n"
        labels = engine.images.get(tags[1]).labels
        assert labels["io.labs.managed"] == "true" and labels["io.labs.context"] == tags[1].split(":")[1]
    finally:
        for tag in tags:
            engine.images.remove(tag, force=True)


def test_an_allow_list_dockerignore_hashes_what_the_build_sees_and_rebuilds_on_change(engine, tmp_path):
    """`*` then `!app.py` (Docker's allow-list form): app.py counts, everything else does not."""
    from orchestrator.engine.images import context_files, context_hash

    lab = tmp_path / "lab"
    context = lab / "images" / "allow"
    (context / "notes").mkdir(parents=True)
    (context / "Dockerfile").write_text("FROM debian:bookworm\nCOPY app.py /app.py\n")
    (context / ".dockerignore").write_text("# only the app\n*\n!app.py\n")
    (context / "app.py").write_text("print('first')\n")
    (context / "notes" / "todo.txt").write_text("ignored\n")
    assert context_files(context) == [".dockerignore", "Dockerfile", "app.py"]
    before = context_hash(context)
    (context / "notes" / "todo.txt").write_text("still ignored\n")
    assert context_hash(context) == before, "a file the build never sees must not change the tag"
    steps: list[str] = []
    tags = []
    try:
        tags.append(ensure_image(engine, "allow", steps.append, lab))
        (context / "app.py").write_text("print('second')\n")
        steps.clear()
        tags.append(ensure_image(engine, "allow", steps.append, lab))
        assert tags[1] != tags[0] and any("building" in s for s in steps), "an edited app.py must give a rebuild"
        assert engine.containers.run(tags[1], ["cat", "/app.py"], remove=True) == b"print('second')\n"
    finally:
        for tag in tags:
            engine.images.remove(tag, force=True)
