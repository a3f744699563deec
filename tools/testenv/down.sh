#!/usr/bin/env bash
# Stops the control plane tools/testenv/up.sh started, by the pids it recorded (never
# by process name), and removes etcd's data; the logs stay for diagnosis.
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RUN=${TESTENV_RUN_DIR:-${RUN:-$ROOT/target/testenv}}
for c in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
  f=$RUN/$c.pid
  [[ -f $f ]] || continue
  pid=$(cat "$f")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$f"
done
rm -rf "$RUN/etcd"
