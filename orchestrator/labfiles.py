"""Reading an untrusted lab folder safely: confined to the folder, regular files only, bounded.

A lab folder is untrusted input until it is started (instructors share them, CI lints pull
requests). Everything that reads from one goes through here:

- ``confined(folder, relative)``: the path a lab names, resolved (symlinks followed) and
  required to lie inside the lab folder;
- ``read_text(path)``: a regular file (never a FIFO, device or /proc file: opened without
  blocking and checked before reading), at most ``limit`` bytes, strict UTF-8;
- ``check_tree(folder)``: every entry the lab ships (files/, images/ build contexts, ...) is a
  regular file, a folder, or a symlink that resolves inside the lab folder;
- ``load_yaml(text)``: YAML with alias expansion, nesting depth and size bounded *before* any
  Python object is built (a 600-byte alias bomb or 3,000 nested lists is one clear error).

Failures are ``UnsafeLabFile`` (a ValueError) with a one-line reason; callers add the file name
and turn it into their own error.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

MAX_TEXT_BYTES = 1024 * 1024  # a briefing, a deploy, a suite
MAX_SPEC_BYTES = 256 * 1024  # lab.yaml
MAX_YAML_DEPTH = 32
MAX_YAML_NODES = 20_000  # nodes after alias expansion
MAX_YAML_ALIASES = 100


class UnsafeLabFile(ValueError):
    """A lab file that must not be read (escapes the folder, special file, bad encoding, bomb)."""


def confined(folder: Path, relative: str | Path) -> Path:
    """``folder/relative`` with symlinks resolved; refused unless it lies inside ``folder``."""
    root = Path(folder).resolve()
    relative = Path(relative)
    if relative.is_absolute() or ".." in relative.parts:
        raise UnsafeLabFile(f"{str(relative)!r} must be a file inside the lab folder (a relative path, without '..')")
    target = (root / relative).resolve()
    if target != root and root not in target.parents:
        raise UnsafeLabFile(f"{str(relative)!r} resolves to {target}, outside the lab folder")
    return target


def read_bytes(path: Path, limit: int = MAX_TEXT_BYTES) -> bytes:
    """The content of a regular file, opened without blocking (a FIFO never hangs us)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as err:
        raise UnsafeLabFile(f"cannot be read: {err.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeLabFile("is not a regular file (a device, FIFO, socket or folder)")
        if info.st_size > limit:
            raise UnsafeLabFile(f"is larger than {limit // 1024} KiB")
        chunks, size = [], 0
        while size <= limit:
            try:
                chunk = os.read(fd, 65536)
            except OSError as err:
                raise UnsafeLabFile(f"cannot be read: {err.strerror}") from None
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise UnsafeLabFile(f"is larger than {limit // 1024} KiB")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: Path, limit: int = MAX_TEXT_BYTES) -> str:
    data = read_bytes(path, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UnsafeLabFile(f"is not UTF-8 text (byte {err.start}); save it as UTF-8") from None


def check_tree(folder: Path) -> None:
    """Every entry under the lab folder is a folder, a regular file, or a symlink resolving
    inside the folder; nothing else (FIFOs, devices, sockets) may be shipped."""
    root = Path(folder).resolve()
    for current, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            path = Path(current) / name
            rel = path.relative_to(root)
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                target = path.resolve()
                if target != root and root not in target.parents:
                    raise UnsafeLabFile(f"{rel} is a symlink to {os.readlink(path)}, outside the lab folder")
            elif not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
                raise UnsafeLabFile(f"{rel} is not a regular file (a device, FIFO or socket)")


def _check_shape(text: str, loader) -> None:
    """Walk the document's parse events (iteratively, in libyaml when present) and refuse deep
    nesting or too many aliases before anything is composed or built."""
    import yaml

    try:
        _walk_events(yaml.parse(text, Loader=loader))
    except yaml.YAMLError as err:
        if "nesting depth" in str(err):  # libyaml's own, far higher, ceiling
            raise UnsafeLabFile(f"nested more than {MAX_YAML_DEPTH} levels deep") from None
        raise


def _walk_events(events) -> None:
    import yaml

    depth = aliases = 0
    for event in events:
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise UnsafeLabFile(f"nested more than {MAX_YAML_DEPTH} levels deep (line {event.start_mark.line + 1})")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_YAML_ALIASES:
                raise UnsafeLabFile(f"more than {MAX_YAML_ALIASES} aliases (*name)")


def _expanded_size(root) -> int:
    """How many nodes the document has once every alias is expanded (memoised: no expansion)."""
    import yaml

    sizes: dict[int, int] = {}
    stack = [(root, False)]
    while stack:
        node, ready = stack.pop()
        if id(node) in sizes:
            continue
        children = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        if ready or not children:
            total = 1 + sum(sizes[id(child)] for child in children)
            sizes[id(node)] = min(total, MAX_YAML_NODES + 1)
            continue
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)
    return sizes[id(root)]


def load_yaml(text: str):
    """(root node, Python data) of a YAML document, bounded before any object is built.

    Raises ``yaml.YAMLError`` for syntax errors and ``UnsafeLabFile`` for bombs.
    """
    import yaml

    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    _check_shape(text, loader_class)
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        if _expanded_size(root) > MAX_YAML_NODES:
            raise UnsafeLabFile(f"expands to more than {MAX_YAML_NODES} values (an alias bomb?)")
        return root, loader.construct_document(root)
    finally:
        loader.dispose()
