"""The ``--json`` output of every command: one versioned shape each, as pydantic models.

Every command prints one JSON object whose ``schema`` key names the shape and its
version (``labs.<command>/<version>``); the same thing has the same key in every
shape (``lab`` is a lab id, ``instance`` an instance name, ``key`` the instance
key ``lab.instance``). A change that removes or renames a key bumps the version.
docs/json.md holds the JSON Schema of each (``python -m orchestrator.outputs``
regenerates it; a test keeps it current).
"""

from __future__ import annotations

import json
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

VERSION = 1


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    def dump(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)


def _schema(command: str) -> Any:
    name = f"labs.{command}/{VERSION}"
    return Field(default=name, alias="schema", description=f"always {name!r}", json_schema_extra={"const": name})


class LabRow(_Out):
    lab: str
    title: str
    summary: str = ""
    kind: str = ""
    difficulty: str
    minutes: int | str
    tags: list[str] = []
    folder: str
    running: Optional[bool] = Field(description="null when the engine could not be asked")
    problem: Optional[str] = None


class ListOutput(_Out):
    schema_: str = _schema("list")
    labs: list[LabRow]


class InfoOutput(_Out):
    schema_: str = _schema("info")
    lab: str
    title: str
    difficulty: str
    minutes: int
    folder: str
    briefing: str
    hints: int = Field(description="how many hints there are")
    spec: dict[str, Any] = Field(description="lab.yaml as loaded (see `labs schema`), hints left out")


class InstanceState(_Out):
    lab: str
    instance: str
    key: str
    state: Literal["running", "incomplete", "degraded", "stopped"]
    services: dict[str, str] = Field(description="service -> container state (running, exited, missing, ...)")
    containers: dict[str, str] = Field(description="service -> container name")
    ports: dict[str, list[str]] = Field(description="service -> published ports as ADDRESS:HOST->CONTAINER")
    folder: str = Field(description="the lab folder the instance was started from")


class StartOutput(InstanceState):
    schema_: str = _schema("start")
    already_running: bool
    resumed: bool
    briefing: str = Field(description="the briefing rendered for this instance (its addresses and commands)")


class ResetOutput(InstanceState):
    schema_: str = _schema("reset")


class StatusOutput(_Out):
    schema_: str = _schema("status")
    instances: list[InstanceState]


class Objective(_Out):
    id: str
    title: str
    passed: bool
    outcome: Literal["passed", "failed", "error", "skipped"]
    message: str
    seconds: float
    stage: Optional[str] = Field(default=None, description="the stage it belongs to, for labs with stages")
    discovery: bool = Field(default=False, description="a search objective: its failure says that something remains, not where")


class Stage(_Out):
    id: str
    title: str
    passed: int
    total: int


class CheckOutput(_Out):
    schema_: str = _schema("check")
    lab: str
    instance: str
    key: str
    passed: bool
    seconds: float
    objectives: list[Objective]
    stages: list[Stage] = []
    current_stage: Optional[str] = Field(default=None, description="the first stage with an objective still failing")


class HintOutput(_Out):
    schema_: str = _schema("hint")
    lab: str
    instance: str
    hint: int
    of: int
    text: str
    last: bool
    stage: Optional[str] = None


class SolveOutput(_Out):
    schema_: str = _schema("solve")
    lab: str
    instance: str
    operations: int
    changed: int
    per_service: dict[str, Any]


class StopOutput(_Out):
    schema_: str = _schema("stop")
    stopped: list[str] = Field(description="instance keys that were removed")
    removed: int = Field(description="containers, networks and volumes removed")


class Finding(_Out):
    check: str
    ok: bool
    detail: str
    fix: str


class DoctorOutput(_Out):
    schema_: str = _schema("doctor")
    ok: bool
    findings: list[Finding]


class ImagesOutput(_Out):
    schema_: str = _schema("images")
    action: Literal["prepare", "save", "load", "prune"]
    images: list[str] = Field(description="image tags built, saved, loaded or removed")
    file: Optional[str] = None


class ValidateOutput(_Out):
    model_config = ConfigDict(populate_by_name=True, extra="allow")
    schema_: str = _schema("validate")
    ok: bool
    jobs: int
    seconds: float
    labs: list[dict[str, Any]] = Field(description="per lab: lab, folder, instance, ok, kept, seconds, phases")


class LintOutput(_Out):
    schema_: str = _schema("lint")
    ok: bool
    labs: list[dict[str, Any]] = Field(description="per lab: lab, folder, ok, problems, objectives")


class ClusterNode(_Out):
    id: str
    hostname: str
    role: str = Field(description="manager or worker")
    state: str = Field(description="the swarm's view: ready, down, unknown, disconnected")
    availability: str = Field(description="active, pause or drain")
    address: str = Field(description="the node's swarm address")
    endpoint: Optional[str] = Field(description="its engine endpoint (node label io.labs.engine); null on the manager labs runs beside")
    reachable: bool = Field(description="its engine answered labs over TLS within the deadline")
    problem: Optional[str] = Field(description="why it is not reachable")
    cpus: float
    memory_bytes: int
    reserved_cpus: float = Field(description="reserved by labs tasks placed on it")
    reserved_memory_bytes: int = Field(description="reserved by labs tasks placed on it")
    free_cpus: float
    free_memory_bytes: int
    labs_tasks: int
    this_node: bool = Field(description="the engine labs talks to")


class ClusterSeats(_Out):
    lab: str
    memory_bytes: int = Field(description="what one seat reserves: its services' memory limits")
    seats: int = Field(description="seats that fit now on ready, active, reachable nodes (a whole seat per node)")
    per_node: dict[str, int] = Field(description="node id -> seats that fit there")


class ClusterStatusOutput(_Out):
    schema_: str = _schema("cluster-status")
    swarm: str = Field(description="this engine's swarm state: inactive, pending, active, error, locked")
    node_id: str
    manager: bool
    nodes: list[ClusterNode]
    labs: list[ClusterSeats]
    ca: Optional[str] = Field(description="the cluster CA file, null when there is none")
    detail: str


class ClusterInitOutput(_Out):
    schema_: str = _schema("cluster-init")
    folder: str = Field(description="the cluster folder: ca.pem, ca-key.pem, cert.pem, key.pem, nodes/")
    ca_created: bool
    node_certs: dict[str, str] = Field(description="node host -> folder of its engine's TLS files")
    swarm: str
    manager_address: Optional[str]
    worker_token: Optional[str]
    daemon_json: dict[str, Any] = Field(description="dockerd settings serving a node's engine with TLS on 2376")
    steps: list[str] = Field(description="what each node needs, in order")


class ClusterJoinOutput(_Out):
    schema_: str = _schema("cluster-join")
    node: str
    hostname: str
    endpoint: str


class ErrorOutput(_Out):
    schema_: str = _schema("error")
    error: str
    fix: Optional[str]
    exit_code: int


SHAPES: dict[str, type[_Out]] = {
    "labs list": ListOutput,
    "labs info": InfoOutput,
    "labs start": StartOutput,
    "labs status": StatusOutput,
    "labs check": CheckOutput,
    "labs hint": HintOutput,
    "labs solve": SolveOutput,
    "labs reset": ResetOutput,
    "labs stop": StopOutput,
    "labs doctor": DoctorOutput,
    "labs prepare, labs images save/load/prune": ImagesOutput,
    "labs validate": ValidateOutput,
    "labs lint": LintOutput,
    "labs cluster status": ClusterStatusOutput,
    "labs cluster init": ClusterInitOutput,
    "labs cluster join": ClusterJoinOutput,
    "any command that fails": ErrorOutput,
}


def json_docs() -> str:
    """docs/json.md: every command's shape as a JSON Schema."""
    parts = [
        "# JSON output (`--json`)\n",
        "Every command given `--json` prints one JSON object on stdout (progress and messages go to",
        "stderr). Its `schema` key names the shape and its version, `labs.<command>/<version>`; a",
        "change that removes or renames a key bumps the version, new keys may appear within one.",
        "The same thing has the same key everywhere: `lab` (a lab id), `instance` (an instance name,",
        "`default` for the unnamed one), `key` (the instance key, `lab` or `lab.instance`).",
        "A failing command prints the `labs.error` shape and exits with its documented code.\n",
        "Generated from `orchestrator/outputs.py` by `python -m orchestrator.outputs > docs/json.md`.\n",
    ]
    for command, model in SHAPES.items():
        schema = model.model_json_schema(by_alias=True)
        parts.append(f"## {command}\n\n```json\n{json.dumps(schema, indent=2, sort_keys=True)}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(json_docs(), end="")
