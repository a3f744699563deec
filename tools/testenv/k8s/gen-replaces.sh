#!/usr/bin/env bash
# Prints the `replace` block that a module depending on k8s.io/kubernetes needs.
#
# k8s.io/kubernetes requires its staging modules (k8s.io/api, k8s.io/client-go, ...)
# at the fake version v0.0.0 and redirects them to ./staging in its own go.mod; Go
# ignores replace lines of dependencies, so every dependant must pin each staging
# module to its published v0.<minor>.<patch> tag. The list is read from kubernetes'
# own go.mod in the module cache, so it never drifts from the version built.
#
#   tools/testenv/k8s/gen-replaces.sh v1.36.3
set -euo pipefail
K8S=${1:?usage: gen-replaces.sh v1.36.3}
STAGING="v0.${K8S#v1.}"
MOD=$(GOWORK=off go mod download -json "k8s.io/kubernetes@${K8S}" | jq -r .GoMod)
echo "replace ("
awk '$2=="=>" && $3 ~ /^\.\/staging\/src\/k8s\.io\// {print $1}' "$MOD" | sort -u |
  while read -r m; do printf '\t%s => %s %s\n' "$m" "$m" "$STAGING"; done
echo ")"
grep -E '^godebug' "$MOD" || true
