"""Reading one confined target safely: regular files only, bounded reads, text checks, images and PDFs sniffed.

The file is opened with O_NONBLOCK and O_NOFOLLOW, then checked again on the open descriptor (`fstat`): a FIFO,
device or symlink swapped in after the walk cannot hang the read or redirect it, and a file that is no longer the
one confined when it was listed (another inode: the file or a parent folder swapped for a symlink) is skipped.
Nothing is read past the limit plus one byte, so a 2 GB file costs one `stat`.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from typing import Literal

from .paths import Target
from .types import Limits

IMAGE_SUFFIXES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
                  ".webp": "image/webp"}
PDF_SUFFIX = ".pdf"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class TextFile:
    """Decoded text of a target, already cut to its line range; `first` is the number of its first line."""

    text: str
    first: int
    last: int
    total: int | None  # lines in the whole file, when the whole file was read


@dataclass(frozen=True)
class BinaryFile:
    kind: Literal["image", "pdf"]
    mime: str
    data: bytes


class Unreadable(Exception):
    """The target cannot be attached; the message is the skip reason."""


def sniff(head: bytes) -> tuple[Literal["image", "pdf"], str] | None:
    """Image/PDF type from the first bytes, whatever the file is called."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image", "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image", "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "image/webp"
    if head.startswith(b"%PDF-"):
        return "pdf", "application/pdf"
    return None


def _open(target: Target) -> tuple[int, os.stat_result]:
    try:
        before = os.stat(target.path)
    except FileNotFoundError:
        raise Unreadable("file disappeared before it could be read") from None
    except OSError as exc:
        raise Unreadable(f"cannot read: {exc.strerror}") from None
    if not stat.S_ISREG(before.st_mode):
        raise Unreadable("not a regular file (FIFO, socket or device)")
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(target.path, flags | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise Unreadable("file disappeared before it could be read") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Unreadable("file was replaced by a symlink while being read") from None
        raise Unreadable(f"cannot read: {exc.strerror}") from None
    st = os.fstat(fd)
    listed = target.ident or (before.st_dev, before.st_ino)
    if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != listed:
        os.close(fd)
        raise Unreadable("file was replaced while being read")
    return fd, st


def _read_at_most(fd: int, n: int) -> bytes:
    chunks: list[bytes] = []
    left = n
    while left > 0:
        chunk = os.read(fd, min(_CHUNK, left))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read(target: Target, limits: Limits) -> TextFile | BinaryFile:
    """Read `target` within the limits, or raise Unreadable with the reason to report."""
    fd, st = _open(target)
    try:
        head = os.pread(fd, 16, 0) if hasattr(os, "pread") else b""
        media = sniff(head)
        if media is None and target.path.suffix.lower() in IMAGE_SUFFIXES | {PDF_SUFFIX: ""}:
            raise Unreadable(f"named like {target.path.suffix} but its bytes are not that format")
        if media is not None:
            return _read_binary(fd, st, media, target, limits)
        if target.start is None:
            return _read_whole(fd, st, limits)
        return _read_range(fd, target, limits)
    finally:
        os.close(fd)


def _read_binary(
    fd: int, st: os.stat_result, media: tuple[Literal["image", "pdf"], str], target: Target, limits: Limits
) -> BinaryFile:
    kind, mime = media
    if st.st_size > limits.max_image_bytes:
        raise Unreadable(f"{kind} is {st.st_size:,} bytes, over the limit of {limits.max_image_bytes:,} per image/PDF")
    if target.start is not None:
        raise Unreadable(f"line ranges apply to text files, not to {kind}s; name it without :LINES")
    data = _read_at_most(fd, limits.max_image_bytes + 1)
    if len(data) > limits.max_image_bytes:
        raise Unreadable(f"{kind} grew past {limits.max_image_bytes:,} bytes while being read")
    return BinaryFile(kind, mime, data)


def _too_big(size: int, limits: Limits) -> Unreadable:
    return Unreadable(
        f"file is {size:,} bytes, over the per-file limit of {limits.max_file_bytes:,}; attach a line range "
        "instead (path:START-END)"
    )


def _decode(data: bytes) -> str:
    if b"\0" in data:
        raise Unreadable("binary file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Unreadable("not UTF-8 text") from None
    return text.removeprefix("\ufeff")


def split_lines(text: str) -> list[str]:
    """Lines as editors number them: split on \\n only, CR of CRLF dropped, no phantom line after a final newline."""
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [ln.removesuffix("\r") for ln in lines]


def _read_whole(fd: int, st: os.stat_result, limits: Limits) -> TextFile:
    if st.st_size > limits.max_file_bytes:
        raise _too_big(st.st_size, limits)
    data = _read_at_most(fd, limits.max_file_bytes + 1)
    if len(data) > limits.max_file_bytes:
        raise _too_big(len(data), limits)
    lines = split_lines(_decode(data))
    return TextFile("\n".join(lines), 1, len(lines), len(lines))


def _read_range(fd: int, target: Target, limits: Limits) -> TextFile:
    """Read from the start only as far as the range's last line (at most max_range_scan_bytes)."""
    start, end = target.start or 1, target.end or target.start or 1
    buf = bytearray()
    newlines = 0
    eof = False
    while newlines < end:
        chunk = os.read(fd, _CHUNK)
        if not chunk:
            eof = True
            break
        buf += chunk
        newlines += chunk.count(b"\n")
        if len(buf) > limits.max_range_scan_bytes and newlines < end:
            raise Unreadable(
                f"line {end:,} lies beyond the first {limits.max_range_scan_bytes:,} bytes; pick an earlier range"
            )
    raw_lines = bytes(buf).split(b"\n")
    if eof and raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    total = len(raw_lines) if eof else None
    picked = raw_lines[start - 1 : end]
    if not picked:
        raise Unreadable(f"file has only {len(raw_lines):,} lines; line {start:,} does not exist")
    body = b"\n".join(picked)
    if len(body) > limits.max_file_bytes:
        raise Unreadable(
            f"lines {start}-{end} are {len(body):,} bytes, over the per-file limit of {limits.max_file_bytes:,}; "
            "narrow the range"
        )
    lines = [ln.removesuffix("\r") for ln in _decode(body).split("\n")]
    if start == 1 and lines:
        lines[0] = lines[0].removeprefix("\ufeff")
    return TextFile("\n".join(lines), start, start + len(lines) - 1, total)
