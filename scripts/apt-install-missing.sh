#!/usr/bin/env bash
# Installs Debian packages for a tool the relay or its tests need, only when the tool is missing.
# Usage: apt-install-missing.sh <command or path> <package>...   (run by `npm test` and by CI)
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: apt-install-missing.sh <command or path> <package>..." >&2
  exit 2
fi
tool="$1"
shift
if command -v "$tool" >/dev/null; then exit 0; fi
if ! command -v apt-get >/dev/null; then
  echo "apt-install-missing: $tool is missing and there is no apt-get; install $* yourself" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
echo "apt-install-missing: installed $* for $tool"
