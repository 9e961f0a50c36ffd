#!/usr/bin/env bash
# Replays the shared recordings with the engine split over two processes on loopback,
# each with two worker threads, using timely's own cluster flags. Process 0 gathers the
# outputs and writes them; process 1 only coaches the sessions the hash gives it.
#
#   bash deploy/engine-cluster/run-two-processes.sh [OUT_DIR]
#
# The cues are identical to a single-process run (`paceline-engine replay`): the engine's
# parity test checks exactly this.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
data="$root/../shared/data"
out="${1:-$root/target/engine-cluster}"
mkdir -p "$out"

cargo build --release -p paceline-engine --manifest-path "$root/Cargo.toml"
engine="$root/target/release/paceline-engine"

inputs=("$data/fit/sample-activity-indoor-trainer.fit" "$data/fit/Edge810-Vector-2013-08-16-15-35-10.fit"
        "$data/fit/garmin-edge-500-activity.fit" "$data/fit/activity-small-fenix2-run.fit")
common=(--profile "$data/plans/athlete-profile.json" --plan "$data/plans/vo2-intervals-45.zwo"
        --out "$out/cues.jsonl" --summary "$out/summary.json" "${inputs[@]}")

"$engine" worker -w 2 -n 2 -p 1 -h "$here/hosts.txt" "${common[@]}" &
second=$!
"$engine" worker -w 2 -n 2 -p 0 -h "$here/hosts.txt" "${common[@]}"
wait "$second"
echo "cues: $out/cues.jsonl ($(wc -l < "$out/cues.jsonl") lines), summaries: $out/summary.json"
