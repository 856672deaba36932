"""The HTML report's load section: each load group's merged run, and the load curves picture if a load run
wrote one (the ``load`` and ``load_curves`` entries of the JSON report's header, issue 23)."""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

HEADER_KEYS = ("load", "load_curves")  # shown here, not in the header table
_COLUMNS = (("runs", "runs", "{:.0f}"), ("clients", "clients", "{:.0f}"), ("operations", "ok", "{:.0f}"),
            ("errors", "errors", "{:.0f}"), ("throughput", "ops/s", "{:.1f}"), ("p50_ms", "p50 ms", "{:.1f}"),
            ("p95_ms", "p95 ms", "{:.1f}"), ("p99_ms", "p99 ms", "{:.1f}"), ("max_ms", "max ms", "{:.1f}"),
            ("harness_cpu_ms_per_op", "harness CPU ms/op", "{:.2f}"))  # fmt: skip


def _number(fmt: str, value: Any) -> str:
    try:
        return fmt.format(float(value))
    except (TypeError, ValueError):
        return html.escape(str(value))


def _link(target: str, base: Path | None) -> str:
    path = Path(target)
    if base is not None and path.is_absolute():
        try:
            return os.path.relpath(path, base)
        except ValueError:
            return path.as_uri()
    return target


def load_section(header: dict[str, Any], base: Path | None = None) -> str:
    """The section's HTML, or an empty string when the run had no load."""
    groups = header.get("load")
    curves = header.get("load_curves")
    if not groups and not curves:
        return ""
    parts = ["<h2>Load (merged over runs and xdist workers)</h2>"]
    if isinstance(groups, dict) and groups:
        head = "".join(f"<th>{html.escape(label)}</th>" for _, label, _ in _COLUMNS)
        rows = []
        for group, merged in groups.items():
            cells = "".join(f"<td>{_number(fmt, merged.get(key))}</td>" for key, _, fmt in _COLUMNS)
            workers = html.escape(", ".join(str(w) for w in merged.get("workers", [])))
            rows.append(f"<tr><td>{html.escape(str(group))}</td>{cells}<td>{workers}</td></tr>")
        parts.append(f"<table><tr><th>group</th>{head}<th>workers</th></tr>{''.join(rows)}</table>")
    if isinstance(curves, str) and curves:
        href = html.escape(_link(curves, base), quote=True)
        parts.append(f'<p>Load curves: <a href="{href}">{html.escape(Path(curves).name)}</a></p>'
                     f'<p><a href="{href}"><img src="{href}" alt="load curves" style="max-width: 100%"></a></p>')
    return "\n".join(parts)
