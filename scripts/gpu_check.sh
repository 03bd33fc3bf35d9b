#!/usr/bin/env bash
# The GPU check: one prepared run on one CUDA GPU, at most 8 minutes, one JSON file.
#
#   scripts/gpu_check.sh [OUT_DIR]        (default: $OUT, else build/gpu-check)
#
# 1. every chapter's `full` path as a GPU runs it (real model sizes, bf16 autocast, the
#    data path with the embedded fallback when offline, checkpoint + resume) for a handful
#    of steps: `course run N --scale full --smoke`, each under its own time limit;
# 2. scripts/bench.py on CUDA at the chapters' full presets: word2vec (the course trainer on
#    the GPU against gensim on this machine's CPU, claim >= 3x), Transformer vs torch.nn,
#    BERT MLM step vs transformers.
# Writes OUT_DIR/gpu_check.json (hardware, torch, each chapter's smoke: status, wall
# seconds, its results record; the bench rows), bench.json and one log, gpu_check.log
# (few files: the device tool brings back at most 8). Needs no network.
# Uses .venv/bin/python when there is one, else $PYTHON or python3 (a machine with torch and
# the course's requirements installed; the repository root goes on PYTHONPATH).
# GPU_CHECK_DRY=1 rehearses the script on a CPU (the tests do: the bench at tiny presets);
# GPU_CHECK_CHAPTERS="01_word2vec ..." limits the smoke runs.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-build/gpu-check}}"
mkdir -p "$out"
py="${PYTHON:-python3}"
[ -x .venv/bin/python ] && py=.venv/bin/python
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TQDM_MININTERVAL=5
device=cuda bench_scale=full bench_steps=20
if [ "${GPU_CHECK_DRY:-0}" = 1 ]; then
  device=cpu bench_scale=tiny bench_steps=2
  echo "gpu_check: a dry run on the CPU (GPU_CHECK_DRY=1): the script's path, not GPU numbers"
elif ! "$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_check: torch sees no CUDA GPU here; run this script on a machine with one" >&2
  exit 2
fi
start=$(date +%s)
chapters=${GPU_CHECK_CHAPTERS:-$("$py" -c "from course import release; print(' '.join(c.slug for c in release.chapters()))")}
per_chapter=${GPU_CHECK_CHAPTER_S:-50}   # 6 chapters x 50 s + the bench (at most 150 s): under 8 minutes
: >"$out/smoke.tsv"
log="$out/gpu_check.log"
: >"$log"
for slug in $chapters; do
  t0=$(date +%s)
  echo "== $slug: course run --scale full --smoke ==" >>"$log"
  timeout --kill-after=10 "$per_chapter" "$py" -m course.cli run "${slug%%_*}" --scale full --smoke \
    >>"$log" 2>&1
  rc=$?
  echo -e "$slug\t$rc\t$(( $(date +%s) - t0 ))" >>"$out/smoke.tsv"
  echo "gpu_check: $slug full smoke exit $rc in $(( $(date +%s) - t0 )) s"
done
timeout --kill-after=10 "${GPU_CHECK_BENCH_S:-150}" "$py" scripts/bench.py --device "$device" \
  --only word2vec,transformer,bert --scale "$bench_scale" --w2v-epochs 1 --steps "$bench_steps" \
  --json "$out/bench.json" >"$out/bench.log" 2>&1
echo "gpu_check: bench exit $?"
{ echo "== scripts/bench.py =="; cat "$out/bench.log"; } >>"$log" && rm -f "$out/bench.log"
"$py" - "$out" "$start" <<'EOF'
import json, os, sys, time
from pathlib import Path

import torch

from course import release, runtime

out, start = Path(sys.argv[1]), float(sys.argv[2])
smoke = {}
for line in (out / "smoke.tsv").read_text().splitlines():
    slug, rc, wall = line.split("\t")
    record = release.ROOT / "build" / "smoke-results" / f"{slug}.full.json"
    smoke[slug] = {"status": "ok" if rc == "0" else ("timed out" if rc in ("124", "137") else f"failed ({rc})"),
                   "wall_s": int(wall),
                   "record": json.loads(record.read_text()) if rc == "0" and record.is_file() else None}
bench = out / "bench.json"
report = {"dry_run": os.environ.get("GPU_CHECK_DRY") == "1", "hardware": runtime.hardware(), "torch": torch.__version__, "cuda": torch.version.cuda,
          "wall_s": round(time.time() - start), "smoke": smoke,
          "bench": json.loads(bench.read_text())["rows"] if bench.is_file() else None}
(out / "smoke.tsv").unlink()
(out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
print(f"gpu_check: {out / 'gpu_check.json'} ({report['wall_s']} s; "
      f"{sum(s['status'] == 'ok' for s in smoke.values())}/{len(smoke)} smokes ok)")
EOF
