"""The report as text, the way ``otel-tokenomics doctor`` prints it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for the annotation: diagnosis imports this module at run time
    from otel_tokenomics.doctor.diagnosis import Report


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def _yes(value: bool | None, yes: str = "yes", no: str = "no", unknown: str = "-") -> str:
    return unknown if value is None else yes if value else no


def render_text(report: Report) -> str:
    lines = [f"otel-tokenomics doctor: otel-tokenomics {report.version}, Python {report.python}", ""]

    lines.append("SDKs")
    header = ["SDK", "installed", "supported", "opentelemetry-instrument"]
    if report.in_process:
        header.append("this process")
    rows = [header]
    for s in report.sdks:
        row = [
            s.distribution,
            s.version or "no",
            f"{_yes(s.supported)} ({s.requirement})" if s.requirement else _yes(s.supported),
            "loads" if s.launcher_loads else f"skipped: {s.launcher_reason}",
        ]
        if report.in_process:
            row.append(s.this_process or "-")
        rows.append(row)
    lines += _table(rows)
    if report.other_instrumentations:
        lines.append("  other GenAI instrumentations:")
        for o in report.other_instrumentations:
            entry = ", ".join(o.their_entry_points) or "no entry point"
            off = " (disabled)" if o.disabled else ""
            lines.append(f"    {o.distribution} {o.version} ({o.project}; entry point {entry}){off}")

    t = report.tokenizer
    lines += ["", f"Tokenizer: tiktoken {t.tiktoken_version or 'not installed'}, mode {t.mode}"]
    cache = t.cache_dir if t.cache_dir is not None else "off (TIKTOKEN_CACHE_DIR is empty)"
    rows = [["cache", f"{cache} ({t.cache_source})"]]
    rows += [[e.name, f"{_yes(e.cached, 'cached', 'not cached')}, {e.status}"] for e in t.encodings]
    lines += _table(rows)

    e = report.export
    lines += ["", "Export (as opentelemetry-instrument would set it up from the environment)"]
    rows = [
        ["distro", e.distro or "none"],
        ["configurator", e.configurator or "none"],
        ["SDK", "disabled (OTEL_SDK_DISABLED)" if e.sdk_disabled else "enabled"],
        ["service name", f"{e.service_name} ({e.service_name_source})"],
        [
            "sampler",
            f"{e.sampler} ({e.sampler_source})"
            + (f", keeps {e.sampler_ratio:g} of traces" if e.sampler_ratio is not None else ""),
        ],
    ]
    lines += _table(rows)
    for s in e.signals:
        exporters = ", ".join(s.exporters) or "none"
        lines.append(f"  {s.signal}: {exporters} ({s.exporters_source})")
        if s.protocol is None:
            continue
        rows = [["protocol", f"{s.protocol} ({s.protocol_source})"]]
        if s.component is not None:
            rows.append(
                ["exporter", f"{s.component}: {_yes(s.component_installed, 'installed', 'NOT installed')}"]
            )
            rows.append(["endpoint", f"{s.endpoint} ({s.endpoint_source})"])
            headers = ", ".join(s.header_names) if s.header_names else "none"
            rows.append(
                [
                    "headers",
                    headers + (f" ({s.headers_source}; values not shown)" if s.headers_source else ""),
                ]
            )
            rows.append(["compression", s.compression or "none"])
        lines += ["  " + line for line in _table(rows)]

    if report.options:
        lines += ["", "otel-tokenomics settings"]
        lines += _table([[name, value] for name, value in report.options.items()])

    p = report.pricing
    lines += ["", "Pricing"]
    catalog = p.catalog_version or "unreadable"
    if p.catalog_built is not None:
        catalog += f", built {p.catalog_built} ({p.catalog_age_days} days ago)"
    rows = [["catalog", catalog]]
    if p.price_file is None:
        rows.append(["your prices", "none (OTEL_TOKENOMICS_PRICES unset)"])
    else:
        state = p.price_file_version if p.price_file_status == "loaded" else "ERROR, see below"
        rows.append(["your prices", f"{p.price_file} ({p.price_file_source}): {state}"])
    rows.append(["fallback", p.fallback_status])
    if p.this_process is not None:
        rows.append(["this process", p.this_process])
    lines += _table(rows)

    if report.providers is not None:
        lines += ["", "This process"]
        lines += _table([[k.replace("_", " "), v] for k, v in report.providers.items()])

    lines.append("")
    for title, items in (("Problems", report.problems), ("Warnings", report.warnings)):
        if not items:
            continue
        lines.append(f"{title} ({len(items)})")
        for item in items:
            lines.append(f"  - {item.message}")
            lines.append(f"    fix: {item.fix}")
        lines.append("")
    lines.append("No problems found." if not report.problems else f"{len(report.problems)} problem(s) found.")
    return "\n".join(lines) + "\n"
