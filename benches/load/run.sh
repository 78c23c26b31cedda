#!/usr/bin/env bash
# Served cost of Palisade's layers: one axum route (`GET /users/{id}`, a
# ~200-byte JSON body) behind each stack of `benches/examples/served.rs`,
# driven by wrk over loopback.
#
#   bash benches/load/run.sh                 # every stack, 5 rounds of 5 s
#   ROUNDS=3 SECS=3 bash benches/load/run.sh bare full full_cache
#   bash benches/load/run.sh bare full_cache full_cache@/tmp/served-before   # before/after
#   UPDATE_DOCS=1 bash benches/load/run.sh   # also rewrite docs/BENCHMARKS.md's served table
#   IDS=10 bash benches/load/run.sh full full_cache   # 10 ids instead of 1000 (hot cache entries)
#
# Why wrk and not a Rust load generator: wrk is a separate, well-known C
# program whose cost never lands in the server's process, so the server's
# CPU time per request (utime+stime from /proc/PID/stat, over wrk's request
# count) is the stack's own cost plus hyper/axum's; and its latency
# histogram (`--latency`) is the one readers know. It is installed from
# Debian's packages when missing.
#
# Method: every round starts each stack's server afresh (pinned to core 0,
# wrk to core 1 when the machine has two), warms it for 1 s, then measures
# SECS seconds of `wrk -t1 -c64`. Stacks are interleaved within each round,
# so a noisy minute hits all of them. The table gives the median over
# rounds: CPU µs per request, added CPU against `bare` from the same round,
# requests/s, p99, and throughput as a share of bare's. For stacks with a
# latency tracker, the in-server p99 is the tracker's own (printed by the
# server on SIGTERM, over its last one to two seconds of load).
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS="${ROUNDS:-5}"
SECS="${SECS:-5}"
CONNS="${CONNS:-64}"
OUT="${OUT:-target/served-cost.md}"
export IDS="${IDS:-1000}"
STACKS=("$@")
[ ${#STACKS[@]} -eq 0 ] && STACKS=(bare identity http_errors latency deadline limit adaptive rate_limit breaker full full_cache full_cache_under_limit tower peers peers_cache)

if ! command -v wrk >/dev/null 2>&1; then
    echo "wrk not installed; installing it from Debian's packages"
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
    else
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
    fi
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(pwd)/target}"
cargo build -q --release -p palisade-benches --example served
SERVER="$CARGO_TARGET_DIR/release/examples/served"

PIN_SERVER=""; PIN_WRK=""
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
    PIN_SERVER="taskset -c 0"; PIN_WRK="taskset -c 1"
fi
TICK=$(getconf CLK_TCK)
RAW="$(mktemp)"
trap 'rm -f "$RAW"' EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

measure() { # stack round
    local stack="$1" round="$2" log pid port before after out bin="$SERVER" name="$1"
    # `stack@/path/to/served` runs another build of the server (a before/after pair).
    if [[ "$stack" == *@* ]]; then bin="${stack#*@}"; name="${stack%%@*}"; fi
    log="$(mktemp)"
    $PIN_SERVER "$bin" "$name" 127.0.0.1:0 >"$log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do grep -q "listening on" "$log" && break; sleep 0.05; done
    port="$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$log")"
    if [ -z "$port" ]; then echo "server for $stack did not start:"; cat "$log"; kill "$pid" 2>/dev/null; exit 1; fi
    $PIN_WRK wrk -t1 -c"$CONNS" -d1s -s benches/load/users.lua "http://127.0.0.1:$port" >/dev/null
    before="$(cpu_ticks "$pid")"
    out="$($PIN_WRK wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s benches/load/users.lua "http://127.0.0.1:$port")"
    after="$(cpu_ticks "$pid")"
    # SIGTERM: a stack with a latency tracker prints its in-server p99 and exits.
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    local sp99
    sp99="$(sed -n 's/^in-server p99 \([0-9]*\) us$/\1/p' "$log")"
    rm -f "$log"
    python3 - "$stack" "$round" "$before" "$after" "$TICK" "${sp99:--}" <<PY >>"$RAW"
import re, sys
stack, rnd, before, after, tick, sp99 = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
out = """$out"""
reqs = int(re.search(r"(\d+) requests in", out).group(1))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
def us(v, unit):
    return float(v) * {"us": 1, "ms": 1e3, "s": 1e6}[unit]
m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
p99 = us(*m.groups())
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
errs = re.search(r"Socket errors: (.*)", out)
cpu_us = (after - before) / tick * 1e6 / reqs
print(f"{stack}\t{rnd}\t{cpu_us:.3f}\t{rps:.0f}\t{p99:.0f}\t{non2xx.group(1) if non2xx else 0}\t{(errs.group(1) if errs else '').strip()}\t{sp99}")
PY
}

echo "stacks: ${STACKS[*]}; $ROUNDS rounds of ${SECS}s, wrk -t1 -c$CONNS; pinning: ${PIN_SERVER:-none}"
for round in $(seq 1 "$ROUNDS"); do
    for stack in "${STACKS[@]}"; do
        measure "$stack" "$round"
        tail -n 1 "$RAW" | awk -F'\t' '{printf "round %s  %-12s cpu %7.2f us/req  %8s req/s  p99 %6s us  in-server p99 %s us\n", $2, $1, $3, $4, $5, $8}'
    done
done

mkdir -p "$(dirname "$OUT")"
python3 - "$RAW" "$ROUNDS" "$SECS" "$CONNS" "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" <<'PY' | tee "$OUT"
import statistics as st, sys, collections, datetime, platform
raw, rounds, secs, conns, rev = sys.argv[1:6]
rows = [l.rstrip("\n").split("\t") for l in open(raw) if l.strip()]
by = collections.defaultdict(dict)
for stack, rnd, cpu, rps, p99, non2xx, errs, sp99 in rows:
    by[stack][int(rnd)] = (float(cpu), float(rps), float(p99), int(non2xx), errs, None if sp99 == "-" else float(sp99))
order = list(dict.fromkeys(r[0] for r in rows))
have_bare = "bare" in by
def med(xs): return st.median(xs) if xs else float("nan")
print(f"Served cost, `wrk -t1 -c{conns}` over ids 1..{__import__('os').environ.get('IDS', '1000')}, {rounds} interleaved rounds of {secs} s, medians; commit {rev}, "
      f"{datetime.date.today()}, {platform.machine()} with {__import__('os').cpu_count()} cores.\n")
print("| stack | CPU µs/request | added to bare | req/s | vs bare | p99 µs | p99 vs bare | in-server p99 µs | non-2xx |")
print("|---|---|---|---|---|---|---|---|---|")
for s in order:
    rs = by[s]
    cpu = med([v[0] for v in rs.values()]); rps = med([v[1] for v in rs.values()]); p99 = med([v[2] for v in rs.values()])
    bad = sum(v[3] for v in rs.values())
    sp = [v[5] for v in rs.values() if v[5] is not None]
    sp99 = f"{med(sp):.0f}" if sp else "–"
    if have_bare:
        added = med([rs[r][0] - by["bare"][r][0] for r in rs if r in by["bare"]])
        rel = med([rs[r][1] / by["bare"][r][1] for r in rs if r in by["bare"]])
        prel = med([rs[r][2] / by["bare"][r][2] for r in rs if r in by["bare"]])
        print(f"| {s} | {cpu:.2f} | {added:+.2f} | {rps:,.0f} | {rel:.2f}× | {p99:.0f} | {prel:.2f}× | {sp99} | {bad} |")
    else:
        print(f"| {s} | {cpu:.2f} | – | {rps:,.0f} | – | {p99:.0f} | – | {sp99} | {bad} |")
PY
echo "table written to $OUT"

# UPDATE_DOCS=1: put the table into docs/BENCHMARKS.md's served section.
if [ -n "${UPDATE_DOCS:-}" ]; then
    python3 - "$OUT" <<'PY'
import pathlib, re, sys
table = pathlib.Path(sys.argv[1]).read_text().strip()
table = re.sub(r"@\S+", " @before", table)
doc = pathlib.Path("docs/BENCHMARKS.md")
start, end = "<!-- served table: benches/load/run.sh -->", "<!-- end served table -->"
text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: f"{start}\n{table}\n{end}", doc.read_text(), flags=re.S)
doc.write_text(text)
print("docs/BENCHMARKS.md updated")
PY
fi
