#!/usr/bin/env bash
# Runs every criterion benchmark that docs/BENCHMARKS.md's table cites
# (benches/report/rows.toml) and rewrites that table from their output.
#
#   bash benches/report/run.sh             # all of them (~15 min on 2 cores)
#   QUICK=1 bash benches/report/run.sh     # shorter warm-up and measurement
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(pwd)/target}"
ARGS=()
[ -n "${QUICK:-}" ] && ARGS=(--warm-up-time 1 --measurement-time 3)

python3 - <<'PY' | sort -u | while read -r pkg bench; do
import tomllib
for r in tomllib.load(open("benches/report/rows.toml", "rb"))["row"]:
    pkg, _, bench = r["bench"].split()
    print(pkg, bench)
PY
    echo "==> cargo bench -p $pkg --bench $bench"
    cargo bench -q -p "$pkg" --bench "$bench" -- "${ARGS[@]}" </dev/null
done

table="$(python3 benches/report/report.py)"
python3 - "$table" <<'PY'
import sys, re, pathlib
doc = pathlib.Path("docs/BENCHMARKS.md")
text = doc.read_text()
start, end = "<!-- per-call table: benches/report/run.sh -->", "<!-- end per-call table -->"
new = f"{start}\n{sys.argv[1]}\n{end}"
text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: new, text, flags=re.S)
doc.write_text(text)
PY
echo "docs/BENCHMARKS.md updated"
