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
