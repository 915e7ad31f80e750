#!/usr/bin/env bash
# The browser tests drive Debian's Chromium with playwright-core (no browser download). Installs it
# when it is missing; run by `npm test` (pretest) and by CI. Elsewhere, set POWR_TEST_CHROMIUM to a
# Chromium binary.
set -euo pipefail
if [ -n "${POWR_TEST_CHROMIUM:-}" ]; then exit 0; fi
exec bash "$(dirname "$0")/apt-install-missing.sh" /usr/bin/chromium chromium
