#!/usr/bin/env python3
"""Import circles inside each crate (CONTRIBUTING.md: shared state sits at the
bottom, no module imports one that uses it). Builds a file-level graph from the
`crate::`, `super::` and `self::` paths in each crate's `src/` (tests left out)
and prints every strongly connected group of more than one file.

Usage: python3 .ci/circles.py [crates/<name> ...]   (default: every crates/*)
Exits 1 when any circle is found."""
import os, re, sys, glob

def modpath(src, f):
    rel = os.path.relpath(f, src)[:-3].split(os.sep)
    if rel[-1] in ("lib", "mod", "main"):
        rel = rel[:-1]
    return tuple(rel)

def strip(text):
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    # drop #[cfg(test)] mod tests { ... } blocks roughly: stop at it
    i = text.find("#[cfg(test)]\nmod tests")
    return text if i < 0 else text[:i]


def expand(tree):
    """Expand a use tree like `a::{b, c::{d, e}}` into paths."""
    tree = tree.strip()
    if not tree:
        return []
    i = tree.find("{")
    if i < 0:
        return [re.sub(r"\s+as\s+\w+$", "", tree).replace(" ", "")]
    prefix = tree[:i]
    depth = 0; parts = []; cur = ""
    body = tree[i + 1:tree.rfind("}")]
    for ch in body:
        if ch == "{": depth += 1
        if ch == "}": depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur); cur = ""
        else:
            cur += ch
    parts.append(cur)
    out = []
    for p in parts:
        for e in expand(p):
            out.append(prefix + e)
    return out

def uses(text):
    res = []
    for m in re.finditer(r"\b(crate|super|self)::", text):
        j = m.end()
        # read a path or a brace group
        k = j; depth = 0
        while k < len(text):
            ch = text[k]
            if ch == "{": depth += 1
            elif ch == "}":
                if depth == 0: break
                depth -= 1
                if depth == 0:
                    k += 1; break
            elif depth == 0 and not (ch.isalnum() or ch in "_:"):
                break
            k += 1
        for p in expand(text[j:k]):
            p = p.replace("self::", "").rstrip(":")
            if p.endswith("::self"): p = p[:-6]
            res.append((m.group(1), p))
    return res

def crate_graph(crate):
    src = os.path.join(crate, "src")
    files = [f for f in glob.glob(src + "/**/*.rs", recursive=True)
             if not re.search(r"/tests?(\.rs|/)", f[len(src):])]
    mods = {modpath(src, f): f for f in files}
    edges = {m: set() for m in mods}
    for m, f in mods.items():
        text = strip(open(f).read())
        # expand `use crate::{a, b::{c}}` shallowly
        for head, path in uses(text):
            parts = [p for p in path.split("::") if p]
            if head == "crate":
                base = ()
            elif head == "self":
                base = m
            else:
                base = m[:-1]
                while parts and parts[0] == "super":
                    base = base[:-1]; parts = parts[1:]
            full = base + tuple(parts)
            target = None
            for k in range(len(full), -1, -1):
                if full[:k] in mods:
                    target = full[:k]; break
            if target is not None and target != m and not (len(target) > len(m) and target[:len(m)] == m and head == "self"):
                edges[m].add(target)
    return mods, edges

def sccs(edges):
    index = {}; low = {}; stack = []; on = set(); out = []; c = [0]
    sys.setrecursionlimit(10000)
    def visit(v):
        index[v] = low[v] = c[0]; c[0] += 1; stack.append(v); on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: out.append(comp)
    for v in edges:
        if v not in index: visit(v)
    return out

crates = sys.argv[1:] or sorted(glob.glob("crates/*"))
total = 0
for crate in crates:
    if not os.path.isdir(os.path.join(crate, "src")): continue
    mods, edges = crate_graph(crate)
    for comp in sccs(edges):
        total += 1
        names = sorted("::".join(m) or "lib" for m in comp)
        print(f"{os.path.basename(crate)}: circle of {len(comp)}: {', '.join(names)}")
print(f"{total} circle(s)")
sys.exit(1 if total else 0)
