"""The mutation score per module from mutmut's results: killed / (killed + survived) of the mutants it ran."""
from __future__ import annotations

import subprocess
import sys
from collections import Counter, defaultdict


def main() -> int:
    out = subprocess.run([".venv/bin/python", "-m", "mutmut", "results", "--all", "true"], capture_output=True, text=True)
    counts: dict[str, Counter] = defaultdict(Counter)
    for line in out.stdout.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if not name:
            continue
        module = name.split(".x_")[0].split(".xǁ")[0]
        counts[module][status.strip()] += 1
    if not counts:
        print("no mutmut results (run scripts/mutants.sh first)", file=sys.stderr)
        return 1
    print(f"{'module':<32} {'mutants':>8} {'killed':>7} {'survived':>9} {'other':>6} {'score':>7}")
    for module, c in sorted(counts.items()):
        killed, survived = c["killed"], c["survived"]
        other = sum(c.values()) - killed - survived
        score = killed / (killed + survived) if killed + survived else 0.0
        print(f"{module:<32} {sum(c.values()):>8} {killed:>7} {survived:>9} {other:>6} {score:>7.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
