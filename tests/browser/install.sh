#!/usr/bin/env bash
# Install what the browser test needs: Debian's chromium, Node.js and playwright-core (no browser download).
# Idempotent and quiet; needs root (or sudo) only when a Debian package is missing.
set -euo pipefail
cd "$(dirname "$0")"
packages=()
[ -x /usr/bin/chromium ] || packages+=(chromium)
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
if [ ${#packages[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if [ -n "$sudo" ] && ! sudo -n true 2>/dev/null; then
    # Without root the browser test will fail and say the same: never stop at a password prompt.
    echo "The browser test needs ${packages[*]}: run 'sudo apt-get install ${packages[*]}' (Debian/Ubuntu)." >&2
    exit 0
  fi
  echo "Installing ${packages[*]} for the browser test..."
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
fi
if [ ! -f node_modules/playwright-core/package.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --silent
fi
