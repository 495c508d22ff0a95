#!/usr/bin/env bash
# The demo cloud's load time into an empty SQLite store (and PostgreSQL, when
# CAIRN_BENCH_POSTGRES_URL names a server database the benchmark may create databases on),
# median of RUNS runs (default 5), with the release binary.
set -euo pipefail
runs="${RUNS:-5}"
cargo build --release --locked -q -p cairn
bin=target/release/cairn
echo "release binary: $(du -h "$bin" | cut -f1) ($bin)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
times=()
last=""
for i in $(seq 1 "$runs"); do
  out=$("$bin" demo --data-dir "$work/run$i" --json 2>/dev/null | tail -n 1)
  t=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["load_s"])' "$out")
  echo "run $i: sqlite load ${t}s"
  times+=("$t")
  last="$out"
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
pg_figure=""
if [ -n "${CAIRN_BENCH_POSTGRES_URL:-}" ]; then
  db="cairn_bench_$$"
  psql "$CAIRN_BENCH_POSTGRES_URL" -qc "CREATE DATABASE $db" >/dev/null
  base="${CAIRN_BENCH_POSTGRES_URL%/*}"
  out=$("$bin" demo --data-dir "$work/pg" --database-url "$base/$db" --json 2>/dev/null | tail -n 1)
  psql "$CAIRN_BENCH_POSTGRES_URL" -qc "DROP DATABASE $db" >/dev/null || true
  pg=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["load_s"])' "$out")
  echo "postgresql load: ${pg}s"
  pg_figure=",\"postgres_load_s\":$pg"
fi
python3 - "$last" "$median" "$pg_figure" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
s = d["summary"]
print(f"demo cloud: {s['regions']} regions, {s['zones']} zones, {s['products']} products, {s['pools']} pools, "
      f"{d['hosts']} hosts, {d['merchants']} merchants, {d['instances']} instances, "
      f"{s['services']} services, {s['dependencies']} dependencies, {s['promotions']} promotions")
print(f"median sqlite load time: {sys.argv[2]} s")
extra = sys.argv[3]
print('{"bench":"demo","load_s":%s,"merchants":%d,"hosts":%d,"instances":%d%s}'
      % (sys.argv[2], d["merchants"], d["hosts"], d["instances"], extra))
PY
