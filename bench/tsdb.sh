#!/usr/bin/env bash
# bench/run tsdb: one node_exporter-like workload, pre-encoded as remote-write requests,
# sent to cairn, Prometheus and VictoriaMetrics one after the other on this machine.
# For each: samples/s ingested, CPU seconds per million samples, bytes per sample on
# disk after a flush, peak RSS, and p50/p99 of five typical query_range queries.
#   SERIES (50000) SAMPLES (240 per series, 15 s apart) REPEAT (query repeats, 10)
#   SYSTEMS ("cairn prometheus victoriametrics")
set -euo pipefail
series="${SERIES:-50000}"
samples="${SAMPLES:-240}"
repeat="${REPEAT:-10}"
systems="${SYSTEMS:-cairn prometheus victoriametrics}"

need=()
[ -x /usr/bin/prometheus ] || need+=(prometheus)
[ -x /usr/bin/victoria-metrics ] || need+=(victoria-metrics)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
pkill -x prometheus 2>/dev/null || true
pkill -x victoria-metrics 2>/dev/null || true

cargo build --release --locked -q -p cairn -p cairn-bench
loader=target/release/cairn-loader
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
wait_http() { for _ in $(seq 1 300); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "not ready: $1" >&2; return 1; }
tck=$(getconf CLK_TCK)
end_ms=$(( $(date +%s) * 1000 ))
start_ms=$(( end_ms - (samples - 1) * 15000 ))
q_start=$(( (start_ms + 300000) / 1000 ))
q_end=$(( end_ms / 1000 ))
queries=(
  'sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))'
  'topk(10, rate(node_network_receive_bytes_total[5m]))'
  'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))'
  'avg by (instance) (node_load1)'
  'sum by (device) (rate(node_disk_io_time_seconds_total[5m]))'
)
token="bench-admin-token-0123456789"
results="$work/results.jsonl"

for system in $systems; do
  port=$(free_port)
  data="$work/$system"
  mkdir -p "$data"
  auth=()
  extra="{}"
  case "$system" in
    cairn)
      CAIRN_BOOTSTRAP_TOKEN=$token target/release/cairn serve --listen "127.0.0.1:$port" --data-dir "$data" \
        --metrics-fsync always >"$work/cairn.log" 2>&1 &
      pid=$!
      wait_http "http://127.0.0.1:$port/readyz"
      write_url="http://127.0.0.1:$port/prometheus/api/v1/write"; query_base="http://127.0.0.1:$port/prometheus"
      auth=(--token "$token")
      ;;
    prometheus)
      printf 'global:\n  scrape_interval: 15s\n' >"$work/prometheus.yml"
      /usr/bin/prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$data" \
        --web.listen-address="127.0.0.1:$port" --web.enable-remote-write-receiver --web.enable-admin-api \
        >"$work/prometheus.log" 2>&1 &
      pid=$!
      wait_http "http://127.0.0.1:$port/-/ready"
      write_url="http://127.0.0.1:$port/api/v1/write"; query_base="http://127.0.0.1:$port"
      ;;
    victoriametrics)
      /usr/bin/victoria-metrics -storageDataPath="$data" -httpListenAddr="127.0.0.1:$port" -retentionPeriod=100y \
        >"$work/vm.log" 2>&1 &
      pid=$!
      wait_http "http://127.0.0.1:$port/health"
      write_url="http://127.0.0.1:$port/api/v1/write"; query_base="http://127.0.0.1:$port"
      ;;
    *) echo "unknown system $system" >&2; exit 2 ;;
  esac
  echo "== $system (pid $pid)"
  c0=$(cpu_ticks "$pid")
  w=$("$loader" write --url "$write_url" "${auth[@]}" --series "$series" --samples "$samples" --end-ms "$end_ms")
  c1=$(cpu_ticks "$pid")
  echo "ingest: $w"
  # Make everything durable and compact before measuring the disk.
  case "$system" in
    cairn)
      curl -fsS -X POST -H "Authorization: Bearer $token" "http://127.0.0.1:$port/prometheus/api/v1/admin/tsdb/flush"
      disk=$(du -sb "$data/tsdb" | cut -f1); disk_compact=$disk ;;
    prometheus)
      disk=$(du -sb "$data" | cut -f1)
      snap=$(curl -fsS -X POST "http://127.0.0.1:$port/api/v1/admin/tsdb/snapshot" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["name"])')
      disk_compact=$(du -sb "$data/snapshots/$snap" | cut -f1)
      extra="{\"bytes_per_sample_with_wal\": $(python3 -c "print(round($disk/($series*$samples),3))")}" ;;
    victoriametrics)
      curl -fsS "http://127.0.0.1:$port/internal/force_flush" >/dev/null
      sleep 2
      disk=$(du -sb "$data" | cut -f1); disk_compact=$disk ;;
  esac
  q=$("$loader" query --base "$query_base" "${auth[@]}" --start-s "$q_start" --end-s "$q_end" --step 60 --repeat "$repeat" "${queries[@]}")
  echo "queries: $q"
  rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  python3 - "$system" "$w" "$q" "$c0" "$c1" "$tck" "$disk_compact" "$rss_kb" "$extra" >>"$results" <<'PY'
import json, sys
system, w, q, c0, c1, tck, disk, rss, extra = sys.argv[1:]
w, q, extra = json.loads(w), json.loads(q), json.loads(extra)
cpu_s = (float(c1) - float(c0)) / float(tck)
r = {"samples_per_s": round(w["samples_per_s"]), "cpu_s_per_million": round(cpu_s / (w["samples"] / 1e6), 3),
     "bytes_per_sample": round(int(disk) / w["samples"], 3), "peak_rss_mb": round(int(rss) / 1024, 1),
     "query_p50_ms": q["p50_ms"], "query_p99_ms": q["p99_ms"], "queries": q["queries"]}
r.update(extra)
print(json.dumps({"system": system, "figures": r, "samples": w["samples"]}))
PY
done

python3 - "$results" "$series" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print()
print(f"{'system':<16}{'samples/s':>12}{'cpu s/M':>10}{'B/sample':>10}{'RSS MiB':>10}{'q p50 ms':>10}{'q p99 ms':>10}")
for r in rows:
    f = r["figures"]
    print(f"{r['system']:<16}{f['samples_per_s']:>12,}{f['cpu_s_per_million']:>10}{f['bytes_per_sample']:>10}{f['peak_rss_mb']:>10}{f['query_p50_ms']:>10}{f['query_p99_ms']:>10}")
for r in rows:
    for q in r["figures"]["queries"]:
        print(f"  {r['system']:<14} p50 {q['p50_ms']:>8} ms  p99 {q['p99_ms']:>8} ms  {q['query']}")
systems = {r["system"]: {k: v for k, v in r["figures"].items() if k != "queries"} for r in rows}
print(json.dumps({"bench": "tsdb", "series": int(sys.argv[2]), "samples": rows[0]["samples"] if rows else 0, "systems": systems}))
PY
