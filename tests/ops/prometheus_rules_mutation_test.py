#!/usr/bin/env python3
"""Proves that deploy/prometheus/tests/*.yaml can fail (ctest: prometheus_rules_mutation_test).

Copies deploy/prometheus/ (alerts.yaml and tests/) to a temporary directory, checks that
`promtool test rules` passes on the unchanged copy, then breaks one alert at a time and requires
`promtool test rules` to FAIL on an assertion about that very alert:

  never    its expression can never fire (`vector(0) > 1`): a test must expect it to fire;
  always   every comparison in its expression is relaxed to `> -Inf` (each series it reads
           qualifies, healthy ones too): a test must expect it to stay silent on a healthy series;
  no-for   its `for` is removed (only for alerts that have one): a test must expect it to stay
           silent while the condition has held for less than `for`;
  x10      every numeric threshold it compares against is multiplied by 10: a test must sit
           between the real threshold and ten times it.

Plus one hand-written mutation, the issue's example: the outbox age threshold 60 s -> 600 s.

Exit 0 when every mutation was caught, 1 otherwise (one line per surviving mutation).
Usage: prometheus_rules_mutation_test.py [--promtool PATH] [DEPLOY_PROMETHEUS_DIR]
"""
import argparse
import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DIR = os.path.join(HERE, "..", "..", "deploy", "prometheus")

# A comparison against a number literal: `> 60`, `== 0`, `> 0.5` (PromQL's comparison operators).
COMPARISON = re.compile(r"(==|!=|>=|<=|>|<)(\s*)(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)(?![\w.])")


def test_files(workdir, alert=None):
    """The test files (relative to workdir), only those that mention `alert` when given."""
    files = []
    for f in sorted(os.listdir(os.path.join(workdir, "tests"))):
        path = os.path.join("tests", f)
        if f.endswith(".yaml") and (alert is None or
                                    f"alertname: {alert}\n" in open(os.path.join(workdir, path)).read()):
            files.append(path)
    return files


def run_promtool(promtool, workdir, files):
    r = subprocess.run([promtool, "test", "rules"] + files, cwd=workdir, capture_output=True,
                       text=True)
    return r.returncode, r.stdout + r.stderr


def relax(expr):
    return COMPARISON.sub(lambda m: "> -Inf", expr)


def times_ten(expr):
    """Every non-zero threshold times 10 (a zero one stays: `> 0` means "any")."""
    return COMPARISON.sub(
        lambda m: m.group(0) if float(m.group(3)) == 0
        else f"{m.group(1)}{m.group(2)}{float(m.group(3)) * 10:g}", expr)


def alerts(doc):
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                yield rule


def mutations(doc):
    """Yields (description, alert name, mutated document)."""
    for rule in alerts(doc):
        name = rule["alert"]
        variants = [("never", lambda r: r.__setitem__("expr", "vector(0) > 1")),
                    ("always", lambda r: r.__setitem__("expr", relax(r["expr"])))]
        if "for" in rule:
            variants.append(("no-for", lambda r: r.pop("for")))
        if times_ten(rule["expr"]) != rule["expr"]:
            variants.append(("x10", lambda r: r.__setitem__("expr", times_ten(r["expr"]))))
        for label, mutate in variants:
            mutated = copy.deepcopy(doc)
            target = next(r for r in alerts(mutated) if r["alert"] == name)
            mutate(target)
            if target.get("expr") == rule["expr"] and label != "no-for":
                raise SystemExit(f"mutation {label} of {name} changed nothing")
            yield f"{name} {label}", name, mutated
    mutated = copy.deepcopy(doc)
    target = next(r for r in alerts(mutated) if r["alert"] == "QuoteflowOutboxOldestUnpublishedTooOld")
    assert target["expr"].endswith("> 60"), target["expr"]
    target["expr"] = target["expr"][: -len("60")] + "600"
    yield ("QuoteflowOutboxOldestUnpublishedTooOld threshold 60 s -> 600 s",
           "QuoteflowOutboxOldestUnpublishedTooOld", mutated)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--promtool", default=shutil.which("promtool") or "promtool")
    parser.add_argument("dir", nargs="?", default=DEFAULT_DIR)
    args = parser.parse_args()
    if not shutil.which(args.promtool):
        print("promtool not found (Debian's prometheus package: scripts/install-deps.sh)")
        return 1
    src = os.path.abspath(args.dir)
    with open(os.path.join(src, "alerts.yaml")) as f:
        doc = yaml.safe_load(f)
    surviving = []
    count = 0
    with tempfile.TemporaryDirectory(prefix="rules-mutation-") as tmp:
        work = os.path.join(tmp, "prometheus")
        shutil.copytree(src, work)
        code, out = run_promtool(args.promtool, work, test_files(work))
        if code != 0:
            print("the unchanged rules fail their tests:\n" + out)
            return 1
        rules_path = os.path.join(work, "alerts.yaml")
        for what, name, mutated in mutations(doc):
            count += 1
            with open(rules_path, "w") as f:
                yaml.safe_dump(mutated, f, sort_keys=False)
            files = test_files(work, name)
            if not files:
                surviving.append(f"{what}: no test file mentions {name}")
                continue
            code, out = run_promtool(args.promtool, work, files)
            # Caught only by a failed assertion about this alert (not a broken file).
            caught = code != 0 and f"alertname: {name}," in out
            print(f"mutation {what}: {'caught' if caught else 'SURVIVED'}")
            if not caught:
                surviving.append(what + ("" if code == 0 else f" (promtool failed otherwise:\n{out})"))
    print(f"{count - len(surviving)} of {count} mutations caught")
    for s in surviving:
        print("SURVIVED:", s)
    return 1 if surviving else 0


if __name__ == "__main__":
    sys.exit(main())
