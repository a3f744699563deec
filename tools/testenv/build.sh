#!/usr/bin/env bash
# Builds the integration-test control plane (kube-apiserver, kube-controller-manager,
# kube-scheduler, etcd, kwok) from the pinned Go modules beside this script, and
# caches the binaries in a directory keyed by the Go version, this script and every
# go.mod/go.sum. A cache hit takes a second; a cold build takes 15-30 minutes.
#
#   tools/testenv/build.sh                  build if needed, print the bin dir last
#   tools/testenv/build.sh --print-bin-dir  print where the binaries are (or will be)
#   tools/testenv/build.sh --check          exit 0 when the binaries are cached
#
# Environment: TESTENV_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/testenv) holds
# the Go module cache, the Go build cache and bin/<version>-<key>/.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
K8S_VERSION=v1.36.3
CACHE=${TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/testenv}
export GOMODCACHE=${TESTENV_GOMODCACHE:-$CACHE/gomod} GOCACHE=${TESTENV_GOCACHE:-$CACHE/gocache}
export GOFLAGS="-modcacherw -trimpath -buildvcs=false" CGO_ENABLED=0 GOWORK=off
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}

if ! command -v go >/dev/null; then
  echo "testenv: no Go toolchain on PATH; install Go 1.26 or later to build the control plane" >&2
  exit 3
fi
KEY=$( { go version; cat "$HERE/build.sh" "$HERE"/{k8s,etcd,kwok}/go.{mod,sum}; } | sha256sum | cut -c1-16)
BIN=$CACHE/bin/$K8S_VERSION-$KEY
have_all() { [[ -x $BIN/kube-apiserver && -x $BIN/kube-controller-manager && -x $BIN/kube-scheduler && -x $BIN/etcd && -x $BIN/kwok ]]; }
case ${1-} in
  --print-bin-dir) echo "$BIN"; exit 0 ;;
  --check) have_all; exit $? ;;
esac
if have_all; then echo "$BIN"; exit 0; fi

TMP=$BIN.partial.$$
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP"
start=$SECONDS
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
# Version stamping with the variables kubernetes' hack/lib/version.sh sets, so that
# /version and clients see the real version rather than v0.0.0-master.
LDF="-s -w"
for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
  LDF+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  LDF+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
echo "testenv: building kubernetes $K8S_VERSION into $BIN (cold: 15-30 min)" >&2
(cd "$HERE/k8s" && go build -ldflags "$LDF" -o "$TMP/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler)
echo "testenv: building etcd" >&2
(cd "$HERE/etcd" && go build -ldflags "-s -w" -o "$TMP/etcd" go.etcd.io/etcd/server/v3)
echo "testenv: building kwok" >&2
(cd "$HERE/kwok" && go build -ldflags "-s -w" -o "$TMP/kwok" sigs.k8s.io/kwok/cmd/kwok)
rm -rf "$BIN"
mv "$TMP" "$BIN"
trap - EXIT
echo "testenv: built in $((SECONDS - start))s" >&2
echo "$BIN"
