"""Reports people read (Markdown, console tables) and scripts read (JSON)."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..atomic import atomic_write_text


def format_table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A plain-text table, first column left-aligned; None prints as "-"."""
    cells = [["-" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda vals: "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(vals, widths)))  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def pct(fraction: float | None) -> str | None:
    """0.6789 -> "67.9%"."""
    return None if fraction is None else f"{100 * fraction:.1f}%"


def comparison_table(comparison: dict) -> str:
    """The feature comparison of a transfer report as a table."""
    rows = [[name, f"{r['C']:.4g}", r["nonzero_units"], pct(r["validation_accuracy"]), pct(r["test_accuracy"])]
            for name, r in comparison.items()]
    return format_table(["features", "C", "nonzero units", "validation", "test"], rows)


def md_cell(text: str) -> str:
    """Text safe inside a Markdown table cell: pipes escaped, HTML tags shown as text, one line."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace("\r", " ").replace("\n", " ")


def write_json(data: dict, path: str | Path) -> Path:
    """Write `data` as indented JSON (UTF-8), atomically: a failed run never leaves half a file."""
    return atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def _known(value, fmt: str, unknown: str = "unknown") -> str:
    """`value` formatted, or `unknown` for None (an imported classifier's report does not know everything)."""
    return unknown if value is None else format(value, fmt)


def transfer_markdown(report: dict) -> str:
    """report.md for one transfer result (the dict written to report.json)."""
    unit = report["sentiment_unit"]
    comparison = comparison_table(report["feature_comparison"]) if report.get("feature_comparison") else "(none)"
    top = ", ".join(f"{u['unit']} ({u['weight']:+.3f})" for u in report["top_units"]) or "none"
    n = report["n"]
    percent = lambda x: _known(None if x is None else 100 * x, ".1f") + ("%" if x is not None else "")  # noqa: E731
    histogram = f"![sentiment unit histogram]({report['histogram']})\n" if report.get("histogram") else ""
    return f"""# Transfer: {report['task']}

Model `{report['model']}`, features `{report['features']}`; {_known(n['train'], ',')} train,
{_known(n['validation'], ',')} validation, {_known(n['test'], ',')} test texts.

| | |
| --- | --- |
| L1 logistic regression, test accuracy | {percent(report['test_accuracy'])} |
| validation accuracy (chosen C = {_known(report['C'], '.4g')}) | {percent(report['validation_accuracy'])} |
| non-zero units | {report['nonzero_units']} of {report['hidden_size']} |
| sentiment unit | {unit['unit']} (sign {unit['sign']:+d}) |
| sentiment unit alone, test accuracy | {percent(unit['test_accuracy'])} |
{_direction_rows(report)}
Top units by |weight| (standardized features): {top}

{histogram}{_direction_histogram(report)}
## Features compared (L1 probe, C chosen on validation)

```
{comparison}
```
{extremes_markdown(report)}"""


def _direction_rows(report: dict) -> str:
    """Table rows of the sentiment directions' one-feature test accuracies (none: empty)."""
    rows = []
    for method, direction in (report.get("sentiment_directions") or {}).items():
        chosen = ", chosen on validation" if method == report.get("sentiment_direction") else ""
        rows.append(f"| sentiment direction ({method}{chosen}) alone, test accuracy | "
                    f"{100 * direction['test_accuracy']:.1f}% |")
    feature = report.get("sentiment_feature")
    if feature:
        rows.append(f"| sentiment feature of the dictionary: {feature['feature']} {md_cell(repr(feature['label']))} "
                    f"(sign {feature['sign']:+d}) alone, test accuracy | {100 * feature['test_accuracy']:.1f}% |")
    return "\n".join(rows) + ("\n" if rows else "")


def _direction_histogram(report: dict) -> str:
    name = report.get("direction_histogram")
    return f"\n![sentiment direction histogram]({name})\n" if name else ""


def extremes_markdown(report: dict) -> str:
    """The texts at both tails of the sentiment unit's distribution, as Markdown (empty if none)."""
    extremes = report.get("extremes")
    if not extremes:
        return ""
    unit = report["sentiment_unit"]["unit"]
    lines = [f"\n## The sentiment unit's extremes (unit {unit}, test texts)\n",
             f"Heatmap of these texts: [{report.get('extremes_heatmap', 'extremes.html')}]"
             f"({report.get('extremes_heatmap', 'extremes.html')})\n"]
    for side in ("positive", "negative"):
        lines += [f"**Most {side}**\n", "| value | label | text |", "| ---: | --- | --- |"]
        for item in extremes[side]:
            lines.append(f"| {item['value']:+.3f} | {item['label'] or '-'} | {md_cell(item['text'])} |")
        lines.append("")
    return "\n".join(lines)
