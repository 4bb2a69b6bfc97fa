#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages that building, testing and the demo need, if any are missing.
# Set KRLLM_NO_INSTALL=1 to only report what is missing.
set -euo pipefail

BUILD_PKGS="build-essential pkg-config libopenblas-dev libopenblas0-openmp libyaml-dev libutf8proc-dev
  libexpat1-dev libbz2-dev libmicrohttpd-dev libcjson-dev bzip2"
TEST_PKGS="sentencepiece python3-sentencepiece python3 python3-numpy curl chromium nodejs npm fonts-nanum wrk"
want="$BUILD_PKGS ${KRLLM_EXTRA_PKGS:-}"
[ "${1:-}" = "--test" ] && want="$want $TEST_PKGS"

if [ "$(uname -s)" = "Darwin" ]; then
  echo "macOS: install the libraries with Homebrew: brew install libyaml utf8proc expat bzip2 libmicrohttpd cjson" >&2
  exit 0
fi
if ! command -v dpkg >/dev/null; then
  echo "install-deps: not a Debian-like system; install the equivalents of: $want" >&2
  exit 0
fi

missing=""
for p in $want; do
  # NodeSource's nodejs package ships npm itself (and conflicts with Debian's npm package).
  [ "$p" = npm ] && command -v npm >/dev/null && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# The browser tests' driver (playwright-core, pinned by tests/browser/package-lock.json).
browser_deps() {
  [ "${1:-}" = "--test" ] && [ ! -d "$(dirname "$0")/../tests/browser/node_modules" ] || return 0
  (cd "$(dirname "$0")/../tests/browser" && npm ci --no-audit --no-fund --loglevel=error)
}
if [ -z "$missing" ]; then browser_deps "${1:-}"; exit 0; fi
echo "install-deps: installing:$missing"
if [ "${KRLLM_NO_INSTALL:-0}" = 1 ]; then echo "install-deps: KRLLM_NO_INSTALL=1, not installing" >&2; exit 1; fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing
browser_deps "${1:-}"
