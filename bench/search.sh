#!/usr/bin/env bash
# bench/run search: the knowledge base and tickets' search index (crates/cairn-search)
# over the demo's two years of tickets and its starter articles: indexing throughput
# (median of 3 fresh indexes on disk, one commit each) and p50/p99 latency of 2,000
# searches in Chinese, English and mixed text as merchants and staff, plus the latency
# of article suggestions while a ticket is written. Release build.
set -euo pipefail
cargo build --release --locked -q -p cairn-search --example bench
exec target/release/examples/bench "$@"
