"""Opening fleet files confined to the repository: the object checked is the object read.

Fleet files come from untrusted pull requests. A path is opened component by
component from a descriptor of the repository's root, each component with
`O_NOFOLLOW` relative to the folder opened before it (`dir_fd`): a link met on the
way is read (`readlink`) and its target resolved the same way, from the root, and
refused when it leaves the repository. Nothing is resolved by name and opened
again, so a link swapped in between the check and the read cannot redirect it.
Then the opened descriptor is checked with `fstat` (a regular file within the
size limit) and read.

Never read: anything under a `.git` folder, a path with a NUL byte, an absolute
path, a FIFO, socket or device (opened non-blocking, so a FIFO cannot hang the
reader). `read_tree` reads a whole folder (a local chart) the same way, file by
file; a link in it that leaves the repository is refused at the link's path.

`read_bounded` reads a file that is not the fleet's (a plan or event file handed
to a command, usually outside the repository): a regular file within a size
limit, opened once and checked as opened.

Standard library only: the jsonnet evaluating child imports it and must start fast.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

OUTSIDE_HINT = "only regular files inside the repository are read"
GIT_HINT = "hubfleet never reads git's own files (.git/)"
MAX_LINKS = 40  # links followed while opening one path (the kernel's own limit)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_FILE_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | _CLOEXEC | _NOFOLLOW
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC | _NOFOLLOW


class Confinement(Exception):
    """A path that is not read: why (`message`, `hint`), and what kind of refusal.

    `kind`: absolute, nul, outside (the path itself leaves), link (a link on the
    way leaves; `target` is where it points), git, missing, unreadable, folder,
    special (FIFO, socket, device), large.
    """

    def __init__(self, kind: str, message: str, hint: str, *, target: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.hint = hint
        self.target = target


@dataclass(frozen=True)
class Opened:
    """A descriptor opened inside the repository, where it resolved to, and its fstat."""

    fd: int
    resolved: str  # repository-relative, links resolved ("" for the root)
    info: os.stat_result


def size_text(count: int) -> str:
    if count >= 1024 * 1024 and count % (1024 * 1024) == 0:
        return f"{count // (1024 * 1024)} MiB"
    if count >= 1024 and count % 1024 == 0:
        return f"{count // 1024} KiB"
    return f"{count} bytes"


def _kind_name(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"


class Root:
    """The repository, opened once: every path under it is opened through `open`."""

    def __init__(self, root: Path | str) -> None:
        self.path = os.path.realpath(root)

    # ------------------------------------------------------------- opening

    def open(self, relative: str, *, folder: bool = False, shown: str | None = None) -> Opened:
        """`relative` (repository-relative) opened, every link on the way resolved inside
        the repository; raises `Confinement`. `folder`: the last component is a folder."""
        shown = relative if shown is None else shown
        if "\0" in relative:
            raise Confinement("nul", f"{shown!r} contains a NUL byte", "paths are plain text")
        if os.path.isabs(relative) or relative.startswith("~"):
            raise Confinement("absolute", f"{shown!r} is an absolute path", OUTSIDE_HINT)
        root_fd = os.open(self.path, _DIR_FLAGS & ~_NOFOLLOW)
        fds = [root_fd]
        names: list[str] = []
        try:
            return self._walk(relative, shown, folder, fds, names)
        finally:
            for fd in fds:
                os.close(fd)

    def _walk(
        self, relative: str, shown: str, folder: bool, fds: list[int], names: list[str]
    ) -> Opened:
        parts = [p for p in relative.split("/") if p not in ("", ".")]
        links = 0
        via_link = False
        while parts:
            name = parts.pop(0)
            if name == "..":
                if not names:
                    where = os.path.normpath(os.path.join(self.path, relative))
                    if via_link:
                        raise self._link_out(shown, where)
                    raise Confinement(
                        "outside",
                        f"{shown!r} points outside the repository (to {where})",
                        OUTSIDE_HINT,
                    )
                names.pop()
                os.close(fds.pop())
                continue
            if name == ".git":
                raise Confinement("git", f"{shown!r} is inside .git/", GIT_HINT)
            last = not parts
            flags = _DIR_FLAGS if (not last or folder) else _FILE_FLAGS
            try:
                fd = os.open(name, flags, dir_fd=fds[-1])
            except OSError as exc:
                target = self._link_target(fds[-1], name, exc)
                links += 1
                via_link = True
                if links > MAX_LINKS:
                    raise Confinement(
                        "unreadable", f"cannot read {shown!r}: too many links", OUTSIDE_HINT
                    ) from None
                if os.path.isabs(target):
                    inside = self._inside(target)
                    if inside is None:
                        rest = os.path.join(target, *parts) if parts else target
                        raise self._link_out(shown, os.path.normpath(rest)) from None
                    while len(fds) > 1:
                        os.close(fds.pop())
                    names.clear()
                    parts = [p for p in inside.split("/") if p not in ("", ".")] + parts
                else:
                    parts = [p for p in target.split("/") if p not in ("", ".")] + parts
                continue
            fds.append(fd)
            names.append(name)
        info = os.fstat(fds[-1])
        fd = fds.pop() if len(fds) > 1 else os.dup(fds[0])
        return Opened(fd, "/".join(names), info)

    def _link_target(self, dir_fd: int, name: str, error: OSError) -> str:
        """The target of the link `name` that made `os.open` fail, or the failure itself."""
        if error.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            try:
                return os.readlink(name, dir_fd=dir_fd)
            except OSError:
                pass
        raise error

    def _inside(self, target: str) -> str | None:
        """An absolute link target as a repository-relative path, or None when outside."""
        normal = os.path.normpath(target)
        if normal == self.path:
            return ""
        if normal.startswith(self.path + os.sep):
            return normal[len(self.path) + 1 :]
        return None

    def _link_out(self, shown: str, where: str) -> Confinement:
        return Confinement(
            "link",
            f"{shown!r} is a link pointing outside the repository (to {where})",
            OUTSIDE_HINT,
            target=where,
        )

    def is_folder(self, relative: str) -> bool:
        """`relative` opens as a folder inside the repository."""
        try:
            opened = self.open(relative, folder=True)
        except (Confinement, OSError):
            return False
        os.close(opened.fd)
        return True

    # ------------------------------------------------------------- reading

    def open_file(self, relative: str, *, limit: int, shown: str | None = None) -> Opened:
        """`open`, then the opened descriptor checked: a regular file within `limit`."""
        shown = relative if shown is None else shown
        try:
            opened = self.open(relative, shown=shown)
        except FileNotFoundError:
            raise Confinement(
                "missing", f"file {shown!r} does not exist", "check the path"
            ) from None
        except OSError as exc:
            raise Confinement(
                "unreadable",
                f"cannot read {shown!r}: {exc.strerror}",
                "check the file's permissions",
            ) from None
        try:
            check_kind(shown, opened.info, limit)
        except Confinement:
            os.close(opened.fd)
            raise
        return opened

    def read_file(self, relative: str, *, limit: int, shown: str | None = None) -> bytes:
        """The bytes of `relative`: `open_file`, read from the descriptor checked."""
        shown = relative if shown is None else shown
        opened = self.open_file(relative, limit=limit, shown=shown)
        try:
            return read_fd(opened.fd, shown, limit)
        finally:
            os.close(opened.fd)

    def read_tree(
        self, relative: str, *, file_limit: int, total_limit: int, shown: str | None = None
    ) -> dict[str, bytes]:
        """Every file under the folder `relative`, keyed by its path inside it (POSIX).

        Links inside the repository are followed (a linked folder is read as if it
        were there); one leaving it is refused at its path (`shown` + its path in the
        folder). `.git` folders are skipped; FIFOs, sockets and devices refused."""
        shown = relative if shown is None else shown
        found: dict[str, bytes] = {}
        total = [0]
        try:
            opened = self.open(relative, folder=True, shown=shown)
        except FileNotFoundError:
            raise Confinement(
                "missing", f"folder {shown!r} does not exist", "check the path"
            ) from None
        except OSError as exc:
            raise Confinement(
                "unreadable", f"cannot read {shown!r}: {exc.strerror}", "check the folder"
            ) from None
        self._tree(opened, "", shown, found, total, file_limit, total_limit, depth=0)
        return found

    def _tree(
        self,
        opened: Opened,
        inner: str,
        shown: str,
        found: dict[str, bytes],
        total: list[int],
        file_limit: int,
        total_limit: int,
        *,
        depth: int,
    ) -> None:
        try:
            if depth > MAX_LINKS:
                raise Confinement(
                    "unreadable",
                    f"{shown!r}: folders nested too deep (a link cycle?)",
                    OUTSIDE_HINT,
                )
            with os.scandir(opened.fd) as entries:
                names = sorted(entry.name for entry in entries)
        finally:
            os.close(opened.fd)
        for name in names:
            if name == ".git":
                continue
            child_inner = f"{inner}/{name}" if inner else name
            child_shown = f"{shown}/{name}"
            child_path = f"{opened.resolved}/{name}" if opened.resolved else name
            try:
                child = self.open(child_path, shown=child_shown)
            except FileNotFoundError:
                continue  # removed while listed, or a dangling link inside: nothing to read
            except OSError as exc:
                raise Confinement(
                    "unreadable",
                    f"cannot read {child_shown!r}: {exc.strerror}",
                    "check the file's permissions",
                ) from None
            if stat.S_ISDIR(child.info.st_mode):
                os.close(child.fd)
                folder = self.open(child_path, folder=True, shown=child_shown)
                self._tree(
                    folder,
                    child_inner,
                    child_shown,
                    found,
                    total,
                    file_limit,
                    total_limit,
                    depth=depth + 1,
                )
                continue
            try:
                check_kind(child_shown, child.info, file_limit)
                content = read_fd(child.fd, child_shown, file_limit)
            finally:
                os.close(child.fd)
            total[0] += len(content)
            if total[0] > total_limit:
                raise Confinement(
                    "large",
                    f"{shown!r} holds more than {size_text(total_limit)}",
                    f"a local chart is at most {size_text(total_limit)}",
                )
            found[child_inner] = content


def check_kind(shown: str, info: os.stat_result, limit: int, *, limit_hint: str = "") -> None:
    """Refuse what is not a regular file within `limit` (the stat of an opened descriptor)."""
    if stat.S_ISDIR(info.st_mode):
        raise Confinement("folder", f"{shown!r} is a folder, not a file", "name a file")
    if not stat.S_ISREG(info.st_mode):
        raise Confinement(
            "special", f"{shown!r} is {_kind_name(info.st_mode)}, not a regular file", OUTSIDE_HINT
        )
    if info.st_size > limit:
        raise Confinement(
            "large",
            f"{shown!r} is {info.st_size} bytes, over the limit of {size_text(limit)}",
            limit_hint or f"files are at most {size_text(limit)}",
        )


def read_fd(fd: int, shown: str, limit: int) -> bytes:
    """At most `limit` bytes from `fd`; a file that grows past it while read is refused."""
    chunks: list[bytes] = []
    total = 0
    while total <= limit:
        chunk = os.read(fd, min(1024 * 1024, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > limit:
        raise Confinement(
            "large",
            f"{shown!r} grew over the limit of {size_text(limit)}",
            f"files are at most {size_text(limit)}",
        )
    return b"".join(chunks)


def read_bounded(path: Path | str, *, limit: int, shown: str | None = None) -> bytes:
    """A file handed to a command (a plan, an event, a list of changed files), anywhere:
    opened once, non-blocking (a FIFO cannot hang it), checked as opened (a regular file
    within `limit`), read. Raises `Confinement`."""
    shown = str(path) if shown is None else shown
    if "\0" in str(path):
        raise Confinement("nul", f"{shown!r} contains a NUL byte", "paths are plain text")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | _CLOEXEC)
    except FileNotFoundError:
        raise Confinement("missing", f"file {shown!r} does not exist", "check the path") from None
    except OSError as exc:
        raise Confinement(
            "unreadable", f"cannot read {shown!r}: {exc.strerror}", "check the file's permissions"
        ) from None
    try:
        check_kind(shown, os.fstat(fd), limit)
        return read_fd(fd, shown, limit)
    finally:
        os.close(fd)


def write_beneath(folder: Path, relative: str, content: bytes, *, mode: int = 0o644) -> None:
    """Write `content` to `folder`/`relative` without following a link on the way.

    `folder` itself must not be a link (it is created when absent); each folder under
    it is opened with `O_NOFOLLOW`, and the file is written under a temporary name and
    renamed over the target (a link planted at the target is replaced, never followed).
    `relative` may not leave `folder` (`..`, absolute). Raises `Confinement` or OSError.
    """
    shown = os.path.join(str(folder), relative)
    parts = [part for part in relative.split("/") if part not in ("", ".")]
    if "\0" in relative or "\0" in str(folder):
        raise Confinement("nul", f"{shown!r} contains a NUL byte", "paths are plain text")
    if not parts or ".." in parts or os.path.isabs(relative):
        raise Confinement(
            "outside", f"{relative!r} leaves the folder {folder}", "name a file in it"
        )
    if os.path.islink(folder):
        raise Confinement("link", f"{folder} is a link", "name the folder itself, not a link to it")
    os.makedirs(folder, exist_ok=True)
    fds = [_open_folder(str(folder), None, str(folder))]
    try:
        for index, part in enumerate(parts[:-1]):
            where = os.path.join(str(folder), *parts[: index + 1])
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=fds[-1])
            fds.append(_open_folder(part, fds[-1], where))
        name = parts[-1]
        temporary = f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
        fd = os.open(temporary, flags, mode, dir_fd=fds[-1])
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            os.rename(temporary, name, src_dir_fd=fds[-1], dst_dir_fd=fds[-1])
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary, dir_fd=fds[-1])
            raise
    finally:
        for descriptor in fds:
            os.close(descriptor)


def _open_folder(name: str, dir_fd: int | None, shown: str) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(shown):
            raise Confinement(
                "link", f"{shown} is a link", "an output folder is never written through a link"
            ) from None
        raise


# A file handed from one command (or the CI runner) to another: a plan, a report, an
# event payload, a list of changed files.
MAX_HANDOFF_BYTES = 32 * 1024 * 1024


class HandoffError(OSError):
    """A handed-over file refused by `read_handoff`: an OSError whose `strerror` says why,
    so that a caller's existing `except OSError` reports it."""


def read_handoff(path: Path | str, *, limit: int = MAX_HANDOFF_BYTES) -> bytes:
    """`read_bounded`, its refusals raised as `HandoffError` (an OSError)."""
    try:
        return read_bounded(path, limit=limit)
    except Confinement as exc:
        error = HandoffError(errno.EINVAL, f"{exc.message} ({exc.hint})")
        error.filename = str(path)
        raise error from None


def read_handoff_text(path: Path | str, *, limit: int = MAX_HANDOFF_BYTES) -> str:
    """`read_handoff` decoded as UTF-8 (UnicodeDecodeError as `str.decode` raises it)."""
    return read_handoff(path, limit=limit).decode("utf-8")
