"""Spec errors, in a module of their own so importing them loads no YAML or regex machinery."""

from opper_mcp.opper.errors import OpperError


class SpecError(ValueError):
    """Base class for caller mistakes against the spec (bad pattern, unknown target)."""


class SpecPatternError(SpecError):
    """The grep pattern or its options are unusable."""


class SpecPatternTimeout(SpecPatternError):
    """The pattern did not finish within its time budget."""


class SpecTargetError(SpecError):
    """`read` was asked for an operation or schema that does not exist."""


class SpecParseError(OpperError):
    """The spec text is not a YAML OpenAPI document.

    An `OpperError` because it means Opper (or the cache) served garbage, and the store
    treats it exactly like an unreachable Opper.
    """


__all__ = ["SpecError", "SpecParseError", "SpecPatternError", "SpecPatternTimeout", "SpecTargetError"]
