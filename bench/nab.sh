#!/usr/bin/env bash
# bench/run nab: cairn's anomaly detector (crates/cairn-anomaly) over the Numenta
# Anomaly Benchmark in ${CAIRN_BENCH_DATA:-../shared/bench}/nab (see its SOURCE.md),
# scored by cairn's Rust NAB scorer with NAB's three profiles and threshold sweep,
# printed beside the published scoreboard, with points/s of detection (2 threads).
set -euo pipefail
export CAIRN_BENCH_DATA="${CAIRN_BENCH_DATA:-$(cd .. && pwd)/shared/bench}"
if [ ! -f "$CAIRN_BENCH_DATA/nab/labels/combined_windows.json" ]; then
  echo "NAB data not found in $CAIRN_BENCH_DATA/nab (set CAIRN_BENCH_DATA)" >&2
  exit 1
fi
cargo build --release --locked -q -p cairn-anomaly --example nab
exec target/release/examples/nab "$@"
