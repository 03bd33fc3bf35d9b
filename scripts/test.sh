#!/usr/bin/env bash
# The project's own test suite (CPU only; tiny scale). Extra arguments go to pytest.
source "$(dirname "$0")/bootstrap.sh"
export COURSE_SCALE=tiny
python -m pytest "$@"
