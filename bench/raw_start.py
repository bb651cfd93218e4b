"""The raw floor of `labs start`: the same lab instance, brought up by the shortest script that can.

Run in a fresh process by ``bench/run.py`` (``python bench/raw_start.py PLAN.json``),
so interpreter start-up and ``import docker`` count on both sides. The plan
(written by run.py, untimed) names the network, the containers with the exact
settings `labs start` gives them (image tags, limits, capabilities, ports,
labels, environment), the readiness probes, and the lab's break as plain file
copies, links and shell commands.

What it does, and nothing else: create the network; create the containers and
start them in parallel; poll each readiness probe in parallel (the same
command, the same 50 ms interval); apply the break with one ``put_archive``
(a tar of the files, directories and links) and one exec per shell command.
No pyinfra, no pydantic, no lab spec parsing, no locks, no port checks.
"""

from __future__ import annotations

import io
import json
import sys
import tarfile
import threading
import time

import docker

POLL_INTERVAL = 0.05


def create(client, plan):
    options = plan.get("network_options") or {}
    network = client.networks.create(plan["network"], driver="bridge", labels=plan["network_labels"],
                                     internal=options.get("internal", False), options=options.get("options") or None)
    containers = {}
    for svc in plan["services"]:
        containers[svc["name"]] = client.containers.create(
            svc["image"],
            command=svc["command"],
            name=svc["container"],
            hostname=svc["name"],
            labels=svc["labels"],
            environment=svc["env"],
            network=network.name,
            networking_config={network.name: client.api.create_endpoint_config(aliases=[svc["name"]])},
            ports={k: tuple(v) for k, v in svc["ports"].items()},
            mem_limit=svc["mem"],
            memswap_limit=svc["mem"],
            nano_cpus=svc["nano_cpus"],
            pids_limit=svc["pids"],
            cap_drop=["ALL"],
            cap_add=svc["caps"],
            security_opt=["no-new-privileges"],
            detach=True,
        )
    return containers


def in_parallel(func, items):
    errors = []

    def run(item):
        try:
            func(item)
        except BaseException as err:  # noqa: BLE001 - re-raised below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def wait_ready(container, command, timeout):
    deadline = time.monotonic() + timeout
    while True:
        code, _ = container.exec_run(["sh", "-c", command])
        if code == 0:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"{container.name}: not ready after {timeout} s ({command})")
        time.sleep(POLL_INTERVAL)


def break_tar(spec) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, mode in spec["dirs"]:
            info = tarfile.TarInfo(path.lstrip("/"))
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, int(mode, 8), int(time.time())
            tar.addfile(info)
        for src, dest, mode in spec["files"]:
            with open(src, "rb") as handle:
                data = handle.read()
            info = tarfile.TarInfo(dest.lstrip("/"))
            info.size, info.mode, info.mtime = len(data), int(mode, 8), int(time.time())
            tar.addfile(info, io.BytesIO(data))
        for path, target in spec["links"]:
            info = tarfile.TarInfo(path.lstrip("/"))
            info.type, info.linkname, info.mtime = tarfile.SYMTYPE, target, int(time.time())
            tar.addfile(info)
    return buf.getvalue()


def apply_break(containers, spec):
    container = containers[spec["service"]]
    if not container.put_archive("/", break_tar(spec)):
        raise SystemExit("put_archive failed")
    for command in spec["shell"]:
        code, output = container.exec_run(["sh", "-c", command])
        if code != 0:
            raise SystemExit(f"break command failed ({code}): {command}: {output!r}")


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        plan = json.load(handle)
    client = docker.from_env(timeout=120)
    containers = create(client, plan)
    in_parallel(lambda c: c.start(), list(containers.values()))
    by_name = {s["name"]: s for s in plan["services"]}
    in_parallel(lambda item: wait_ready(item[1], by_name[item[0]]["ready"], by_name[item[0]]["ready_timeout"]), list(containers.items()))
    for spec in plan["breaks"]:
        apply_break(containers, spec)


if __name__ == "__main__":
    main()
