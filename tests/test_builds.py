"""engine/builds.py: a learner's Dockerfile built through the engine, offline, labelled with the
instance, and removed by label. Unit tests of the Dockerfile and context handling, then the real
engine: a failing build is one BuildFailed (exit 7) quoting its last lines, a FROM the lab does
not provide is refused before anything is built or pulled, a RUN sees no network interface but
loopback (and cannot reach a lab-internal address), and `labs stop` leaves no built image or
container behind.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from orchestrator.engine import builds
from orchestrator.errors import BuildFailed, ExitCode


REPO = Path(__file__).resolve().parent.parent
LAB = "containerize-app"
BASE = "labs/appbase:bookworm"


def _context(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_base_images_skip_stage_names_and_flags():
    dockerfile = "FROM --platform=linux/amd64 labs/appbase:bookworm AS build\nRUN true\nfrom build as final\nFROM \\\n  other:1\n"
    assert builds.base_images(dockerfile) == ["labs/appbase:bookworm", "other:1"]


def test_a_base_the_lab_does_not_provide_is_refused():
    with pytest.raises(BuildFailed) as caught:
        builds.check_bases("FROM debian:bookworm\n", {BASE: "x"}, "the Dockerfile")
    assert "debian:bookworm" in caught.value.message and BASE in caught.value.fix
    with pytest.raises(BuildFailed, match="no FROM"):
        builds.check_bases("RUN true\n", {BASE: "x"}, "the Dockerfile")


# --------------------------------------------------------------------------- the real engine

@pytest.fixture
def instance(engine, lab_instance, instance_name):
    from orchestrator.engine.images import ensure_image
    from orchestrator.engine.instances import get_instance

    started = lab_instance(LAB)
    assert started.returncode == 0, started.stdout + started.stderr
    base = ensure_image(engine, "appbase", lab_folder=REPO / "labs" / LAB)
    return get_instance(engine, LAB, instance_name), base


@pytest.mark.docker
def test_context_is_read_from_the_workspace_through_the_engine(instance):
    inst, _ = instance
    context = builds.context_from_container(inst.containers["workstation"], "/workspace")
    with tarfile.open(fileobj=io.BytesIO(context)) as tar:
        names = set(tar.getnames())
    assert {"app.py", "README"} <= names
    with pytest.raises(BuildFailed, match="no /nowhere"):
        builds.context_from_container(inst.containers["workstation"], "/nowhere")


@pytest.mark.docker
def test_a_failing_build_quotes_its_last_lines(instance):
    inst, base = instance
    context = _context({"Dockerfile": f"FROM {BASE}\nRUN echo first-step-marker-7f3a && echo about to fail && exit 3\n"})
    with pytest.raises(BuildFailed) as caught:
        builds.build_image(inst, context, bases={BASE: base})
    assert caught.value.code == ExitCode.BUILD == 7
    assert "first-step-marker-7f3a" in caught.value.message and "returned a non-zero code: 3" in caught.value.message


@pytest.mark.docker
def test_a_run_step_has_no_network(engine, instance):
    inst, base = instance
    workstation = inst.containers["workstation"]
    workstation.reload()
    address = next(iter(workstation.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
    assert address
    script = (
        "import socket\n"
        "print('interfaces', sorted(n for _, n in socket.if_nameindex()))\n"
        "try:\n"
        f"    socket.create_connection(('{address}', 9), timeout=3); print('reached', flush=True)\n"
        "except OSError as err:\n"
        "    print('unreachable', err.errno)\n"
        "try:\n"
        "    socket.getaddrinfo('workstation', 9); print('resolved')\n"
        "except OSError:\n"
        "    print('no-name')\n"
    )
    context = _context({"probe.py": script, "Dockerfile": f"FROM {BASE}\nCOPY probe.py /probe.py\nRUN python3 /probe.py\n"})
    built = builds.build_image(inst, context, bases={BASE: base})
    assert "interfaces ['lo']" in built.output
    assert "unreachable" in built.output and "reached\n" not in built.output + "\n"
    assert "no-name" in built.output


@pytest.mark.docker
def test_built_images_and_their_containers_go_with_labs_stop(engine, labs, instance, instance_name):
    inst, base = instance
    context = _context({"Dockerfile": f"FROM {BASE}\nUSER nobody\nCMD [\"sleep\", \"300\"]\n"})
    built = builds.build_image(inst, context, bases={BASE: base})
    assert built.user == "nobody" and built.size > 0
    running = builds.run_built(inst, built, alias="candidate")
    labels = engine.images.get(built.id).labels
    assert labels[builds.BUILT] == "true" and labels["io.labs.instance"] == inst.key
    # a built container is never taken for a service of the instance
    from orchestrator.engine.instances import get_instance

    assert set(get_instance(engine, LAB, instance_name).containers) == {"workstation"}
    stopped = labs("stop", LAB, "--instance", instance_name)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    selector = {"label": [f"{builds.BUILT}=true", f"io.labs.instance={inst.key}"]}
    assert engine.images.list(all=True, filters=selector) == []
    assert engine.containers.list(all=True, filters=selector) == []
    from docker.errors import NotFound

    with pytest.raises(NotFound):
        engine.containers.get(running.id)
    assert engine.images.get(base)  # the lab's base image stays
