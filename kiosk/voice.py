"""What the kiosk says, and which WAV file says it. Small and pure: the app imports it only when
``voice.enabled``; building the clips (espeak-ng) is kiosk/voice_build.py.

Every spoken text has a key (``question``, ``face.happy``, ``reason.waiting``, ``thanks``, ...). Its clip
is, in this order: a recorded clip under ``voice.clips`` (or the older ``audio`` prompts: ``start`` is the
question, ``thanks`` the thank-you), else the clip ``voice build`` made from the text with the voice of the
language the text is written in, named by a hash of voice and text: the same text always gives the same
file, a changed text a new one.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from config.kiosk import FACES_FOR_SCALE, KioskConfig

from config.texts import OFFICER_TEXTS, SHIPPED

SCREEN_TEXTS = ("question", "followup_question", "skip", "thanks", "thanks_detail")
AUDIO_ALIASES = {"question": "start", "thanks": "thanks"}  # the audio: prompts of older kiosk.yaml files


@dataclass(frozen=True)
class Line:
    lang: str                 # the screen's language
    key: str                  # question, face.happy, reason.waiting, ...
    text: str                 # what the screen shows (maybe in a fallback language)
    text_lang: str            # the language the text is written in: its voice speaks it
    recorded: Optional[Path]  # a technician's recording, when given


def people(cfg: KioskConfig) -> dict[str, str]:
    """Officers the kiosk may name as on duty: key -> name."""
    return {**{p.key: p.name for p in cfg.officers}, **{m.key: m.name for m in cfg.staff}}


def timeout_s(cfg: KioskConfig, which: str) -> float:
    """The speaking mode's time-outs, which it announces: followup, thanks, idle."""
    sp = cfg.voice.speaking
    return {"followup": sp.followup_s, "thanks": sp.thank_you_s, "idle": sp.idle_s}[which]


def _written(cfg: KioskConfig, lang: str, key: str) -> Optional[str]:
    custom = cfg.languages.custom.get(lang)
    if key.startswith("back_in."):
        template = _written(cfg, lang, "back_in")
        return template.replace("{seconds}", f"{timeout_s(cfg, key[8:]):g}") if template else None
    if key == "speaking_intro":
        template = (getattr(custom, key, None) if custom is not None else None) or SHIPPED.get(lang, {}).get(key)
        return template.replace("{faces}", str(cfg.faces.scale)) if template else None
    if key.startswith("officer."):
        template = OFFICER_TEXTS.get(lang, {}).get("officer_on_duty")
        name = people(cfg).get(key[8:])
        return template.format(name=name) if template and name else None
    if key.startswith("face."):
        faces = (getattr(custom, "faces", None) if custom is not None else None) or {}
        return faces.get(key[5:]) or SHIPPED.get(lang, {}).get("faces", {}).get(key[5:])
    if key.startswith("reason."):
        reason = next((r for r in cfg.followup.reasons if r.key == key[7:]), None)
        return reason.texts.get(lang) if reason is not None else None
    value = getattr(custom, key, None) if custom is not None else None
    return value or SHIPPED.get(lang, {}).get(key)


def keys(cfg: KioskConfig) -> list[str]:
    out = ["question", *(f"face.{level}" for level in FACES_FOR_SCALE[cfg.faces.scale])]
    if cfg.followup.enabled and cfg.followup.reasons:
        out += ["followup_question", *(f"reason.{r.key}" for r in cfg.followup.reasons), "skip"]
    out += ["thanks", "thanks_detail"]
    if cfg.voice.speaking.enabled:
        out += ["speaking_intro", "back_in.idle", "back_in.thanks"]
        if cfg.followup.enabled and cfg.followup.reasons:
            out.append("back_in.followup")
        if len(cfg.languages.enabled) > 1:  # the languages, reached after the faces: each its name in itself
            out += [f"lang.{code}" for code in cfg.languages.enabled]
    return out + [f"officer.{k}" for k in people(cfg)]


def lines(cfg: KioskConfig) -> list[Line]:
    """Every text the kiosk says, in every enabled language, as the screen shows it (the same fallbacks as
    config/texts.py: the language itself, then the default language, then English)."""
    out = []
    for lang in cfg.languages.enabled:
        for key in keys(cfg):
            if key.startswith("lang."):  # a language's name is said in that language, whatever the screen's
                code = key[5:]
                custom = cfg.languages.custom.get(code)
                name = (custom.name if custom is not None else None) or SHIPPED.get(code, {}).get("name")
                if name:
                    out.append(Line(lang, key, name, code, recorded_clip(cfg, code, key)))
                continue
            for code in dict.fromkeys((lang, cfg.languages.default, "en")):
                text = _written(cfg, code, key)
                if text:
                    break
            else:
                continue
            out.append(Line(lang, key, text, code, recorded_clip(cfg, lang, key)))
    return out


def recorded_clip(cfg: KioskConfig, lang: str, key: str) -> Optional[Path]:
    clip = cfg.voice.clips.get(lang, {}).get(key)
    if clip is None and key in AUDIO_ALIASES:
        clip = cfg.audio.get(lang, {}).get(AUDIO_ALIASES[key])
    return clip


def spoken(text: str) -> str:
    """The text as the voice reads it: "Ông/Bà" is "Ông, Bà", not "Ông gạch chéo Bà"."""
    return " ".join(text.replace("/", ", ").split())


def built_name(voice: str, text: str) -> str:
    digest = hashlib.sha256(f"espeak-ng\0{voice}\0{spoken(text)}".encode()).hexdigest()[:20]
    return f"{voice}-{digest}.wav"


def voice_for(cfg: KioskConfig, line: Line) -> Optional[str]:
    return cfg.voice.voices.get(line.text_lang)


def clip(cfg: KioskConfig, line: Line) -> Optional[Path]:
    """The file that says ``line``: the recording, else the built clip (None: neither a clip nor a voice)."""
    if line.recorded is not None:
        return line.recorded
    voice = voice_for(cfg, line)
    return None if voice is None else cfg.voice.folder / built_name(voice, line.text)


class Clips:
    """The kiosk's look-up at the counter: (screen language, text key) -> a WAV file that exists, or None."""

    def __init__(self, cfg: KioskConfig):
        self.files = {(line.lang, line.key): clip(cfg, line) for line in lines(cfg)}

    def get(self, lang: str, key: str) -> Optional[Path]:
        path = self.files.get((lang, key))
        return path if path is not None and path.is_file() else None


def problems(cfg: KioskConfig, config_name: str = "kiosk.yaml") -> list[str]:
    """For ``python -m config check``: each language with texts that have neither a clip nor a voice, and
    clips not built yet. Vietnamese first."""
    silent: dict[str, list[str]] = {}
    unbuilt: dict[str, int] = {}
    for line in lines(cfg):
        path = clip(cfg, line)
        if path is None:
            silent.setdefault(line.lang, []).append(line.key)
        elif line.recorded is None and not path.is_file():
            unbuilt[line.lang] = unbuilt.get(line.lang, 0) + 1
    out = [f"{config_name}: voice: ngôn ngữ {lang}: không có bản ghi âm cũng không có giọng đọc cho / language "
           f"{lang}: no clip and no voice for {', '.join(k)}; record them under voice.clips.{lang} or give "
           f"voice.voices.{lang} (espeak-ng --voices)" for lang, k in silent.items()]
    out += [f"{config_name}: voice: ngôn ngữ {lang}: {n} câu chưa được tạo / language {lang}: {n} clips not built "
            f"yet; run: python -m kiosk voice build --config {config_name}" for lang, n in unbuilt.items()]
    for lang in cfg.languages.enabled:  # a language shown by a picture: its speakers hear it from recordings
        custom = cfg.languages.custom.get(lang)
        if custom is not None and custom.picture is not None:
            bare = [ln.key for ln in lines(cfg) if ln.lang == lang and ln.recorded is None
                    and (not ln.key.startswith("lang.") or ln.key == f"lang.{lang}")]
            if bare:
                out.append(f"{config_name}: voice: ngôn ngữ {lang} hiện bằng hình: thiếu bản ghi âm cho / language "
                           f"{lang} is shown by a picture: no recording for {', '.join(bare)}; record them under "
                           f"voice.clips.{lang}")
    return out
