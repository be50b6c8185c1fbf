#!/usr/bin/env python3
"""Checks docs/runbook.md against deploy/prometheus/alerts.yaml (ctest: runbook_check).

- Every alert has a `runbook` annotation "docs/runbook.md#<anchor>" whose anchor is a heading of
  the runbook (GitHub's anchors: lower case, punctuation dropped, spaces to hyphens), and every
  "## Quoteflow..." section belongs to an alert.
- Each alert's section says what it means, how to confirm it and how to resolve it
  (**Means.**, **Confirm.**, **Resolve.**).
- Every `sh` block is tagged `tested=<modes>:<name>` (modes: choreography, orchestration), with a
  unique name: the e2e tests run exactly these blocks (tests/ops/ops_test_util.h).
- Every link to an anchor of the runbook (`](#...)`) resolves.

Exit 0 when everything holds, 1 otherwise (one line per problem).
Usage: runbook_check.py RULES_YAML RUNBOOK_MD
"""
import re
import sys

import yaml

MODES = {"choreography", "orchestration"}


def anchor(heading):
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    rules_path, runbook_path = sys.argv[1], sys.argv[2]
    problems = []
    with open(rules_path) as f:
        rules = yaml.safe_load(f)
    with open(runbook_path) as f:
        text = f.read()

    # Headings and the text of each "## " section (outside fenced blocks).
    headings, sections = {}, {}
    current = None
    in_fence = False
    for line in text.split("\n"):
        if not in_fence and line.startswith("```"):
            in_fence = True
        elif in_fence and re.fullmatch(r"`{3,}\s*", line):
            in_fence = False
        if not in_fence and re.match(r"#{1,6} ", line):
            title = line.lstrip("#").strip()
            headings[anchor(title)] = title
            current = title if line.startswith("## ") else current
            sections.setdefault(title, "")
            continue
        if current is not None:
            sections[current] += line + "\n"

    alert_names = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            name = rule["alert"]
            alert_names.add(name)
            link = rule.get("annotations", {}).get("runbook", "")
            m = re.fullmatch(r"docs/runbook\.md#([\w-]+)", link)
            if not m:
                problems.append(f"{name}: runbook annotation {link!r} is not docs/runbook.md#anchor")
                continue
            if m.group(1) not in headings:
                problems.append(f"{name}: the runbook has no heading for #{m.group(1)}")
                continue
            body = sections.get(headings[m.group(1)], "")
            for part in ("**Means.**", "**Confirm.**", "**Resolve.**"):
                if part not in body:
                    problems.append(f"{name}: its section lacks {part}")
    for title in sections:
        if title.startswith("Quoteflow") and title not in alert_names:
            problems.append(f"section '{title}' names no alert of {rules_path}")

    names = set()
    tested = 0
    for n, line in enumerate(text.split("\n"), 1):
        m = re.match(r"```(\S*)(.*)$", line)
        if not m or m.group(1) != "sh":
            continue
        tag = re.fullmatch(r"\s+tested=([\w,]+):([\w-]+)\s*", m.group(2))
        if not tag:
            problems.append(f"line {n}: sh block without tested=<modes>:<name>: {line!r}")
            continue
        modes = set(tag.group(1).split(","))
        if not modes <= MODES:
            problems.append(f"line {n}: unknown mode(s) {sorted(modes - MODES)}")
        if tag.group(2) in names:
            problems.append(f"line {n}: a second block named {tag.group(2)}")
        names.add(tag.group(2))
        tested += 1

    for target in re.findall(r"\]\(#([^)]+)\)", text):
        if target not in headings:
            problems.append(f"link to #{target}: no such heading")

    for p in problems:
        print("runbook_check: PROBLEM", p)
    print(f"runbook_check: {len(alert_names)} alerts, {tested} tested blocks, "
          f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
