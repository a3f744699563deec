#!/usr/bin/env python3
"""Wait times and preemptions per ClusterQueue from a `muster simulate` events.jsonl.

    python3 examples/fair-sharing/waits.py OUT/events.jsonl [OUT2/events.jsonl ...]

A workload's wait is summary.json's: the time it spent pending, every queueing episode
(from Submitted, or from a Preempted, to the next Admitted) up to its last admission;
workloads never admitted are left out. p95 is by nearest rank, as in summary.json. `victim`
counts the queue's workloads preempted, `preemptor` the preemptions its workloads caused.
Standard library only.
"""

import json
import math
import sys


def nearest_rank(xs, p):
    xs = sorted(xs)
    return xs[max(0, math.ceil(p / 100 * len(xs)) - 1)]


def report(path):
    queue_of, since, waited = {}, {}, {}
    victim, preemptor = {}, {}
    with open(path) as f:
        for line in f:
            e = json.loads(line)
            w, q, ev = e["workload"], e["clusterQueue"], e["event"]
            queue_of[w] = q
            if ev == "Submitted":
                since[w] = e["time"]
                waited[w] = None
            elif ev == "Admitted":
                waited[w] = (waited[w] or 0.0) + e["time"] - since.pop(w)
            elif ev == "Preempted":
                since[w] = e["time"]
                victim[q] = victim.get(q, 0) + 1
                by_q = queue_of.get(e["by"], e["by"].split("/")[0])
                preemptor[by_q] = preemptor.get(by_q, 0) + 1
    per_queue = {}
    for w, t in waited.items():
        if t is not None:
            per_queue.setdefault(queue_of[w], []).append(t)
    print(path)
    print("  %-10s %5s %10s %10s %8s %10s" % ("queue", "n", "mean s", "p95 s", "victim", "preemptor"))
    for q in sorted(per_queue):
        xs = per_queue[q]
        print("  %-10s %5d %10.1f %10.1f %8d %10d" % (
            q, len(xs), sum(xs) / len(xs), nearest_rank(xs, 95),
            victim.get(q, 0), preemptor.get(q, 0)))


def main():
    for path in sys.argv[1:] or ["muster-out/events.jsonl"]:
        report(path)


if __name__ == "__main__":
    main()
