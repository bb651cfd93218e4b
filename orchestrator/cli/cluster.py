"""``labs cluster init|join|status``: a classroom on a Docker Swarm cluster of several machines.

Registered on the main app by importing this module at the end of ``cli/app.py``; the
work is done by ``orchestrator.engine.cluster`` (docs/classroom-cluster.md walks through it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from orchestrator.cli.app import Json, LabsDir, _warn_search_path, app, handles_errors

cluster_app = typer.Typer(help="A classroom on several machines: a Docker Swarm cluster whose node engines labs reaches over TLS.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(cluster_app, name="cluster")


def _gib(size: int) -> str:
    return f"{size / 1024**3:.1f} GiB"


@cluster_app.command("init")
@handles_errors
def init(
    nodes: Annotated[Optional[list[str]], typer.Option("--node", help="issue an engine certificate for the node reached at this IP or DNS name (repeat for each)", show_default=False)] = None,
    advertise_addr: Annotated[Optional[str], typer.Option("--advertise-addr", help="when this engine is in no swarm: make one, advertised on this address of this machine", show_default=False)] = None,
    as_json: Json = False,
):
    """Make the cluster CA, labs' client certificate and each node engine's certificate; say what a node needs."""
    from orchestrator.cli import render
    from orchestrator.engine.client import connect
    from orchestrator.engine.cluster import init_cluster

    result = init_cluster(connect(), nodes or [], advertise_addr=advertise_addr)
    if as_json:
        from orchestrator.outputs import ClusterInitOutput

        render.print_json(ClusterInitOutput(**vars(result)))
        return
    import json

    render.out.print(f"cluster CA {'created' if result.ca_created else 'kept'} in {render.safe(result.folder)} (keep ca-key.pem on this machine)", soft_wrap=True)
    for host, folder in result.node_certs.items():
        render.out.print(f"  engine certificate for {render.safe(host)}: {render.safe(folder)}", soft_wrap=True)
    render.out.print(f"swarm: {result.swarm}" + (f", workers join {result.manager_address}" if result.manager_address else ""))
    render.out.print("\n[bold]each node needs[/]:")
    for n, step in enumerate(result.steps, 1):
        render.out.print(f"  {n}. {render.safe(step)}", soft_wrap=True)
    render.out.print("\n/etc/docker/daemon.json:")
    render.out.print(render.plain(json.dumps(result.daemon_json, indent=2)))


@cluster_app.command("join")
@handles_errors
def join(
    node: Annotated[str, typer.Argument(help="the swarm node: its id (or a prefix) or hostname, as `docker node ls` shows", show_default=False)],
    endpoint: Annotated[str, typer.Option("--endpoint", help="its engine endpoint, tcp://HOST:2376 (TLS with the cluster CA)", show_default=False)],
    as_json: Json = False,
):
    """On the manager: label a node that joined the swarm with its engine endpoint (after reaching it over TLS)."""
    from orchestrator.cli import render
    from orchestrator.engine.client import connect
    from orchestrator.engine.cluster import join_cluster

    result = join_cluster(connect(), node, endpoint)
    if as_json:
        from orchestrator.outputs import ClusterJoinOutput

        render.print_json(ClusterJoinOutput(**vars(result)))
        return
    render.out.print(f"[green]{render.safe(result.hostname)}[/] ({result.node[:12]}) advertises {render.safe(result.endpoint)}. `labs cluster status` shows the cluster.", soft_wrap=True)


@cluster_app.command("status")
@handles_errors
def status(labs_dir: LabsDir = None, as_json: Json = False):
    """The cluster's nodes (state, engine endpoint, reachable, resources) and how many seats of each lab fit now."""
    from orchestrator.catalog import Catalog
    from orchestrator.cli import render
    from orchestrator.engine.client import connect
    from orchestrator.engine.cluster import cluster_status

    _warn_search_path()
    labs, _ = Catalog.from_env(labs_dir).all()
    state = cluster_status(connect(), labs)
    if as_json:
        from orchestrator.outputs import ClusterStatusOutput

        render.print_json(ClusterStatusOutput(**state.to_dict()))
        return
    if state.swarm != "active" or not state.manager:
        render.out.print(f"{render.safe(state.detail)}. docs/classroom-cluster.md says how to make a cluster.", soft_wrap=True)
        return
    for node in state.nodes:
        mark = "[green]reachable[/]" if node.reachable else f"[red]unreachable[/]: {render.safe(node.problem or '')}"
        where = "this engine" if node.this_node else (render.safe(node.endpoint) if node.endpoint else "no endpoint")
        render.out.print(
            f"{render.safe(node.hostname)} ({node.id[:12]}) {node.role}, {node.state}, {node.availability} · {where} · {mark} · "
            f"{node.cpus:g} CPUs, {_gib(node.memory_bytes)}, {_gib(node.reserved_memory_bytes)} reserved by {node.labs_tasks} labs task(s)",
            soft_wrap=True,
        )
    render.out.print("\n[bold]seats that fit now[/]:")
    for seats in state.labs:
        render.out.print(f"  {seats.lab}: {seats.seats} ({seats.memory_bytes // 1024**2} MiB each)")
    render.out.print(f"[dim]cluster CA: {render.safe(state.ca or 'none (`labs cluster init`)')}[/]", soft_wrap=True)
