#!/usr/bin/env python3
"""Writes docs/BENCHMARKS.md's table from criterion's output.

    python3 benches/report/report.py [--criterion DIR] [--out FILE]

DIR is criterion's output folder (default: $CARGO_TARGET_DIR/criterion, else
target/criterion). Each row of benches/report/rows.toml names criterion ids
("group/function"); the script finds them by the `full_id` criterion writes in
`<id>/new/benchmark.json`, takes the median point estimate (ns), and prints a
markdown table: benchmark, baseline, Palisade, peer, ratio, target, machine,
date (the day the Palisade figure was measured). Rows whose figures are
missing say so instead of guessing.
"""
import argparse, datetime, json, os, pathlib, platform, tomllib

HERE = pathlib.Path(__file__).resolve().parent


def load_estimates(root):
    found = {}
    for bench in root.rglob("new/benchmark.json"):
        meta = json.loads(bench.read_text())
        est_path = bench.parent / "estimates.json"
        if not est_path.exists():
            continue
        est = json.loads(est_path.read_text())
        day = datetime.date.fromtimestamp(est_path.stat().st_mtime).isoformat()
        found[meta["full_id"]] = (est["median"]["point_estimate"], day)
    return found


def fmt(ns):
    if ns < 0:
        return "−" + fmt(-ns)
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.1f} ns"


def main():
    ap = argparse.ArgumentParser()
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    ap.add_argument("--criterion", default=os.path.join(target, "criterion"))
    ap.add_argument("--out")
    args = ap.parse_args()
    est = load_estimates(pathlib.Path(args.criterion))
    rows = tomllib.loads((HERE / "rows.toml").read_text())["row"]
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    out = [
        "| benchmark | baseline | Palisade | peer | ratio | target | machine | date |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ids = {k: r.get(k) for k in ("baseline", "palisade", "peer")}
        missing = [v for v in ids.values() if v and v not in est]
        what = f"{r['what']} (`{r['bench']}`)"
        if missing:
            out.append(f"| {what} | – | – | – | not measured: {', '.join(missing)} | {r.get('target', '')} | – | – |")
            continue
        b, _ = est[ids["baseline"]]
        p, day = est[ids["palisade"]]
        peer = est[ids["peer"]][0] if ids["peer"] else None
        kind = r["ratio"]
        if kind == "added":
            ratio = f"{(p - b) / (peer - b):.2f}× {r['peer_name']}'s added cost" if peer - b > 0 else "peer adds nothing"
        elif kind == "vs_peer":
            ratio = f"{p / peer:.2f}× {r['peer_name']}"
        else:
            ratio = f"{p / b:.2f}× baseline"
        peer_cell = f"{r['peer_name']} {fmt(peer)}" if peer is not None else "–"
        out.append(
            f"| {what} | {fmt(b)} | {fmt(p)} ({'+' if p >= b else ''}{fmt(p - b)}) | {peer_cell} | {ratio} | {r.get('target', '')} | {machine} | {day} |"
        )
    text = "\n".join(out) + "\n"
    if args.out:
        pathlib.Path(args.out).write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
