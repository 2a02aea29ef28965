"""What enrolment does on the machine itself: files for the service user, a check as that user, and
finding the enrolment file on a USB stick.

``hailong-kiosk.service`` runs the kiosk as the ``kiosk`` user, while a clerk runs ``enrol`` with sudo.
So, run as root, enrol gives the folder and its files to that user's group (secrets 0640, the folder
group-writable so a pushed config can replace kiosk.yaml), makes the outbox's folder the user's own,
and then, in a child process that has become that user, reads the config and every file it names and
tries to write where the kiosk writes: "ready" is said only when the service user can run on it.
"""
from __future__ import annotations

import grp
import json
import os
import pwd
import tarfile
from dataclasses import dataclass
from pathlib import Path

from broker.enrol import QR_PREFIX

SERVICE_USER = "kiosk"  # docs/hailong-kiosk.service: User=kiosk
MEDIA_ROOTS = (Path("/media"), Path("/run/media"), Path("/mnt"))  # where a desktop-less Pi mounts a stick
SECRET_SUFFIXES = (".pass", ".key")


class HostError(Exception):
    """The machine is not ready for the kiosk (a missing user, no stick); the message says what to do."""


@dataclass(frozen=True)
class ServiceUser:
    name: str
    uid: int
    gid: int


def service_user(name: str = SERVICE_USER) -> ServiceUser | None:
    """The account the kiosk service runs as, when enrol runs as root; None otherwise (the files then
    belong to whoever runs enrol, as on a test bench)."""
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        raise HostError(f"chưa có người dùng {name!r} mà dịch vụ kiosk chạy dưới tên đó; tạo theo bước 2 của "
                        f"docs/kiosk-raspberry-pi.md (useradd ... {name}) hoặc chỉ định bằng --user / "
                        f"the kiosk service's user {name!r} does not exist: create it (docs/kiosk-raspberry-pi.md "
                        f"step 2) or name another with --user") from None
    return ServiceUser(name, pw.pw_uid, pw.pw_gid)


def hand_over(user: ServiceUser | None, folder: Path, written: list[str]) -> None:
    """Give the enrolled files to the service user's group (the outbox's folder is the user's own home,
    made by useradd, or made by the kiosk itself: check_as tells whether it can)."""
    if user is None or user.uid == 0:  # a kiosk run as root reads them as written
        return
    folder = Path(folder)
    os.chown(folder, 0, user.gid)
    os.chmod(folder, 0o2770)  # group-writable: a pushed config replaces kiosk.yaml; setgid: new files stay in the group
    for name in written:
        os.chown(folder / name, 0, user.gid)
        os.chmod(folder / name, 0o640 if name.endswith(SECRET_SUFFIXES) else 0o644)


def check_as(user: ServiceUser | None, kiosk_yaml: Path, outbox_dir: Path) -> list[str]:
    """What the service user cannot do with the enrolled files (empty: the kiosk can run on them).
    Checked in a child process that has given up root for that user, so the answer is the kernel's."""
    from config import ConfigError
    from config.loader import load_checked

    if user is None:
        return []
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: become the user, look, report, exit without running anything else
        problems: list[str] = []
        try:
            os.close(r)
            os.setgroups(os.getgrouplist(user.name, user.gid))
            os.setgid(user.gid)
            os.setuid(user.uid)
            try:
                load_checked(kiosk_yaml, kind="kiosk")
            except ConfigError as exc:
                problems += exc.problems
            except OSError as exc:
                problems.append(f"{kiosk_yaml}: {exc.strerror}")
            outbox_at = Path(outbox_dir)
            while not outbox_at.exists() and outbox_at != outbox_at.parent:  # the kiosk makes the missing folders
                outbox_at = outbox_at.parent
            for where, why in ((Path(kiosk_yaml).parent, "cấu hình đẩy về không thay được kiosk.yaml / a pushed "
                                                          "config could not replace kiosk.yaml"),
                               (outbox_at, f"không ghi được hộp thư đi / cannot write the outbox ({outbox_dir})")):
                if not os.access(where, os.W_OK | os.X_OK):
                    problems.append(f"{where}: {why}")
        except BaseException as exc:  # noqa: BLE001 - whatever happens, the parent must hear of it
            problems.append(f"{type(exc).__name__}: {exc}")
        finally:
            os.write(w, json.dumps(problems).encode("utf-8"))
            os._exit(0)
    os.close(w)
    chunks = []
    with os.fdopen(r, "rb") as f:
        while chunk := f.read(65536):
            chunks.append(chunk)
    os.waitpid(pid, 0)
    try:
        return json.loads(b"".join(chunks) or b'["the check as the service user did not answer"]')
    except ValueError:
        return ["the check as the service user did not answer"]


def group_name(user: ServiceUser) -> str:
    try:
        return grp.getgrgid(user.gid).gr_name
    except KeyError:
        return str(user.gid)


# ---------------------------------------------------------------- the USB stick
def _is_enrolment_file(path: Path) -> bool:
    try:
        if path.stat().st_size > 1 << 22:
            return False
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        return False
    if head.lstrip()[:len(QR_PREFIX)].upper() == QR_PREFIX.encode():
        return True
    if path.suffix.lower() != ".tar":
        return False
    try:
        with tarfile.open(path, "r:") as tar:
            return "identity.json" in tar.getnames()
    except (OSError, tarfile.TarError):
        return False


def find_on_media(roots: tuple[Path, ...] = MEDIA_ROOTS) -> list[Path]:
    """Enrolment files (a bundle .tar, or a text file holding the QR code's text) on mounted sticks:
    in the top two folder levels under each root (/media/STICK/..., /media/USER/STICK/...)."""
    found: list[Path] = []
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            continue
        for depth in ("*", "*/*", "*/*/*"):
            for path in sorted(root.glob(depth)):
                if path.is_file() and path.suffix.lower() in (".tar", ".txt") and _is_enrolment_file(path):
                    found.append(path)
    return found
