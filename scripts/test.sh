#!/usr/bin/env bash
# The project's own test suite (CPU only; tiny scale). Extra arguments go to pytest.
source "$(dirname "$0")/bootstrap.sh"
# The book's browser test needs headless Chromium: install it where we can (Debian, as root);
# elsewhere that test fails with a line saying what to install (it never skips silently).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "test: installing chromium for the book's browser test"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; } \
    || echo "test: could not install chromium; the browser test will say so"
fi
export COURSE_SCALE=tiny
python -m pytest "$@"
