"""Writing files atomically with the right mode, and handing them to the broker's user."""
from __future__ import annotations

import os
import pwd
import tempfile
from pathlib import Path

from .errors import SetupError


def write_file(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    """Write via a temporary file and rename, so a reloading broker never reads half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)  # set before writing: a secret is never readable by others, not even briefly
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            st = path.stat()  # keep an owner given by chown_to (e.g. the mosquitto user)
            try:
                os.chown(tmp, st.st_uid, st.st_gid)
            except PermissionError:
                pass
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise SetupError(f"cannot write {path}: {exc.strerror}; check the folder's permissions") from None


def chown_to(user: str | None, *paths: Path) -> None:
    """Give files to the user Mosquitto drops to, so it can read them after leaving root."""
    if not user or user == "root" or os.geteuid() != 0:
        return
    pw = pwd.getpwnam(user)
    for p in paths:
        if Path(p).exists():
            os.chown(p, pw.pw_uid, pw.pw_gid)


def traversable_by(user: str, folder: Path) -> bool:
    """True when ``user`` can reach ``folder`` (every parent has an x bit that applies to it)."""
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        return False
    folder = Path(folder).resolve()
    for p in [folder, *folder.parents]:
        if not p.exists():
            continue
        st = p.stat()
        if st.st_uid == pw.pw_uid:
            ok = st.st_mode & 0o100
        elif st.st_gid == pw.pw_gid:
            ok = st.st_mode & 0o010
        else:
            ok = st.st_mode & 0o001
        if not ok:
            return False
    return True
