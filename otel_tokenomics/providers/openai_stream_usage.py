"""Asking OpenAI chat streams for their usage when the application did not.

A chat completions stream carries no usage unless the request says
``stream_options={"include_usage": true}``; the provider then sends one more
chunk, with empty ``choices``, after the last delta. Adding that option turns an
estimated count into a billed one, but it must not change what the application
sees, nor break a request:

* it is added only where the endpoint is known to accept it (``auto``): OpenAI's
  own API, and Azure OpenAI from API version 2024-08-01-preview (older versions
  answer 400 to the unknown field), or anywhere the user asks (``always``);
* never when the request has ``stream_options`` already, however it was set;
* never for ``with_raw_response`` / ``with_streaming_response`` calls, whose raw
  SSE lines the application may read itself;
* the extra chunk is read by us and not handed to the application (the chunk
  reader returns ``HIDE`` for it), so its loop sees the chunks it would see
  without instrumentation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otel_tokenomics.call import InferenceCall, report_internal_error
from otel_tokenomics.config import STREAM_USAGE_ALWAYS, STREAM_USAGE_NEVER

_INCLUDE_USAGE = {"include_usage": True}
_AZURE_SUFFIXES = (".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com")
# The first Azure OpenAI API version that takes stream_options (2024-08-01-preview;
# GA since 2024-10-21). Versions are dates, so they compare as strings.
_AZURE_FIRST_VERSION = "2024-08-01"
_RAW_RESPONSE_HEADER = "X-Stainless-Raw-Response"


def accepts_stream_options(client: Any) -> bool:
    """Whether the client's endpoint is known to accept ``stream_options``."""
    base_url = client._base_url
    host = (base_url.host or "").lower()
    if host == "api.openai.com":
        return True
    if host.endswith(_AZURE_SUFFIXES):
        version = getattr(client, "_api_version", None)
        if version is None:
            query = getattr(client, "_custom_query", None)
            version = query.get("api-version") if isinstance(query, Mapping) else None
        if not isinstance(version, str):
            # No api-version: the v1 API (…/openai/v1/), which follows OpenAI's.
            return "/openai/v1" in str(base_url.path)
        return version[:10] >= _AZURE_FIRST_VERSION or version in ("latest", "preview", "v1")
    return False


def request_stream_usage(call: InferenceCall, client: Any, options: Any) -> None:
    """Add ``stream_options.include_usage`` to a chat stream's request when it is safe to."""
    try:
        mode = call.telemetry.options.stream_usage
        if mode == STREAM_USAGE_NEVER:
            return
        body = options.json_data
        if type(body) is not dict or "stream_options" in body:
            return
        extra = getattr(options, "extra_json", None)
        if isinstance(extra, Mapping) and "stream_options" in extra:
            return
        headers = getattr(options, "headers", None)
        if isinstance(headers, Mapping) and headers.get(_RAW_RESPONSE_HEADER):
            return
        if mode != STREAM_USAGE_ALWAYS and not accepts_stream_options(client):
            return
        # A new dict: the SDK's own stays as the application's arguments made it.
        options.json_data = {**body, "stream_options": _INCLUDE_USAGE}
        call.usage_injected = True
    except Exception:
        report_internal_error("requesting stream usage")
