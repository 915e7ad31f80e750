#!/usr/bin/env bash
# The browser tests drive Debian's Chromium with playwright-core (no browser download). Installs it
# when it is missing; run by `npm test` (pretest) and by CI.
set -euo pipefail
if [ -x /usr/bin/chromium ] || [ -n "${POWR_TEST_CHROMIUM:-}" ]; then exit 0; fi
if ! command -v apt-get >/dev/null; then
  echo "install-chromium: no /usr/bin/chromium and no apt-get; install Chromium and set POWR_TEST_CHROMIUM to its path" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
echo "install-chromium: installed $(/usr/bin/chromium --version)"
