"""Multi-model code review, the pure part: what models answer, where it lands, how answers merge, rank and export.

No MCP, no network: the `review` tool and `opper-mcp review` call these on what the models returned.
Import the submodules themselves: this face imports nothing.
- `findings`: `Finding`, `FINDINGS_SCHEMA` (strict structured output), `parse` (lenient on models' slips).
- `locate`: `Shown` (what the models saw: diff hunks, attached ranges, renames) and `locate` findings on it.
- `merge`: `merge` findings about one problem across models into a `MergedFinding` (with why they were joined);
  `similar` holds the text similarity it uses.
- `rank`: `rank` by agreement, severity, place; `summary` in one line.
- `sarif`: `to_sarif`, a SARIF 2.1.0 log with stable fingerprints.
"""
