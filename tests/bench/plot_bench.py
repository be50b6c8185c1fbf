#!/usr/bin/python3
"""Plots of a quoteflow-bench log for docs/performance.md, from its machine-readable lines.

    plot_bench.py BENCH_LOG OUT_DIR

Reads the log's `CDF <series> <q>:<ms>,...` and `POINT <series> <x> <y>` lines
(tests/bench/bench_system.h) and writes:
  - OUT_DIR/latency-cdf.png: commit -> consumed latency at 20% of the maximum rate, one curve
    per CDF series of the latency benchmark (outbox-relay, the Kafka floor), log-scale ms;
  - OUT_DIR/latency-cdf-vs-debezium.png: the same at the Debezium benchmark's paced rate, one
    curve per publisher (the `peer:` CDF series: outbox-relay, Debezium via Kafka Connect and
    embedded);
  - OUT_DIR/api-vs-pgbench.png: approvals/s by concurrent clients, the api_tps and pgbench_tps
    POINT series.
A plot whose series the log lacks is skipped with a message. Exit status 1 when a CDF or POINT
line is malformed or no plot could be made, 2 for bad arguments.
"""
import os
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402


class BadLine(Exception):
    pass


def parse(lines):
    """Returns ({series: [(q, ms)]}, {series: [(x, y)]}) from the log's lines."""
    cdfs, points = {}, {}
    for number, line in enumerate(lines, 1):
        fields = line.split()
        if not fields or fields[0] not in ("CDF", "POINT"):
            continue
        try:
            if fields[0] == "CDF":
                if len(fields) != 3:
                    raise ValueError("want: CDF <series> <q>:<ms>,...")
                pairs = [p.split(":") for p in fields[2].split(",")]
                cdfs[fields[1]] = [(float(q), float(ms)) for q, ms in pairs]
            else:
                if len(fields) != 4:
                    raise ValueError("want: POINT <series> <x> <y>")
                points.setdefault(fields[1], []).append((float(fields[2]), float(fields[3])))
        except ValueError as e:
            raise BadLine(f"line {number}: {line.strip()!r}: {e}") from None
    return cdfs, points


PEER_PREFIX = "peer:"  # CDF series of the Debezium benchmark


def plot_cdf(cdfs, path, title):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for series, qs in sorted(cdfs.items()):
        label = series[len(PEER_PREFIX):] if series.startswith(PEER_PREFIX) else series
        ax.plot([ms for _, ms in qs], [q for q, _ in qs], marker=".", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("commit -> consumed (ms, log scale)")
    ax.set_ylabel("fraction of events")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_tps(points, path):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for series in ("api_tps", "pgbench_tps"):
        xy = sorted(set(points.get(series, [])))
        if xy:
            ax.plot([x for x, _ in xy], [y for _, y in xy], marker="o", label=series)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("concurrent clients")
    ax.set_ylabel("approvals/s (transactions/s)")
    ax.set_title("ApproveQuote through quote-api vs pgbench on the same SQL")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    log, out_dir = argv[1], argv[2]
    with open(log, encoding="utf-8", errors="replace") as f:
        try:
            cdfs, points = parse(f)
        except BadLine as e:
            print(f"plot_bench: {log}: {e}", file=sys.stderr)
            return 1
    os.makedirs(out_dir, exist_ok=True)
    made = []
    own = {k: v for k, v in cdfs.items() if not k.startswith(PEER_PREFIX)}
    peers = {k: v for k, v in cdfs.items() if k.startswith(PEER_PREFIX)}
    if own:
        plot_cdf(own, os.path.join(out_dir, "latency-cdf.png"),
                 "Latency CDF at 20% of the maximum rate")
        made.append("latency-cdf.png")
    else:
        print("plot_bench: no CDF lines (the latency benchmark did not run): no latency-cdf.png")
    if peers:
        plot_cdf(peers, os.path.join(out_dir, "latency-cdf-vs-debezium.png"),
                 "Latency CDF at a paced rate: outbox-relay vs Debezium")
        made.append("latency-cdf-vs-debezium.png")
    else:
        print("plot_bench: no peer: CDF lines (the debezium benchmark did not run): "
              "no latency-cdf-vs-debezium.png")
    if points.get("api_tps") and points.get("pgbench_tps"):
        plot_tps(points, os.path.join(out_dir, "api-vs-pgbench.png"))
        made.append("api-vs-pgbench.png")
    else:
        print("plot_bench: no api_tps/pgbench_tps points (the api benchmark did not run): "
              "no api-vs-pgbench.png")
    if not made:
        return 1
    print(f"plot_bench: wrote {', '.join(os.path.join(out_dir, m) for m in made)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
