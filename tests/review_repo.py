"""A real git repository for review tests: uncommitted changes with defects the emulator's reviewers find."""

from __future__ import annotations

from pathlib import Path

from tests.context_repo import AWS_KEY, OPPER_KEY, git

PANEL = ["anthropic/claude-sonnet-4-5", "openai/gpt-5", "gemini/gemini-2.5-pro"]
BASE = "import subprocess\n\n\ndef run(cmd):\n    return subprocess.run(cmd)\n"
CHANGED = """import subprocess
import time


def run(cmd):
    return subprocess.run(cmd, shell=True)


def calc(expr):
    return eval(expr)


async def wait():
    time.sleep(1)


def safe(f):
    try:
        f()
    except Exception: pass
"""
LINE = {"shell": 6, "eval": 10, "sleep": 14, "except": 20}


def make_review_repo(tmp_path: Path) -> Path:
    """A repository with one commit and uncommitted work: planted defects in app.py, a key in .env and in aws.py."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "app.py").write_text(BASE)
    (root / "README.md").write_text("# demo\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first")
    (root / "app.py").write_text(CHANGED)
    (root / ".env").write_text(f"OPPER_API_KEY={OPPER_KEY}\n")
    (root / "aws.py").write_text(f'KEY = "{AWS_KEY}"\nx = eval("1")\n')
    git(root, "add", "aws.py", ".env")
    return root
