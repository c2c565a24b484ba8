"""A real temporary git repository with everything code context must cope with (used by tests/test_context_*.py).

Secret values are assembled at run time so this file itself holds none.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

AWS_KEY = "AKIA" + "Z3MPLE7Q2WXYT4RK"
OPPER_KEY = "op-" + "k3yTESTabcdef0123456789XYZ"
SERVER_KEY = "srv-" + "configured-key-9f8e7d6c"
OUTSIDE_TEXT = "OUTSIDE-THE-ROOT-CONTENT"
ALL_SECRETS = (AWS_KEY, OPPER_KEY, SERVER_KEY, OUTSIDE_TEXT)

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def png_bytes() -> bytes:
    """A real 1x1 PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    ihdr = (1).to_bytes(4, "big") + (1).to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    idat = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


PDF = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
       b"2 0 obj << /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >> endobj\n"
       b"3 0 obj << /Type /Page /Parent 2 0 R >> endobj\n4 0 obj << /Type /Page /Parent 2 0 R >> endobj\n"
       b"trailer << /Root 1 0 R >>\n%%EOF\n")


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "T",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd)}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@dataclass
class Repo:
    root: Path
    outside: Path  # a folder next to the root, outside it

    def write(self, rel: str, text: str | bytes) -> Path:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(text, encoding="utf-8")
        return p

    def git(self, *args: str) -> str:
        return git(self.root, *args)

    def commit(self, rel: str, text: str | bytes, message: str) -> None:
        """`rel` written with `text`, added and committed on its own."""
        self.write(rel, text)
        self.git("add", rel)
        self.git("commit", "-qm", message)


def app_source(n: int = 100) -> str:
    return "".join(f"def f{i}():\n    return {i}\n" for i in range(1, n // 2 + 1))


def make_repo(tmp_path: Path) -> Repo:
    """Two commits (the second renames, deletes and changes a binary), then staged, unstaged and untracked work."""
    root = tmp_path / "work"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(OUTSIDE_TEXT + "\n")
    root.mkdir()
    r = Repo(root, outside)
    r.git("init", "-q", "-b", "main")
    r.write("README.md", "# Demo\n\nA demo project.\n")
    r.write("src/app.py", app_source())
    r.write("src/util.py", "def helper():\n    return 1\n")
    r.write("src/old_name.py", "".join(f"line_{i} = {i}\n" for i in range(40)))
    r.write("docs/guide.md", "# Guide\n\nUse it.\n")
    r.write("docs/obsolete.md", "# Old\n")
    r.write("assets/blob.bin", b"\x00\x01\x02binary\x00")
    r.write(".gitignore", "ignored/\n*.log\n")
    r.write(".env.example", "OPPER_API_KEY=your-key-here\n")
    r.git("add", "-A")
    r.git("commit", "-q", "-m", "initial")
    r.git("mv", "src/old_name.py", "src/new_name.py")
    r.git("rm", "-q", "docs/obsolete.md")
    r.write("assets/blob.bin", b"\x00\x01\x02binary changed\x00")
    r.git("add", "-A")
    r.git("commit", "-q", "-m", "rename, delete, binary change")
    # staged, unstaged, untracked
    r.write("src/util.py", "def helper():\n    return 2  # staged\n")
    r.git("add", "src/util.py")
    r.write("src/app.py", app_source().replace("return 3\n", "return 33  # unstaged\n"))
    r.write("notes/todo.md", "- untracked note\n")
    # ignored and never-walked folders
    r.write("ignored/private.txt", "ignored by .gitignore\n")
    r.write("debug.log", "log line\n")
    r.write("node_modules/pkg/index.js", "module.exports = 1;\n")
    r.write(".venv/lib/site.py", "x = 1\n")
    r.write("myenv/pyvenv.cfg", "home = /usr\n")
    r.write("myenv/lib/mod.py", "y = 2\n")
    r.write("src/__pycache__/app.cpython-311.pyc", b"\x00pyc")
    r.write("build/out.js", "built();\n")
    # secrets
    r.write(".env", f"OPPER_API_KEY={OPPER_KEY}\n")
    r.write("src/aws.py", f'REGION = "eu-north-1"\nBUCKET = "demo"\nACCESS_KEY_ID = "{AWS_KEY}"\n')
    # other content kinds
    r.write("data/latin1.txt", "caf\xe9\n".encode("latin-1"))
    r.write("data/nul.txt", b"text\x00with nul\n")
    r.write("img/pixel.png", png_bytes())
    r.write("img/noext", png_bytes())
    r.write("img/fake.png", "not an image\n")
    r.write("docs/spec.pdf", PDF)
    # symlinks: one out of the root, one inside it, one directory loop
    (root / "link_out.txt").symlink_to(outside / "secret.txt")
    (root / "src" / "link_in.py").symlink_to(root / "src" / "util.py")
    (root / "docs" / "loop").symlink_to(root / "docs")
    return r
