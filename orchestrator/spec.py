"""The lab spec: ``lab.yaml`` as pydantic models, and the loader that checks a lab folder.

A lab is one folder::

    labs/<id>/
        lab.yaml            this spec
        briefing.md         the incident ticket the learner reads
        break.py            pyinfra deploy that breaks the environment
        solution.py         pyinfra deploy that fixes it (the reference solution)
        test_objectives.py  testinfra suite; each test is one objective

``load_lab(folder)`` returns a validated ``Lab`` or raises one ``SpecError``
naming the file, the field and the problem.
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from orchestrator.errors import SpecError
from orchestrator.labfiles import MAX_SPEC_BYTES

ID_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
SERVICE_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
VALUE_PATTERN = r"^[a-z][a-z0-9_]*$"

# Ceilings no lab may exceed, whatever its spec says.
MAX_MEMORY = 2 * 1024**3
MAX_CPUS = 2.0
MAX_PIDS = 2048
# A whole lab (all its services together) must fit a learner's laptop.
MAX_SERVICES = 12
MAX_LAB_MEMORY = 4 * 1024**3

# The capabilities a lab may ask for (cap_add) on top of DEFAULT_CAPS. Everything else (SYS_ADMIN,
# SYS_MODULE, MKNOD, SYS_RAWIO, DAC_READ_SEARCH, BPF, ALL, ...) could reach beyond the container.
DEFAULT_CAPS = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "KILL", "NET_BIND_SERVICE")
ALLOWED_CAPS = frozenset(DEFAULT_CAPS + ("FSETID", "NET_RAW", "NET_ADMIN", "SYS_CHROOT", "SYS_PTRACE", "SYS_NICE", "AUDIT_WRITE", "IPC_LOCK"))

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmg]?)b?$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(text: str | int) -> int:
    """``"256m"`` → bytes. Accepts k, m, g suffixes (binary), or a plain byte count."""
    if isinstance(text, int):
        return text
    match = _SIZE.match(str(text).strip())
    if not match:
        raise ValueError(f"{text!r} is not a size such as 128m or 1g")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.lower()])


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Port(_Model):
    """A container port published on 127.0.0.1 (only ever on the loopback)."""

    container: int = Field(ge=1, le=65535)
    host: int | None = Field(default=None, ge=1, le=65535, description="fixed host port; none picks a free one")

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value):
        # "8080:80" (host:container, as in compose) or "80" (any free host port)
        if isinstance(value, int):
            return {"container": value}
        if isinstance(value, str):
            parts = value.split(":")
            if len(parts) == 1 and parts[0].isdigit():
                return {"container": int(parts[0])}
            if len(parts) == 2 and all(p.isdigit() for p in parts):
                return {"host": int(parts[0]), "container": int(parts[1])}
            raise ValueError(f"{value!r} is not a port such as \"8080:80\" or \"80\"")
        return value


class Limits(_Model):
    """Resource limits applied to the container (defaults suit small labs)."""

    memory: str = "256m"
    cpus: float = Field(default=1.0, gt=0, le=MAX_CPUS)
    pids: int = Field(default=256, ge=16, le=MAX_PIDS)

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        size = parse_size(value)
        if size < 16 * 1024**2:
            raise ValueError(f"memory {value} is below the 16m minimum")
        if size > MAX_MEMORY:
            raise ValueError(f"memory {value} is above the 2g ceiling")
        return value

    @property
    def memory_bytes(self) -> int:
        return parse_size(self.memory)


class Readiness(_Model):
    """How to tell the environment is up: a shell command run inside the container.

    It checks the substrate (the container's init finished), never the service
    the learner must fix, which is broken by design.
    """

    command: str = "test -e /run/labs/ready"
    timeout: float = Field(default=60, gt=0, le=600)


class Service(_Model):
    image: str = Field(pattern=SERVICE_PATTERN, description="a folder under images/")
    ports: list[Port] = []
    env: dict[str, str] = {}
    readiness: Readiness = Readiness()
    limits: Limits = Limits()
    cap_add: list[Annotated[str, Field(pattern=r"^[A-Z_]+$")]] = Field(default=[], description=f"extra capabilities, among: {', '.join(sorted(ALLOWED_CAPS))}")
    command: list[str] | None = None

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        for name, value in env.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"{name!r} is not a valid environment variable name")
            if "\0" in value:
                raise ValueError(f"{name}: the value contains a NUL byte, which no environment variable can hold")
        return env

    @field_validator("command")
    @classmethod
    def _command(cls, command: list[str] | None) -> list[str] | None:
        if command and any("\0" in part for part in command):
            raise ValueError("the command contains a NUL byte")
        return command

    @field_validator("cap_add")
    @classmethod
    def _caps(cls, caps: list[str]) -> list[str]:
        for cap in caps:
            if cap.removeprefix("CAP_") not in ALLOWED_CAPS:
                raise ValueError(f"capability {cap} is not allowed (a lab may add only: {', '.join(sorted(ALLOWED_CAPS))})")
        return caps


class Stage(_Model):
    """An ordered group of objectives (tests marked ``@pytest.mark.stage("<id>")``), with its own hints."""

    id: str = Field(pattern=ID_PATTERN, max_length=40)
    title: str = Field(min_length=3, max_length=100)
    hints: list[str] = []


class Workspace(_Model):
    """A folder of the learner's own in a service (a build lab's workstation): what they write
    there — a deploy, a Dockerfile, a config — is what the checks read and run."""

    service: str = Field(pattern=SERVICE_PATTERN, description="the service that holds the workspace")
    path: str = Field(default="/workspace", pattern=r"^/[A-Za-z0-9._/-]*$", description="absolute path in that service")
    on_reset: Literal["keep", "clear"] = Field(default="keep", description="keep: `labs reset` carries the learner's files into the fresh environment")


class Lab(_Model):
    id: str = Field(pattern=ID_PATTERN, max_length=40)
    title: str = Field(min_length=3, max_length=100)
    summary: str = Field(min_length=3, max_length=400)
    kind: Literal["repair", "build"] = Field(default="repair", description="repair: fix what break.py broke; build: ship what the ticket asks, from what setup.py prepared")
    difficulty: Literal["beginner", "intermediate", "advanced"]
    minutes: int = Field(ge=1, le=600, description="estimated minutes to solve")
    tags: list[str] = []
    main: str | None = Field(default=None, description="the service `labs shell` enters by default")
    services: dict[Annotated[str, Field(pattern=SERVICE_PATTERN, max_length=30)], Service] = Field(min_length=1)
    hints: list[str] = Field(min_length=1)
    values: dict[Annotated[str, Field(pattern=VALUE_PATTERN)], int] = Field(
        default={}, description="per-instance random values: name -> length (nonce is always there)"
    )
    stages: list[Stage] = Field(default=[], description="ordered groups of objectives; `labs check` shows the current one and what is next")
    workspace: Workspace | None = None
    briefing: str = "briefing.md"
    break_: str | None = Field(default=None, alias="break", description="repair labs: the deploy that breaks the environment (default break.py)")
    setup: str | None = Field(default=None, description="build labs: the deploy that prepares the environment (default setup.py)")
    solution: str = "solution.py"
    solution_notes: str | None = "SOLUTION.md"
    suite: str = "test_objectives.py"
    egress: bool = Field(default=False, description="let containers reach networks beyond the lab (off: no internet from inside)")

    # Set by load_lab, not by the YAML.
    folder: Path = Field(default=Path("."), exclude=True)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _main_is_a_service(self):
        if self.main is not None and self.main not in self.services:
            raise ValueError(f"main service {self.main!r} is not one of the services ({', '.join(self.services)})")
        for name, length in self.values.items():
            if not 8 <= length <= 64:
                raise ValueError(f"value {name!r}: length {length} must be between 8 and 64")
        if self.kind == "build" and self.break_ is not None:
            raise ValueError("a build lab prepares its environment with `setup:` (setup.py), not `break:`")
        if self.kind == "repair" and self.setup is not None:
            raise ValueError("a repair lab breaks its environment with `break:` (break.py); `setup:` is for kind: build")
        if self.workspace is not None and self.workspace.service not in self.services:
            raise ValueError(f"workspace.service {self.workspace.service!r} is not one of the services ({', '.join(self.services)})")
        ids = [stage.id for stage in self.stages]
        if len(ids) != len(set(ids)):
            raise ValueError(f"stage ids must be unique (got {', '.join(ids)})")
        return self

    @model_validator(mode="after")
    def _fits_the_limits(self):
        if len(self.services) > MAX_SERVICES:
            raise ValueError(f"services: {len(self.services)} services, more than the {MAX_SERVICES} a lab may have")
        total = sum(s.limits.memory_bytes for s in self.services.values())
        if total > MAX_LAB_MEMORY:
            raise ValueError(f"services: their memory limits add up to {total / 1024**3:.1f} GiB, more than the {MAX_LAB_MEMORY // 1024**3} GiB a lab may use")
        seen: dict[int, str] = {}
        for name, service in self.services.items():
            for port in service.ports:
                if port.host is None:
                    continue
                if port.host in seen:
                    raise ValueError(f"services: host port {port.host} is published by both {seen[port.host]} and {name}")
                seen[port.host] = name
        return self

    @property
    def prepare(self) -> str:
        """The deploy that makes a fresh environment what the learner starts from: break.py for a
        repair lab, setup.py for a build lab (or what the spec names)."""
        if self.kind == "build":
            return self.setup or "setup.py"
        return self.break_ or "break.py"

    def stage_hints(self, stage: str | None) -> list[str]:
        """The hints for a stage (its own, if it has any), else the lab's."""
        for candidate in self.stages:
            if candidate.id == stage and candidate.hints:
                return list(candidate.hints)
        return list(self.hints)

    @property
    def main_service(self) -> str:
        return self.main or next(iter(self.services))

    def path(self, relative: str) -> Path:
        return self.folder / relative

    @property
    def briefing_text(self) -> str:
        from orchestrator.labfiles import confined, read_text

        return read_text(confined(self.folder, self.briefing))


def undeclared_values(text: str, declared: set[str]) -> list[str]:
    """Names used as ``$name`` / ``${name}`` in ``text`` that are not declared values."""
    used = (m.group("named") or m.group("braced") for m in string.Template.pattern.finditer(text))
    return [name for name in used if name and name not in declared]


def _field_path(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("function-after", "function-before")]
    return ".".join(parts) or "(top level)"


def error_field(error: dict) -> tuple[str, str]:
    """(field path, message) of a pydantic error; a whole-lab rule names its field first
    (``"services: ..."``)."""
    message = error["msg"].removeprefix("Value error, ")
    if not error["loc"]:
        match = re.match(r"^([a-z_]+): (.*)$", message, re.DOTALL)
        if match:
            return match.group(1), match.group(2)
    return _field_path(error["loc"]), message


def _read_spec(lab_yaml: Path):
    """The raw data of lab.yaml: a regular file inside the folder, bounded, UTF-8, no YAML bomb."""
    import yaml

    from orchestrator.labfiles import UnsafeLabFile, load_yaml, read_text

    try:
        _, raw = load_yaml(read_text(lab_yaml, MAX_SPEC_BYTES))
    except UnsafeLabFile as err:
        raise SpecError(f"{lab_yaml}: {err}", "a lab.yaml is a short, plain YAML spec (keep long text in briefing.md); see `labs schema`") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SpecError(f"{lab_yaml}:{where}: invalid YAML: {problem}", "fix the YAML syntax (indentation, quotes, colons)") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{lab_yaml}: expected a mapping of fields (id, title, services, ...), got {type(raw).__name__}", "see `labs schema` for the format")
    return raw


def load_lab(folder: Path) -> Lab:
    """Read and validate ``folder/lab.yaml``; every referenced file must be a readable UTF-8 regular
    file inside the folder, and nothing the lab ships may point outside it. Nothing is executed."""
    from orchestrator.labfiles import UnsafeLabFile, check_tree, confined, read_text

    folder = Path(folder)
    lab_yaml = folder / "lab.yaml"
    if not lab_yaml.is_file():
        raise SpecError(f"{folder}: no lab.yaml in this folder", "every lab folder needs a lab.yaml (see `labs new`)")
    try:
        check_tree(folder)
    except UnsafeLabFile as err:
        raise SpecError(f"{folder}: {err}", "a lab folder may hold only regular files, folders, and symlinks that stay inside it") from None
    raw = _read_spec(lab_yaml)
    try:
        lab = Lab.model_validate({**raw, "folder": folder.resolve()})
    except ValidationError as err:
        first = err.errors()[0]
        more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
        where, message = error_field(first)
        raise SpecError(f"{lab_yaml}: {where}: {message}{more}", "see `labs schema` for the format of lab.yaml") from None
    if lab.id != folder.name:
        raise SpecError(f"{lab_yaml}: id: {lab.id!r} does not match the folder name {folder.name!r}", f"rename the folder or set id: {folder.name}")
    declared = {"nonce", *lab.values}
    for name, service in lab.services.items():
        for var, text in service.env.items():
            for used in undeclared_values(text, declared):
                raise SpecError(f"{lab_yaml}: services.{name}.env.{var}: ${{{used}}} is not a declared value (declared: {', '.join(sorted(declared))})", f"declare it under values: (e.g. `{used}: 16`), or write $$ for a literal $")
    files = {"briefing": lab.briefing, "setup" if lab.kind == "build" else "break": lab.prepare, "solution": lab.solution, "suite": lab.suite}
    if lab.solution_notes:
        files["solution_notes"] = lab.solution_notes
    for field, value in files.items():
        try:
            path = confined(folder, value)
        except UnsafeLabFile as err:
            raise SpecError(f"{lab_yaml}: {field}: {err}", "every file a lab names must be a file inside the lab folder") from None
        if not path.exists() and not path.is_symlink():
            if field == "solution_notes" and value == "SOLUTION.md":
                continue  # optional with its default
            raise SpecError(f"{lab_yaml}: {field}: file {value!r} does not exist in {folder}", f"create {folder / value} or change the {field} field")
        try:
            read_text(path)
        except UnsafeLabFile as err:
            raise SpecError(f"{folder / value}: {field} {err}", "a lab file must be a regular UTF-8 text file inside the lab folder") from None
    from orchestrator.errors import NotFound
    from orchestrator.engine.images import image_context

    for name, service in lab.services.items():
        try:
            image_context(service.image, folder)
        except NotFound as err:
            raise SpecError(f"{lab_yaml}: services.{name}.image: {err.message}", err.fix) from None
    return lab
