#!/usr/bin/env bash
# bench/run forecast: cairn's univariate forecasts on M4 Hourly (414 series, h = 48) and
# Weekly (359 series, h = 13) beside the published figures (Naive2, sNaive, Theta, the best
# entries) and statsforecast reference figures, with series per second fitted and forecast
# on 2 threads; then the promotion-aware demand model against the same model without
# promotions, on promotion days of the demo's sales. Data: ${CAIRN_BENCH_DATA:-../shared/bench}/forecast.
set -euo pipefail
export CAIRN_BENCH_DATA="$(cd "${CAIRN_BENCH_DATA:-../shared/bench}" && pwd)"
cargo build --release --locked -q -p cairn-forecast --example bench
exec target/release/examples/bench
