"""Where ``python -m config fleet check --broker-dir ... --collector ...`` reads a counter's other two names:
the broker folder's state.json and collector.yaml's site hierarchy. A command's helper: it reads the
broker's and the collector's own files, which the typed models of config/ know nothing of (counters.py
compares what it finds here)."""
from __future__ import annotations

from pathlib import Path

from .loader import ConfigError


def broker_counters(broker_dir: Path) -> dict[tuple[str, str], str]:
    """(site, device) of every device account of a broker folder -> its user name."""
    from broker.errors import SetupError
    from broker.state import load_state

    try:
        state = load_state(Path(broker_dir))
    except SetupError as exc:
        raise ConfigError(Path(broker_dir), [str(exc)]) from None
    except PermissionError:
        raise ConfigError(Path(broker_dir), [f"{broker_dir}: không đọc được state.json / cannot read state.json "
                                             f"(it holds password hashes: run as root)"]) from None
    return {(a.site, a.device): user for user, a in state.accounts.items() if a.kind == "device"}


def collector_counters(path: Path):
    """(centre, device) of every counter in collector.yaml's sites, and the hierarchy (old slug -> centre)."""
    from collector.reports.hierarchy import Hierarchy

    from .loader import load

    cfg = load(path, kind="collector")
    hierarchy = Hierarchy.from_config(cfg.sites)
    return set(hierarchy.counters), hierarchy
