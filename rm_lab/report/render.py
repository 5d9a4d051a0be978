"""A Table as Markdown, CSV (one row per table row, mean/std/n/test per column) and LaTeX (booktabs)."""
from __future__ import annotations

import csv
import io
import math

from rm_lab.report.grouping import Cell, Row, Table
from rm_lab.report.stats import BEST, UNTESTED, WITHIN_NOISE

MISSING = "—"
DAGGER = "†"
SIMILAR = "≈"


def _decimals(x: float, kind: str) -> int:
    if kind == "accuracy":
        return 3
    if kind == "percent":
        return 1
    a = abs(x)
    if a == 0 or a >= 100:
        return 0
    return 1 if a >= 10 else 2 if a >= 1 else 2 - math.floor(math.log10(a))


def _num(x: float, kind: str, decimals: int | None = None) -> str:
    if kind == "count":
        return f"{x:,.0f}" if decimals is None or float(x).is_integer() else f"{x:,.1f}"
    if kind == "params":
        for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
            if abs(x) >= size:
                return f"{x / size:.1f}{suffix}"
        return f"{x:.0f}"
    d = _decimals(x, kind) if decimals is None else decimals
    return f"{x:.{d}f}" + ("%" if kind == "percent" else "")


def cell_text(cell: Cell, kind: str, pm: str = "±") -> str:
    """"mean ± std", the std with the mean's decimals; no std for one seed or constant counts."""
    s = cell.summary
    text = _num(s.mean, kind)
    exact = kind in ("params", "percent", "count")  # no "± 0" where the runs agree up to rounding
    if s.std is not None and (not exact or round(s.std, _decimals(s.mean, kind)) > 0):
        text += f" {pm} " + (_num(s.std, kind) if kind == "params" else _num(s.std, kind, _decimals(s.mean, kind)))
    return text


def _labels(table: Table, row: Row) -> list[str]:
    return table.row_labels(row)


def _headers(table: Table) -> list[str]:
    names = {"method": "Method", "model": "Backbone", "dataset": "Dataset", "domain": "Domain"}
    return [names[f] for f in table.labels] + [c.label for c in table.columns]


def _row_cells(table: Table, row: Row, fmt) -> list[str]:
    if not row.runs:
        return [fmt(None, None)] * len(table.columns)
    return [fmt(row.cells.get(c.key), c) for c in table.columns]


def to_markdown(table: Table) -> str:
    def fmt(cell, col):
        if col is None:
            return MISSING
        if cell is None:
            return ""
        text = cell_text(cell, col.kind)
        if cell.verdict == BEST:
            return f"**{text}**"
        return text + (f" {DAGGER}" if cell.verdict == WITHIN_NOISE else " ?" if cell.verdict == UNTESTED else "") \
            + (f" {SIMILAR}" if cell.similar else "")

    head = _headers(table)
    lines = [f"### {table.title}", "", "| " + " | ".join(head) + " |",
             "| " + " | ".join(["---"] * len(table.labels) + ["---:"] * len(table.columns)) + " |"]
    for row in table.rows:
        lines.append("| " + " | ".join(_labels(table, row) + _row_cells(table, row, fmt)) + " |")
    if table.notes:
        lines += ["", *[f"- {n}" for n in table.notes]]
    return "\n".join(lines) + "\n"


def csv_rows(table: Table) -> tuple[list[str], list[list]]:
    """The CSV's header and rows as values (numbers as floats, None where empty): one row per
    table row, mean/std/n per column (+ the test against the column's best, + the similarity rule)."""
    parts = "domain" in table.label_fields
    similar = table.similar is not None
    head = ["method", "model", "dataset"] + (["domain"] if parts else []) + ["status", "seeds"]
    for col in table.columns:
        head += [f"{col.key}_mean", f"{col.key}_std", f"{col.key}_n"]
        head += [f"{col.key}_vs_best", f"{col.key}_p"] if col.better else []
        head += [f"{col.key}_similar"] if col.better and similar and col.kind == "accuracy" else []
    rows = []
    for row in table.rows:
        line = [row.method, row.model, row.dataset] + ([row.part] if parts else []) \
            + [row.status, " ".join(str(s) for s in row.seeds)]
        for col in table.columns:
            cell = row.cells.get(col.key)
            s = cell.summary if cell else None
            line += [_f(s.mean), _f(s.std), s.n] if s else [None, None, 0]
            if col.better:
                line += [cell.verdict or "", _f(cell.p)] if cell else ["", None]
            if col.better and similar and col.kind == "accuracy":
                line += ["" if cell is None or cell.similar is None else str(cell.similar).lower()]
        rows.append(line)
    return head, rows


def to_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    head, rows = csv_rows(table)
    writer.writerow(head)
    for line in rows:
        writer.writerow([_g(x) if isinstance(x, float) else "" if x is None else x for x in line])
    return out.getvalue()


def _f(x) -> float | None:
    return None if x is None else float(x)


def _g(x) -> str:
    return "" if x is None else repr(float(x))


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
        "±": r"$\pm$", "†": r"$^{\dagger}$", "—": "--", "≥": r"$\geq$", "≈": r"$\approx$"}


def _tex(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in text)


def to_latex(table: Table) -> str:
    def fmt(cell, col):
        if col is None:
            return "--"
        if cell is None:
            return ""
        text = _tex(cell_text(cell, col.kind))
        if cell.verdict == BEST:
            return rf"\textbf{{{text}}}"
        return text + (r"$^{\dagger}$" if cell.verdict == WITHIN_NOISE else "?" if cell.verdict == UNTESTED else "") \
            + (r"$\approx$" if cell.similar else "")

    spec = "l" * len(table.labels) + "r" * len(table.columns)
    lines = [r"% needs \usepackage{booktabs}", r"\begin{table}[t]", r"\centering", r"\small",
             rf"\caption{{{_tex(table.title)}}}", rf"\label{{tab:{table.name}}}",
             rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(_tex(h) for h in _headers(table)) + r" \\", r"\midrule"]
    for row in table.rows:
        lines.append(" & ".join([_tex(x) for x in _labels(table, row)] + _row_cells(table, row, fmt)) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if table.notes:
        lines += [r"\par\vspace{2pt}{\footnotesize", *[_tex(n) + r"\\" for n in table.notes], "}"]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"
