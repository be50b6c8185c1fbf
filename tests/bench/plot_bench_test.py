#!/usr/bin/python3
"""Unit tests of plot_bench.py: the plots from a bench log's CDF and POINT lines, and bad input."""
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plot_bench.py")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

LOG = """== latency: commit -> consumed (load average 1.00 on 2 CPUs)
  Kafka floor: plain producer -> consumed: p50 1.2 ms
CDF outbox-relay(doorbell) 0.01:0.900,0.5:1.600,0.99:7.980,1:12.000
CDF kafka-floor 0.01:0.500,0.5:1.100,0.99:9.000,1:15.000
CDF peer:outbox-relay 0.01:0.800,0.5:3.300,0.99:30.200,1:45.900
CDF peer:debezium-connect 0.01:5.000,0.5:14.900,0.99:36.200,1:68.600
POINT api_tps 16 2760.000
POINT pgbench_tps 16 5810.000
POINT api_tps 64 2399.000
POINT pgbench_tps 64 5671.000
RATIO latency_p99_vs_kafka_floor 0.887 target=<=2.0
"""


def run(log_text):
    """Runs the script on `log_text`; returns (exit code, output, out_dir)."""
    tmp = tempfile.mkdtemp()
    log = os.path.join(tmp, "bench.log")
    with open(log, "w", encoding="utf-8") as f:
        f.write(log_text)
    out_dir = os.path.join(tmp, "plots")
    p = subprocess.run([sys.executable, SCRIPT, log, out_dir], capture_output=True, text=True,
                       check=False)
    return p.returncode, p.stdout + p.stderr, out_dir


class PlotBenchTest(unittest.TestCase):
    def assertPng(self, path):
        with open(path, "rb") as f:
            self.assertEqual(f.read(8), PNG_SIGNATURE, path)
        self.assertGreater(os.path.getsize(path), 5000, path)  # axes and curves, not a blank

    def test_every_plot_from_a_full_log(self):
        code, out, out_dir = run(LOG)
        self.assertEqual(code, 0, out)
        self.assertPng(os.path.join(out_dir, "latency-cdf.png"))
        self.assertPng(os.path.join(out_dir, "latency-cdf-vs-debezium.png"))
        self.assertPng(os.path.join(out_dir, "api-vs-pgbench.png"))

    def test_peer_series_only_make_the_debezium_plot(self):
        code, out, out_dir = run("\n".join(l for l in LOG.splitlines() if "peer:" in l))
        self.assertEqual(code, 0, out)
        self.assertIn("no latency-cdf.png", out)
        self.assertPng(os.path.join(out_dir, "latency-cdf-vs-debezium.png"))
        self.assertFalse(os.path.exists(os.path.join(out_dir, "latency-cdf.png")))

    def test_a_missing_series_skips_its_plot_only(self):
        code, out, out_dir = run("\n".join(l for l in LOG.splitlines() if not l.startswith("POINT")))
        self.assertEqual(code, 0, out)
        self.assertIn("no api-vs-pgbench.png", out)
        self.assertPng(os.path.join(out_dir, "latency-cdf.png"))
        self.assertFalse(os.path.exists(os.path.join(out_dir, "api-vs-pgbench.png")))

    def test_no_plottable_line_fails(self):
        code, out, _ = run("== api\nRATIO api_tps_vs_pgbench 0.45 target=>=0.85\n")
        self.assertEqual(code, 1, out)

    def test_malformed_lines_fail_with_the_line(self):
        for bad in ("CDF relay 0.5:abc", "CDF relay", "POINT api_tps 16", "POINT api_tps x 1"):
            code, out, out_dir = run(LOG + bad + "\n")
            self.assertEqual(code, 1, f"{bad}: {out}")
            self.assertIn(repr(bad), out)
            self.assertFalse(os.path.exists(out_dir), bad)  # nothing written


if __name__ == "__main__":
    unittest.main()
