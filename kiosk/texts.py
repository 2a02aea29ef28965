"""Screen texts. Vietnamese and English ship here; a technician adds a language in kiosk.yaml."""
from __future__ import annotations

SHIPPED: dict[str, dict] = {
    "vi": {
        "name": "Tiếng Việt",
        "question": "Ông/Bà có hài lòng với việc giải quyết thủ tục hôm nay không?",
        "faces": {
            "very_unhappy": "Rất không hài lòng",
            "unhappy": "Không hài lòng",
            "neutral": "Bình thường",
            "happy": "Hài lòng",
            "very_happy": "Rất hài lòng",
        },
        "followup_question": "Điều gì chưa tốt?",
        "skip": "Bỏ qua",
        "thanks": "Xin cảm ơn!",
        "thanks_detail": "Ý kiến của Ông/Bà đã được ghi nhận.",
    },
    "en": {
        "name": "English",
        "question": "How satisfied are you with our service today?",
        "faces": {
            "very_unhappy": "Very dissatisfied",
            "unhappy": "Dissatisfied",
            "neutral": "Neutral",
            "happy": "Satisfied",
            "very_happy": "Very satisfied",
        },
        "followup_question": "What went wrong?",
        "skip": "Skip",
        "thanks": "Thank you!",
        "thanks_detail": "Your opinion has been recorded.",
    },
}
