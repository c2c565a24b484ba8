"""Argument leniency for sloppy clients, without changing the published schemas."""

from __future__ import annotations

from typing import Any

from pydantic import BeforeValidator


def _split_commas(value: Any) -> Any:
    """`"vision, tools"` → `["vision", "tools"]`: some clients send a list as one string."""
    if isinstance(value, str) and not value.lstrip().startswith(("[", "{")):  # broken JSON stays an error
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CommaList = BeforeValidator(_split_commas)
