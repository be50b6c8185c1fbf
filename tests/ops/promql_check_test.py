#!/usr/bin/env python3
"""Unit tests of tests/ops/promql_check.py (ctest: promql_check_test): the metric names it finds
in PromQL, and that the whole check fails on invalid PromQL, on a metric no binary exports, on an
unknown Grafana variable and on a scrape that misses a binary (and passes otherwise)."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import promql_check  # noqa: E402

RULES = """
groups:
  - name: g
    rules:
      - record: job:foo:rate5m
        expr: sum by (job) (rate(foo_total{code=~"5..|x"}[5m]))
      - alert: FooHigh
        expr: job:foo:rate5m > 1 and on (job) up == 1
"""


class MetricNamesTest(unittest.TestCase):
    def test_names(self):
        cases = {
            'sum by (job) (rate(foo_total{code=~"a|b", method="/x.Y/Z"}[5m])) / bar:baz:rate5m > 0.5':
                {"foo_total", "bar:baz:rate5m"},
            "histogram_quantile(0.99, sum by (le, method) (rate(h_seconds_bucket[5m])))":
                {"h_seconds_bucket"},
            "clamp_min((m > 0) or vector(0), 1) + 2 * n offset 1h": {"m", "n"},
            "min_over_time(x[10m:1m]) > 0 and deriv(x[10m]) > 0": {"x"},
            "sum(a) by (job) unless on (job) group_left (team) b": {"a", "b"},
            'up{job="by"} == 0 and ignoring (instance) up': {"up"},
            "1e3 * rate(c_total[1h30m]) > Inf": {"c_total"},
        }
        for expr, want in cases.items():
            self.assertEqual(promql_check.metric_names(expr), want, expr)


class CheckTest(unittest.TestCase):
    def run_check(self, dashboard_exprs, scraped, binaries=("quote-api",)):
        with tempfile.TemporaryDirectory() as tmp:
            rules = os.path.join(tmp, "rules.yaml")
            with open(rules, "w") as f:
                f.write(RULES)
            dash = os.path.join(tmp, "dash.json")
            with open(dash, "w") as f:
                json.dump({"panels": [{"title": "p", "targets": [
                    {"refId": chr(65 + i), "expr": e} for i, e in enumerate(dashboard_exprs)]}]},
                    f)
            scrape = os.path.join(tmp, "scrape.txt")
            with open(scrape, "w") as f:
                f.write("# comment\n" + "".join(f"{b} {n}\n" for b, n in scraped))
            r = subprocess.run(
                [sys.executable, os.path.join(HERE, "promql_check.py"), "--rules", rules,
                 "--dashboards", dash, "--scraped", scrape, "--binaries", *binaries],
                capture_output=True, text=True)
            return r.returncode, r.stdout + r.stderr

    SCRAPED = [("quote-api", "foo_total"), ("quote-api", "h_seconds_bucket")]

    def test_passes_when_everything_is_known(self):
        code, out = self.run_check(
            ["job:foo:rate5m", "histogram_quantile(0.9, sum by (le) (rate(h_seconds_bucket"
             "[$__rate_interval])))", "rate(h_seconds_count[5m])", "up"], self.SCRAPED)
        # h_seconds_count is not in the scrape: only what the scrape shows counts.
        self.assertEqual(code, 1, out)
        self.assertIn("h_seconds_count is exported by no binary", out)
        code, out = self.run_check(["job:foo:rate5m", "rate(h_seconds_bucket[5m])", "up"],
                                   self.SCRAPED)
        self.assertEqual(code, 0, out)

    def test_unknown_metric_fails(self):
        code, out = self.run_check(["rate(foo_totl[5m])"], self.SCRAPED)
        self.assertEqual(code, 1, out)
        self.assertIn("foo_totl is exported by no binary", out)

    def test_invalid_promql_fails(self):
        code, out = self.run_check(["sum(rate(foo_total[5m])"], self.SCRAPED)
        self.assertEqual(code, 1, out)
        self.assertIn("not valid PromQL", out)

    def test_unknown_grafana_variable_fails(self):
        code, out = self.run_check(["rate(foo_total[$window])"], self.SCRAPED)
        self.assertEqual(code, 1, out)
        self.assertIn("unknown Grafana variable", out)

    def test_a_binary_missing_from_the_scrapes_fails(self):
        code, out = self.run_check(["foo_total"], self.SCRAPED,
                                   binaries=("quote-api", "outbox-relay"))
        self.assertEqual(code, 1, out)
        self.assertIn("no live scrape of outbox-relay", out)


if __name__ == "__main__":
    unittest.main()
