"""Reading a container's files through the engine's archive API: nothing runs inside the container.

A check that asks the container (``cat``, ``stat``, ``sha256sum``) trusts binaries the learner
owns; the engine's archive endpoint reads the container's filesystem from outside, so a shim
cannot answer for it. ``read_file`` and ``walk`` return ``FileInfo`` records (kind, mode,
owner, size, content, link target, POSIX ACL entries). Symlinks are resolved inside the
container's filesystem, a bounded number of hops, like ``stat -L``.

The engine's tar headers carry extended attributes as PAX records
(``SCHILY.xattr.<name>``) when the engine includes them; the ACL xattr is decoded here from its
binary form. Docker 20.10 includes only ``security.capability``, so ACLs are otherwise read by
a loader the caller supplies (``orchestrator.engine.probes`` runs one pristine probe for it).
"""

from __future__ import annotations

import contextlib
import io
import posixpath
import struct
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from docker.models.containers import Container

MAX_HOPS = 40  # symlinks followed before giving up (Linux's own limit)
WALK_CONTENT_LIMIT = 1024 * 1024  # walk() keeps the content of files up to this size
READ_LIMIT = 64 * 1024 * 1024  # read_file() refuses bigger files
ACL_XATTRS = {"system.posix_acl_access": "", "system.posix_acl_default": "default:"}
PAX_XATTR = "SCHILY.xattr."

AclLoader = Callable[[str], list[str]]


@dataclass
class FileInfo:
    """One filesystem entry as the engine sees it."""

    path: str  # the path asked for (absolute, normalised)
    kind: str  # file | dir | symlink | other
    mode: int  # permission bits (with setuid/setgid/sticky), e.g. 0o644
    uid: int
    gid: int
    size: int = 0
    mtime: int = 0  # last modification, seconds since the epoch
    content: bytes | None = None  # files only (walk: files up to 1 MiB)
    link_target: str | None = None  # symlinks only: the target as written in the link
    real_path: str = ""  # where the path's own symlinks led (== path when it is none; symlinked folders on the way are followed by the engine)
    _acl: list[str] | None = field(default=None, repr=False)
    _acl_loader: AclLoader | None = field(default=None, repr=False, compare=False)

    @property
    def acl(self) -> list[str]:
        """POSIX ACL entries ('user::rw-', 'user:www-data:r--', 'mask::r--', 'default:…'); [] if none."""
        if self._acl is None:
            self._acl = self._acl_loader(self.real_path or self.path) if self._acl_loader else []
        return self._acl

    @property
    def text(self) -> str:
        return (self.content or b"").decode("utf-8", "replace")

    def __str__(self) -> str:
        return f"{self.path} ({self.kind}, mode {self.mode:o}, uid {self.uid}, gid {self.gid})"


# --------------------------------------------------------------------------- ACL xattrs

_ACL_TAGS = {0x01: "user_obj", 0x02: "user", 0x04: "group_obj", 0x08: "group", 0x10: "mask", 0x20: "other"}
_ACL_VERSION = 2


def decode_acl(raw: bytes, users: dict[int, str] | None = None, groups: dict[int, str] | None = None, prefix: str = "") -> list[str]:
    """The entries of a binary POSIX ACL xattr (version 2: a u32 header, then u16 tag, u16 perm,
    u32 id per entry), in getfacl's notation; ids become names where ``users``/``groups`` know them."""
    users, groups = users or {}, groups or {}
    if len(raw) < 4 or struct.unpack_from("<I", raw)[0] != _ACL_VERSION:
        return []
    entries = []
    for offset in range(4, len(raw) - 7, 8):
        tag, perm, ident = struct.unpack_from("<HHI", raw, offset)
        rwx = ("r" if perm & 4 else "-") + ("w" if perm & 2 else "-") + ("x" if perm & 1 else "-")
        kind = _ACL_TAGS.get(tag)
        if kind == "user_obj":
            entries.append(f"{prefix}user::{rwx}")
        elif kind == "user":
            entries.append(f"{prefix}user:{users.get(ident, ident)}:{rwx}")
        elif kind == "group_obj":
            entries.append(f"{prefix}group::{rwx}")
        elif kind == "group":
            entries.append(f"{prefix}group:{groups.get(ident, ident)}:{rwx}")
        elif kind in ("mask", "other"):
            entries.append(f"{prefix}{kind}::{rwx}")
    return entries


def parse_id_names(text: str) -> dict[int, str]:
    """uid (or gid) -> name from /etc/passwd or /etc/group text."""
    names: dict[int, str] = {}
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 3 and parts[2].isdigit():
            names.setdefault(int(parts[2]), parts[0])
    return names


def _pax_acl(member: tarfile.TarInfo, users: Callable[[], tuple[dict, dict]]) -> list[str] | None:
    """ACL entries from the member's PAX xattr records; None when the engine sent none."""
    found = {k[len(PAX_XATTR):]: v for k, v in member.pax_headers.items() if k.startswith(PAX_XATTR)}
    if not any(name in found for name in ACL_XATTRS):
        return None
    user_names, group_names = users()
    entries: list[str] = []
    for name, prefix in ACL_XATTRS.items():
        if name in found:
            raw = found[name].encode("utf-8", "surrogateescape")
            entries += decode_acl(raw, user_names, group_names, prefix)
    return entries


# --------------------------------------------------------------------------- the archive stream


@contextlib.contextmanager
def _archive(container: Container, path: str) -> Iterator[tarfile.TarFile | None]:
    """A streaming tar of ``path`` in the container (None when absent); the connection is closed
    on exit, so reading only the first member of a big folder costs one header."""
    from docker.errors import APIError, NotFound

    api = container.client.api
    response = api._get(api._url("/containers/{0}/archive", container.id), params={"path": path}, stream=True, headers={"Accept-Encoding": "identity"})
    try:
        try:
            api._raise_for_status(response)
        except NotFound:
            yield None
            return
        except APIError as err:
            if "too many links" not in str(err.explanation or ""):
                raise
            yield None  # a symlink loop: the engine cannot stat it
            return
        response.raw.decode_content = False
        with tarfile.open(fileobj=response.raw, mode="r|") as tar:
            yield tar
    finally:
        response.close()


_KINDS = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.CONTTYPE: "file", tarfile.LNKTYPE: "file", tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink"}


def _info(member: tarfile.TarInfo, path: str, content: bytes | None) -> FileInfo:
    kind = _KINDS.get(member.type, "other")
    return FileInfo(
        path=path,
        kind=kind,
        mode=member.mode & 0o7777,
        uid=member.uid,
        gid=member.gid,
        size=member.size,
        mtime=int(member.mtime),
        content=content,
        link_target=member.linkname if kind == "symlink" else None,
        real_path=path,
    )


def _normal(path: str) -> str:
    return posixpath.normpath("/" + path.lstrip("/"))


def _entry(container: Container, path: str, *, with_content: bool, users) -> FileInfo | None:
    """The entry at ``path`` itself (a symlink is not followed), content included for a file."""
    with _archive(container, path) as tar:
        if tar is None:
            return None
        member = tar.next()
        if member is None:
            return None
        content = None
        if member.isreg() and with_content:
            if member.size > READ_LIMIT:
                raise ValueError(f"{path} is {member.size} bytes, more than read_file reads ({READ_LIMIT})")
            content = tar.extractfile(member).read()
        info = _info(member, path, content)
        pax = _pax_acl(member, users)
        if pax is not None:
            info._acl = pax
        return info


def resolve(container: Container, path: str, *, hops: int = MAX_HOPS) -> str | None:
    """``path`` with every symlink followed inside the container's filesystem; None when it
    dangles or loops. (The engine resolves links in the parent folders itself, within the
    container's root; the last component is followed here.)"""
    path = _normal(path)
    for _ in range(hops):
        info = _entry(container, path, with_content=False, users=lambda: ({}, {}))
        if info is None:
            return None
        if info.kind != "symlink":
            return path
        path = _follow(path, info.link_target or "")
    return None


def _follow(path: str, target: str) -> str:
    return _normal(target if target.startswith("/") else posixpath.join(posixpath.dirname(path), target))


def id_names(container: Container) -> tuple[dict[int, str], dict[int, str]]:
    """The container's own user and group names (its /etc/passwd and /etc/group, read through the engine)."""
    found = []
    for name in ("/etc/passwd", "/etc/group"):
        info = _entry(container, name, with_content=True, users=lambda: ({}, {}))
        found.append(parse_id_names(info.text) if info and info.kind == "file" else {})
    return found[0], found[1]


def _lazy_names(container: Container):
    cache: list = []

    def names():
        if not cache:
            cache.append(id_names(container))
        return cache[0]

    return names


def read_file(container: Container, path: str, *, follow: bool = True, acl_loader: AclLoader | None = None) -> FileInfo | None:
    """The entry at ``path`` read through the engine (None if absent). With ``follow``, symlinks
    are resolved in the container's filesystem (a dangling or looping link gives None); the
    result keeps the asked ``path`` and says where it led in ``real_path``."""
    asked = _normal(path)
    names = _lazy_names(container)
    current = asked
    for _ in range(MAX_HOPS):
        info = _entry(container, current, with_content=True, users=names)
        if info is None:
            return None
        if info.kind != "symlink" or not follow:
            info.path, info.real_path = asked, current
            info._acl_loader = acl_loader
            return info
        current = _follow(current, info.link_target or "")
    return None


def walk(container: Container, root: str, *, acl_loader: AclLoader | None = None, content_limit: int = WALK_CONTENT_LIMIT) -> list[FileInfo]:
    """Every entry under ``root`` (itself first), in one archive read; files up to
    ``content_limit`` bytes carry their content. A symlinked ``root`` is followed first."""
    real_root = resolve(container, root)
    if real_root is None:
        return []
    parent = posixpath.dirname(real_root)
    names = _lazy_names(container)
    found: list[FileInfo] = []
    contents: dict[str, bytes | None] = {}
    with _archive(container, real_root) as tar:
        if tar is None:
            return []
        for member in tar:
            path = _normal(posixpath.join(parent, member.name))
            content = None
            if member.isreg() and member.size <= content_limit:
                content = tar.extractfile(member).read()
            elif member.islnk():  # a hard link to an entry seen earlier in this archive
                content = contents.get(_normal(posixpath.join(parent, member.linkname)))
            contents[path] = content
            info = _info(member, path, content)
            pax = _pax_acl(member, names)
            if pax is not None:
                info._acl = pax
            info._acl_loader = acl_loader
            found.append(info)
    return found


# --------------------------------------------------------------------------- copying between containers


def copy_tree(source: Container, source_path: str, dest: Container, dest_path: str, *, limit: int = READ_LIMIT) -> bool:
    """Copy ``source_path`` of one container to ``dest_path`` of another (created or running)
    through the engine, as it is: modes, owners and symlinks kept. False when the source is absent.
    Parent folders of ``dest_path`` are created."""
    dest_path = _normal(dest_path)
    out = io.BytesIO()
    total = 0
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as writer:
        parts = dest_path.strip("/").split("/")
        for depth in range(1, len(parts)):  # the parents: as they are, or new root-owned folders
            name = "/".join(parts[:depth])
            existing = _entry(dest, "/" + name, with_content=False, users=lambda: ({}, {}))
            folder = tarfile.TarInfo(name)
            folder.type, folder.mode = tarfile.DIRTYPE, existing.mode if existing and existing.kind == "dir" else 0o755
            if existing and existing.kind == "dir":
                folder.uid, folder.gid = existing.uid, existing.gid
            writer.addfile(folder)
        with _archive(source, _normal(source_path)) as tar:
            if tar is None:
                return False
            top = None
            for member in tar:
                top = top or member.name.split("/")[0]
                rest = member.name[len(top):]
                member.name = dest_path.lstrip("/") + rest
                if member.islnk():
                    member.linkname = dest_path.lstrip("/") + member.linkname[len(top):]
                data = tar.extractfile(member) if member.isreg() else None
                total += member.size if member.isreg() else 0
                if total > limit:
                    raise ValueError(f"{source_path} is more than {limit} bytes: too big to copy into a probe")
                writer.addfile(member, data)
    dest.client.api.put_archive(dest.id, "/", out.getvalue())
    return True
