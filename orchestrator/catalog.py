"""Finding labs: the shipped ones, plus instructors' folders from ``--labs-dir`` or ``LABS_PATH``.

A search path is a list of folders, each holding lab folders. Earlier folders
win when two hold a lab of the same id, so an instructor can override a
shipped lab by copying it.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING

from orchestrator.errors import NotFound, SpecError, UsageError
from orchestrator.paths import shipped_labs_dir

if TYPE_CHECKING:
    from orchestrator.spec import Lab


def search_path(labs_dir: Path | None = None) -> list[Path]:
    dirs: list[Path] = []
    if labs_dir is not None:
        if not labs_dir.is_dir():
            raise UsageError(f"--labs-dir {labs_dir}: no such folder", "give a folder that holds lab folders")
        dirs.append(labs_dir)
    for entry in os.environ.get("LABS_PATH", "").split(os.pathsep):
        if entry and Path(entry).is_dir():
            dirs.append(Path(entry))
    dirs.append(shipped_labs_dir())
    return dirs


def missing_search_entries() -> list[str]:
    """LABS_PATH entries that are not folders (skipped by the search, reported by the CLI and doctor)."""
    return [entry for entry in os.environ.get("LABS_PATH", "").split(os.pathsep) if entry and not Path(entry).is_dir()]


def lab_of_instance(lab_id: str, folder: str, labs_dir: Path | None = None) -> tuple[Lab, str | None]:
    """The lab an instance was started from: its folder label first (so an instance started with
    ``--labs-dir`` needs no flag afterwards), else the search path. Returns the lab and, when the
    search path alone would have given another folder, a note saying which one was used."""
    from orchestrator.spec import load_lab

    if labs_dir is not None:
        return Catalog.from_env(labs_dir).get(lab_id), None
    catalog = Catalog.from_env()
    searched = catalog.folders().get(lab_id)
    started_from = Path(folder) if folder else None
    if started_from is not None and (started_from / "lab.yaml").is_file():
        lab = load_lab(started_from)
        if lab.id == lab_id:
            note = None
            if searched is not None and searched.resolve() != started_from.resolve():
                note = f"using {lab_id} from {started_from}, where this instance was started (the search path would give {searched})"
            return lab, note
    lab = catalog.get(lab_id)
    note = None
    if started_from is not None and started_from.resolve() != lab.folder.resolve():
        note = f"this instance was started from {started_from}, which no longer holds lab {lab_id}: using {lab.folder} instead"
    return lab, note


@dataclass
class Catalog:
    """The labs visible on a search path, by id; folders are read lazily."""

    dirs: list[Path]

    @classmethod
    def from_env(cls, labs_dir: Path | None = None) -> Catalog:
        return cls(search_path(labs_dir))

    def folders(self) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for base in self.dirs:
            for child in sorted(base.iterdir()):
                if child.is_dir() and (child / "lab.yaml").is_file():
                    found.setdefault(child.name, child)
        return found

    def ids(self) -> list[str]:
        return sorted(self.folders())

    def get(self, lab_id: str) -> Lab:
        from orchestrator.spec import load_lab

        folders = self.folders()
        if lab_id in folders:
            return load_lab(folders[lab_id])
        close = difflib.get_close_matches(lab_id, folders, n=3, cutoff=0.5)
        fix = f"did you mean: {', '.join(close)}?" if close else "run `labs list` to see the labs"
        raise NotFound(f"no lab named {lab_id!r} (searched {', '.join(str(d) for d in self.dirs)})", fix)

    def all(self) -> tuple[list[Lab], list[SpecError]]:
        """Every lab on the path, with the spec errors of those that do not load."""
        from orchestrator.spec import load_lab

        labs, errors = [], []
        for folder in self.folders().values():
            try:
                labs.append(load_lab(folder))
            except SpecError as err:
                errors.append(err)
        return labs, errors


@dataclass
class LabSummary:
    """What `labs list` shows, read from lab.yaml without full validation (fast)."""

    id: str
    title: str
    difficulty: str
    minutes: int | str
    folder: Path
    problem: str | None = None  # set when the spec cannot be read at all
    tags: list[str] = field(default_factory=list)
    summary: str = ""
    kind: str = "repair"

    def matches(self, tag: str | None = None, difficulty: str | None = None, kind: str | None = None) -> bool:
        """Does the lab fit every filter given (tags and kinds compared case-insensitively)?"""
        if tag and tag.lower() not in {t.lower() for t in self.tags}:
            return False
        if difficulty and difficulty.lower() != self.difficulty.lower():
            return False
        return not kind or kind.lower() == self.kind.lower()


def _minutes(value) -> int | str:
    return value if isinstance(value, int) and not isinstance(value, bool) else "?"


def summaries(catalog: Catalog, *, tag: str | None = None, difficulty: str | None = None, kind: str | None = None) -> list[LabSummary]:
    """Every lab on the path (filtered by tag, difficulty and kind when given)."""
    import yaml

    from orchestrator.labfiles import MAX_SPEC_BYTES, load_yaml, read_text

    found = []
    for lab_id, folder in sorted(catalog.folders().items()):
        try:
            _, raw = load_yaml(read_text(folder / "lab.yaml", MAX_SPEC_BYTES))
            if not isinstance(raw, dict):
                raise ValueError("not a mapping")
            tags = raw.get("tags") if isinstance(raw.get("tags"), list) else []
            found.append(LabSummary(
                lab_id, str(raw.get("title", "")), str(raw.get("difficulty", "?")), _minutes(raw.get("minutes")), folder,
                tags=[str(t) for t in tags], summary=" ".join(str(raw.get("summary", "")).split()), kind=str(raw.get("kind", "repair")),
            ))
        except (OSError, ValueError, yaml.YAMLError):  # UnsafeLabFile is a ValueError
            found.append(LabSummary(lab_id, "", "?", "?", folder, problem=f"lab.yaml cannot be read: run `labs lint {lab_id}`"))
    return [row for row in found if row.problem or row.matches(tag, difficulty, kind)]
