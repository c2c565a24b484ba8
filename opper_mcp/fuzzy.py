"""One way to say "did you mean …": for model ids, spec names and knowledge-base names alike."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def close_matches(target: str, candidates: Iterable[str], n: int = 5, cutoff: float = 0.5,
                  part: str | None = None) -> list[str]:
    """Up to `n` candidates resembling `target`, ignoring case: by difflib's ratio first, then those
    containing `part` (default: `target` itself). Candidates keep their own spelling."""
    folded: dict[str, str] = {}
    for candidate in sorted(candidates):
        folded.setdefault(candidate.casefold(), candidate)
    wanted = target.casefold()
    picked = difflib.get_close_matches(wanted, list(folded), n=n, cutoff=cutoff)
    needle = (target if part is None else part).casefold()
    if needle:
        picked += [c for c in folded if needle in c and c not in picked]
    return [folded[c] for c in picked[:n]]
