#!/usr/bin/env bash
# Run before the tests (`npm test`'s pretest step, and .ci/run): installs the system programs the tests
# drive for real when they are missing, from Debian's packages. Never downloads a browser of its own.
#   /usr/bin/chromium      - the browser tests (playwright-core drives Debian's Chromium)
#   /usr/bin/redis-server  - the Redis adapters' tests (each starts its own server on a private unix socket)
# On a machine where apt-get cannot run (not root, not Debian) it says what to install and goes on;
# the tests that need the program then fail with a message naming it.
set -u
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/redis-server ] || missing+=(redis-server)
[ ${#missing[@]} -eq 0 ] && exit 0

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "Installing ${missing[*]} for the tests (Debian packages)..." >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
    || echo "Could not install ${missing[*]}: the tests that need them will fail" >&2
elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  echo "Installing ${missing[*]} for the tests (Debian packages, with sudo)..." >&2
  sudo -n apt-get update -qq >/dev/null && sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
    || echo "Could not install ${missing[*]}: the tests that need them will fail" >&2
else
  echo "Missing for the tests: ${missing[*]}. Install them (Debian: apt-get install ${missing[*]}); the tests that need them will fail until then." >&2
fi
exit 0
