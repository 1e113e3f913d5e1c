"""Medians over runs, ``results.json`` and ``results.md``."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "BROADCAST_METRICS",
    "IDLE_METRICS",
    "JOINS_METRICS",
    "joins_markdown",
    "markdown",
    "summarize",
    "summarize_joins",
    "write_json",
]

#: Broadcast metrics summarised as the median over runs.
BROADCAST_METRICS = (
    "deliveries_per_s",
    "sent_per_s",
    "delivery_ratio",
    "latency_p50_ms",
    "latency_p99_ms",
    "latency_p999_ms",
    "latency_max_ms",
    "server_cpu_per_million",
    "server_cpu_pct",
    "loadgen_cpu_pct",
    "join_seconds",
    "backend_cpu_per_million",
    "backend_cpu_pct",
)
#: Counts summarised as the maximum over runs (one bad run must show).
BROADCAST_WORST = ("errors", "closed_readers", "closed_nonreaders", "publish_skipped", "stalls")
IDLE_METRICS = ("server_rss_per_conn_bytes", "join_seconds", "joined")
HISTORY_METRICS = ("p50_ms", "p99_ms", "p999_ms", "mean_ms")
JOINS_METRICS = ("join_seconds", "server_cpu_us_per_join", "loadgen_cpu_us_per_join", "joined")
#: Join storm counts summarised as the maximum over runs.
JOINS_WORST = ("errors", "listen_overflows")


def _median(values: Iterable[Any]) -> float | None:
    numbers = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(numbers) if numbers else None


def _worst(values: Iterable[Any]) -> float | None:
    numbers = [v for v in values if isinstance(v, (int, float))]
    return max(numbers) if numbers else None


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """Medians per (system, offered rate), per system (idle) and of the history runs."""
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for r in results["broadcast"]:
        groups.setdefault((r["system"], r["offered_rate"]), []).append(r)
    broadcast = []
    for (system, rate), runs in groups.items():
        ok = [r for r in runs if "failed" not in r]
        row: dict[str, Any] = {
            "system": system,
            "offered_rate": rate,
            "runs": len(ok),
            "failed_runs": len(runs) - len(ok),
        }
        row["offered_deliveries_per_s"] = _median(r.get("offered_deliveries_per_s") for r in ok)
        row.update({m: _median(r.get(m) for r in ok) for m in BROADCAST_METRICS})
        row.update({m: _worst(r.get(m) for r in ok) for m in BROADCAST_WORST})
        broadcast.append(row)

    idle_groups: dict[str, list[dict[str, Any]]] = {}
    for r in results["idle"]:
        idle_groups.setdefault(r["system"], []).append(r)
    idle = []
    for system, runs in idle_groups.items():
        ok = [r for r in runs if "failed" not in r]
        row = {
            "system": system,
            "connections": runs[0]["connections"],
            "runs": len(ok),
            "failed_runs": len(runs) - len(ok),
        }
        row.update({m: _median(r.get(m) for r in ok) for m in IDLE_METRICS})
        row["errors"] = _worst(r.get("errors") for r in ok)
        idle.append(row)

    history: dict[str, Any] = {}
    runs = [r for r in results["history"]["runs"] if "failed" not in r]
    if runs:
        history = {"method": runs[0]["method"], "runs": len(runs)}
        for page in ("random_page", "newest_page"):
            history[page] = {m: _median(r[page][m] for r in runs) for m in HISTORY_METRICS}
    return {"broadcast": broadcast, "idle": idle, "history": history}


def write_json(path: Path, results: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)


def rate_label(rate: float, offered: float | None = None, inflight: int | None = None) -> str:
    if rate <= 0:
        return "saturating" + (f" ({inflight} in flight)" if inflight else "")
    if offered:
        return f"{rate:g} msg/s ({_si(offered)}/s)"
    return f"{rate:g} msg/s"


def _si(value: float) -> str:
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _order(rate: float) -> float:
    return float("inf") if rate <= 0 else rate


def markdown(results: dict[str, Any]) -> str:
    """The results as markdown tables (medians over runs)."""
    meta, summary = results["meta"], results["summary"]
    cfg = meta["config"]
    out = [
        f"# Fan-out benchmark, {meta['started']}",
        "",
        f"{cfg['subscribers']:,} subscribers in one room, {cfg['size']}-byte messages, "
        f"{cfg['nonreaders']} non-reading; server on CPU {cfg['server_cpus']}, load generator on "
        f"CPU {cfg['loadgen_cpus']}; {cfg['warmup']:g} s warm-up, {cfg['duration']:g} s measured; "
        f"medians of {cfg['runs']} run(s) (errors and closes: the worst run).",
        "",
    ]
    systems = meta["systems"]
    rows = sorted(
        summary["broadcast"],
        key=lambda r: (
            systems.index(r["system"]) if r["system"] in systems else 99,
            _order(r["offered_rate"]),
        ),
    )
    if rows:
        out += ["## Broadcast", ""]
        out += _table(
            [
                "system",
                "offered load",
                "deliveries/s",
                "p50 ms",
                "p99 ms",
                "p99.9 ms",
                "server CPU s / M deliveries",
                "server CPU %",
                "loadgen CPU %",
                "errors",
                "closed",
            ],
            (
                [
                    r["system"],
                    rate_label(r["offered_rate"], r["offered_deliveries_per_s"], cfg["inflight"]),
                    _num(r["deliveries_per_s"], 0),
                    _num(r["latency_p50_ms"]),
                    _num(r["latency_p99_ms"]),
                    _num(r["latency_p999_ms"]),
                    _num(r["server_cpu_per_million"], 2),
                    _num(r["server_cpu_pct"], 0),
                    _num(r["loadgen_cpu_pct"], 0),
                    _num(r["errors"]),
                    _num((r["closed_readers"] or 0) + (r["closed_nonreaders"] or 0)),
                ]
                for r in rows
            ),
        )
        out.append("")
    out += _cpu_against_first(rows, systems, cfg)
    joins = _join_rows(summary["broadcast"], systems)
    idle = {r["system"]: r for r in summary["idle"]}
    if idle or joins:
        header = ["system", f"join storm, {cfg['subscribers']:,} (s)"]
        if idle:
            header += [
                f"join storm, {cfg['idle']:,} (s)",
                f"server RSS / idle connection at {cfg['idle']:,} (bytes)",
                "errors",
            ]
        table = []
        for s in systems:
            if s not in joins and s not in idle:
                continue
            row = [s, _num(joins.get(s), 2)]
            if idle:
                i = idle.get(s, {})
                row += [
                    _num(i.get("join_seconds"), 2),
                    _num(i.get("server_rss_per_conn_bytes"), 0),
                    _num(i.get("errors")),
                ]
            table.append(row)
        out += ["## Connections", "", *_table(header, table), ""]
    history = summary.get("history")
    if history:
        h = results["history"]
        out += [
            "## History pages (pchat)",
            "",
            f"{h['fill'].get('messages', 0):,} messages in the room (SQLite); 50-message "
            f"pages; {history['method']}; medians of {history['runs']} run(s).",
            "",
        ]
        page_rows = [
            [
                name,
                _num(history[key]["p50_ms"], 3),
                _num(history[key]["p99_ms"], 3),
                _num(history[key]["p999_ms"], 3),
            ]
            for name, key in (("random depth", "random_page"), ("newest page", "newest_page"))
        ]
        store = h.get("store")
        if store:
            page_rows.append(
                [
                    "random depth, store API in-process",
                    _num(store["random_page"]["p50_ms"], 3),
                    _num(store["random_page"]["p99_ms"], 3),
                    _num(store["random_page"]["p999_ms"], 3),
                ]
            )
        out += _table(["page", "p50 ms", "p99 ms", "p99.9 ms"], page_rows)
        out.append("")
    notes = [*(meta.get("notes") or []), *_warnings(summary["broadcast"])]
    if notes:
        out += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    out += ["## Command", "", "```", meta["command"], "```", ""]
    return "\n".join(out)


def _cpu_against_first(
    rows: list[dict[str, Any]], systems: list[str], cfg: dict[str, Any]
) -> list[str]:
    """CPU per delivery of each system against the first one at the same load; with the
    services' CPU (Redis, PostgreSQL backends) when a system ran on them."""
    if len(systems) < 2 or not rows:
        return []
    first = {r["offered_rate"]: r for r in rows if r["system"] == systems[0]}
    with_backends = any(r.get("backend_cpu_per_million") is not None for r in rows)

    def ratio(a: float | None, b: float | None) -> str:
        return f"{a / b:.2f}×" if a is not None and b else "–"

    def total(r: dict[str, Any]) -> float | None:
        cpu = r.get("server_cpu_per_million")
        return None if cpu is None else cpu + (r.get("backend_cpu_per_million") or 0)

    header = ["system", "offered load", "deliveries/s", "server CPU s / M", f"× {systems[0]}"]
    if with_backends:
        header += ["services CPU s / M", "server + services CPU s / M", f"× {systems[0]}"]
    table = []
    for r in rows:
        base = first.get(r["offered_rate"], {})
        row = [
            r["system"],
            rate_label(r["offered_rate"], r["offered_deliveries_per_s"], cfg["inflight"]),
            _num(r["deliveries_per_s"], 0),
            _num(r["server_cpu_per_million"], 2),
            ratio(r["server_cpu_per_million"], base.get("server_cpu_per_million")),
        ]
        if with_backends:
            row += [
                _num(r.get("backend_cpu_per_million"), 2),
                _num(total(r), 2),
                ratio(total(r), total(base) if base else None),
            ]
        table.append(row)
    lines = ["## CPU per delivery against " + systems[0], ""]
    if with_backends:
        lines += [
            "Services: the processes at the other end of the server's own connections "
            "(redis-server, the PostgreSQL backends serving it), over the same window.",
            "",
        ]
    return [*lines, *_table(header, table), ""]


def _join_rows(rows: list[dict[str, Any]], systems: list[str]) -> dict[str, float]:
    joins: dict[str, list[float]] = {}
    for r in rows:
        if r.get("join_seconds") is not None:
            joins.setdefault(r["system"], []).append(r["join_seconds"])
    return {s: statistics.median(v) for s, v in joins.items() if s in systems}


def _warnings(rows: list[dict[str, Any]]) -> list[str]:
    """Rows whose numbers say more about the client or the machine than the server."""
    notes = []
    for r in rows:
        where = f"{r['system']} at {rate_label(r['offered_rate'])}"
        if (r.get("loadgen_cpu_pct") or 0) > 90:
            notes.append(
                f"{where}: the load generator used {r['loadgen_cpu_pct']:.0f}% of its core; "
                "deliveries/s is a lower bound set by the client"
            )
        if r.get("failed_runs"):
            notes.append(f"{where}: {r['failed_runs']} run(s) failed (see results.json)")
    return notes


def summarize_joins(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (system, joins): medians of the join storm runs, the min and max of the time."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["system"], r["joins"]), []).append(r)
    rows = []
    for (system, joins), runs in groups.items():
        ok = [r for r in runs if "failed" not in r]
        seconds = [r["join_seconds"] for r in ok if r.get("join_seconds") is not None]
        row: dict[str, Any] = {
            "system": system,
            "joins": joins,
            "hello": any(r.get("hello") for r in ok),
            "runs": len(ok),
            "failed_runs": len(runs) - len(ok),
            "join_seconds_min": min(seconds) if seconds else None,
            "join_seconds_max": max(seconds) if seconds else None,
        }
        row.update({m: _median(r.get(m) for r in ok) for m in JOINS_METRICS})
        row.update({m: _worst(r.get(m) for r in ok) for m in JOINS_WORST})
        rows.append(row)
    return rows


def joins_markdown(results: dict[str, Any]) -> str:
    """The join storm table (bench/joinstorm.py): medians over runs per system and size."""
    meta, rows = results["meta"], results["summary"]
    cfg = meta["config"]
    systems = meta["systems"]
    rows = sorted(
        rows,
        key=lambda r: (r["joins"], systems.index(r["system"]) if r["system"] in systems else 99),
    )
    out = [
        f"# Join storm, {meta['started']}",
        "",
        f"{cfg['concurrency']} connections joining at once (connect, WebSocket handshake, the "
        "first frame with a token and the room, its reply); the `ws` peers with the hello "
        f"of `bench/lib/hello.py`{'' if cfg['hello'] else ' (off in this run)'}, pchat with "
        "its `connect`, socket.io with `40`. Server on CPU "
        f"{cfg['server_cpus']}, load generator on CPU {cfg['loadgen_cpus']}; medians of "
        f"{cfg['runs']} run(s) (errors and listen overflows: the worst run).",
        "",
    ]
    out += _table(
        [
            "system",
            "joins",
            "join s, median (min–max)",
            "server CPU µs / join",
            "loadgen CPU µs / join",
            "joined",
            "errors",
            "listen overflows",
        ],
        (
            [
                r["system"] + (" (hello)" if r["hello"] else ""),
                f"{r['joins']:,}",
                f"{_num(r['join_seconds'], 3)} "
                f"({_num(r['join_seconds_min'], 3)}–{_num(r['join_seconds_max'], 3)})",
                _num(r["server_cpu_us_per_join"], 0),
                _num(r["loadgen_cpu_us_per_join"], 0),
                _num(r["joined"], 0),
                _num(r["errors"]),
                _num(r["listen_overflows"]),
            ]
            for r in rows
        ),
    )
    notes = list(meta.get("notes") or [])
    notes += [
        f"{r['system']} at {r['joins']:,}: {r['failed_runs']} run(s) failed (see results.json)"
        for r in rows
        if r["failed_runs"]
    ]
    if notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    out += ["", "## Command", "", "```", meta["command"], "```", ""]
    return "\n".join(out)
