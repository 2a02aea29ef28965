"""Config files: the examples pass, and each kind of mistake gives file:line: field: what is allowed."""
import subprocess
import sys
from pathlib import Path

import pytest

from config import ConfigError, load
from config.kiosk import KioskConfig

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "config" / "examples").glob("*.yaml"))


def write(tmp_path, text, name="kiosk.yaml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def problems(path, **kw):
    with pytest.raises(ConfigError) as e:
        load(path, **kw)
    return e.value.problems


def test_every_example_passes_config_check():
    assert len(EXAMPLES) == 4
    out = subprocess.run([sys.executable, "-m", "config", "check", *map(str, EXAMPLES)], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count(": ok") == 4


def test_scale_out_of_range_names_file_line_field_and_range(tmp_path):
    p = write(tmp_path, "kind: kiosk\nsite: a\ndevice: b\n" + "\n" * 9 + "faces:\n  scale: 9\n")
    assert problems(p) == ["kiosk.yaml:14: faces.scale: 9 is not allowed; use 2 to 5"]


def test_unknown_key_is_an_error_listing_allowed_keys(tmp_path):
    p = write(tmp_path, "site: a\ndevice: b\ntimeouts:\n  thankyou_s: 3\n")
    [msg] = problems(p)
    assert msg.startswith("kiosk.yaml:4: timeouts.thankyou_s: unknown key; allowed here: thank_you_s")


def test_inline_password_is_refused(tmp_path):
    p = write(tmp_path, "site: a\ndevice: b\nbroker:\n  username: u\n  password: hunter2\n")
    [msg] = problems(p)
    assert msg.startswith("kiosk.yaml:5: broker.password:") and "{env: VARIABLE}" in msg


def test_secret_from_env_and_file(tmp_path, monkeypatch):
    (tmp_path / "pw").write_text("s3cret\n")
    p = write(tmp_path, "site: a\ndevice: b\nbroker:\n  username: u\n  password: {file: pw}\n"
                        "technician:\n  pin: {env: TEST_PIN}\n")
    cfg = load(p)
    assert cfg.broker.password.resolve() == "s3cret"
    monkeypatch.setenv("TEST_PIN", "2468")
    assert cfg.technician.pin.resolve() == "2468"


def test_every_problem_is_reported_in_line_order(tmp_path):
    p = write(tmp_path, "site: Bad Site\ndevice: b\nfaces:\n  scale: 1\nlanguages:\n  default: fr\n")
    msgs = problems(p)
    assert [m.split(":")[1] for m in msgs] == ["1", "4", "5"]
    assert "site: 'Bad Site' is not allowed" in msgs[0]


def test_yaml_syntax_error_names_the_line(tmp_path):
    p = write(tmp_path, "site: a\ndevice: b\nfaces:\n  scale: [5\n")
    [msg] = problems(p)
    assert msg.startswith("kiosk.yaml:") and "not valid YAML" in msg


def test_missing_required_field(tmp_path):
    p = write(tmp_path, "kind: kiosk\nsite: a\n")
    assert problems(p) == ["kiosk.yaml:1: device: is required but missing"]


def test_kind_is_detected_or_asked_for(tmp_path):
    p = write(tmp_path, "hello: world\n", name="x.yaml")
    [msg] = problems(p)
    assert "cannot tell which kind" in msg
    assert "unknown key" in problems(p, kind="collector")[0]


def test_a_technician_adds_a_language_in_yaml(tmp_path):
    p = write(tmp_path, "site: a\ndevice: b\nlanguages:\n  enabled: [vi, en, km]\n"
                        "  custom:\n    km:\n      name: Khmer\n      question: '?'\n")
    cfg = load(p)
    assert isinstance(cfg, KioskConfig) and cfg.languages.custom["km"].name == "Khmer"
    p2 = write(tmp_path, "site: a\ndevice: b\nlanguages:\n  enabled: [vi, km]\n")
    assert "have no texts" in problems(p2)[0]


def test_relative_paths_are_relative_to_the_file(tmp_path):
    (tmp_path / "sub").mkdir()
    p = write(tmp_path / "sub", "site: a\ndevice: b\noutbox:\n  path: data/outbox.db\n")
    assert load(p).outbox.path == (tmp_path / "sub" / "data" / "outbox.db")


def test_collector_checks_db_url_and_timezone(tmp_path):
    p = write(tmp_path, "kind: collector\ndatabase:\n  url: mysql://x\ntimezone: Mars/Base\n", "collector.yaml")
    msgs = problems(p)
    assert msgs[0].startswith("collector.yaml:3: database.url:") and "sqlite:///" in msgs[0]
    assert msgs[1].startswith("collector.yaml:4: timezone:") and "Asia/Ho_Chi_Minh" in msgs[1]


def test_config_check_cli_exit_codes(tmp_path):
    bad = write(tmp_path, "kind: broker\nlisteners:\n  tls:\n    port: 70000\n", "broker.yaml")
    out = subprocess.run([sys.executable, "-m", "config", "check", str(bad)], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 1
    assert "broker.yaml:4: listeners.tls.port: 70000 is not allowed; use 1 to 65535" in out.stderr
    out = subprocess.run([sys.executable, "-m", "config", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and "check" in out.stdout


def test_config_check_names_a_missing_ca_password_file_or_sound_with_its_field(tmp_path):
    """A config that parses but names files that are not there is not 'ok': the kiosk would fail later
    with a bare FileNotFoundError."""
    p = write(tmp_path, "site: a\ndevice: b\nbroker:\n  username: u\n  password: {file: mqtt.pass}\n"
                        "  tls:\n    ca: certs/ca.crt\n    cert: c.crt\n    key: c.key\n"
                        "audio:\n  vi: {start: sounds/vi.wav}\n")
    out = subprocess.run([sys.executable, "-m", "config", "check", str(p)], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 1 and ": ok" not in out.stdout
    assert out.stderr.splitlines() == [
        f"kiosk.yaml:5: broker.password.file: {tmp_path / 'mqtt.pass'}: file not found",
        f"kiosk.yaml:7: broker.tls.ca: {tmp_path / 'certs' / 'ca.crt'}: file not found",
        f"kiosk.yaml:8: broker.tls.cert: {tmp_path / 'c.crt'}: file not found",
        f"kiosk.yaml:9: broker.tls.key: {tmp_path / 'c.key'}: file not found",
        f"kiosk.yaml:11: audio.vi.start: {tmp_path / 'sounds' / 'vi.wav'}: file not found "
        "(optional: the kiosk runs without it)",
    ]
    (tmp_path / "certs").mkdir()
    (tmp_path / "sounds").mkdir()
    for name in ("mqtt.pass", "certs/ca.crt", "c.crt", "c.key"):
        (tmp_path / name).write_text("x")
    (tmp_path / "sounds" / "vi.wav").mkdir()  # a folder where a file should be
    out = subprocess.run([sys.executable, "-m", "config", "check", str(p)], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 1 and "audio.vi.start" in out.stderr and "is a folder, not a file" in out.stderr
    (tmp_path / "sounds" / "vi.wav").rmdir()
    (tmp_path / "sounds" / "vi.wav").write_bytes(b"RIFF")
    out = subprocess.run([sys.executable, "-m", "config", "check", str(p)], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout == f"{p}: ok\n", out.stderr


def test_load_checked_refuses_missing_required_files_and_warns_about_optional_ones(tmp_path):
    from config.loader import load_checked

    p = write(tmp_path, "site: a\ndevice: b\nbroker:\n  tls: {ca: ca.crt}\naudio: {vi: {thanks: t.wav}}\n")
    with pytest.raises(ConfigError) as e:
        load_checked(p, kind="kiosk")
    assert e.value.problems[0] == f"kiosk.yaml:4: broker.tls.ca: {tmp_path / 'ca.crt'}: file not found"
    (tmp_path / "ca.crt").write_text("x")
    cfg, warnings = load_checked(p, kind="kiosk")
    assert cfg.broker.tls.ca == tmp_path / "ca.crt"
    assert warnings == [f"kiosk.yaml:5: audio.vi.thanks: {tmp_path / 't.wav'}: file not found "
                        "(optional: the kiosk runs without it)"]


def test_a_reason_names_its_sipas_element_and_a_wrong_one_is_shown_where_it_is(tmp_path):
    p = write(tmp_path, "kind: kiosk\nsite: a\ndevice: b\nfollowup:\n  reasons:\n"
                        "    - {key: waiting, texts: {vi: Chờ lâu}, element: access}\n"
                        "    - key: attitude\n      texts: {vi: Thái độ}\n      element: civil-servant\n")
    assert problems(p) == ["kiosk.yaml:9: followup.reasons[1].element: 'civil-servant' is not allowed; use "
                           "'access', 'procedure', 'staff', 'result' or 'feedback'"]
    p.write_text(p.read_text(encoding="utf-8").replace("civil-servant", "staff"), encoding="utf-8")
    assert [r.element for r in load(p).followup.reasons] == ["access", "staff"]
    c = write(tmp_path, "kind: collector\ndatabase: {url: 'sqlite:///x.db'}\nlabels:\n  reason_elements:\n"
                        "    waiting: waiting-room\n", "collector.yaml")
    assert problems(c) == ["collector.yaml:5: labels.reason_elements.waiting: 'waiting-room' is not allowed; use "
                           "'access', 'procedure', 'staff', 'result' or 'feedback'"]


def test_config_check_of_a_kiosk_and_a_collector_together_wants_the_same_elements(tmp_path):
    guide = (ROOT / "docs" / "followup.md").read_text(encoding="utf-8")
    [line] = [x for x in guide.splitlines() if x.startswith("python -m config check config/examples/kiosk.yaml")]
    out = subprocess.run([sys.executable, *line.split()[1:]], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.count(": ok") == 2, out.stderr  # the guide's command, as printed
    collector = tmp_path / "collector.yaml"
    collector.write_text((ROOT / "config" / "examples" / "collector.yaml").read_text(encoding="utf-8")
                         .replace("paperwork: procedure", "paperwork: result").replace("    guidance: staff\n", ""),
                         encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "config", "check", "config/examples/kiosk.yaml", str(collector)],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 1
    assert "kiosk.yaml:52: followup.reasons[3].element: 'procedure', but collector.yaml " \
           "labels.reason_elements.paperwork is 'result'" in out.stderr
    assert "followup.reasons[2].element: 'staff', but collector.yaml labels.reason_elements.guidance names none" \
        in out.stderr
