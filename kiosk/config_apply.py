"""Taking a config pushed by the fleet tool: check it, apply it, keep the previous one, roll back.

Pure decisions over files and a clock passed in; the uplink hands over received ``config``
messages and tells when the broker was reached, the app swaps the running config. A config is
applied only if it is signed by a trusted fleet key, meant for this site and device, and valid
against the same schema ``python -m config check`` uses. It is written beside the running file
(``kiosk.yaml``; the one before it stays as ``kiosk.yaml.previous``); if the kiosk cannot reach a
broker with it within ``rollback_after_s``, the previous file comes back and that config's hash is
refused from then on, so a retained bad config cannot bring the kiosk down again. A config signed
at or before the newest one this kiosk ran or refused is refused too (kiosk/push_state.py keeps that
mark on disk): an old signed config replayed on the topic cannot take the kiosk back to it.

A new config is confirmed only by a connection made with it: the connection that was open when it
arrived was made with the old settings and proves nothing. The caller says when it starts running a
new config (``running``: in this process, or by being a fresh process after a restart) and reports
its connections (``connected``); connections made before that never confirm.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

from broker.contract import ContractError, config_topic, decode, format_ts
from broker.fleet import ConfigRefused, verify
from config.loader import ConfigError, file_problem, load, referenced_files

from .push_state import PushState, write_atomic as _write_atomic

PREVIOUS_SUFFIX = ".previous"
STATE_SUFFIX = ".push-state.json"


def _missing_files(cfg) -> list[str]:
    """The files a config needs (CA, password, keys) that this kiosk does not have or cannot read."""
    out = []
    for loc, path, required in referenced_files(cfg):
        problem = file_problem(path) if required else None
        if problem:
            out.append(f"{'.'.join(str(p) for p in loc)}: {path.name}: {problem}")
    return out


@dataclass(frozen=True)
class Outcome:
    """What happened to one received config. ``event`` is the durable event type to record
    (``config_applied`` / ``config_rejected``) or None when there is nothing to say (a retained
    config already running, seen again on reconnect)."""

    event: Optional[str]
    config_hash: Optional[str]
    detail: str = ""
    config: object = None  # the new KioskConfig to run, when one was applied or restored


class ConfigTaker:
    def __init__(self, config_path: Path, site: str, device: str, trusted_keys: Iterable,
                 prefix: str, rollback_after_s: float = 300.0,
                 hash_of: Callable[[Path], str] | None = None):
        from config.loader import file_hash

        self.path = Path(config_path)
        self.site, self.device = site, device
        self.keys = list(trusted_keys)
        self.topic = config_topic(site, device, prefix)
        self.rollback_after_s = rollback_after_s
        self.hash_of = hash_of or file_hash
        self.state = PushState(self.path.with_name(self.path.name + STATE_SUFFIX))
        # Confirm on a connection numbered above this one; None: the file's config is not running yet.
        # A new taker belongs to a process that started on the file as it is: any connection counts.
        self._confirm_after: Optional[int] = -1

    @property
    def config_error(self) -> Optional[str]:
        return self.state.error

    @property
    def pending(self) -> Optional[dict]:
        """The config applied but not yet confirmed by a connection made with it: {hash, since}."""
        return self.state.pending

    # ------------------------------------------------------------ decisions
    def offer(self, topic: str, payload: bytes, now: float) -> Outcome:
        """A message arrived on this kiosk's config topic."""
        # A retained config comes again on every reconnect: one refusal is said once.
        seen_id = "p:" + hashlib.sha256(bytes(payload)).hexdigest()[:12]
        if seen_id in self.state.noise:
            return Outcome(None, None)
        try:
            push = decode(topic, payload, self.topic.rsplit("/", 3)[0])
            if push.__class__.__name__ != "ConfigPush":
                raise ContractError("bad_kind", "not a config message")
            verify(push, self.site, self.device, self.keys)
        except (ContractError, ConfigRefused) as exc:
            # Not (provably) from the fleet: noted only to say it once; it moves no mark.
            self.state.note_noise(seen_id)
            return self._refuse(None, f"{exc.reason}: {exc.detail}".strip(": "))
        short, signed = push.sha256[:12], format_ts(push.ts)
        if short == self._running_hash():
            if self.state.raise_mark(signed, short):  # the retained copy of what runs: its time is the mark
                self.state.save()
            return Outcome(None, short)
        if short in self.state.refused:
            return Outcome(None, short)  # refused or rolled back before: said so already
        if self.state.stale(signed):  # an older config replayed: never go back to it
            mark = self.state.mark
            return self._refuse(short, f"stale: signed {signed}, not after {mark['ts']} "
                                       f"(config {mark['hash']}, which this kiosk ran or refused)")
        self.state.raise_mark(signed, short)
        candidate = self.path.with_name(self.path.name + ".incoming")
        _write_atomic(candidate, push.yaml.encode("utf-8"))
        try:
            cfg = load(candidate, kind="kiosk")
        except ConfigError as exc:
            candidate.unlink(missing_ok=True)
            return self._refuse(short, "schema: " + "; ".join(exc.problems)[:400])
        missing = _missing_files(cfg)
        if missing:  # it would not start on it: the kiosk would run on its last good copy instead
            candidate.unlink(missing_ok=True)
            return self._refuse(short, "missing_file: " + "; ".join(missing)[:400])
        if (cfg.site, cfg.device) != (self.site, self.device):
            candidate.unlink(missing_ok=True)
            return self._refuse(short, f"wrong_device: the YAML says {cfg.site}/{cfg.device}")
        if cfg.fleet is None:  # applying it would leave the kiosk unable to take the next push
            candidate.unlink(missing_ok=True)
            return self._refuse(short, "no_fleet: the pushed config has no fleet: public_key; keep it in the "
                                       "fleet's defaults.yaml")
        previous = self.path.with_name(self.path.name + PREVIOUS_SUFFIX)
        if self.path.exists():
            _write_atomic(previous, self.path.read_bytes())
        os.replace(candidate, self.path)
        self.state.pending, self.state.error = {"hash": short, "since": now}, None
        self.state.save()
        self._confirm_after = None  # written, not yet running: no connection of this run confirms it
        return Outcome("config_applied", short, "waiting for the broker", cfg)

    def running(self, connections: int, reconnects: bool) -> None:
        """The caller now runs the config last applied (or restored), in this process. ``connections``
        is how many connections the uplink has made so far; ``reconnects`` whether the new config's
        broker settings make it connect again (when not, the open connection already uses them)."""
        self._confirm_after = connections if reconnects else -1

    def connected(self, connections: int) -> Optional[str]:
        """The uplink is connected and has made ``connections`` connections so far: a pending config
        is confirmed if this connection was made with it. Returns the confirmed hash, if any."""
        if self._confirm_after is None or connections <= self._confirm_after:
            return None
        return self.broker_reached()

    def broker_reached(self) -> Optional[str]:
        """A connection made with the running config reached the broker: a pending config is confirmed.
        Callers that know their connections use ``connected``, which checks that first."""
        pending = self.state.pending
        if pending and pending["hash"] == self._running_hash():
            self.state.pending = None
            self.state.save()
            return pending["hash"]
        return None

    def tick(self, now: float) -> Optional[Outcome]:
        """Call now and then: rolls back a pending config that never reached the broker."""
        pending = self.state.pending
        if not pending:
            return None
        if now < pending["since"]:  # a restart: the monotonic clock began again; count from now
            pending["since"] = now
            self.state.save()
        if now - pending["since"] < self.rollback_after_s:
            return None
        previous = self.path.with_name(self.path.name + PREVIOUS_SUFFIX)
        self.state.pending = None
        self.state.refuse(pending["hash"])  # the mark stays on it: nothing signed before it comes back
        reason = (f"rolled back: no broker reached within {self.rollback_after_s:.0f} s "
                  f"with config {pending['hash']}")
        self.state.error = reason
        if not previous.exists():
            self.state.save()
            return Outcome("config_rejected", pending["hash"], reason + " (no previous config kept)")
        os.replace(previous, self.path)
        self.state.save()
        self._confirm_after = None
        try:
            cfg = load(self.path, kind="kiosk")
        except ConfigError as exc:  # the previous one was valid when it ran; say so if it no longer is
            return Outcome("config_rejected", pending["hash"], reason + "; previous config: " + exc.problems[0])
        return Outcome("config_rejected", pending["hash"], reason, cfg)

    # ------------------------------------------------------------ helpers
    def _running_hash(self) -> Optional[str]:
        try:
            return self.hash_of(self.path)
        except OSError:
            return None

    def _refuse(self, short: Optional[str], detail: str) -> Outcome:
        self.state.error = detail[:400]
        if short:
            self.state.refuse(short)
        self.state.save()
        return Outcome("config_rejected", short, detail[:400])
