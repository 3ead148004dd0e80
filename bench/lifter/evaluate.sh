#!/usr/bin/env bash
# Lift the kept tracks with WEIGHTS in several ways and run the harness on each.
#   bench/lifter/evaluate.sh WEIGHTS TAG [KEPT_DIR]   (run from the worktree root; writes /tmp/lifter_TAG_*.json)
set -euo pipefail
weights=$1 tag=$2 kept=${3:-/tmp/raw_lifter}
py=.venv/bin/python
for variant in "lift::" "liftflip::--flip" "blend50:--mode blend --alpha 0.5:--flip" \
               "dir30:--mode dirblend --alpha 0.3:--flip" "dir50:--mode dirblend --alpha 0.5:--flip" \
               "dir70:--mode dirblend --alpha 0.7:--flip"; do
  IFS=: read -r name mode flip <<<"$variant"
  out=/tmp/lifted_${tag}_${name}
  # shellcheck disable=SC2086
  nice $py bench/lifter/lift_tracks.py --tracks "$kept" --weights "$weights" --out "$out" $mode $flip \
      --json /tmp/lifter_${tag}_${name}_prefit.json > /tmp/lifter_${tag}_${name}_prefit.log
  nice $py bench/bench_accuracy.py --no-throughput --tracks-from "$out" --json /tmp/lifter_${tag}_${name}.json \
      > /tmp/lifter_${tag}_${name}.log 2>&1
  echo "$name done"
done
