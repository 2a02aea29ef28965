"""The printed counter QR's general feedback, with the real commands: `python -m collector followup counter-qr`
writes the PNG and the A5 PDF a counter prints (read back with zbarimg and pdftotext), and the real
`python -m collector followup serve` takes answers at the link: clearly marked as general feedback, stored apart
from the thank-you QR's answers, limited per code and per address (1,000 submissions from one address: refused
past the limit, the form still serves others), and a replaced code stops working."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from collector.storage.db import connect
from tests.integration.test_followup_form import Form
from tests.servers import free_port, wait_port

ROOT = Path(__file__).resolve().parents[2]
SITES = """sites:
  - slug: lam-dong
    name: Tỉnh Lâm Đồng
    communes:
      - slug: xa-tan-lap
        name: Xã Tân Lập
        centres:
          - site: ubnd-xa-tan-lap
            name: Bộ phận một cửa xã Tân Lập
            counters: [{device: quay-01, name: "Quầy 1 - Hộ tịch"}]
"""


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "collector", "followup", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def served(tmp_path):
    port = free_port()
    cfg = tmp_path / "collector.yaml"
    cfg.write_text(f"kind: collector\ndatabase: {{url: 'sqlite:///{tmp_path / 'r.db'}'}}\n{SITES}followup_form: "
                   f"{{port: {port}, public_url: 'https://gopy.lamdong.gov.vn', per_address_per_minute: 20, "
                   "general_per_hour: 5, trusted_proxies: ['127.0.0.1']}\n", encoding="utf-8")
    made = cli("counter-qr", "--config", str(cfg), "--site", "ubnd-xa-tan-lap", "--device", "quay-01",
               "--output", str(tmp_path / "quay-01.png"))
    assert made.returncode == 0, made.stderr
    log = open(tmp_path / "form.log", "wb")
    form = subprocess.Popen([sys.executable, "-m", "collector", "followup", "serve", "--config", str(cfg)],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    db = connect(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        wait_port(port, 15)
        yield cfg, made.stdout, Form(port), db
    finally:
        form.terminate()
        form.wait(10)
        db.close()
    assert "Traceback" not in (tmp_path / "form.log").read_text(errors="replace")


def test_a_counter_prints_its_general_feedback_qr_and_its_answers_stay_apart(served, tmp_path):
    cfg, printed, form, db = served
    url = printed.splitlines()[1]
    assert url.startswith("https://gopy.lamdong.gov.vn/g/") and "Quầy 1 - Hộ tịch" in printed
    read = subprocess.run(["zbarimg", "-q", "--raw", str(tmp_path / "quay-01.png")], capture_output=True, text=True)
    assert read.stdout.strip() == url  # what a phone reads off the printed sign
    again = cli("counter-qr", "--config", str(cfg), "--site", "ubnd-xa-tan-lap", "--device", "quay-01",
                "--output", str(tmp_path / "quay-01.pdf"))
    assert again.returncode == 0 and again.stdout.splitlines()[1] == url  # the same code until --new
    text = subprocess.run(["pdftotext", str(tmp_path / "quay-01.pdf"), "-"], capture_output=True, text=True).stdout
    assert "GÓP Ý CHUNG" in text and "General feedback" in text and "Không gắn với lượt" in text

    path = "/g/" + url.rsplit("/", 1)[1]
    status, headers, page = form.request("GET", path)
    assert status == 200 and "GÓP Ý CHUNG cho Quầy 1 - Hộ tịch – Bộ phận một cửa xã Tân Lập" in page
    assert "không gắn với lượt đánh giá nào" in page and "default-src 'none'" in headers["content-security-policy"]
    status, _, page = form.request("POST", path, {"access": "2", "comment": "<script>x</script> bãi xe chật",
                                                  "contact": "0912345678"})
    assert status == 200 and "Góp ý chung của bạn đã được gửi" in page
    assert db.query("SELECT site, device, s_access, comment, contact FROM followup_general") == [
        ("ubnd-xa-tan-lap", "quay-01", 2, "<script>x</script> bãi xe chật", "0912345678")]
    assert db.scalar("SELECT COUNT(*) FROM followup_answers") == 0  # never a visit's answer
    status, _, page = form.request("GET", path + "?l=en")
    assert page.index("GENERAL FEEDBACK for") < page.index("GÓP Ý CHUNG cho")

    # one printed code takes general_per_hour (5) answers an hour, from whoever sends them
    codes = [form.request("POST", path, {"staff": "4"}, client=f"198.51.100.{i}")[0] for i in range(6)]
    assert codes == [200] * 4 + [429, 429]
    # 1,000 submissions from one address: refused past the address's limit, and the form keeps serving
    flood = [form.request("POST", "/g/AAAAAAAAAAAAAAAA", {"staff": "1"}, client="192.0.2.66")[0] for _ in range(1000)]
    assert flood[:20] == [404] * 20 and flood[20:].count(429) >= 975
    assert form.request("GET", path, client="203.0.113.50")[0] == 200
    assert db.scalar("SELECT COUNT(*) FROM followup_general") == 5

    renewed = cli("counter-qr", "--config", str(cfg), "--site", "ubnd-xa-tan-lap", "--device", "quay-01",
                  "--output", str(tmp_path / "new.png"), "--new")
    assert renewed.returncode == 0 and renewed.stdout.splitlines()[1] != url
    assert form.request("GET", path, client="203.0.113.51")[0] == 404  # the old sign no longer works


def test_counter_qr_says_what_is_wrong(tmp_path):
    cfg = tmp_path / "collector.yaml"
    cfg.write_text(f"kind: collector\ndatabase: {{url: 'sqlite:///{tmp_path / 'r.db'}'}}\n{SITES}", encoding="utf-8")
    base = ["counter-qr", "--config", str(cfg), "--site", "ubnd-xa-tan-lap", "--device", "quay-01"]
    for extra, said in ((["--output", "x.png"], "give --base-url https://... or set followup_form.public_url"),
                        (["--output", "x.svg", "--base-url", "https://g.vn"], "must end in .png or .pdf"),
                        (["--output", "x.png", "--base-url", "gopy.vn"], "must start with https://")):
        run = cli(*base, *extra)
        assert run.returncode == 2 and said in run.stderr, run.stderr
    run = cli("counter-qr", "--config", str(cfg), "--site", "ubnd-xa-tan-lap", "--device", "quay-09",
              "--output", str(tmp_path / "x.png"), "--base-url", "https://g.vn")
    assert run.returncode == 2 and "no counter --site ubnd-xa-tan-lap --device quay-09" in run.stderr
    assert "ubnd-xa-tan-lap quay-01" in run.stderr
    helped = cli("counter-qr", "--help")
    assert "General feedback" in helped.stdout and "--new" in helped.stdout


def test_the_counter_qr_command_of_the_guide_runs_as_printed(tmp_path):
    """docs/followup.md's command, word for word, in a folder holding the example collector.yaml."""
    import shlex

    guide = (ROOT / "docs" / "followup.md").read_text(encoding="utf-8")
    [line] = [x for x in guide.splitlines() if x.startswith("python -m collector followup counter-qr")]
    (tmp_path / "collector.yaml").write_text((ROOT / "config" / "examples" / "collector.yaml").read_text(
        encoding="utf-8"), encoding="utf-8")
    words = shlex.split(line)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this tree's collector, from any folder
    run = subprocess.run([sys.executable, *words[1:]], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    out = run.stdout.splitlines()
    assert out[0] == "quay-01.pdf: Quầy 1 - Hộ tịch – Bộ phận một cửa xã Tân Lập"
    assert out[1].startswith("https://gopy.lamdong.gov.vn/g/") and (tmp_path / "quay-01.pdf").stat().st_size > 1000
