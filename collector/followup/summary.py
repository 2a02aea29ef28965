"""The follow-up answers of a scope and period as figures and tables: the five SIPAS elements' means, the
counter's reasons by element, each answer with its rating, the general feedback apart. Used by the dashboard's
/followup page (view.py) and by the e-mailed reports (collector/alerting); knows nothing of the web."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

from ..reports.export import Table
from . import answers

LIMIT = 2000
WORDS = {
    "vi": {"title": "Góp ý qua mã QR", "period": "Kỳ", "show": "Xem", "answers": "câu trả lời",
           "empty": "Chưa có góp ý nào trong kỳ này.",
           "note": "Người dân quét mã QR trên màn hình cảm ơn và trả lời trên điện thoại; mỗi góp ý gắn với "
                   "lượt đánh giá tại quầy.",
           "no_contact": "Thông tin liên hệ chỉ hiện với tài khoản quản trị.",
           "time": "Thời gian", "centre": "Trung tâm", "counter": "Quầy", "face": "Mặt đánh giá",
           "officer": "Cán bộ", "service": "Thủ tục", "ticket": "Số phiếu", "comment": "Ý kiến",
           "contact": "Liên hệ", "rating_id": "Mã lượt đánh giá",
           "elements": ("Tiếp cận dịch vụ", "Thủ tục hành chính", "Công chức", "Kết quả", "Xử lý góp ý"),
           "pdf": "Bản in: yếu tố và ý kiến (không có liên hệ)", "general": "Góp ý chung (mã QR in tại quầy)",
           "general_note": "Không gắn với lượt đánh giá nào, ai thấy mã cũng gửi được: thống kê riêng, không tính vào "
                           "các số liệu ở trên.",
           "by_element": "Theo yếu tố SIPAS", "element": "Yếu tố", "answered": "Số câu trả lời",
           "group_centre": "Trung tâm", "group_counter": "Quầy", "group_officer": "Cán bộ", "group_service": "Thủ tục",
           "comments": "Số ý kiến", "face_mean": "Mặt đánh giá trung bình (quy về 5)", "group_by": "Điểm theo",
           "list": "Từng góp ý, gắn với lượt đánh giá tại quầy", "mean": "Điểm trung bình (1-5)",
           "low": "Số câu chấm 1-2", "reasons": "Lý do chọn tại quầy", "reason_keys": "Các lý do",
           "unmapped": "Lý do chưa gắn yếu tố",
           "by_element_note": "Câu trả lời trên điện thoại theo từng yếu tố, và các lý do người dân chọn tại quầy sau "
                              "mặt chưa hài lòng, theo yếu tố mà lý do thuộc về (labels.reason_elements)."},
    "en": {"title": "Feedback by QR", "period": "Period", "show": "Show", "answers": "answers",
           "empty": "No answers in this period.",
           "note": "Citizens scan the QR on the thank-you screen and answer on their phone; each answer is tied "
                   "to the rating made at the counter.",
           "no_contact": "Contact details are shown to admin accounts only.",
           "time": "Time", "centre": "Centre", "counter": "Counter", "face": "Face", "officer": "Officer",
           "service": "Procedure", "ticket": "Ticket", "comment": "Comment", "contact": "Contact",
           "rating_id": "Rating id",
           "elements": ("Access", "Procedures", "Civil servant", "Result", "Feedback handling"),
           "pdf": "Printable: elements and comments (no contacts)", "general": "General feedback (printed counter QR)",
           "general_note": "Not tied to any rating, anyone who sees the code can send it: counted apart, never in the "
                           "figures above.",
           "by_element": "By SIPAS element", "element": "Element", "answered": "Answers",
           "group_centre": "Centre", "group_counter": "Counter", "group_officer": "Officer", "group_service": "Procedure",
           "comments": "Comments", "face_mean": "Mean face (out of 5)", "group_by": "Scores by",
           "list": "Each answer, with the rating made at the counter", "mean": "Mean score (1-5)",
           "low": "Answers of 1-2", "reasons": "Reasons chosen at the counter", "reason_keys": "Reasons",
           "unmapped": "Reasons without an element",
           "by_element_note": "The phone answers per element, and the reasons citizens chose at the counter after an "
                              "unsatisfied face, by the element each reason belongs to (labels.reason_elements)."},
}


def gather(db, cfg, hierarchy, sites, period, lang: str, with_contact: bool) -> dict:
    """The answers joined to ratings of ``sites`` (None: every site) submitted in ``period``, with names, the
    five elements' means, and the phone answers and the counter's reasons grouped by SIPAS element."""
    rows = answers.joined(db, sites, period.start_ms, period.end_ms, with_contact, LIMIT)
    tz = period.start.tzinfo
    h = hierarchy
    for r in rows:
        r["time"] = datetime.fromtimestamp(r.pop("submitted_ms") / 1000, timezone.utc).astimezone(tz) \
            .strftime("%Y-%m-%d %H:%M")
        r["centre_name"] = h.group("centre", r["site"])[1] if r["site"] else ""
        r["officer_name"] = (h.label("officer", r["officer"], lang) or r["officer"]) if r["officer"] else None
        r["service_name"] = (h.label("service", r["service"], lang) or r["service"]) if r["service"] else None
    means = []
    for e in answers.ELEMENTS:
        got = [r[e] for r in rows if r[e] is not None]
        means.append((e, round(sum(got) / len(got), 2) if got else None, len(got)))
    reasons, unmapped = reasons_by_element(db, cfg, sites, period)
    elements = [{"element": e, "mean": m, "answers": n,
                 "low": sum(1 for r in rows if r[e] is not None and r[e] <= 2),
                 "reasons": sum(reasons[e].values()), "reason_keys": dict(reasons[e].most_common())}
                for e, m, n in means]
    return {"period": {"label": period.label, "start": period.start.isoformat(), "end": period.end.isoformat()},
            "general": general_feedback(db, hierarchy, sites, period, with_contact),
            "scope": "", "contact_included": with_contact, "truncated": len(rows) >= LIMIT,
            "means": [{"element": e, "mean": m, "answers": n} for e, m, n in means], "elements": elements,
            "reasons_without_element": dict(unmapped.most_common()), "answers": rows}


def general_feedback(db, hierarchy, sites, period, with_contact: bool) -> dict:
    """The printed counter QR's general feedback (collector/followup/general.py): counted apart, its own means,
    never mixed into the visits' answers above."""
    from . import general

    rows = general.listed(db, sites, period.start_ms, period.end_ms, with_contact, LIMIT)
    tz = period.start.tzinfo
    for r in rows:
        r["time"] = datetime.fromtimestamp(r.pop("submitted_ms") / 1000, timezone.utc).astimezone(tz) \
            .strftime("%Y-%m-%d %H:%M")
        r["centre_name"] = hierarchy.group("centre", r["site"])[1]
    means = []
    for e in answers.ELEMENTS:
        got = [r[e] for r in rows if r[e] is not None]
        means.append({"element": e, "mean": round(sum(got) / len(got), 2) if got else None, "answers": len(got)})
    return {"count": len(rows), "truncated": len(rows) >= LIMIT, "means": means, "answers": rows}


def general_table(data: dict, lang: str) -> Table:
    w = WORDS[lang]
    head = [w["time"], w["centre"], w["counter"], *w["elements"], w["comment"]]
    if data["contact_included"]:
        head.append(w["contact"])
    rows = []
    for r in data["general"]["answers"]:
        line = [r["time"], r["centre_name"] or r["site"], r["device"], *[r[e] for e in answers.ELEMENTS],
                r["comment"] or ""]
        if data["contact_included"]:
            line.append(r["contact"] or "")
        rows.append(line)
    return Table(w["general"], head, rows)


def reasons_by_element(db, cfg, sites, period) -> tuple[dict[str, Counter], Counter]:
    """The reasons chosen at the counter in the scope and period (flagged ratings left out, as in every
    report), per SIPAS element by collector.yaml's labels.reason_elements; and those naming none."""
    from ..reports.report_queries import fetch

    mapping = cfg.labels.reason_elements
    out = {e: Counter() for e in answers.ELEMENTS}
    unmapped: Counter = Counter()
    for row in fetch(db, period.start_ms, period.end_ms, {"reason"}, tz=cfg.timezone,
                     sites=None if sites is None else sorted(sites)):
        if not row.reason or row.flagged & 1 or not row.n:
            continue
        element = mapping.get(row.reason)
        (out[element] if element else unmapped)[row.reason] += row.n
    return out, unmapped


def element_table(data: dict, lang: str, label) -> Table:
    """One row per SIPAS element: the phone answers' mean and count, the 1-2 answers, the reasons chosen at
    the counter that belong to it; ``label(key)`` names a reason."""
    w = WORDS[lang]
    rows = []
    for name, e in zip(w["elements"], data["elements"]):
        rows.append([name, e["mean"], e["answers"], e["low"], e["reasons"],
                     "; ".join(f"{label(k)}: {n}" for k, n in e["reason_keys"].items())])
    if data["reasons_without_element"]:
        n = sum(data["reasons_without_element"].values())
        rows.append([w["unmapped"], None, None, None, n,
                     "; ".join(f"{label(k)}: {v}" for k, v in data["reasons_without_element"].items())])
    return Table(w["by_element"], [w["element"], w["mean"], w["answered"], w["low"], w["reasons"], w["reason_keys"]],
                 rows)


def table(data: dict, lang: str) -> Table:
    w = WORDS[lang]
    head = [w["time"], w["centre"], w["counter"], w["face"], w["officer"], w["service"], w["ticket"],
            *w["elements"], w["comment"]]
    if data["contact_included"]:
        head.append(w["contact"])
    head.append(w["rating_id"])
    rows = []
    for r in data["answers"]:
        face = f"{r['rating']}/{r['scale']}" if r["rating"] is not None else ""
        line = [r["time"], r["centre_name"] or r["site"], r["device"], face, r["officer_name"] or "", r["service_name"] or "",
                r["ticket"] or "", *[r[e] for e in answers.ELEMENTS], r["comment"] or ""]
        if data["contact_included"]:
            line.append(r["contact"] or "")
        line.append(r["rating_id"])
        rows.append(line)
    return Table(w["title"], head, rows)


GROUPS = ("centre", "counter", "officer", "service")


def grouped_table(data: dict, group: str, lang: str, hierarchy) -> Table:
    """The five elements' mean scores per centre, counter, officer or service (``?group=``), with how many
    answers and comments each had and the mean face of their ratings."""
    w = WORDS[lang]

    def key(r) -> str:
        if group == "centre":
            return r["centre_name"] or r["site"]
        if group == "counter":
            return hierarchy.group("counter", r["site"], r["device"])[1] if r["site"] else r["device"]
        return r[f"{group}_name"] or "–"

    groups: dict[str, list[dict]] = {}
    for r in data["answers"]:
        groups.setdefault(key(r), []).append(r)
    rows = []
    for name, members in sorted(groups.items()):
        line = [name, len(members), sum(1 for r in members if r["comment"])]
        faces = [r["rating"] / r["scale"] * 5 for r in members if r["rating"] is not None and r["scale"]]
        line.append(round(sum(faces) / len(faces), 2) if faces else None)
        for e in answers.ELEMENTS:
            got = [r[e] for r in members if r[e] is not None]
            line.append(round(sum(got) / len(got), 2) if got else None)
        rows.append(line)
    return Table(f"{w['title']} – {w['group_' + group]}",
                 [w["group_" + group], w["answered"], w["comments"], w["face_mean"], *w["elements"]], rows)
