"""Token estimates without a tokenizer: good enough to size a request against a context window before sending.

Text: one token per 4 characters, rounded up (English prose and code average 3.5-4.5 characters per token with
current BPE tokenizers; rounding up errs towards refusing early). Images: a flat 1,600 tokens each, the top of what
the major providers charge for one image at their default resolution. PDFs: 1,500 tokens per page (text plus a
page image on providers that rasterise), pages counted from the file's `/Type /Page` objects.
"""

from __future__ import annotations

import re

CHARS_PER_TOKEN = 4
IMAGE_TOKENS = 1_600
PDF_PAGE_TOKENS = 1_500

_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


def estimate_tokens(text: str) -> int:
    """ceil(len(text) / 4)."""
    return -(-len(text) // CHARS_PER_TOKEN)


def pdf_pages(data: bytes) -> int:
    """Pages in a PDF, counted from its page objects (at least 1)."""
    return max(1, len(_PDF_PAGE.findall(data)))


def estimate_binary_tokens(kind: str, data: bytes) -> int:
    return pdf_pages(data) * PDF_PAGE_TOKENS if kind == "pdf" else IMAGE_TOKENS
