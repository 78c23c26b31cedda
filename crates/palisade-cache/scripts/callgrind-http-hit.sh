#!/usr/bin/env bash
# Instructions per iteration of the `http_hit` bench's callgrind modes (see
# benches/http_hit.rs): a fresh hit through the HttpCache layer, a raw moka
# `get` of the same key (alone, and with the response built from what it
# returned), and the request alone; each as the difference
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
    --callgrind-out-file=/dev/null "$bin" --bench 2>&1 | grep -o 'Collected : [0-9]*' | tail -1 | grep -o '[0-9]*')
  echo "$out"
}
declare -A per
for mode in request moka moka_response layer; do
  a=$(count "$mode" "$N1"); b=$(count "$mode" "$N2")
  per[$mode]=$(( (b - a) / (N2 - N1) ))
  echo "$mode: ${per[$mode]} instructions per iteration"
done
awk -v l="${per[layer]}" -v m="${per[moka]}" -v mr="${per[moka_response]}" -v r="${per[request]}" 'BEGIN {
  printf "layer / moka get (request included): %.3fx\n", l / m;
  printf "layer / moka get + response (request included): %.3fx\n", l / mr;
  printf "without the request: layer %d, moka get %d (%.3fx), moka get + response %d (%.3fx)\n", l - r, m - r, (l - r) / (m - r), mr - r, (l - r) / (mr - r) }'
