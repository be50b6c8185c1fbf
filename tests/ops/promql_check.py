#!/usr/bin/env python3
"""Checks every PromQL expression of the alert rules and the Grafana dashboards.

1. Valid PromQL: each expression (rules' `expr`, dashboard targets' `expr` with Grafana's
   $__rate_interval / $__interval / $__range replaced by durations) is wrapped in a throwaway
   recording rule and `promtool check rules` must accept the file (Prometheus's own parser).
2. Known metrics (with --scraped FILE...): every metric name an expression reads must be exported
   by some binary, according to live /metrics scrapes (files written by the e2e tests
   tests/ops/ops_kit_e2e_test.cc and ops_kit_orchestration_e2e_test.cc: lines
   "<binary> <metric name>"), or be a recording rule of the rules file. A histogram's
   _bucket/_sum/_count count as exported when the scrape has them (the samples carry them).
   `up` is Prometheus's own series (one per target), the only name allowed without a scrape.
   The scrapes must cover every binary (--binaries).

Exit 0 when every check passed, 1 otherwise (one line per problem).

Usage:
  promql_check.py --rules deploy/prometheus/alerts.yaml \\
      --dashboards deploy/grafana/dashboards/quoteflow.json [--scraped FILE ...] [--binaries ...]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

# Series Prometheus itself adds to every target (not exported by a binary).
PROMETHEUS_SERIES = {"up"}
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
            "group_right", "bool", "offset", "inf", "nan"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_TOKEN = re.compile(
    r"(?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?:[smhdwy]|ms)*(?:\d+(?:[smhdwy]|ms))*)"
    r"|(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)(?P<call>\s*\()?")


def metric_names(expr):
    """The metric names an expression reads (selectors), without functions, keywords, labels."""
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^{}]*\}", " ", text)    # label matchers
    text = re.sub(r"\[[^\[\]]*\]", " ", text)  # ranges and subqueries
    text = _GROUPING.sub(" ", text)            # by (...), on (...), group_left (...)
    names = set()
    for m in _TOKEN.finditer(text):
        ident = m.group("ident")
        if ident is None or m.group("call") or ident.lower() in KEYWORDS:
            continue
        names.add(ident)
    return names


def expressions(rules_path, dashboard_paths, problems):
    """[(where, expr)] of every rule and dashboard target, and the recording rules' names."""
    exprs, recorded = [], set()
    with open(rules_path) as f:
        doc = yaml.safe_load(f)
    for group in doc.get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("record") or rule.get("alert")
            if "record" in rule:
                recorded.add(rule["record"])
            exprs.append((f"{os.path.basename(rules_path)}: {name}", str(rule["expr"])))
    for path in dashboard_paths:
        with open(path) as f:
            dash = json.load(f)
        panels = list(dash.get("panels", []))
        for p in list(panels):
            panels.extend(p.get("panels", []))  # collapsed rows keep theirs inside
        for p in panels:
            for t in p.get("targets", []):
                expr = t.get("expr", "")
                for var, value in GRAFANA_VARIABLES.items():
                    expr = expr.replace(var, value)
                where = f"{os.path.basename(path)}: panel '{p.get('title')}' {t.get('refId')}"
                if "$" in expr:
                    problems.append(f"{where}: unknown Grafana variable in {expr!r}")
                    continue
                exprs.append((where, expr))
    return exprs, recorded


def promtool_accepts(promtool, exprs):
    """None when `promtool check rules` accepts every expression, else its output."""
    with tempfile.TemporaryDirectory(prefix="promql-check-") as tmp:
        path = os.path.join(tmp, "exprs.yaml")
        rules = [{"record": f"promql_check:expr_{i}", "expr": e} for i, (_, e) in enumerate(exprs)]
        with open(path, "w") as f:
            yaml.safe_dump({"groups": [{"name": "promql-check", "rules": rules}]}, f)
        r = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True)
        return None if r.returncode == 0 else r.stdout + r.stderr


def read_scrapes(paths, problems):
    """binary -> set of metric names, from the e2e tests' files."""
    exported = {}
    for path in paths:
        if not os.path.exists(path):
            problems.append(f"{path}: no scrape (run the e2e test that writes it)")
            continue
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                binary, _, name = line.partition(" ")
                exported.setdefault(binary, set()).add(name)
    return exported


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rules", required=True)
    parser.add_argument("--dashboards", nargs="+", required=True)
    parser.add_argument("--scraped", nargs="*", default=None,
                        help="files of '<binary> <metric>' lines from live /metrics scrapes")
    parser.add_argument("--binaries", nargs="*",
                        default=["quote-api", "outbox-relay", "policy-worker", "customer-worker",
                                 "quote-worker", "saga-orchestrator"],
                        help="binaries the scrapes must cover")
    parser.add_argument("--promtool", default=shutil.which("promtool") or "promtool")
    args = parser.parse_args()
    problems = []
    if not shutil.which(args.promtool):
        print("promql_check: promtool not found (Debian's prometheus: scripts/install-deps.sh)")
        return 1

    exprs, recorded = expressions(args.rules, args.dashboards, problems)
    out = promtool_accepts(args.promtool, exprs)
    if out is not None:
        # Name the culprits: one expression at a time.
        for where, e in exprs:
            one = promtool_accepts(args.promtool, [(where, e)])
            if one is not None:
                problems.append(f"{where}: not valid PromQL: {e!r}\n{one}")
        if not problems:
            problems.append("promtool check rules refused the expressions:\n" + out)
    else:
        print(f"promql_check: promtool check rules accepts all {len(exprs)} expressions")

    for where, e in exprs:
        if not metric_names(e):
            problems.append(f"{where}: reads no metric: {e!r}")

    if args.scraped is not None:
        exported = read_scrapes(args.scraped, problems)
        for binary in args.binaries:
            if not exported.get(binary):
                problems.append(f"no live scrape of {binary} in {args.scraped}")
        known = set().union(*exported.values()) if exported else set()
        for name in list(known):
            for suffix in HISTOGRAM_SUFFIXES:
                if name.endswith(suffix):
                    known.add(name[: -len(suffix)])
        known |= recorded | PROMETHEUS_SERIES
        unknown = 0
        for where, e in exprs:
            for name in sorted(metric_names(e) - known):
                unknown += 1
                problems.append(f"{where}: {name} is exported by no binary (scraped: "
                                f"{', '.join(sorted(exported))}) and is no recording rule")
        names = set().union(*(metric_names(e) for _, e in exprs))
        print(f"promql_check: {len(names)} metric names read, {len(names - recorded)} of them "
              f"raw; exported by the scraped binaries: {len(known - recorded)}; unknown: {unknown}")

    for p in problems:
        print("promql_check: PROBLEM", p)
    print(f"promql_check: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
