#!/usr/bin/env bash
# Instructions per iteration of the `http_hit` bench's callgrind modes (see
# benches/http_hit.rs): a fresh hit through the HttpCache layer, a raw moka
# `get` of the same key, and the request alone; each as the difference
# between runs of N2 and N1 iterations, divided by N2 - N1.
#
#   crates/palisade-cache/scripts/callgrind-http-hit.sh [bench binary]
#
# Without an argument it builds the bench (`cargo bench --no-run`) and uses
# the newest binary.
set -euo pipefail
bin=${1:-}
if [ -z "$bin" ]; then
  cargo bench -p palisade-cache --bench http_hit --no-run >/dev/null 2>&1
  bin=$(ls -t "${CARGO_TARGET_DIR:-target}"/release/deps/http_hit-* | grep -v '\.d$' | head -1)
fi
N1=${N1:-2000}
N2=${N2:-12000}
count() { # mode iters
  local out
  out=$(HTTP_HIT_MODE=$1 HTTP_HIT_ITERS=$2 valgrind --tool=callgrind \
    --callgrind-out-file=/dev/null "$bin" --bench 2>&1 | grep -o 'Collected : [0-9]*' | grep -o '[0-9]*')
  echo "$out"
}
declare -A per
for mode in request moka layer; do
  a=$(count "$mode" "$N1"); b=$(count "$mode" "$N2")
  per[$mode]=$(( (b - a) / (N2 - N1) ))
  echo "$mode: ${per[$mode]} instructions per iteration"
done
awk -v l="${per[layer]}" -v m="${per[moka]}" -v r="${per[request]}" 'BEGIN {
  printf "layer / moka (request included): %.3fx\n", l / m;
  printf "without the request: layer %d, moka %d, ratio %.3fx\n", l - r, m - r, (l - r) / (m - r) }'
