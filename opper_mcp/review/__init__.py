"""Multi-model code review, the pure part: what models answer, where it lands, how answers merge, rank and export.

No MCP, no network: the `review` tool and `opper-mcp review` call these on what the models returned.
- `findings`: `Finding`, `FINDINGS_SCHEMA` (strict structured output), `parse` (lenient on models' slips).
- `locate`: `Shown` (what the models saw: diff hunks, attached ranges, renames) and `locate` findings on it.
- `merge`: `merge` findings about one problem across models into a `MergedFinding` (with why they were joined);
  `similar` holds the text similarity it uses.
- `rank`: `rank` by agreement, severity, place; `summary` in one line.
- `sarif`: `to_sarif`, a SARIF 2.1.0 log with stable fingerprints.
"""

from .findings import CATEGORIES, FINDINGS_SCHEMA, SEVERITIES, Finding, Severity, parse, severity_rank
from .locate import Shown, Unlocated, combine, from_diff, from_files, locate, place
from .merge import Member, MergedFinding, merge
from .rank import rank, summary
from .sarif import fingerprint, to_sarif

__all__ = [
    "CATEGORIES",
    "FINDINGS_SCHEMA",
    "SEVERITIES",
    "Finding",
    "Member",
    "MergedFinding",
    "Severity",
    "Shown",
    "Unlocated",
    "combine",
    "fingerprint",
    "from_diff",
    "from_files",
    "locate",
    "merge",
    "parse",
    "place",
    "rank",
    "severity_rank",
    "summary",
    "to_sarif",
]
