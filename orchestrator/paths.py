"""Where things live: the shipped labs and images, and the user's state.

From a clone (or an editable install) the shipped folders are the repository's
top-level ``labs/`` and ``images/``; from a wheel they are carried inside the
package under ``_shipped/``. Nothing here touches the terminal or Docker.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_REPO_ROOT = PACKAGE_DIR.parent
_SHIPPED = PACKAGE_DIR / "_shipped"


def _shipped(name: str) -> Path:
    in_repo = _REPO_ROOT / name
    if in_repo.is_dir() and (_REPO_ROOT / "pyproject.toml").is_file():
        return in_repo
    return _SHIPPED / name


def shipped_labs_dir() -> Path:
    return _shipped("labs")


def images_dir() -> Path:
    return _shipped("images")


def state_dir() -> Path:
    """The user's data folder for labs (hint progress and the like).

    ``LABS_STATE_DIR`` overrides it (tests use a temporary one).
    """
    override = os.environ.get("LABS_STATE_DIR")
    if override:
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir("labs", appauthor=False))


def writable_state_dir(sub: str = "") -> Path:
    """The state folder (or ``sub`` inside it), created if needed; a ``UsageError`` (exit 2) when it
    is a file, cannot be created or cannot be written, instead of a traceback."""
    from orchestrator.errors import UsageError

    folder = state_dir() / sub if sub else state_dir()
    fix = "set LABS_STATE_DIR to a folder you can write to (or unset it), or remove what is in the way"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"the labs state folder {folder} is not a folder (a file is in the way)", fix) from None
    except OSError as err:
        raise UsageError(f"the labs state folder {folder} cannot be created: {err.strerror}", fix) from None
    if not folder.is_dir():
        raise UsageError(f"the labs state folder {folder} is not a folder", fix)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"the labs state folder {folder} is not writable", fix)
    return folder
