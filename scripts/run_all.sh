#!/usr/bin/env bash
# The main job: run every chapter's solution at this machine's scale on the embedded data,
# build the book (self-study and student editions), print the results table.   Usage: scripts/run_all.sh [--scale tiny|quick|full]
# Default scale: quick (a CPU laptop: minutes). On a GPU pass --scale full.
source "$(dirname "$0")/bootstrap.sh"
scale="quick"
if [ "${1:-}" = "--scale" ] && [ -n "${2:-}" ]; then scale="$2"
elif [ -n "${1:-}" ]; then echo "usage: scripts/run_all.sh [--scale tiny|quick|full]" >&2; exit 2; fi
start=$(date +%s)
course run --scale "$scale"
course book
course book --edition student
echo
echo "== results ($scale scale; chapters and both books built in $(( $(date +%s) - start )) s) =="
course results
