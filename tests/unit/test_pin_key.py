"""Officer PIN hashes that travel in pushed configs: with the kiosks' PIN key a copied hash cannot be
guessed at; hashes made before the key existed still match; the kiosk refuses PINs shorter than its minimum."""
import io
import os
import stat

import pytest

from config.pins import hash_key_id, hash_pin, is_pin_hash, new_pin_key, read_pin_key, verify_pin
from kiosk.duty import Duty, Officer, pin_checker

FAST = 10
# made by the hash-pin of before the PIN key (scrypt 2**14, no key): it must keep matching
OLD_HASH = "scrypt$14$8$1$MDEyMzQ1Njc4OWFiY2RlZg==$+WhpTB3W+9cUCbTS2VR3DH2TuXTCcZYp7Sp/fcF63oM="


def test_a_hash_made_before_the_pin_key_still_matches():
    assert is_pin_hash(OLD_HASH) and hash_key_id(OLD_HASH) is None
    assert verify_pin("2468", OLD_HASH) and not verify_pin("2469", OLD_HASH)
    assert verify_pin("2468", OLD_HASH, key=read_pin_key(new_pin_key()))  # a kiosk with a key checks it too


def test_a_keyed_hash_matches_only_with_its_key():
    key, other = read_pin_key(new_pin_key()), read_pin_key(new_pin_key())
    keyed = hash_pin("2468", log2_n=FAST, key=key)
    assert keyed.startswith("scryptk$") and is_pin_hash(keyed) and hash_key_id(keyed) != hash_key_id(
        hash_pin("2468", log2_n=FAST, key=other))
    assert verify_pin("2468", keyed, key) and not verify_pin("2467", keyed, key)
    # what a collector account sees in the pushed config is useless without the key: no guess matches
    assert not verify_pin("2468", keyed) and not verify_pin("2468", keyed, other)
    unkeyed = keyed.replace(f"scryptk${hash_key_id(keyed)}", "scrypt")
    assert is_pin_hash(unkeyed) and not verify_pin("2468", unkeyed)  # the key cannot be stripped off


def test_a_pin_key_file_is_checked():
    with pytest.raises(ValueError, match="not a PIN key"):
        read_pin_key("1234")
    assert len(read_pin_key(new_pin_key())) == 32


def test_the_kiosk_checks_with_its_key_file_and_refuses_short_pins(tmp_path):
    from config.kiosk import Duty as DutyCfg

    (tmp_path / "pin.key").write_text(new_pin_key() + "\n", encoding="ascii")
    key = read_pin_key((tmp_path / "pin.key").read_text(encoding="ascii"))
    officers = {"an": Officer("an", "An", hash_pin("246810", log2_n=FAST, key=key)),
                "binh": Officer("binh", "Bình", hash_pin("1357", log2_n=FAST))}
    cfg = DutyCfg.model_validate({"pin_key": {"file": str(tmp_path / "pin.key")}, "pin_min_digits": 6})
    duty = Duty(officers, verify=pin_checker(cfg))
    assert duty.try_pin("an", "246810", now=1) == "ok"
    assert duty.try_pin("binh", "1357", now=2) == "wrong"  # four digits, below the kiosk's minimum of six
    no_key = Duty(officers, verify=pin_checker(DutyCfg()))
    assert no_key.try_pin("an", "246810", now=1) == "wrong" and no_key.try_pin("binh", "1357", now=2) == "ok"


def test_a_staff_list_with_keyed_hashes_needs_the_key_in_kiosk_yaml():
    from config.kiosk import KioskConfig

    keyed = hash_pin("246810", log2_n=FAST, key=read_pin_key(new_pin_key()))
    staff = [{"key": "an", "name": "An", "pin_hash": keyed}]
    with pytest.raises(ValueError, match="duty: {pin_key: {file: pin.key}}"):
        KioskConfig.model_validate({"site": "xa-a", "device": "quay-1", "staff": staff})
    KioskConfig.model_validate({"site": "xa-a", "device": "quay-1", "staff": staff,
                                "duty": {"pin_key": {"env": "HAILONG_PIN_KEY"}}})


def test_pin_key_and_hash_pin_commands(tmp_path, monkeypatch, capsys):
    from config.__main__ import main

    path = tmp_path / "pin.key"
    assert main(["pin-key", "--out", str(path)]) == 0
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    first = path.read_text(encoding="ascii")
    assert main(["pin-key", "--out", str(path)]) == 1 and path.read_text(encoding="ascii") == first  # kept
    assert "không ghi đè / exists, not overwritten" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("246810\n"))
    assert main(["hash-pin", "--stdin", "--key", str(path)]) == 0
    out = capsys.readouterr()
    printed = out.out.strip()
    assert printed.startswith("scryptk$") and verify_pin("246810", printed, read_pin_key(first))
    assert "without a PIN key" not in out.err
    monkeypatch.setattr("sys.stdin", io.StringIO("246810\n"))
    assert main(["hash-pin", "--stdin"]) == 0
    assert "without a PIN key (--key)" in capsys.readouterr().err
