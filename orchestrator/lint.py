"""Static checks of a lab folder, without Docker: every problem at once, each with its file and line.

``labs lint`` runs this alone; ``labs validate`` runs it as its first phase. It checks
what ``spec.load_lab`` checks (reporting every error, not just the first, with the
line of lab.yaml it comes from), and then what only shows at run time otherwise:

- the images the services name exist under images/;
- ``${name}`` in env and ``values["name"]`` in the deploys and checks name declared values;
- break.py, solution.py and the suite compile;
- the suite has at least one objective, every fixture its tests ask for exists, and every
  module it imports is installed — all read from the source with ``ast``: lint never imports
  or runs a lab's code (CI lints untrusted pull requests), nor a conftest.py;
- every file is a regular UTF-8 file inside the lab folder, no symlink leads out of it, and
  lab.yaml is no YAML bomb;
- every known wrong fix in ``shortcuts/*.py`` compiles, says in its docstring what it fakes,
  and uses only declared values (read with ``ast``: lint never imports a lab's code for it);
- warnings: an objective without a docstring (the learner would read its function
  name), a ``server.shell`` in solution.py without ``_if=`` (it runs every time, so the
  solution is not idempotent).

Nothing here prints or touches the engine.
"""

from __future__ import annotations

import ast
import difflib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from orchestrator.labfiles import UnsafeLabFile, check_tree, confined, load_yaml, read_text
from orchestrator.objectives import PYTEST_FIXTURES, objective_title, static_fixtures, static_tests
from typing import Any

ERROR = "error"
WARNING = "warning"

# The files a lab names, with their defaults (yaml field -> default).
FILE_FIELDS = {
    "briefing": "briefing.md",
    "break": "break.py",
    "solution": "solution.py",
    "solution_notes": "SOLUTION.md",
    "suite": "test_objectives.py",
}


@dataclass
class Problem:
    severity: str  # error or warning
    file: str
    message: str
    line: int | None = None
    field: str | None = None  # a dotted path into lab.yaml, e.g. services.web.ports.0
    fix: str | None = None

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def __str__(self) -> str:
        text = f"{self.where()}: {self.severity}: "
        if self.field:
            text += f"{self.field}: "
        return text + self.message


@dataclass
class Objective:
    name: str
    title: str
    line: int | None = None


SHORTCUTS_DIR = "shortcuts"


@dataclass
class Shortcut:
    """A known wrong fix shipped with a lab: ``shortcuts/<name>.py``, a pyinfra deploy."""

    name: str
    path: Path
    doc: str  # its docstring: what it fakes ("" when missing: a lint error)

    @property
    def summary(self) -> str:
        return self.doc.strip().splitlines()[0].strip() if self.doc.strip() else self.name


def shortcut_files(folder: Path) -> list[Path]:
    """The shortcut deploys of a lab folder, by name (files starting with ``_`` are helpers)."""
    where = Path(folder) / SHORTCUTS_DIR
    if not where.is_dir():
        return []
    return sorted(p for p in where.glob("*.py") if not p.name.startswith("_"))


def read_shortcuts(folder: Path) -> list[Shortcut]:
    """Each shortcut with its docstring, read statically (the file is parsed, never run)."""
    found = []
    for path in shortcut_files(folder):
        try:
            doc = ast.get_docstring(ast.parse(read_text(path))) or ""
        except (SyntaxError, ValueError, RecursionError):  # UnsafeLabFile is a ValueError
            doc = ""
        found.append(Shortcut(path.stem, path, doc))
    return found


@dataclass
class LintResult:
    folder: Path
    lab_id: str  # the spec's id when readable, else the folder's name
    problems: list[Problem] = field(default_factory=list)
    objectives: list[Objective] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    shortcuts: list[str] = field(default_factory=list)  # names of shortcuts/*.py

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict:
        return {
            "lab": self.lab_id,
            "folder": str(self.folder),
            "ok": self.ok,
            "problems": [asdict(p) for p in self.problems],
            "objectives": [asdict(o) for o in self.objectives],
            "shortcuts": list(self.shortcuts),
        }


# --------------------------------------------------------------------------- schema


def json_schema() -> dict:
    """The JSON Schema of lab.yaml, generated from ``orchestrator.spec.Lab``.

    The internal ``folder`` field is left out, and ports accept the short forms the
    loader accepts (``"8080:80"``, ``"80"``, ``80``) as well as the mapping.
    """
    from orchestrator.spec import Lab

    schema = Lab.model_json_schema(by_alias=True)
    schema["properties"].pop("folder", None)
    if "required" in schema:
        schema["required"] = [name for name in schema["required"] if name != "folder"]
    port = schema.get("$defs", {}).get("Port")
    if port is not None:
        schema["$defs"]["Port"] = {
            "description": port.get("description", ""),
            "anyOf": [
                {k: v for k, v in port.items() if k != "description"},
                {"type": "string", "pattern": r"^(\d+:)?\d+$", "description": "HOST:CONTAINER, or CONTAINER alone (any free host port)"},
                {"type": "integer", "minimum": 1, "maximum": 65535, "description": "a container port (any free host port)"},
            ],
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": "Generated by `labs schema` from orchestrator/spec.py; do not edit by hand.",
        **schema,
        "title": "labs lab.yaml",
    }


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- YAML positions


def _line_of(node) -> int:
    return node.start_mark.line + 1


def _locate(root, loc: tuple) -> int | None:
    """The line in lab.yaml of a pydantic error location, as deep as the YAML goes."""
    import yaml

    if root is None:
        return None
    node, line = root, _line_of(root)
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            if part == "[key]":
                return line
            match = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None)
            if match is None:
                continue  # a pydantic-internal part (a validator or union tag): skip it
            line = _line_of(match[0])
            node = match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = _line_of(node)
        else:
            continue
    return line


def _key_line(root, *path: str) -> int | None:
    """The line of a key in lab.yaml (None when it is absent)."""
    import yaml

    node = root
    line = None
    for part in path:
        if not isinstance(node, yaml.MappingNode):
            return None
        match = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None)
        if match is None:
            return None
        line, node = _line_of(match[0]), match[1]
    return line


def _duplicate_keys(node, path: str = ""):
    """(line, dotted path) of every key that appears twice in one mapping."""
    import yaml

    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            here = f"{path}.{name}" if path else name
            if name in seen:
                yield _line_of(key), here
            seen.add(name)
            yield from _duplicate_keys(value, here)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(item, f"{path}.{index}")


def _known_fields(loc: tuple) -> list[str]:
    """The field names allowed at the mapping that holds ``loc``'s last part."""
    from orchestrator.spec import Lab, Limits, Port, Readiness, Service

    def names(model) -> list[str]:
        return [info.alias or name for name, info in model.model_fields.items() if name != "folder"]

    parents = [p for p in loc[:-1] if not (isinstance(p, str) and p.startswith("function-"))]
    if not parents:
        return names(Lab)
    if parents[0] == "services" and len(parents) >= 2:
        if len(parents) == 2:
            return names(Service)
        sub = parents[2]
        return names({"readiness": Readiness, "limits": Limits, "ports": Port}.get(sub, Service))
    return []


def _describe(error: dict) -> tuple[str, str | None]:
    """A pydantic error as (message, fix)."""
    kind = error["type"]
    loc = error["loc"]
    message = error["msg"].removeprefix("Value error, ")
    given = error.get("input")
    if kind == "missing":
        return "required field is missing", "see `labs schema` or docs/authoring.md for what it holds"
    if kind == "extra_forbidden":
        name = str(loc[-1])
        close = difflib.get_close_matches(name, _known_fields(loc), n=1, cutoff=0.6)
        fix = f"did you mean {close[0]!r}?" if close else "remove it; see `labs schema` for the fields"
        return f"unknown field {name!r}", fix
    if kind == "string_pattern_mismatch" and loc and loc[-1] in ("id", "image"):
        return f"{given!r} is not a valid name", "use lowercase letters, digits and single dashes, starting with a letter (e.g. my-lab)"
    if kind == "string_pattern_mismatch" and loc and loc[-1] == "[key]":
        return f"{given!r} is not a valid name", "use lowercase letters, digits and single dashes (values: lowercase letters, digits, underscores)"
    if given is not None and not isinstance(given, dict | list) and kind not in ("value_error",):
        message = f"{message} (got {given!r})"
    return message, None


def _field_path(loc: tuple) -> str:
    parts = [str(p) for p in loc if not (isinstance(p, str) and (p.startswith("function-") or p == "[key]"))]
    return ".".join(parts) or "(top level)"


# --------------------------------------------------------------------------- Python files


def _compile(path: Path, problems: list[Problem], label: str) -> ast.Module | None:
    try:
        source = read_text(path)
    except UnsafeLabFile as err:
        problems.append(Problem(ERROR, str(path), f"{label} {err}", fix="a lab file must be a regular UTF-8 text file inside the lab folder"))
        return None
    try:
        return ast.parse(source, filename=str(path))
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        problems.append(Problem(ERROR, str(path), f"{label} does not compile: {getattr(err, 'msg', None) or err}", line=getattr(err, "lineno", None), fix="fix the Python syntax"))
        return None


def _values_used(tree: ast.Module):
    """(line, name) of every ``<something>.values["name"]`` (host.data.values, lab.values)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "values":
            key = node.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                yield node.lineno, key.value


def _unguarded_shells(tree: ast.Module):
    """Lines of ``server.shell(...)`` calls without ``_if=``."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("shell", "script")
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "server"
            and not any(k.arg == "_if" for k in node.keywords)
        ):
            yield node.lineno


# --------------------------------------------------------------------------- the linter


def lint_folder(folder: Path) -> LintResult:
    """Every problem of one lab folder, read statically (nothing of the lab is imported or run)."""
    import yaml

    from orchestrator.labfiles import MAX_SPEC_BYTES

    folder = Path(folder)
    result = LintResult(folder=folder, lab_id=folder.name)
    problems = result.problems
    lab_yaml = folder / "lab.yaml"
    spec_file = str(lab_yaml)
    if not lab_yaml.is_file():
        problems.append(Problem(ERROR, str(folder), "no lab.yaml in this folder", fix="every lab folder needs a lab.yaml (see `labs new`)"))
        return result
    try:
        check_tree(folder)
    except UnsafeLabFile as err:
        problems.append(Problem(ERROR, str(folder), str(err), fix="a lab folder may hold only regular files, folders, and symlinks that stay inside it"))
        return result
    try:
        root, raw = load_yaml(read_text(lab_yaml, MAX_SPEC_BYTES))
    except UnsafeLabFile as err:
        problems.append(Problem(ERROR, spec_file, str(err), fix="a lab.yaml is a short, plain YAML spec; keep long text in briefing.md"))
        return result
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        problems.append(Problem(ERROR, spec_file, f"invalid YAML: {problem}", line=mark.line + 1 if mark else None, fix="fix the YAML syntax (indentation, quotes, colons)"))
        return result
    if not isinstance(raw, dict):
        problems.append(Problem(ERROR, spec_file, f"expected a mapping of fields (id, title, services, ...), got {type(raw).__name__}", line=1, fix="see `labs new` for an example"))
        return result
    for line, path in _duplicate_keys(root):
        problems.append(Problem(ERROR, spec_file, "this key appears twice in the same mapping (the last one silently wins)", line=line, field=path, fix="remove one of them"))

    lab = _validate_model(raw, root, folder, spec_file, problems)
    if lab is not None:
        result.lab_id = lab.id
        result.images = sorted({s.image for s in lab.services.values()})
        if lab.id != folder.name:
            problems.append(Problem(ERROR, spec_file, f"{lab.id!r} does not match the folder name {folder.name!r}", line=_key_line(root, "id"), field="id", fix=f"rename the folder or set id: {folder.name}"))
        if not any(h.strip() for h in lab.hints):
            problems.append(Problem(ERROR, spec_file, "every hint is empty", line=_key_line(root, "hints"), field="hints", fix="write at least one hint, from a gentle nudge to nearly the answer"))
    values = raw.get("values") if isinstance(raw.get("values"), dict) else {}
    declared = {"nonce", *map(str, values)}
    _check_images(raw, root, folder, spec_file, problems)
    _check_env_values(raw, declared, root, spec_file, problems)

    files = _check_files(raw, root, folder, spec_file, problems)
    trees: dict[str, ast.Module] = {}
    for name in ("break", "solution", "suite"):
        if name in files:
            tree = _compile(files[name], problems, f"{name} ({files[name].name})")
            if tree is not None:
                trees[name] = tree
    for name, tree in trees.items():
        for line, value in _values_used(tree):
            if value not in declared:
                problems.append(Problem(ERROR, str(files[name]), f"uses the value {value!r}, which lab.yaml does not declare (declared: {', '.join(sorted(declared))})", line=line, fix=f"add `{value}: 16` under values: in lab.yaml, or fix the name"))
    if "solution" in trees:
        for line in _unguarded_shells(trees["solution"]):
            problems.append(Problem(
                WARNING, str(files["solution"]), "server.shell without _if= runs on every apply, so the solution is not idempotent (the idempotence phase of `labs validate` will fail)",
                line=line, fix="guard it: `_if=any_changed(op1, op2)` with the operations whose change needs it",
            ))
    problems.extend(_scaffold_leftovers(files, str(raw.get("id", folder.name))))
    result.shortcuts = _check_shortcuts(folder, declared, problems)
    for name in ("briefing", "solution_notes"):
        if name in files:
            try:
                text = read_text(files[name])
            except UnsafeLabFile as err:
                problems.append(Problem(ERROR, str(files[name]), f"{name} {err}", fix="a lab file must be a regular UTF-8 text file inside the lab folder"))
                continue
            if name == "briefing" and not text.strip():
                problems.append(Problem(ERROR, str(files[name]), "the briefing is empty", fix="write the incident ticket the learner starts from"))
    if "suite" in trees:
        _check_suite(files["suite"], trees["suite"], folder, result)
    return result


def _validate_model(raw: dict, root, folder: Path, spec_file: str, problems: list[Problem]):
    from pydantic import ValidationError

    from orchestrator.spec import Lab

    try:
        return Lab.model_validate({**raw, "folder": folder.resolve()})
    except ValidationError as err:
        for error in err.errors():
            loc = tuple(error["loc"])
            message, fix = _describe(error)
            field_name = _field_path(loc)
            if not loc:  # a whole-model rule: name the field it is about
                if "main service" in message:
                    loc, field_name = ("main",), "main"
                elif message.startswith("value "):
                    loc, field_name = ("values",), "values"
                else:
                    from orchestrator.spec import error_field

                    field_name, message = error_field(error)
                    loc = (field_name,)
            problems.append(Problem(ERROR, spec_file, message, line=_locate(root, loc), field=field_name, fix=fix))
        return None


def _check_files(raw: dict, root, folder: Path, spec_file: str, problems: list[Problem]) -> dict[str, Path]:
    """Check each file field (from the raw YAML, so this works even when the spec is invalid)."""
    found: dict[str, Path] = {}
    for key, default in FILE_FIELDS.items():
        # A build lab's preparing deploy is `setup` (setup.py); it plays break's part here.
        name, default = ("setup", "setup.py") if key == "break" and raw.get("kind") == "build" else (key, default)
        value = raw.get(name, default)
        if value is None and name == "solution_notes":
            continue
        if not isinstance(value, str) or not value:
            continue  # the model check reports the type
        line = _key_line(root, name)
        try:
            confined(folder, value)
        except UnsafeLabFile as err:
            problems.append(Problem(ERROR, spec_file, str(err), line=line, field=name, fix="use a path relative to the lab folder, without '..'"))
            continue
        if not (folder / value).exists():
            if name == "solution_notes":
                problems.append(Problem(WARNING, spec_file, f"no {value} in the folder: learners get no explanation after the lab", line=line, field=name, fix=f"write {folder / value}, or set solution_notes: null"))
                continue
            where = "" if line else f" (the default for {name})"
            problems.append(Problem(ERROR, spec_file, f"file {value!r}{where} does not exist in {folder}", line=line, field=name, fix=f"create {folder / value} or change the {name} field"))
            continue
        found[key] = folder / value
    return found


def _scaffold_leftovers(files: dict[str, Path], lab_id: str) -> list[Problem]:
    """Warn when a lab's briefing or SOLUTION.md is still the text `labs new` wrote."""
    from orchestrator.scaffold import PLACEHOLDER, TEMPLATES

    problems = []
    for name, label in (("briefing", "briefing.md"), ("solution_notes", "SOLUTION.md")):
        if name not in files:
            continue
        try:
            text = read_text(files[name]).strip()
        except UnsafeLabFile:
            continue  # reported where the file is read
        for template in TEMPLATES.values():
            scaffold = template / label
            if scaffold.is_file() and text == scaffold.read_text(encoding="utf-8").replace(PLACEHOLDER, lab_id).strip():
                problems.append(Problem(WARNING, str(files[name]), f"{label} is still the text `labs new` wrote", fix=f"write this lab's own {label}"))
                break
    return problems


def _raw_services(raw: dict) -> dict[str, dict]:
    services = raw.get("services")
    if not isinstance(services, dict):
        return {}
    return {str(name): svc for name, svc in services.items() if isinstance(svc, dict)}


def _check_images(raw: dict, root, folder: Path, spec_file: str, problems: list[Problem]) -> None:
    """Each service's image is the lab's own images/<name>/ or a shared one in images/."""
    from orchestrator.errors import NotFound
    from orchestrator.engine.images import image_context
    from orchestrator.paths import images_dir

    shared = images_dir()
    available = set()
    for base in (folder / "images", shared):
        if base.is_dir():
            available.update(p.name for p in base.iterdir() if (p / "Dockerfile").is_file())
    for name, service in _raw_services(raw).items():
        image = service.get("image")
        if not isinstance(image, str):
            continue
        try:
            image_context(image, folder)
        except NotFound:
            close = difflib.get_close_matches(image, sorted(available), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(Problem(
                ERROR, spec_file, f"no image {image!r} in {folder / 'images'} or {shared}", line=_key_line(root, "services", name, "image"),
                field=f"services.{name}.image", fix=f"{hint}available: {', '.join(sorted(available)) or 'none'}; or add images/{image}/Dockerfile to the lab folder",
            ))


def _check_env_values(raw: dict, declared: set[str], root, spec_file: str, problems: list[Problem]) -> None:
    from orchestrator.spec import undeclared_values

    for name, service in _raw_services(raw).items():
        env = service.get("env")
        if not isinstance(env, dict):
            continue
        for var, text in env.items():
            if not isinstance(text, str):
                continue
            for used in undeclared_values(text, declared):
                problems.append(Problem(
                    ERROR, spec_file, f"${{{used}}} is not a declared value (declared: {', '.join(sorted(declared))}); it would reach the container as written",
                    line=_key_line(root, "services", name, "env", str(var)), field=f"services.{name}.env.{var}", fix=f"declare it under values: (e.g. `{used}: 16`), or write $$ for a literal $",
                ))


def _missing_imports(tree: ast.Module):
    """(line, module) of each import whose top-level module is not installed (found, not imported)."""
    import importlib.util

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            try:
                found = importlib.util.find_spec(top) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                yield node.lineno, top


def _known_fixtures(suite_tree: ast.Module, folder: Path) -> set[str]:
    """Fixtures a test may ask for: pytest's own, the checks plugin's, the suite's, and those of any
    conftest.py in the lab folder — every one read from source, none imported."""
    import importlib.util

    plugin = importlib.util.find_spec("checks.plugin").origin  # the project's own plugin, read not run
    known = set(PYTEST_FIXTURES) | static_fixtures(ast.parse(Path(plugin).read_text(encoding="utf-8")))
    known |= static_fixtures(suite_tree)
    for conftest in Path(folder).rglob("conftest.py"):
        try:
            known |= static_fixtures(ast.parse(read_text(conftest)))
        except (UnsafeLabFile, SyntaxError, ValueError, RecursionError):
            continue
    return known


def _check_shortcuts(folder: Path, declared: set[str], problems: list[Problem]) -> list[str]:
    """shortcuts/: known wrong fixes that `labs validate` applies and the checks must reject.
    Statically: each compiles, has a docstring saying what it fakes, stays inside the folder,
    and uses declared values only."""
    where = folder / SHORTCUTS_DIR
    if not where.exists():
        return []
    if not where.is_dir() or where.is_symlink():
        problems.append(Problem(ERROR, str(where), "shortcuts must be a folder inside the lab", fix="make shortcuts/ a plain folder of pyinfra deploys"))
        return []
    for path in sorted(where.iterdir()):
        if path.name == "__pycache__" or path.name.startswith("."):
            continue
        if path.is_symlink():
            problems.append(Problem(ERROR, str(path), "a symlink in shortcuts/: every shortcut must be a file of the lab itself", fix="copy the file in instead of linking it"))
        elif path.suffix != ".py" or not path.is_file():
            problems.append(Problem(WARNING, str(path), "not a .py file: `labs validate` ignores it", fix="shortcuts are pyinfra deploys named <what-it-fakes>.py"))
    names = []
    for path in shortcut_files(folder):
        if path.is_symlink():
            continue
        names.append(path.stem)
        tree = _compile(path, problems, f"shortcut {path.name}")
        if tree is None:
            continue
        if not (ast.get_docstring(tree) or "").strip():
            problems.append(Problem(ERROR, str(path), "the shortcut has no docstring", line=1, fix="start it with a docstring saying which wrong fix it applies and what it fakes"))
        for line, value in _values_used(tree):
            if value not in declared:
                problems.append(Problem(ERROR, str(path), f"uses the value {value!r}, which lab.yaml does not declare (declared: {', '.join(sorted(declared))})", line=line, fix=f"add `{value}: 16` under values: in lab.yaml, or fix the name"))
    if not names and not any(p.is_symlink() for p in where.glob("*.py")):
        problems.append(Problem(WARNING, str(where), "shortcuts/ holds no shortcut (<name>.py)", fix="add known wrong fixes the checks must reject, or remove the folder"))
    return names


def _check_suite(suite: Path, tree: ast.Module, folder: Path, result: LintResult) -> None:
    problems = result.problems
    for line, module in _missing_imports(tree):
        problems.append(Problem(ERROR, str(suite), f"the suite does not load: No module named {module!r}", line=line, fix="import only the checks helpers, pytest and the standard library (or what the project installs)"))
    tests = static_tests(tree)
    known = _known_fixtures(tree, folder)
    for test in tests:
        title = objective_title(test.name, test.doc)
        result.objectives.append(Objective(test.name, title, test.line))
        for name in test.fixtures:
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=1)
                hint = f"did you mean {close[0]!r}?" if close else "the checks plugin provides `lab`"
                problems.append(Problem(ERROR, str(suite), f"{test.name} asks for fixture {name!r}, which does not exist", line=test.line, fix=hint))
        if not (test.doc and test.doc.strip()):
            problems.append(Problem(WARNING, str(suite), f"objective {test.name} has no docstring: learners will read {title!r}", line=test.line, fix="start the test with a one-line docstring saying what must be true"))
    if not tests:
        problems.append(Problem(ERROR, str(suite), "the suite collects no objectives (no test_ functions)", fix="add one test_ function per objective"))


def as_dicts(results: list[LintResult]) -> list[dict[str, Any]]:
    return [r.to_dict() for r in results]
