"""``plot.png``: deliveries/s and p99 latency against offered load, one line per system.

Needs matplotlib (``.venv-bench``). Run by the runner in-process when it can import
matplotlib, else as ``.venv-bench/bin/python bench/lib/plot.py results.json plot.png``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["plot"]


def _x_label(rate: float, offered: float | None) -> str:
    if rate <= 0:
        return "saturating"
    if offered:
        return f"{rate:g}/s\n({offered / 1000:.0f}k deliv/s)"
    return f"{rate:g}/s"


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    rows = results["summary"]["broadcast"]
    rates = sorted({r["offered_rate"] for r in rows}, key=lambda v: float("inf") if v <= 0 else v)
    offered = {r["offered_rate"]: r.get("offered_deliveries_per_s") for r in rows}
    xs = {rate: i for i, rate in enumerate(rates)}
    systems = [s for s in results["meta"]["systems"] if any(r["system"] == s for r in rows)]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 8), sharex=True)
    for system in systems:
        mine = sorted(
            (r for r in rows if r["system"] == system), key=lambda r: xs[r["offered_rate"]]
        )
        x = [xs[r["offered_rate"]] for r in mine]
        top.plot(x, [r["deliveries_per_s"] or 0 for r in mine], marker="o", label=system)
        p99 = [(xs[r["offered_rate"]], r["latency_p99_ms"]) for r in mine if r["latency_p99_ms"]]
        if p99:
            bottom.plot([p[0] for p in p99], [p[1] for p in p99], marker="o", label=system)
    cfg = results["meta"]["config"]
    top.set_title(
        f"Fan-out to {cfg['subscribers']:,} subscribers, {cfg['size']}-byte messages, "
        f"server on one core (medians of {cfg['runs']})"
    )
    top.set_ylabel("deliveries / s")
    top.grid(True, alpha=0.3)
    top.legend()
    bottom.set_ylabel("p99 latency (ms, log)")
    bottom.set_yscale("log")
    bottom.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    bottom.grid(True, which="both", alpha=0.3)
    bottom.set_xticks(range(len(rates)), [_x_label(r, offered.get(r)) for r in rates])
    bottom.set_xlabel("offered load (messages / s published)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: plot.py results.json plot.png")
    plot(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
