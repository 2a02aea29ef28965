"""Officer privacy in grouped figures: an officer with fewer than ``evaluation.min_ratings`` ratings in
what is shown keeps a name and a count, never a rate, a score, a face or a reason.

With one or two ratings, "satisfied 0 %" or "reason: rude" is what one citizen pressed, and the officer
knows who that was. The officer evaluation (collector/reports/officers.py) already hides such figures; every other
grouping by officer goes through here: the dashboard's ranking, printable report and their CSV/XLSX, the
API's summaries (``by=officer,...`` and ``?officer=``), e-mailed reports (XLSX, PDF) and the command
line's report. Such an officer's rows of any grouping (officer x reason, officer x day...) are folded into
one row per officer, the other keys blank ("–"), its figures hidden (``ReportRow.hidden``).
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

from .report import ReportRow

SEP = " · "  # how report.aggregate joins the keys and names of a multi-dimension group
BLANK = "–"


def _fold(r: ReportRow, dims: Sequence[str], i: int | None) -> ReportRow:
    """The officer's row with every other key blank and no figures (``i`` None: every key blank)."""
    keys = tuple(k if j == i else "" for j, k in enumerate(r.keys))
    names = r.name.split(SEP)
    name = names[i] if i is not None and len(names) == len(dims) else (r.keys[i] if i is not None else BLANK)
    group = SEP.join(k if j == i else BLANK for j, k in enumerate(r.keys)) if dims else r.group
    shown = SEP.join(name if j == i else BLANK for j in range(len(dims))) if dims else r.name
    return ReportRow(group, shown, keys=keys, hidden=True)


def hide_few_officers(rows: list[ReportRow], dims: Sequence[str], min_ratings: int) -> list[ReportRow]:
    """``rows`` of a grouping by ``dims`` with every officer below ``min_ratings`` ratings folded and hidden.
    Ratings with no officer are nobody's: left as they are."""
    dims = tuple(dims)
    if "officer" not in dims or min_ratings <= 1:
        return rows
    i = dims.index("officer")
    totals: Counter = Counter()
    for r in rows:
        totals[r.keys[i]] += r.count
    few = {o for o, n in totals.items() if o != "" and n < min_ratings}
    if not few:
        return rows
    out: list[ReportRow] = []
    folded: dict[str, ReportRow] = {}
    for r in rows:
        officer = r.keys[i]
        if officer not in few:
            out.append(r)
            continue
        f = folded.get(officer)
        if f is None:
            f = folded[officer] = _fold(r, dims, i)
            out.append(f)
        f.count += r.count
        f.flagged += r.flagged
        f.unverified += r.unverified
    return out


def hide_one_officer(rows: list[ReportRow], dims: Sequence[str], min_ratings: int) -> list[ReportRow]:
    """Figures of one officer's ratings only (a filter ``?officer=``): all hidden, folded into one row, when
    that officer has fewer than ``min_ratings`` of them."""
    if sum(r.count for r in rows) >= min_ratings or min_ratings <= 1:
        return rows
    dims = tuple(dims)
    if not rows:
        return rows
    f = _fold(rows[0], dims, None) if dims else ReportRow(rows[0].group, rows[0].name, keys=rows[0].keys, hidden=True)
    for r in rows:
        f.count += r.count
        f.flagged += r.flagged
        f.unverified += r.unverified
    return [f]


def private(results: list[list[ReportRow]], bys: Sequence[Sequence[str]], cfg) -> list[list[ReportRow]]:
    """``hide_few_officers`` on each grouping of a report job, with ``evaluation.min_ratings`` of ``cfg``."""
    n = cfg.evaluation.min_ratings
    return [hide_few_officers(rows, by or (), n) for rows, by in zip(results, bys)]
