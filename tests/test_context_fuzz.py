"""Property tests: whatever paths or refs come in, nothing outside the roots or secret goes out, and git runs no
option smuggled in as a ref."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opper_mcp.context.assemble import gather
from opper_mcp.context.types import ContextError, Gathered
from tests.context_repo import ALL_SECRETS, Repo, make_repo, needs_git

SEGMENTS = ["..", ".", "src", "docs", "loop", "link_out.txt", "app.py", "util.py", "aws.py", ".env", "*", "**",
            "*.py", "outside", "secret.txt", "img", "", "node_modules", "ignored", "link_in.py", ".git", "config"]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    yield make_repo(tmp_path_factory.mktemp("fuzz"))


def _blob(g: Gathered) -> str:
    return repr(g) + "".join(p.data.decode("latin-1") for p in g.parts)


path_specs = st.lists(
    st.builds(lambda segs, absolute, rng: ("/" if absolute else "") + "/".join(segs) + rng,
              st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=6), st.booleans(),
              st.sampled_from(["", ":1", ":2-3", ":0", ":5-1"])),
    min_size=1, max_size=4,
)


@given(specs=path_specs)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_path_escapes_the_root_or_leaks_a_secret(repo: Repo, specs: list[str]) -> None:
    try:
        g = gather([repo.root], specs)
    except ContextError as exc:
        assert all(s not in str(exc) for s in ALL_SECRETS)
        return
    blob = _blob(g)
    assert all(s not in blob for s in ALL_SECRETS)
    for a in g.attached:
        real = (repo.root / a.path).resolve()
        assert real.is_relative_to(repo.root.resolve()), a


REF_PIECES = ["HEAD", "main", "~", "^", "1", "..", "...", "-", "--output=", "-o", "/", ":", "@", "{", "}", " ",
              "\n", "=", "x", ".lock", "*", "HEAD~1", "refs/heads/", "\\", "\0"]


@needs_git
@given(pieces=st.lists(st.sampled_from(REF_PIECES), min_size=1, max_size=5))
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_refs_never_become_options(repo: Repo, pieces: list[str]) -> None:
    marker = repo.outside / "out"
    ref = "".join(pieces).replace("--output=", f"--output={marker}").replace("-o", f"-o{marker}")
    try:
        g = gather([repo.root], diff=ref)
    except ContextError:
        pass
    else:
        assert g.parts[0].text.startswith(f"=== git diff {ref.strip()} ===")
        assert all(s not in _blob(g) for s in ALL_SECRETS)
    assert not marker.exists()
