#!/usr/bin/env python3
"""Wait times per kind of job from a `muster simulate` events.jsonl.

    python3 examples/backfill/waits.py OUT/events.jsonl [OUT2/events.jsonl ...]

A job's wait is from its Submitted event to its first Admitted event (no job in this
example is preempted, so this is also summary.json's waitSeconds). Jobs are grouped by the
prefix of their name (`wide`, `narrow`); p95 is by nearest rank, as in summary.json.
Standard library only.
"""

import json
import math
import sys


def nearest_rank(xs, p):
    xs = sorted(xs)
    return xs[max(0, math.ceil(p / 100 * len(xs)) - 1)]


def waits(path):
    submitted, first = {}, {}
    with open(path) as f:
        for line in f:
            e = json.loads(line)
            w = e["workload"]
            if e["event"] == "Submitted":
                submitted[w] = e["time"]
            elif e["event"] == "Admitted" and w not in first:
                first[w] = e["time"]
    groups = {}
    for w, t in first.items():
        kind = w.split("/")[1].rsplit("-", 1)[0]
        groups.setdefault(kind, []).append(t - submitted[w])
        groups.setdefault("all", []).append(t - submitted[w])
    never = sorted(w for w in submitted if w not in first)
    return groups, never


def main():
    for path in sys.argv[1:] or ["muster-out/events.jsonl"]:
        groups, never = waits(path)
        print(path)
        print("  %-7s %5s %10s %10s %10s" % ("jobs", "n", "mean s", "p95 s", "max s"))
        for kind in sorted(groups):
            xs = groups[kind]
            print("  %-7s %5d %10.1f %10.1f %10.1f"
                  % (kind, len(xs), sum(xs) / len(xs), nearest_rank(xs, 95), max(xs)))
        if never:
            print("  never admitted: %d (%s)" % (len(never), ", ".join(never[:5])))


if __name__ == "__main__":
    main()
