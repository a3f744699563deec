#!/usr/bin/env bash
# Muster and kube-scheduler side by side on the real control plane, each run on a freshly
# started testenv (so that no run inherits the objects, etcd history or caches of another).
# The harness is crates/muster/tests/kube_bench.rs; bench/README.md has the results and what
# they mean.
#
#   bench/kube-bench.sh            full size: 1,000 nodes, 10,000 single pods, 1,000 gangs of 10
#   bench/kube-bench.sh small      the size the test suite runs
#   RUNS="kube-scheduler:single muster:single" bench/kube-bench.sh
#                                  only these runs (scheduler:scenario)
#
# Release builds (the controller is timed). Each run prints its table; all are written as
# JSON to target/kube-bench/. The Job controller gets 50 workers (TESTENV_JOB_SYNCS) unless
# set otherwise, for both schedulers alike; the testenv's ports and run directory come from
# the usual TESTENV_* variables (tools/testenv/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-full}
export TESTENV_JOB_SYNCS=${TESTENV_JOB_SYNCS:-50}

tools/testenv/build.sh --check || tools/testenv/build.sh
cargo test --release --locked -p muster --test kube_bench --no-run

trap 'tools/testenv/down.sh' EXIT
RUNS=${RUNS:-kube-scheduler:single kube-scheduler-backlog:single muster:single kube-scheduler:gangs muster:gangs}
for run in $RUNS; do
  tools/testenv/up.sh >&2
  # shellcheck disable=SC1091
  source "${TESTENV_RUN_DIR:-target/testenv}/env"
  MUSTER_KUBE_BENCH=$SIZE MUSTER_KUBE_BENCH_SCHEDULERS=${run%%:*} \
    MUSTER_KUBE_BENCH_SCENARIOS=${run##*:} \
    cargo test --release --locked -p muster --test kube_bench side_by_side -- --nocapture
  tools/testenv/down.sh
done
