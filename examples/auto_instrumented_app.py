"""An ordinary OpenAI app with no telemetry code, to run under ``opentelemetry-instrument``.

    opentelemetry-instrument python examples/auto_instrumented_app.py

Everything OpenTelemetry does here comes from the launcher and the ``OTEL_*``
environment (see ``examples/jaeger/jaeger.env`` and
``examples/honeycomb/honeycomb.env``): the ``tokenomics_openai`` entry point
instruments the ``openai`` client, and the exporters send the spans and metrics
wherever the variables say.

Nothing leaves the machine for the LLM calls: the app starts
``fake_openai_server.py`` on 127.0.0.1 and points the real ``openai`` client at
it. It makes four chat calls, each showing something a backend should display:

1. ``gpt-4o-mini``, plain: a priced call (``tokenomics.cost.status=priced``);
2. ``gpt-4o-mini``, streamed with ``include_usage``: adds
   ``gen_ai.response.time_to_first_chunk`` and the stream attributes;
3. ``my-finetune-v1``: a model without a price (``tokenomics.cost.status=unpriced``,
   no cost attribute);
4. ``fail-429``: the fake server answers HTTP 429, so the span has status ERROR
   and ``error.type=RateLimitError``; the app catches the error and goes on.
"""

from __future__ import annotations

import argparse

import openai
from fake_openai_server import start_server

# The fake server accepts any key; this one must never show up in telemetry.
FAKE_API_KEY = "sk-fake-auto-instrumented-app"
QUESTION = [{"role": "user", "content": "What does a token cost?"}]


def run(client: openai.OpenAI, model: str, unpriced_model: str) -> None:
    plain = client.chat.completions.create(model=model, messages=QUESTION)
    print(f"plain    {model}: {plain.choices[0].message.content}")

    stream = client.chat.completions.create(
        model=model, messages=QUESTION, stream=True, stream_options={"include_usage": True}
    )
    pieces = [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]
    print(f"streamed {model}: {''.join(pieces)}")

    unpriced = client.chat.completions.create(model=unpriced_model, messages=QUESTION)
    print(f"plain    {unpriced_model}: {unpriced.choices[0].message.content}")

    try:
        client.chat.completions.create(model="fail-429", messages=QUESTION)
    except openai.RateLimitError as error:
        print(f"failed   fail-429: HTTP {error.status_code}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument("--unpriced-model", default="my-finetune-v1")
    args = parser.parse_args(argv)
    with start_server() as (_, base_url):
        # max_retries=0: the 429 is meant to fail once, not to be retried with back-off.
        client = openai.OpenAI(base_url=base_url, api_key=FAKE_API_KEY, max_retries=0)
        try:
            run(client, args.model, args.unpriced_model)
        finally:
            client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
