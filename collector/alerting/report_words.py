"""The words of a scheduled report, in Vietnamese and English: shared by the report (report_doc.py) and its
PDF (pdf.py), which import this module and not each other."""

WORDS = {
    "vi": {"title": "Báo cáo mức độ hài lòng", "summary": "Tổng hợp", "total": "Tổng cộng", "period": "Kỳ",
           "scope": "Phạm vi", "generated": "Lập lúc", "ratings": "Số đánh giá", "rate": "Tỷ lệ hài lòng",
           "score": "Điểm trung bình (0-100)", "flagged": "Bấm lặp (bị lọc)", "reasons": "Lý do chưa hài lòng",
           "month": "Tháng {m}/{y}", "quarter": "Quý {q}/{y}", "6m": "6 tháng đầu năm {y}",
           "9m": "9 tháng năm {y}", "year": "Năm {y}", "range": "Từ {first} đến {last}",
           "none": "Chưa có đánh giá trong kỳ này."},
    "en": {"title": "Satisfaction report", "summary": "Summary", "total": "Total", "period": "Period",
           "scope": "Scope", "generated": "Generated", "ratings": "Ratings", "rate": "Satisfied",
           "score": "Mean score (0-100)", "flagged": "Repeat presses (flagged)", "reasons": "Reasons for poor ratings",
           "month": "{month} {y}", "quarter": "Q{n} {y}", "6m": "First six months of {y}",
           "9m": "First nine months of {y}", "year": "Year {y}", "range": "{first} to {last}",
           "none": "No ratings in this period."},
}
