"""Deterministic model catalogue for the fake Opper server (`GET /v3/models`).

Rows follow API-CONTRACT §4.1 (`ModelInfo` plus the newer `model`, `pooled` and
`compliance` fields). Everything is generated from fixed tables, so the catalogue is
identical on every run. Opt-in blocks (`maker`, `benchmarks`, `route`, `policy`) live on
`CatalogueEntry` and are attached by the app only when `include=` asks for them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

PROVIDER_NAMES: dict[str, str] = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "gemini": "Google Gemini",
    "mistral": "Mistral AI",
    "meta": "Meta",
    "xai": "xAI",
    "deepseek": "DeepSeek",
    "groq": "Groq",
    "cerebras": "Cerebras",
    "together": "Together AI",
    "fireworks": "Fireworks AI",
    "deepinfra": "DeepInfra",
    "cohere": "Cohere",
}

# provider -> (residency/country, transfer mechanism)
_PROVIDER_REGION: dict[str, str] = {"mistral": "EU"}

# Providers whose rows the default fake policy blocks (visible via include=policy).
BLOCKED_PROVIDERS = frozenset({"deepseek"})


@dataclass
class CatalogueEntry:
    """One catalogue row plus the opt-in blocks and fake-only flags."""

    info: dict[str, Any]
    maker: str
    benchmarks: dict[str, Any] | None
    route: dict[str, Any]
    policy: dict[str, Any]
    native_web_search: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.info["id"])

    @property
    def type(self) -> str:
        return str(self.info["type"])

    @property
    def provider(self) -> str:
        return str(self.info["provider"])

    @property
    def retired(self) -> bool:
        return bool(self.info.get("retired_at"))

    def render(self, include: set[str]) -> dict[str, Any]:
        row = copy.deepcopy(self.info)
        if "maker" in include:
            row["maker"] = self.maker
        if "benchmarks" in include and self.benchmarks is not None:
            row["benchmarks"] = copy.deepcopy(self.benchmarks)
        if "route" in include:
            row["route"] = copy.deepcopy(self.route)
        if "policy" in include:
            row["policy"] = copy.deepcopy(self.policy)
        return row


# --------------------------------------------------------------------------- helpers


def _compliance(provider: str, route_id: str) -> dict[str, Any]:
    region = _PROVIDER_REGION.get(provider, "US")
    country = "FR" if region == "EU" else "US"
    zdr_logging = provider not in {"deepseek", "xai"}
    return {
        "residency": region,
        "country": country,
        "inference_location": region,
        "zdr": {
            "logging": not zdr_logging,
            "moderation": True if provider == "openai" else None,
            "caching": False,
            "training": False if provider != "deepseek" else None,
            "subprocessors": None,
        },
        "training": provider == "deepseek",
        "logging": provider in {"deepseek", "xai"},
        "moderation": provider == "openai",
        "caching": provider in {"anthropic", "openai", "gemini"},
        "content_storage": "none" if zdr_logging else "30d",
        "dpa_available": provider not in {"deepseek"},
        "third_party_access": False,
        "transfer_mechanism": "none" if region == "EU" else "SCC",
        "route_id": route_id,
    }


def _route(info: dict[str, Any], maker: str) -> dict[str, Any]:
    comp = info["compliance"]
    return {
        "data_handling": {
            "training": {"used_for_training": bool(comp.get("training"))},
            "logging": {
                "enabled": bool(comp.get("logging")),
                "retention_days": 30 if comp.get("logging") else 0,
                "storage_location": comp.get("residency", "US"),
                "human_review": False,
            },
            "moderation": {"enabled": bool(comp.get("moderation")), "human_review": False},
            "caching": {"enabled": bool(comp.get("caching")), "retention_days": 0},
            "subprocessors_read_content": False,
        },
        "gdpr": {
            "residency": comp.get("residency", "US"),
            "dpa_available": bool(comp.get("dpa_available", True)),
            "transfer_mechanism": comp.get("transfer_mechanism", "SCC"),
        },
        "verification": {"status": "verified" if info["provider"] in {"openai", "anthropic"} else "self_reported"},
        "sources": [f"https://trust.example.com/{info['provider']}/data-handling"],
        "last_verified_at": "2026-09-01T00:00:00Z",
        "underlying_maker": maker,
        "zdr": copy.deepcopy(comp.get("zdr")),
    }


def _policy(provider: str) -> dict[str, Any]:
    if provider in BLOCKED_PROVIDERS:
        return {
            "allowed": False,
            "blocked_by": "org",
            "reason": f"provider {provider} is blocked by organisation policy",
        }
    return {"allowed": True}


def _benchmarks(seed: int, quality: str) -> dict[str, Any]:
    base = {"low": 30.0, "medium": 45.0, "high": 60.0, "very_high": 70.0}.get(quality, 40.0)
    return {
        "intelligence_index": round(base + (seed % 7) * 1.3, 1),
        "coding_index": round(base - 5 + (seed % 5) * 1.7, 1),
        "math_index": round(base + 3 + (seed % 3) * 2.1, 1),
        "source": "artificialanalysis.ai",
    }


def _llm_params(max_tokens: int, reasoning: bool) -> dict[str, Any]:
    params: dict[str, Any] = {
        "default_max_tokens": max_tokens,
        "temperature": {"min": 0, "max": 2, "default": 1},
    }
    if reasoning:
        params["reasoning"] = {"supported": ["low", "medium", "high"], "default": "medium", "mode": "effort"}
    return params


def _title(model: str) -> str:
    """`claude-haiku-4-5` -> `Claude Haiku 4.5`, `gpt-5-mini` -> `GPT-5 Mini`."""
    out: list[str] = []
    for p in model.replace("_", "-").split("-"):
        if out and p.isdigit() and len(p) == 1 and out[-1][-1:].isdigit() and "." not in out[-1]:
            out[-1] = f"{out[-1]}.{p}"
        elif p.lower() in {"gpt", "oss", "ai", "tts", "stt", "r1", "glm"}:
            out.append(p.upper())
        else:
            out.append(p[:1].upper() + p[1:])
    return " ".join(out).replace("GPT ", "GPT-", 1)


# --------------------------------------------------------------------------- LLM tables

# (provider, model, description, capabilities, speed, quality, cost, context, in $/Mtok, out $/Mtok,
#  reasoning, featured, aliases)
# fmt: off
_LLMS: list[tuple[Any, ...]] = [
    ("openai", "gpt-5.5", "OpenAI flagship model for complex reasoning and agentic coding.",
     "text tools vision pdf structured_output reasoning web_search", "medium", "very_high", 4, 400000, 5.0, 30.0,
     True, True, []),
    ("openai", "gpt-5", "General-purpose GPT-5 model with strong reasoning.",
     "text tools vision pdf structured_output reasoning web_search", "medium", "very_high", 3, 400000, 1.25, 10.0,
     True, False, []),
    ("openai", "gpt-5-mini", "Fast, affordable GPT-5 variant for well-defined tasks.",
     "text tools vision pdf structured_output reasoning web_search", "fast", "high", 1, 400000, 0.25, 2.0, True, True,
     ["gpt-5-mini-latest"]),
    ("openai", "gpt-5-nano", "Smallest GPT-5 variant for classification and extraction.",
     "text tools vision structured_output reasoning", "very_fast", "medium", 1, 400000, 0.05, 0.4, True, False, []),
    ("openai", "gpt-4.1", "Non-reasoning GPT-4.1 with a one-million-token context.",
     "text tools vision pdf structured_output", "medium", "high", 2, 1047576, 2.0, 8.0, False, False, []),
    ("openai", "gpt-4.1-mini", "Smaller GPT-4.1 balancing cost and quality.", "text tools vision structured_output",
     "fast", "medium", 1, 1047576, 0.4, 1.6, False, False, []),
    ("openai", "gpt-4.1-nano", "Cheapest GPT-4.1 model.", "text tools structured_output", "very_fast", "low", 1,
     1047576, 0.1, 0.4, False, False, []),
    ("openai", "gpt-4o", "Omni model with vision and audio input.", "text tools vision structured_output audio",
     "fast", "high", 2, 128000, 2.5, 10.0, False, False, ["gpt-4o-latest"]),
    ("openai", "gpt-4o-mini", "Small omni model for cheap multimodal tasks.", "text tools vision structured_output",
     "fast", "medium", 1, 128000, 0.15, 0.6, False, False, []),
    ("openai", "o3", "Reasoning model for math, science and code.", "text tools vision structured_output reasoning",
     "slow", "very_high", 3, 200000, 2.0, 8.0, True, False, []),
    ("openai", "o4-mini", "Compact reasoning model.", "text tools vision structured_output reasoning", "medium",
     "high", 2, 200000, 1.1, 4.4, True, False, []),
    ("openai", "gpt-oss-120b", "Open-weight 120B reasoning model from OpenAI.",
     "text tools structured_output reasoning", "fast", "high", 1, 131072, 0.15, 0.6, True, False, []),
    ("openai", "gpt-oss-20b", "Open-weight 20B reasoning model from OpenAI.",
     "text tools structured_output reasoning", "very_fast", "medium", 1, 131072, 0.05, 0.2, True, False, []),
    ("anthropic", "claude-opus-4-6", "Most capable Claude model for hard reasoning and long agentic work.",
     "text tools vision pdf structured_output reasoning web_search", "slow", "very_high", 5, 200000, 15.0, 75.0, True,
     True, []),
    ("anthropic", "claude-haiku-4-5", "Fast, low-cost Claude model.",
     "text tools vision pdf structured_output reasoning web_search", "fast", "medium", 1, 200000, 1.0, 5.0, True,
     True, ["claude-haiku-latest"]),
    ("anthropic", "claude-sonnet-4-5", "Previous-generation balanced Claude model.",
     "text tools vision pdf structured_output reasoning web_search", "medium", "high", 3, 200000, 3.0, 15.0, True,
     False, []),
    ("anthropic", "claude-opus-4-1", "Previous-generation Opus model.",
     "text tools vision pdf structured_output reasoning", "slow", "very_high", 5, 200000, 15.0, 75.0, True, False,
     []),
    ("gemini", "gemini-2.5-pro", "Google's most capable thinking model with long context.",
     "text tools vision pdf structured_output reasoning web_search audio", "medium", "very_high", 3, 1048576, 1.25,
     10.0, True, True, ["gemini-pro-latest"]),
    ("gemini", "gemini-2.5-flash", "Fast, cost-efficient Gemini thinking model.",
     "text tools vision pdf structured_output reasoning web_search audio", "fast", "high", 1, 1048576, 0.3, 2.5, True,
     True, ["gemini-flash-latest"]),
    ("gemini", "gemini-2.5-flash-lite", "Lightest Gemini 2.5 model for high-volume tasks.",
     "text tools vision pdf structured_output", "very_fast", "medium", 1, 1048576, 0.1, 0.4, False, False, []),
    ("gemini", "gemini-3-pro-preview", "Preview of the next Gemini Pro generation.",
     "text tools vision pdf structured_output reasoning", "medium", "very_high", 4, 1048576, 2.0, 12.0, True, False,
     []),
    ("mistral", "mistral-large-latest", "Mistral's flagship model, hosted in the EU.",
     "text tools vision structured_output", "medium", "high", 2, 131072, 2.0, 6.0, False, False, []),
    ("mistral", "mistral-medium-latest", "Balanced Mistral model, hosted in the EU.",
     "text tools vision structured_output", "fast", "high", 1, 131072, 0.4, 2.0, False, False, []),
    ("mistral", "mistral-small-latest", "Small Mistral model, hosted in the EU.", "text tools structured_output",
     "very_fast", "medium", 1, 131072, 0.1, 0.3, False, False, []),
    ("mistral", "codestral-latest", "Mistral model specialised for code completion.", "text tools structured_output",
     "fast", "high", 1, 256000, 0.3, 0.9, False, False, []),
    ("mistral", "magistral-medium-latest", "Mistral reasoning model.", "text tools structured_output reasoning",
     "medium", "high", 2, 40000, 2.0, 5.0, True, False, []),
    ("meta", "llama-4-maverick", "Llama 4 mixture-of-experts model with vision.",
     "text tools vision structured_output", "fast", "high", 1, 1048576, 0.2, 0.6, False, False, []),
    ("meta", "llama-4-scout", "Efficient Llama 4 model with a long context.", "text tools vision structured_output",
     "very_fast", "medium", 1, 10000000, 0.11, 0.34, False, False, []),
    ("xai", "grok-4", "xAI flagship reasoning model.", "text tools vision structured_output reasoning web_search",
     "medium", "very_high", 3, 256000, 3.0, 15.0, True, False, []),
    ("xai", "grok-4-fast", "Fast, cheap Grok 4 variant.", "text tools vision structured_output reasoning", "fast",
     "high", 1, 2000000, 0.2, 0.5, True, False, []),
    ("xai", "grok-3-mini", "Small Grok reasoning model.", "text tools structured_output reasoning", "fast", "medium",
     1, 131072, 0.3, 0.5, True, False, []),
    ("deepseek", "deepseek-chat", "DeepSeek V3 chat model.", "text tools structured_output", "medium", "high", 1,
     128000, 0.28, 0.42, False, False, []),
    ("deepseek", "deepseek-reasoner", "DeepSeek reasoning model.", "text tools structured_output reasoning", "slow",
     "high", 1, 128000, 0.28, 0.42, True, False, []),
]
# fmt: on

# Open-weight models hosted by several inference providers (pooled under the bare name).
# (model, maker, description, capabilities, quality, context, in $/Mtok, out $/Mtok, reasoning)
# fmt: off
_OPEN_MODELS: list[tuple[Any, ...]] = [
    ("gpt-oss-120b", "openai", "Open-weight 120B reasoning model from OpenAI.",
     "text tools structured_output reasoning", "high", 131072, 0.15, 0.6, True),
    ("gpt-oss-20b", "openai", "Open-weight 20B reasoning model from OpenAI.",
     "text tools structured_output reasoning", "medium", 131072, 0.05, 0.2, True),
    ("llama-3.1-8b-instant", "meta", "Small Llama 3.1 model for latency-critical work.", "text tools", "low", 131072,
     0.05, 0.08, False),
    ("llama-3.1-70b", "meta", "Llama 3.1 70B instruction-tuned model.", "text tools structured_output", "medium",
     131072, 0.59, 0.79, False),
    ("llama-3.1-405b", "meta", "Largest Llama 3.1 model.", "text tools structured_output", "high", 131072, 3.0, 3.0,
     False),
    ("llama-3.3-70b", "meta", "Llama 3.3 70B instruction-tuned model.", "text tools structured_output", "medium",
     131072, 0.59, 0.79, False),
    ("llama-4-scout", "meta", "Efficient Llama 4 model with a long context.", "text tools vision structured_output",
     "medium", 131072, 0.11, 0.34, False),
    ("llama-4-maverick", "meta", "Llama 4 mixture-of-experts model with vision.",
     "text tools vision structured_output", "high", 131072, 0.2, 0.6, False),
    ("qwen3-32b", "alibaba", "Qwen3 dense 32B model with hybrid thinking.", "text tools structured_output reasoning",
     "medium", 131072, 0.29, 0.59, True),
    ("qwen3-235b-a22b", "alibaba", "Qwen3 mixture-of-experts flagship.", "text tools structured_output reasoning",
     "high", 131072, 0.6, 1.2, True),
    ("qwen3-coder-480b", "alibaba", "Qwen3 coding model.", "text tools structured_output", "high", 262144, 2.0, 2.0,
     False),
    ("kimi-k2", "moonshot", "Moonshot Kimi K2 agentic model.", "text tools structured_output", "high", 131072, 1.0,
     3.0, False),
    ("deepseek-v3.1", "deepseek", "DeepSeek V3.1 hybrid model.", "text tools structured_output reasoning", "high",
     131072, 0.6, 1.7, True),
    ("deepseek-r1", "deepseek", "DeepSeek R1 reasoning model.", "text structured_output reasoning", "high", 131072,
     3.0, 7.0, True),
    ("mixtral-8x7b", "mistral", "Mixtral sparse mixture-of-experts model.", "text tools", "low", 32768, 0.24, 0.24,
     False),
    ("mistral-small-3.2", "mistral", "Open-weight Mistral Small 3.2.", "text tools vision structured_output",
     "medium", 131072, 0.1, 0.3, False),
    ("gemma-3-27b", "google", "Google's open Gemma 3 27B model.", "text vision", "medium", 131072, 0.1, 0.2, False),
    ("glm-4.6", "zhipu", "Zhipu GLM 4.6 agentic coding model.", "text tools structured_output reasoning", "high",
     200000, 0.6, 2.2, True),
    ("phi-4", "microsoft", "Microsoft Phi-4 small language model.", "text", "low", 16384, 0.07, 0.14, False),
    ("command-r-plus", "cohere", "Cohere Command R+ retrieval-tuned model.", "text tools", "medium", 131072, 2.5,
     10.0, False),
]
# fmt: on
_HOSTS = ["groq", "cerebras", "together", "fireworks", "deepinfra"]

# Dated snapshots of first-party models: (provider, base model, date suffix).
# fmt: off
_SNAPSHOTS: list[tuple[str, str, str]] = [
    ("openai", "gpt-5", "2025-08-07"),
    ("openai", "gpt-5-mini", "2025-08-07"),
    ("openai", "gpt-5-nano", "2025-08-07"),
    ("openai", "gpt-4.1", "2025-04-14"),
    ("openai", "gpt-4.1-mini", "2025-04-14"),
    ("openai", "gpt-4o", "2024-11-20"),
    ("openai", "gpt-4o", "2024-08-06"),
    ("openai", "gpt-4o-mini", "2024-07-18"),
    ("openai", "o3", "2025-04-16"),
    ("openai", "o4-mini", "2025-04-16"),
    ("anthropic", "claude-sonnet-4-5", "20250929"),
    ("anthropic", "claude-haiku-4-5", "20251001"),
    ("anthropic", "claude-opus-4-1", "20250805"),
    ("mistral", "mistral-large", "2411"),
    ("mistral", "mistral-medium", "2508"),
    ("mistral", "mistral-small", "2506"),
    ("mistral", "codestral", "2508"),
    ("gemini", "gemini-2.5-flash", "preview-09-2025"),
    ("gemini", "gemini-2.5-flash-lite", "preview-09-2025"),
    ("xai", "grok-4", "0709"),
]
# fmt: on

# Retired rows (hidden unless deprecated=true).
# fmt: off
_RETIRED: list[tuple[str, str, str, str, str]] = [
    ("anthropic", "claude-3-7-sonnet-20250219", "Retired Claude 3.7 Sonnet.", "2026-02-19T00:00:00Z",
     "anthropic/claude-sonnet-4-6"),
    ("gemini", "gemini-1.5-pro", "Retired Gemini 1.5 Pro.", "2025-09-24T00:00:00Z", "gemini/gemini-2.5-pro"),
    ("openai", "gpt-4-turbo", "Retired GPT-4 Turbo.", "2026-06-30T00:00:00Z", "openai/gpt-4.1"),
]
# fmt: on

_SPEEDS = ["very_fast", "fast", "medium"]
_NATIVE_SEARCH_PROVIDERS = {"openai", "anthropic"}


def _llm_row(
    provider: str,
    model: str,
    description: str,
    caps: list[str],
    speed: str,
    quality: str,
    cost: float,
    context: int,
    price_in: float,
    price_out: float,
    reasoning: bool,
    *,
    featured: bool = False,
    aliases: list[str] | None = None,
    pool_name: str | None = None,
    pooled: bool = True,
) -> dict[str, Any]:
    mid = f"{provider}/{model}"
    row: dict[str, Any] = {
        "id": mid,
        "model": pool_name or model,
        "pooled": pooled,
        "name": _title(model),
        "type": "llm",
        "provider": provider,
        "provider_display_name": PROVIDER_NAMES[provider],
        "model_id": model,
        "api_type": "anthropic" if provider == "anthropic" else ("gemini" if provider == "gemini" else "openai"),
        "description": description,
        "capabilities": caps,
        "speed": speed,
        "quality": quality,
        "cost": cost,
        "context_window": context,
        "region": _PROVIDER_REGION.get(provider, "US"),
        "country": "FR" if provider == "mistral" else "US",
        "featured": featured,
        "aliases": list(aliases or []),
        "params": _llm_params(min(32768, max(4096, context // 16)), reasoning),
        "pricing": {
            "input": [round(price_in / 1_000_000, 12)],
            "output": [round(price_out / 1_000_000, 12)],
            "cached_input": [round(price_in / 10_000_000, 12)],
        },
    }
    if "web_search" in caps:
        row["pricing"]["web_search_price_per_request"] = 0.01
    row["compliance"] = _compliance(provider, f"route_{provider}_{model}".replace(".", "_").replace("-", "_"))
    return row


def _entry(row: dict[str, Any], maker: str, seed: int) -> CatalogueEntry:
    bench = _benchmarks(seed, row["quality"]) if row["type"] == "llm" else None
    native = row["type"] == "llm" and row["provider"] in _NATIVE_SEARCH_PROVIDERS and "tools" in row["capabilities"]
    return CatalogueEntry(
        info=row,
        maker=maker,
        benchmarks=bench,
        route=_route(row, maker),
        policy=_policy(row["provider"]),
        native_web_search=native,
    )


def _contract_rows() -> list[dict[str, Any]]:
    """The two rows of the API-CONTRACT §4.1 example, verbatim (plus the newer fields)."""
    sonnet = {
        "id": "anthropic/claude-sonnet-4-6",
        "model": "claude-sonnet-4-6",
        "pooled": True,
        "name": "Claude Sonnet 4.6",
        "type": "llm",
        "provider": "anthropic",
        "provider_display_name": "Anthropic",
        "model_id": "claude-sonnet-4-6",
        "api_type": "anthropic",
        "description": "Balanced Claude model for coding and agents.",
        "capabilities": ["text", "tools", "vision", "pdf", "structured_output", "reasoning"],
        "speed": "medium",
        "quality": "high",
        "cost": 3,
        "context_window": 200000,
        "region": "US",
        "country": "US",
        "featured": True,
        "aliases": [],
        "params": {
            "default_max_tokens": 8192,
            "temperature": {"min": 0, "max": 1, "default": 1},
            "reasoning": {"supported": ["low", "medium", "high"], "default": "medium", "mode": "effort"},
        },
        "pricing": {
            "input": [0.000003],
            "output": [0.000015],
            "cached_input": [0.0000003],
            "web_search_price_per_request": 0.01,
        },
        "compliance": {
            "residency": "US",
            "country": "US",
            "inference_location": "US",
            "zdr": {"logging": False, "moderation": None, "caching": False, "training": False, "subprocessors": None},
            "dpa_available": True,
        },
    }
    embedding = {
        "id": "openai/text-embedding-3-small",
        "model": "text-embedding-3-small",
        "pooled": False,
        "name": "text-embedding-3-small",
        "type": "embedding",
        "provider": "openai",
        "provider_display_name": "OpenAI",
        "model_id": "text-embedding-3-small",
        "description": "Small embedding model.",
        "capabilities": [],
        "speed": "fast",
        "quality": "medium",
        "cost": 1,
        "context_window": 8191,
        "params": {
            "default_max_tokens": 0,
            "embedding": {"dimensions": 1536, "max_input_tokens": 8191, "supports_dimensions": True},
        },
        "pricing": {"input": [0.00000002], "output": [0]},
        "compliance": _compliance("openai", "route_openai_text_embedding_3_small"),
    }
    return [sonnet, embedding]


def _special_rows() -> list[tuple[dict[str, Any], str]]:
    """Non-LLM rows: embeddings, image, tts, stt, rerank."""
    rows: list[tuple[dict[str, Any], str]] = []

    def base(provider: str, model: str, typ: str, desc: str, caps: list[str], ctx: int) -> dict[str, Any]:
        return {
            "id": f"{provider}/{model}",
            "model": model,
            "pooled": False,
            "name": _title(model),
            "type": typ,
            "provider": provider,
            "provider_display_name": PROVIDER_NAMES[provider],
            "model_id": model,
            "api_type": "openai",
            "description": desc,
            "capabilities": caps,
            "speed": "fast",
            "quality": "high",
            "cost": 1,
            "context_window": ctx,
            "region": _PROVIDER_REGION.get(provider, "US"),
            "country": "FR" if provider == "mistral" else "US",
            "featured": False,
            "aliases": [],
            "compliance": _compliance(provider, f"route_{provider}_{model}".replace("-", "_").replace(".", "_")),
        }

    for provider, model, dims, price in [
        ("openai", "text-embedding-3-large", 3072, 0.13),
        ("gemini", "gemini-embedding-001", 3072, 0.15),
        ("mistral", "mistral-embed", 1024, 0.1),
        ("cohere", "embed-v4.0", 1536, 0.12),
        ("together", "bge-large-en-v1.5", 1024, 0.02),
    ]:
        r = base(provider, model, "embedding", f"Text embedding model with {dims} dimensions.", [], 8192)
        r["params"] = {
            "default_max_tokens": 0,
            "embedding": {"dimensions": dims, "max_input_tokens": 8192, "supports_dimensions": provider != "mistral"},
        }
        r["pricing"] = {"input": [round(price / 1_000_000, 12)], "output": [0]}
        rows.append((r, provider))

    for provider, model, desc in [
        ("openai", "gpt-image-1", "OpenAI native image generation and editing model."),
        ("openai", "dall-e-3", "DALL-E 3 image generation."),
        ("gemini", "imagen-4", "Google Imagen 4 text-to-image model."),
        ("gemini", "gemini-2.5-flash-image", "Gemini image generation and editing."),
        ("xai", "grok-2-image", "xAI image generation model."),
    ]:
        r = base(provider, model, "image", desc, ["image_generation", "image_edit"], 4096)
        r["params"] = {
            "default_max_tokens": 0,
            "image": {
                "default": "1024x1024",
                "qualities": ["low", "medium", "high"],
                "sizes": ["1024x1024", "1024x1536", "1536x1024"],
                "styles": ["natural", "vivid"],
            },
            "image_edit": {"aspect_ratios": ["1:1", "3:2", "2:3"], "default": "1:1"},
        }
        r["pricing"] = {"input": [0.00001], "output": [0.00004], "price_per_generation": 0.04}
        rows.append((r, provider))

    for provider, model, voices in [
        ("openai", "gpt-4o-mini-tts", ["alloy", "ash", "coral", "sage"]),
        ("openai", "tts-1", ["alloy", "echo", "fable", "onyx", "nova", "shimmer"]),
        ("openai", "tts-1-hd", ["alloy", "echo", "fable", "onyx", "nova", "shimmer"]),
        ("gemini", "gemini-2.5-flash-tts", ["Kore", "Puck", "Charon"]),
    ]:
        r = base(provider, model, "tts", "Text-to-speech model.", ["tts"], 4096)
        r["params"] = {
            "default_max_tokens": 0,
            "tts": {"default_voice": voices[0], "max_length": 4096, "voices": voices},
        }
        r["pricing"] = {"input": [0.0000006], "output": [0], "price_per_m_chars": 15.0}
        rows.append((r, provider))

    for provider, model in [
        ("openai", "whisper-1"),
        ("openai", "gpt-4o-transcribe"),
        ("openai", "gpt-4o-mini-transcribe"),
        ("groq", "whisper-large-v3"),
        ("groq", "whisper-large-v3-turbo"),
    ]:
        r = base(provider, model, "stt", "Speech-to-text transcription model.", ["stt"], 0)
        r["params"] = {
            "default_max_tokens": 0,
            "stt": {
                "default_language": "en",
                "formats": ["mp3", "wav", "m4a", "webm"],
                "languages": ["en", "sv", "de", "fr"],
            },
        }
        r["pricing"] = {"input": [0], "output": [0], "price_per_minute": 0.006}
        rows.append((r, provider))

    for provider, model in [
        ("cohere", "rerank-v3.5"),
        ("cohere", "rerank-english-v3.0"),
        ("cohere", "rerank-multilingual-v3.0"),
        ("together", "mxbai-rerank-large-v2"),
    ]:
        r = base(provider, model, "rerank", "Document reranking model.", ["rerank"], 4096)
        r["params"] = {"default_max_tokens": 0}
        r["pricing"] = {"input": [0], "output": [0], "price_per_generation": 0.002}
        rows.append((r, provider))
    return rows


def build_catalogue() -> list[CatalogueEntry]:
    """Build the full catalogue (sorted by id). Deterministic."""
    entries: list[CatalogueEntry] = []
    seed = 0

    def add(row: dict[str, Any], maker: str) -> None:
        nonlocal seed
        seed += 1
        entries.append(_entry(row, maker, seed))

    for row in _contract_rows():
        add(row, row["provider"])

    for provider, model, desc, caps, speed, quality, cost, ctx, pin, pout, reasoning, featured, aliases in _LLMS:
        add(
            _llm_row(
                provider,
                model,
                desc,
                caps.split(),
                speed,
                quality,
                cost,
                ctx,
                pin,
                pout,
                reasoning,
                featured=featured,
                aliases=aliases,
            ),
            provider,
        )

    for j, (model, maker, desc, caps, quality, ctx, pin, pout, reasoning) in enumerate(_OPEN_MODELS):
        for i, host in enumerate(_HOSTS):
            if (i + j) % 5 == 4:  # not every host serves every model
                continue
            factor = 1.0 + 0.1 * i
            add(
                _llm_row(
                    host,
                    model,
                    f"{desc} Served by {PROVIDER_NAMES[host]}.",
                    caps.split(),
                    _SPEEDS[(i + j) % 3],
                    quality,
                    1,
                    ctx,
                    pin * factor,
                    pout * factor,
                    reasoning,
                ),
                maker,
            )

    by_id = {e.id: e for e in entries}
    for provider, model, date in _SNAPSHOTS:
        parent = by_id.get(f"{provider}/{model}") or by_id.get(f"{provider}/{model}-latest")
        if parent is None:
            continue
        snap = copy.deepcopy(parent.info)
        snap_model = f"{model}-{date}"
        snap.update(
            id=f"{provider}/{snap_model}",
            model=snap_model,
            pooled=False,
            name=f"{parent.info['name']} ({date})",
            model_id=snap_model,
            description=f"Pinned snapshot {date} of {parent.info['name']}.",
            featured=False,
            aliases=[],
        )
        snap["compliance"] = _compliance(provider, f"route_{provider}_{snap_model}".replace("-", "_").replace(".", "_"))
        add(snap, parent.maker)

    for provider, model, desc, retired_at, successor in _RETIRED:
        row = _llm_row(
            provider,
            model,
            desc,
            ["text", "tools", "vision"],
            "medium",
            "high",
            3,
            200000,
            3.0,
            15.0,
            False,
            pooled=False,
        )
        row["retired_at"] = retired_at
        row["successor"] = successor
        add(row, provider)

    for row, maker in _special_rows():
        add(row, maker)

    ids = [e.id for e in entries]
    assert len(ids) == len(set(ids)), "duplicate catalogue ids"
    entries.sort(key=lambda e: e.id)
    return entries


CATALOGUE: list[CatalogueEntry] = build_catalogue()
CATALOGUE_BY_ID: dict[str, CatalogueEntry] = {e.id: e for e in CATALOGUE}


def resolve_chat_model(name: str) -> CatalogueEntry | None:
    """Resolve a chat `model` string: exact id, bare pool name, or alias of an LLM row."""
    entry = CATALOGUE_BY_ID.get(name)
    if entry is not None:
        return entry if entry.type == "llm" else None
    llms = [e for e in CATALOGUE if e.type == "llm"]
    for e in llms:
        if e.info.get("pooled") and e.info.get("model") == name and not e.retired:
            return e
    for e in llms:
        if name in e.info.get("aliases", []):
            return e
    return None
