#!/usr/bin/env bash
# Instructions per served request: the server of `benches/examples/served.rs`
# runs under callgrind (instruction counts are the same on a busy machine as
# on an idle one), wrk drives it over loopback, and the count collected while
# wrk ran is divided by wrk's request count. The per-function breakdown of
# each stack is kept for `callgrind_annotate`.
#
#   bash benches/load/callgrind.sh bare full full_cache
#   SECS=20 CONNS=4 bash benches/load/callgrind.sh full_cache@/tmp/served-before full_cache
#   CACHE_SIM=1 bash benches/load/callgrind.sh full full_cache   # also data misses per request
#
# With CACHE_SIM=1 callgrind also simulates the data caches, with this
# machine's per-core L2 (2 MiB, 16-way) as the last level: "L2 misses" per
# request count how often the server's own code (not the kernel's) reached
# past L2 — a cold cache entry shows up there, not in instructions.
#
# Output: a table of instructions per request and added to `bare` (when
# `bare` is among the stacks), and `target/callgrind/<stack>.out` files:
# `callgrind_annotate --inclusive=yes target/callgrind/full_cache.out`.
set -euo pipefail
cd "$(dirname "$0")/../.."

SECS="${SECS:-15}"
CONNS="${CONNS:-4}"
STACKS=("$@")
[ ${#STACKS[@]} -eq 0 ] && STACKS=(bare full full_cache)

for pkg in wrk valgrind; do
    if ! command -v "$pkg" >/dev/null 2>&1; then
        echo "$pkg not installed; installing it from Debian's packages"
        sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
        $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg"
    fi
done

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(pwd)/target}"
cargo build -q --release -p palisade-benches --example served
SERVER="$CARGO_TARGET_DIR/release/examples/served"
OUTDIR="${OUTDIR:-target/callgrind}"
mkdir -p "$OUTDIR"
RAW="$(mktemp)"
trap 'rm -f "$RAW"' EXIT

for stack in "${STACKS[@]}"; do
    bin="$SERVER"; name="$stack"
    if [[ "$stack" == *@* ]]; then bin="${stack#*@}"; name="${stack%%@*}"; fi
    label="${stack//\//_}"
    log="$(mktemp)"
    out="$OUTDIR/$label.out"
    rm -f "$out"*
    sim=()
    [ -n "${CACHE_SIM:-}" ] && sim=(--cache-sim=yes --D1=49152,12,64 --LL=2097152,16,64)
    valgrind --tool=callgrind "${sim[@]}" --callgrind-out-file="$out" "$bin" "$name" 127.0.0.1:0 >"$log" 2>&1 &
    pid=$!
    for _ in $(seq 1 600); do grep -q "listening on" "$log" && break; sleep 0.1; done
    port="$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$log")"
    [ -n "$port" ] || { echo "server for $stack did not start:"; cat "$log"; kill "$pid"; exit 1; }
    # Warm up (every id is fetched at least once: the cache holds them all).
    wrk -t1 -c"$CONNS" -d3s -s benches/load/users.lua "http://127.0.0.1:$port" >/dev/null
    callgrind_control -z "$pid" >/dev/null
    res="$(wrk -t1 -c"$CONNS" -d"${SECS}s" --timeout 10s -s benches/load/users.lua "http://127.0.0.1:$port")"
    callgrind_control -d "$pid" >/dev/null
    kill "$pid"; wait "$pid" 2>/dev/null || true; rm -f "$log"
    reqs="$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' <<<"$res")"
    # `-d` wrote the counts since `-z` to "$out.1" (the exit dump, if any,
    # goes to "$out" and is replaced).
    # Ir, and with the cache simulation the last level's data read and
    # write misses (DLmr + DLmw), from the dump's `events:` and `summary:`.
    read -r ir dl < <(awk '/^events:/ {for (i = 2; i <= NF; i++) col[$i] = i}
        /^summary:/ {dl = ("DLmr" in col) ? $(col["DLmr"]) + $(col["DLmw"]) : "-"; print $(col["Ir"]), dl; exit}' "$out.1")
    mv "$out.1" "$out"
    printf '%s\t%s\t%s\t%s\n' "$stack" "$reqs" "$ir" "$dl" >>"$RAW"
    awk -F'\t' -v s="$stack" '$1 == s {printf "%-28s %9d requests  %10.0f instructions/request", $1, $2, $3 / $2; if ($4 != "-") printf "  %6.1f L2 data misses/request", $4 / $2; printf "\n"}' "$RAW"
done

python3 - "$RAW" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
per = {s: int(ir) / int(n) for s, n, ir, _ in rows}
miss = {s: (int(dl) / int(n) if dl != "-" else None) for s, n, _, dl in rows}
sim = any(v is not None for v in miss.values())
bare = next((v for s, v in per.items() if s.split("@")[0] == "bare"), None)
print("\n| stack | instructions/request | added to bare |" + (" L2 data misses/request |" if sim else ""))
print("|---|---|---|" + ("---|" if sim else ""))
for s, v in per.items():
    added = f"{v - bare:+,.0f}" if bare is not None else "–"
    extra = f" {miss[s]:.1f} |" if sim and miss[s] is not None else (" – |" if sim else "")
    print(f"| {s} | {v:,.0f} | {added} |{extra}")
PY
