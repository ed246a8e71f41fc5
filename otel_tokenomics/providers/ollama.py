"""The ``ollama`` SDK (a local Ollama server, a remote one, Ollama Cloud): what we wrap and how we read it.

Every request of the SDK goes through ``Client._request`` / ``AsyncClient._request``
(``cls, method, path, json=body, stream=...``). Those two are wrapped, and only the
paths below get a span; everything else (pull, list, web search, ...) passes
through. Wrapping the choke point rather than ``Client.chat`` matters: the
module-level ``ollama.chat``, ``ollama.generate``, ... are bound methods of a
``Client`` made when ``ollama`` is imported, and they, like every client made
before ``instrument()``, look ``_request`` up on the class at each call.

Token model: only the answer (the last part of a stream, ``done: true``) counts.

* ``prompt_eval_count`` = every prompt token of the request, those the server
  reused from its KV cache included -> ``gen_ai.usage.input_tokens``;
* ``prompt_eval_cached_count`` (newer servers) = the part of it served from the
  KV cache -> ``gen_ai.usage.cache_read.input_tokens``. The SDK's models drop the
  field (ollama-python 0.6.3), so it is read from the raw part, before the SDK
  builds its model;
* ``eval_count`` = every generated token, thinking included (no split is
  reported) -> ``gen_ai.usage.output_tokens``;
* ``/api/embed``: ``prompt_eval_count`` only. The legacy ``/api/embeddings`` reports
  no count at all (estimated, below).

The server leaves zero counts out (Go ``omitempty``), and servers before 2024
left ``prompt_eval_count`` out when the whole prompt came from the cache: an
absent ``prompt_eval_count`` is a count not made, not zero tokens. Such a call,
a stream left before its ``done`` part and the legacy ``/api/embeddings`` are
estimated from the request (:mod:`~otel_tokenomics.providers.ollama_prompt`) and
the text, thinking and tool calls of the answer, marked heuristic (the model's
tokenizer is not known here). The ``*_duration`` fields (nanoseconds) are not
recorded: no registry attribute holds them yet.

Local models cost nothing per token: provider ``ollama`` is priced at 0 on
purpose (``tokenomics.cost.source=local``) unless the user prices the model.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from otel_tokenomics import semconv as sc
from otel_tokenomics.activation import Adapter
from otel_tokenomics.call import InferenceCall, Route, report_internal_error
from otel_tokenomics.providers import ollama_prompt
from otel_tokenomics.request_fields import Put, integer, number, request_reader, stop
from otel_tokenomics.telemetry import Telemetry
from otel_tokenomics.usage import Fields, Usage, count, field, reported
from otel_tokenomics.wrapping import (
    Endpoint,
    MethodPatcher,
    follow_async_iterator,
    follow_iterator,
    may_trace,
    run,
    run_async,
    start_call,
)

OLLAMA = "ollama"
# Where the SDK goes when given no host and no OLLAMA_HOST.
DEFAULT_ADDRESS = "127.0.0.1"
DEFAULT_PORT = 11434

# -- request attributes -----------------------------------------------------------------


def _max_tokens(value: Any, attributes: dict[str, Any]) -> None:
    # num_predict -1 (no limit) and -2 (fill the context) set no maximum.
    if type(value) is int and value >= 0:
        attributes[sc.GEN_AI_REQUEST_MAX_TOKENS] = value


_OPTIONS: dict[str, Put] = {
    "temperature": number(sc.GEN_AI_REQUEST_TEMPERATURE),
    "top_p": number(sc.GEN_AI_REQUEST_TOP_P),
    "top_k": number(sc.GEN_AI_REQUEST_TOP_K),
    "presence_penalty": number(sc.GEN_AI_REQUEST_PRESENCE_PENALTY),
    "frequency_penalty": number(sc.GEN_AI_REQUEST_FREQUENCY_PENALTY),
    "seed": integer(sc.GEN_AI_REQUEST_SEED),
    "num_predict": _max_tokens,
    "stop": stop,
}
_read_options = request_reader(_OPTIONS)
_dimension_count = integer(sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT)


def _read_options_of(body: Mapping[str, Any], attributes: dict[str, Any]) -> None:
    # The SDK sends options as a dict whichever way the user gave them (dict or Options).
    options = body.get("options")
    if isinstance(options, Mapping) and options:
        _read_options(options, attributes)


def read_generation_request(body: Mapping[str, Any], attributes: dict[str, Any]) -> None:
    """``/api/chat`` and ``/api/generate`` share their parameters."""
    _read_options_of(body, attributes)
    think = body.get("think")
    # A level ("low", "high") is a reasoning level; true/false only switches thinking on or off.
    if type(think) is str and think:
        attributes[sc.GEN_AI_REQUEST_REASONING_LEVEL] = think
    output_format = body.get("format")
    if output_format == "json" or (isinstance(output_format, Mapping) and output_format):
        attributes[sc.GEN_AI_OUTPUT_TYPE] = "json"


def read_embed_request(body: Mapping[str, Any], attributes: dict[str, Any]) -> None:
    dimensions = body.get("dimensions")
    if dimensions is not None:
        _dimension_count(dimensions, attributes)


# -- usage and responses -------------------------------------------------------------------


def read_usage(part: Any) -> Usage | None:
    """The counts of an answer (an SDK model, or the raw JSON part as :class:`Fields`).

    None when ``prompt_eval_count`` is absent: see the module docstring.
    """
    prompt = field(part, "prompt_eval_count")
    if prompt is None:
        return None
    evaluated = field(part, "eval_count")
    if not reported(prompt, evaluated):
        return None
    usage = Usage(count(prompt), count(evaluated))
    cached = field(part, "prompt_eval_cached_count")
    if cached is not None:
        # Part of the prompt count by definition; a larger value is malformed.
        usage.cache_read_tokens = min(count(cached), usage.input_tokens)
    return usage


def _read_answer(call: InferenceCall, answer: Any) -> None:
    """What the final part (or the whole answer) says: model, why it stopped, counts."""
    model = field(answer, "model")
    if type(model) is str and model:
        call.response_model = model
    reason = field(answer, "done_reason")
    if type(reason) is str and reason:
        call.set_finish_reason(0, reason)
    if call.usage is None:  # unless read from the raw part already (see _Parts)
        call.usage = read_usage(answer)
        if call.usage is None and reason in _NOTHING_EVALUATED:
            # Loading or unloading a model evaluates no token; its counts are zeros
            # left out, not counts not made, and nothing is left to estimate.
            call.usage = Usage(0, 0)


# The answers to an empty request, which only loads a model (or, with keep_alive 0, unloads it).
_NOTHING_EVALUATED = frozenset({"load", "unload"})


def read_chat_response(call: InferenceCall, response: Any) -> None:
    _read_answer(call, response)
    if call.capture:
        output = _Output()
        output.add_message(field(response, "message"))
        call.content = output


def read_generate_response(call: InferenceCall, response: Any) -> None:
    _read_answer(call, response)
    if call.capture:
        output = _Output()
        output.add_generated(response)
        call.content = output


def read_chat_chunk(call: InferenceCall, part: Any) -> bool:
    if field(part, "done"):
        _read_answer(call, part)
    message = field(part, "message")
    if call.capture:
        _accumulator(call).add_message(message)
    output = bool(field(message, "content") or field(message, "thinking") or field(message, "tool_calls"))
    if output and call.output_text is not None:
        ollama_prompt.add_message_texts(call.output_text, message)
    return output


def read_generate_chunk(call: InferenceCall, part: Any) -> bool:
    if field(part, "done"):
        _read_answer(call, part)
    if call.capture:
        _accumulator(call).add_generated(part)
    if call.output_text is not None:
        ollama_prompt.add_generated_texts(call.output_text, part)
    # Image generation streams progress parts (completed/total) before the image.
    return bool(field(part, "response") or field(part, "thinking") or field(part, "image"))


def read_embed_response(call: InferenceCall, response: Any) -> None:
    _read_answer(call, response)
    embeddings = field(response, "embeddings")
    if embeddings:
        first = embeddings[0]
        if isinstance(first, (list, tuple)):
            call.set_attribute(sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, len(first))


def read_embeddings_response(call: InferenceCall, response: Any) -> None:
    """Legacy ``/api/embeddings``: one vector and no count."""
    embedding = field(response, "embedding")
    if isinstance(embedding, (list, tuple)) and embedding:
        call.set_attribute(sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, len(embedding))


def describe_error(error: BaseException) -> tuple[str | None, int | None]:
    """``ResponseError.status_code`` is the HTTP status, or -1 for an error sent inside a stream."""
    status = getattr(error, "status_code", None)
    return None, (status if type(status) is int and 100 <= status <= 599 else None)


# -- opt-in content, in the semconv message shape ------------------------------------------


def _images(images: Any) -> list[dict[str, Any]]:
    # The SDK sends images base64-encoded, whatever the user passed.
    return [
        {"type": "blob", "modality": "image", "content": image}
        for image in images or ()
        if isinstance(image, str)
    ]


def _tool_call_parts(tool_calls: Any) -> list[dict[str, Any]]:
    parts = []
    for tool_call in tool_calls or ():
        function = field(tool_call, "function")
        if isinstance(function, Mapping):
            function = Fields(function)
        arguments = field(function, "arguments")
        parts.append(
            {
                "type": "tool_call",
                "id": field(tool_call, "id"),
                "name": field(function, "name"),
                "arguments": dict(arguments) if isinstance(arguments, Mapping) else arguments,
            }
        )
    return parts


def chat_input_content(body: Mapping[str, Any]) -> dict[str, Any]:
    messages = []
    system: list[dict[str, Any]] = []
    for message in body.get("messages") or ():
        if not isinstance(message, Mapping):
            continue
        role = message.get("role")
        text = message.get("content")
        if role == "system":
            if isinstance(text, str):
                system.append({"type": "text", "content": text})
            continue
        if role == "tool":
            parts: list[dict[str, Any]] = [
                {"type": "tool_call_response", "name": message.get("tool_name"), "response": text}
            ]
        else:
            parts = [{"type": "text", "content": text}] if isinstance(text, str) and text else []
            thinking = message.get("thinking")
            if isinstance(thinking, str) and thinking:
                parts.insert(0, {"type": "reasoning", "content": thinking})
            parts.extend(_images(message.get("images")))
            parts.extend(_tool_call_parts(message.get("tool_calls")))
        messages.append({"role": role, "parts": parts})
    content: dict[str, Any] = {sc.GEN_AI_INPUT_MESSAGES: messages}
    if system:
        content[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = system
    tools = _tool_definitions(body.get("tools"))
    if tools:
        content[sc.GEN_AI_TOOL_DEFINITIONS] = tools
    return content


def _tool_definitions(tools: Any) -> list[dict[str, Any]]:
    definitions = []
    for tool in tools or ():
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if isinstance(function, Mapping):
            definitions.append(
                {
                    "type": tool.get("type") or "function",
                    "name": function.get("name"),
                    "description": function.get("description"),
                    "parameters": function.get("parameters"),
                }
            )
    return definitions


def generate_input_content(body: Mapping[str, Any]) -> dict[str, Any]:
    prompt = body.get("prompt")
    parts = [{"type": "text", "content": prompt}] if isinstance(prompt, str) else []
    parts.extend(_images(body.get("images")))
    content: dict[str, Any] = {sc.GEN_AI_INPUT_MESSAGES: [{"role": "user", "parts": parts}]}
    system = body.get("system")
    if isinstance(system, str) and system:
        content[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = [{"type": "text", "content": system}]
    return content


class _Output:
    """Opt-in only: the answer's thinking, text and tool calls, streamed pieces joined."""

    __slots__ = ("reasoning", "text", "tool_calls")

    def __init__(self) -> None:
        self.reasoning: list[str] = []
        self.text: list[str] = []
        self.tool_calls: list[dict[str, Any]] = []

    def add_message(self, message: Any) -> None:
        self._add(field(message, "thinking"), field(message, "content"))
        self.tool_calls.extend(_tool_call_parts(field(message, "tool_calls")))

    def add_generated(self, part: Any) -> None:
        self._add(field(part, "thinking"), field(part, "response"))

    def _add(self, thinking: Any, text: Any) -> None:
        if type(thinking) is str and thinking:
            self.reasoning.append(thinking)
        if type(text) is str and text:
            self.text.append(text)

    def messages(self, finish_reasons: dict[int, str] | None) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        if self.reasoning:
            parts.append({"type": "reasoning", "content": "".join(self.reasoning)})
        if self.text:
            parts.append({"type": "text", "content": "".join(self.text)})
        parts.extend(self.tool_calls)
        message: dict[str, Any] = {"role": "assistant", "parts": parts}
        if finish_reasons and 0 in finish_reasons:
            message["finish_reason"] = finish_reasons[0]
        return [message]


def _accumulator(call: InferenceCall) -> _Output:
    output = call.content
    if output is None:
        output = call.content = _Output()
    return output  # type: ignore[no-any-return]


# -- the routes ------------------------------------------------------------------------------

CHAT = Route(
    "chat",
    read_generation_request,
    read_chat_response,
    read_chat_chunk,
    read_input_content=chat_input_content,
    describe_error=describe_error,
    read_prompt=ollama_prompt.chat_prompt,
    read_output_text=ollama_prompt.chat_output_text,
)
# A prompt in, text out (a suffix for fill-in-the-middle): the completions shape.
GENERATE = Route(
    "text_completion",
    read_generation_request,
    read_generate_response,
    read_generate_chunk,
    read_input_content=generate_input_content,
    describe_error=describe_error,
    read_prompt=ollama_prompt.generate_prompt,
    read_output_text=ollama_prompt.generate_output_text,
)
EMBED = Route(
    "embeddings",
    read_embed_request,
    read_embed_response,
    describe_error=describe_error,
    read_prompt=ollama_prompt.embed_prompt,
)
EMBEDDINGS = Route(
    "embeddings",
    read_embed_request,
    read_embeddings_response,
    describe_error=describe_error,
    read_prompt=ollama_prompt.embeddings_prompt,
)

ROUTES: dict[str, Route] = {
    "/api/chat": CHAT,
    "/api/generate": GENERATE,
    "/api/embed": EMBED,
    "/api/embeddings": EMBEDDINGS,
}


def _route(args: tuple[Any, ...]) -> Route | None:
    """The route of ``_request(cls, method, path, ...)``; None for paths we do not trace."""
    if len(args) < 2:
        return None
    path = args[1]
    return ROUTES.get(path) if type(path) is str else None


class _Parts:
    """Stands in for the class the SDK builds each answer with (``cls(**part)``).

    The SDK's models drop the fields they do not declare, ``prompt_eval_cached_count``
    among them; here the raw answer is read first. The SDK still gets its own model
    back, and anything else asked of this object is asked of the class.
    """

    __slots__ = ("_call", "_cls", "_final_only")

    def __init__(self, cls: Any, call: InferenceCall, final_only: bool) -> None:
        self._cls = cls
        self._call = call
        self._final_only = final_only

    def __call__(self, *args: Any, **part: Any) -> Any:
        if not self._final_only or part.get("done"):
            try:
                self._call.usage = read_usage(Fields(part))
            except Exception:
                report_internal_error("reading a response")
        return self._cls(*args, **part)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cls, name)


# -- the patches -------------------------------------------------------------------------------


class OllamaPatcher(MethodPatcher):
    """Wraps ``Client._request`` and ``AsyncClient._request`` (see the module docstring)."""

    def __init__(self, telemetry: Telemetry) -> None:
        super().__init__(telemetry)
        # id(base_url) -> (base_url, endpoint): the client's httpx URL object, kept so
        # that its id stays its own; no string is built per call.
        self._by_url: dict[int, tuple[Any, Endpoint]] = {}

    def patch(self) -> None:
        # Not "from ollama import _client": once ollama is imported, that name is the default Client.
        module = importlib.import_module("ollama._client")
        self.active = True
        for class_name in ("Client", "AsyncClient"):
            owner = getattr(module, class_name, None)
            original = getattr(owner, "__dict__", {}).get("_request")
            if original is None:
                continue
            if inspect.iscoroutinefunction(inspect.unwrap(original)):
                self.replace(owner, "_request", self._async_wrapper(original))
            else:
                self.replace(owner, "_request", self._sync_wrapper(original))

    # -- where a call goes -------------------------------------------------------------------

    def _endpoint(self, client: Any) -> Endpoint:
        url = client._client.base_url
        found = self._by_url.get(id(url))
        if found is None or found[0] is not url:
            if len(self._by_url) > 256:
                self._by_url.clear()
            found = self._by_url[id(url)] = (url, self.endpoint(str(url), OLLAMA))
        return found[1]

    def _start(
        self, client: Any, route: Route, kwargs: Mapping[str, Any], stream: bool
    ) -> InferenceCall | None:
        body = kwargs.get("json")
        if not isinstance(body, Mapping):
            body = {}
        try:
            provider, address, port = self._endpoint(client)
        except Exception:
            report_internal_error("reading the client's endpoint")
            return None
        model = body.get("model")
        model = model if type(model) is str and model else None
        return start_call(self.telemetry, route, provider, model, address, port, stream, body)

    # -- the wrappers ------------------------------------------------------------------------

    def _sync_wrapper(self, original: Any) -> Any:
        start = self._start
        follow = self._follow

        @functools.wraps(original)
        def _request(client: Any, cls: Any, *args: Any, stream: bool = False, **kwargs: Any) -> Any:
            route = _route(args) if self.active else None
            if route is None or not may_trace():
                return original(client, cls, *args, stream=stream, **kwargs)
            if stream:
                return follow(client, original, route, cls, args, kwargs)
            call = start(client, route, kwargs, False)
            if call is None:
                return original(client, cls, *args, stream=stream, **kwargs)
            return run(call, original, (client, _Parts(cls, call, False), *args), {"stream": False, **kwargs})

        return _request

    def _async_wrapper(self, original: Any) -> Any:
        start = self._start
        follow = self._follow_async

        @functools.wraps(original)
        async def _request(client: Any, cls: Any, *args: Any, stream: bool = False, **kwargs: Any) -> Any:
            route = _route(args) if self.active else None
            if route is None or not may_trace():
                return await original(client, cls, *args, stream=stream, **kwargs)
            if stream:
                return follow(client, original, route, cls, args, kwargs)
            call = start(client, route, kwargs, False)
            if call is None:
                return await original(client, cls, *args, stream=stream, **kwargs)
            return await run_async(
                call, original, (client, _Parts(cls, call, False), *args), {"stream": False, **kwargs}
            )

        return _request

    def _follow(
        self,
        client: Any,
        original: Any,
        route: Route,
        cls: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Iterator[Any]:
        """The SDK's stream is a generator that sends the request at its first ``next()``;
        so is this one, and the span starts there too, not when ``chat()`` returns."""
        call = self._start(client, route, kwargs, True) if may_trace() else None
        if call is None:
            return (yield from original(client, cls, *args, stream=True, **kwargs))
        try:
            source = original(client, _Parts(cls, call, True), *args, stream=True, **kwargs)
        except BaseException as error:
            call.fail(error)
            raise
        return (yield from follow_iterator(call, source))

    async def _follow_async(
        self,
        client: Any,
        original: Any,
        route: Route,
        cls: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> AsyncIterator[Any]:
        """:meth:`_follow` for the async client (whose ``_request`` returns the generator)."""
        call = self._start(client, route, kwargs, True) if may_trace() else None
        if call is None:
            async for part in await original(client, cls, *args, stream=True, **kwargs):
                yield part
            return
        try:
            source = await original(client, _Parts(cls, call, True), *args, stream=True, **kwargs)
        except BaseException as error:
            call.fail(error)
            raise
        parts = follow_async_iterator(call, source)
        try:
            async for part in parts:
                yield part
        finally:
            # Ends the call now (closed early) when the user stops iterating; ours never
            # awaits anything while closing, so this is safe even outside the event loop.
            await parts.aclose()  # type: ignore[attr-defined]


class OllamaAdapter(Adapter):
    """Traces the official ``ollama`` Python SDK."""

    package = "ollama"
    requirement = "ollama >= 0.4.0"
    # The module that defines the client classes; importing ollama imports it.
    patch_when_imported = "ollama._client"

    @classmethod
    def make_patcher(cls, telemetry: Telemetry) -> OllamaPatcher:
        return OllamaPatcher(telemetry)
