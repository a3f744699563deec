#!/usr/bin/env bash
# Installs the browser the report test (crates/muster/tests/report_browser.rs) opens
# report.html in: Debian's `chromium` package, if /usr/bin/chromium is missing.
#
#   tools/browser/install.sh
#
# Runs apt-get as root, or through sudo when not root and sudo exists; otherwise says what
# to run and exits non-zero. Does nothing when chromium is already there.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [[ -x $CHROMIUM ]]; then
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "tools/browser/install.sh: $CHROMIUM is missing, and installing it needs root (or sudo):" >&2
  echo "  apt-get update && apt-get install -y --no-install-recommends chromium" >&2
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "tools/browser/install.sh: $CHROMIUM is missing and there is no apt-get to install Debian's chromium package" >&2
  exit 1
fi

echo "tools/browser/install.sh: installing Debian's chromium package (for the report's browser test)" >&2
"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium

if [[ ! -x $CHROMIUM ]]; then
  echo "tools/browser/install.sh: apt-get installed chromium but $CHROMIUM is still missing" >&2
  exit 1
fi
