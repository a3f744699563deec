#!/usr/bin/env bash
# Replays the whole SDSC Blue and CEA Curie logs RUNS times each (default 6), alternately,
# with a release build, and prints per run: wall, user and system seconds, the seconds the
# host stole from this machine's CPUs meanwhile (/proc/stat's steal), and peak RSS. Then,
# per log, the fastest, median and slowest wall time and how many runs met the target
# (bench/README.md "Replaying traces").
#
#   bench/replay.sh                 6 runs of each log
#   RUNS=10 bench/replay.sh
#   MUSTER=/tmp/muster-old bench/replay.sh     another binary (e.g. to compare two builds)
#
# Needs GNU time (/usr/bin/time, Debian's `time` package) for peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-6}
TRACES=${TRACES:-../shared/traces/pwa-swf}
OUT=${OUT:-target/replay}

if [[ ! -x /usr/bin/time ]]; then
  echo "bench/replay.sh: /usr/bin/time is missing (Debian: apt-get install time)" >&2
  exit 1
fi
if [[ -z ${MUSTER:-} ]]; then
  cargo build --release --locked -p muster >&2
  MUSTER=target/release/muster
fi

# name, target seconds, arguments
logs=(
  "sdsc-blue|5|--trace swf:$TRACES/SDSC-BLUE-2000-4.2-cln.swf.gz"
  "cea-curie|10|--nodes 5832 --node-cpu 16 --trace swf:$TRACES/CEA-Curie-2011-2.1-cln.swf.gz"
)

steal() { awk '/^cpu /{print $9}' /proc/stat; }
ticks=$(getconf CLK_TCK)
mkdir -p "$OUT"
results=$OUT/runs.txt
: >"$results"
printf '%-10s %3s %7s %7s %7s %7s %9s\n' log run wall user sys steal "rss MiB"
for run in $(seq 1 "$RUNS"); do
  for log in "${logs[@]}"; do
    IFS='|' read -r name target args <<<"$log"
    rm -rf "${OUT:?}/$name"
    before=$(steal)
    # shellcheck disable=SC2086
    /usr/bin/time -o "$OUT/time" -f '%e %U %S %M' \
      "$MUSTER" simulate --quiet $args --out "$OUT/$name" >/dev/null
    after=$(steal)
    read -r wall user sys rss <"$OUT/time"
    stolen=$(awk -v t="$((after - before))" -v hz="$ticks" 'BEGIN{printf "%.2f", t/hz}')
    printf '%-10s %3d %7.2f %7.2f %7.2f %7s %9d\n' "$name" "$run" "$wall" "$user" "$sys" \
      "$stolen" "$((rss / 1024))"
    echo "$name $target $wall $stolen $((rss / 1024))" >>"$results"
  done
done

echo
sort -k1,1 -k3,3n "$results" | awk '
  { n[$1]++; w[$1, n[$1]] = $3; t[$1] = $2; if ($3 < $2) ok[$1]++; if ($5 > rss[$1]) rss[$1] = $5 }
  END {
    for (k in n) {
      m = n[k]; mid = (m % 2) ? w[k, (m + 1) / 2] : (w[k, m / 2] + w[k, m / 2 + 1]) / 2
      printf "%-10s %d runs: %.2f / %.2f / %.2f s (fastest / median / slowest), %d under %d s; peak RSS %d MiB\n",
        k, m, w[k, 1], mid, w[k, m], ok[k] + 0, t[k], rss[k]
    }
  }'
