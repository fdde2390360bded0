#!/usr/bin/env python3
"""House metrics of a wgd source tree (issue 13's note, before and after).

Prints, for the tree at ROOT (a checkout or `git worktree`):
  1. lines per folder: .c/.h files, their total lines and code lines (lines
     with something left once comments and blank space are removed), per
     top-level folder and per folder under src/ platform/ include/ cmd/
     tests/ bench/; files are those git tracks (all files if not a checkout);
  2. the largest .c/.h files;
  3. include cycles among src/ modules: a module is x.c with its header x.h
     (in src/ or include/wgd/), an edge A -> B when a file of A includes
     B's header; strongly connected components of more than one module;
  4. call cycles among src/ object files: from each object's undefined and
     defined symbols (nm) and its relocations (objdump -r, debug and unwind
     sections left out), A -> B when A.o references a symbol B.o defines,
     weighted by the number of references (about the call sites, at -O0).
     For each strongly connected component: the order with the least
     weight of edges against it (exact minimum feedback arc set) and those
     back-edges with their symbols, e.g. "receive.c -> send.c: wg_ip_parse
     x3". The objects come from a Debug (-O0) build of the targets wgcore
     and wgengine in BUILD (made with cmake + ninja -j2 under nice if it has
     no objects yet), so inlining does not hide references. Then the same
     for src/ and platform/ objects together: the components that take in
     a platform/ file;
  5. functions over 40 lines in src/ platform/ cmd/: length is the lines
     from the opening brace of the definition to its closing brace, both
     included; found by a brace matcher that skips comments, strings,
     character constants and preprocessor lines.

Usage: scripts/house_metrics.py [--build DIR] [--no-build] [--json] [--top N]
                                 [--limit LINES] [--alias HDR=MOD]
                                 [--compare BEFORE_JSON] ROOT
e.g.  git worktree add /tmp/wt-old 55fe7c7
      scripts/house_metrics.py --json /tmp/wt-old >/tmp/before.json
      scripts/house_metrics.py --compare /tmp/before.json . >/tmp/now.txt
"""
import argparse
import json
import os
import re
import subprocess
import sys
from collections import defaultdict

FOLDER_ROOTS = ["src", "platform", "include", "cmd", "tests", "bench"]
FUNC_DIRS = ("src/", "platform/", "cmd/")
SKIP_RELOC = re.compile(r"\.(debug|eh_frame|note|comment)")


def tracked_files(root):
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z"], check=True,
                             capture_output=True).stdout.decode()
        return sorted(f for f in out.split("\0") if f and os.path.isfile(os.path.join(root, f)))
    except (subprocess.CalledProcessError, FileNotFoundError):
        files = []
        for d, dirs, names in os.walk(root):
            dirs[:] = [x for x in dirs if not x.startswith((".", "build"))]
            files += [os.path.relpath(os.path.join(d, n), root) for n in names]
        return sorted(files)


def strip_c(text, keep_pp=False):
    """Comments, string and character literals blanked (newlines kept) and,
    unless keep_pp, preprocessor lines (with their continuations) removed:
    what is left is code for the brace matcher and the code-line count."""
    out = []
    i, n = 0, len(text)
    line_start = True
    while i < n:
        c = text[i]
        if line_start and c in " \t":
            out.append(c)
            i += 1
            continue
        if line_start and c == "#" and not keep_pp:
            while i < n and text[i] != "\n":
                if text[i] == "\\" and i + 1 < n and text[i + 1] == "\n":
                    out.append("\n")
                    i += 2
                    continue
                i += 1
            continue
        line_start = False
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
            continue
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            if j >= n or text[j] == "\n":  # unterminated: keep the newline
                out.append(c + " " * (j - i - 1))
                i = j
                continue
            out.append(c + " " * (j - i - 1) + c)
            i = j + 1
            continue
        if c == "\n":
            line_start = True
        out.append(c)
        i += 1
    return "".join(out)


def read(root, f):
    with open(os.path.join(root, f), encoding="utf-8", errors="replace") as fh:
        return fh.read()


def nlines(text):
    return text.count("\n") + (0 if text.endswith("\n") or not text else 1)


def line_counts(root, files):
    """{file: (lines, code lines)} for the .c/.h files."""
    res = {}
    for f in files:
        if not f.endswith((".c", ".h")):
            continue
        text = read(root, f)
        total = nlines(text)
        code = sum(1 for ln in strip_c(text, keep_pp=True).split("\n") if ln.strip())
        res[f] = (total, code)
    return res


def folder_of(f):
    parts = f.split("/")
    if len(parts) == 1:
        return "(top)"
    if parts[0] in FOLDER_ROOTS and len(parts) > 2:
        return parts[0] + "/" + parts[1]
    return parts[0]


def folders(root, counts, files):
    """Per folder: .c/.h files, lines, code lines; and lines of shell and
    Python scripts."""
    agg = defaultdict(lambda: [0, 0, 0, 0])
    scripts = {f: nlines(read(root, f)) for f in files if f.endswith((".sh", ".py"))}
    for f in list(counts) + list(scripts):
        for k in {f.split("/")[0] if "/" in f else "(top)", folder_of(f)}:
            if f in counts:
                agg[k][0] += 1
                agg[k][1] += counts[f][0]
                agg[k][2] += counts[f][1]
            else:
                agg[k][3] += scripts[f]
    return {k: {"files": v[0], "lines": v[1], "code": v[2], "script_lines": v[3]}
            for k, v in sorted(agg.items())}


def largest(counts, top, prefixes=None):
    items = [kv for kv in counts.items() if not prefixes or kv[0].startswith(prefixes)]
    items.sort(key=lambda kv: (-kv[1][0], kv[0]))
    return [{"file": f, "lines": t, "code": c} for f, (t, c) in items[:top]]


# ---- include graph -------------------------------------------------------

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def module_of(f):
    """src/x.c, src/x.h and include/wgd/x.h (or include/wgd/D/x.h) belong
    to module x; a header with no .c of its name is a module of its own."""
    if f.startswith("src/") and f.count("/") == 1 and f.endswith((".c", ".h")):
        return os.path.basename(f)[:-2]
    if f.startswith("include/wgd/") and f.endswith(".h"):
        return os.path.basename(f)[:-2]
    return None


def resolve(root, src, inc):
    for cand in (os.path.join(os.path.dirname(src), inc), os.path.join("src", inc),
                 os.path.join("include", inc)):
        cand = os.path.normpath(cand)
        if os.path.isfile(os.path.join(root, cand)):
            return cand
    return None


def include_graph(root, files, headers_only=False, alias=None):
    """Module graph (A -> B: ["a.c includes b.h", ...]) or, with
    headers_only, the graph of src/ and include/ headers themselves. ALIAS
    maps a module to the one it belongs to (dev -> device)."""
    alias = alias or {}
    edges = defaultdict(list)
    for f in files:
        a = module_of(f)
        a = alias.get(a, a)
        if a is None or (headers_only and not f.endswith(".h")):
            continue
        for inc in INCLUDE.findall(read(root, f)):
            g = resolve(root, f, inc)
            b = module_of(g) if g else None
            b = alias.get(b, b)
            if headers_only and b:
                edges[(f, g)].append("%s includes %s" % (f, g))
            elif b and b != a:
                edges[(a, b)].append("%s includes %s" % (f, g))
    return edges


# ---- graph helpers -------------------------------------------------------


def sccs(nodes, edges):
    """Tarjan; components of more than one node, each sorted."""
    adj = defaultdict(list)
    for a, b in edges:
        adj[a].append(b)
    index, low, stack, on, comps = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(adj[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return sorted(comps, key=lambda c: (-len(c), c))


def min_feedback_order(comp, weight):
    """Order of comp (callers first) whose edges pointing back (to an
    earlier node) weigh least; exact, by dynamic programming over subsets."""
    n = len(comp)
    if n > 18:
        return comp
    idx = {v: i for i, v in enumerate(comp)}
    w = [[0] * n for _ in range(n)]
    for (a, b), c in weight.items():
        if a in idx and b in idx:
            w[idx[a]][idx[b]] = c
    INF = float("inf")
    best = [INF] * (1 << n)
    choice = [-1] * (1 << n)
    best[0] = 0
    for mask in range(1 << n):
        if best[mask] == INF:
            continue
        for v in range(n):
            if mask & (1 << v):
                continue
            cost = best[mask] + sum(w[v][u] for u in range(n) if mask & (1 << u))
            nm = mask | (1 << v)
            if cost < best[nm]:
                best[nm] = cost
                choice[nm] = v
    order, mask = [], (1 << n) - 1
    while mask:
        v = choice[mask]
        order.append(comp[v])
        mask &= ~(1 << v)
    return order[::-1]


# ---- call graph from object files ----------------------------------------


def ensure_build(root, build, allow):
    objs = find_objects(build)
    if objs or not allow:
        return objs
    cfg = ["cmake", "-S", root, "-B", build, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Debug",
           "-DWGD_TESTS=OFF", "-DWGD_BENCH=OFF"]
    subprocess.run(cfg, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["nice", "-n", "10", "ninja", "-C", build, "-j2", "wgcore", "wgengine"],
                   check=True, stdout=subprocess.DEVNULL)
    return find_objects(build)


def find_objects(build):
    """{"src/x.c": path of its .o} for the src/ and platform/ objects of
    the wgcore and wgengine libraries in BUILD."""
    objs = {}
    for lib in ("wgcore.dir", "wgengine.dir"):
        top = os.path.join(build or "", "CMakeFiles", lib)
        for d, _, names in os.walk(top):
            for n in names:
                rel = os.path.relpath(os.path.join(d, n[:-2]), top)
                if n.endswith(".c.o") and rel.startswith(("src/", "platform/")):
                    objs[rel] = os.path.join(d, n)
    return objs


def nm_symbols(obj):
    defined, undefined = {}, set()
    out = subprocess.run(["nm", obj], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U":
            undefined.add(parts[1])
        elif len(parts) == 3 and parts[1] in "TDBRCVWGS":
            defined[parts[2]] = "function" if parts[1] in "TW" else "data"
    return defined, undefined


def reloc_counts(obj):
    counts = defaultdict(int)
    out = subprocess.run(["objdump", "-r", obj], check=True, capture_output=True,
                         text=True).stdout
    skip = False
    for line in out.splitlines():
        m = re.match(r"RELOCATION RECORDS FOR \[(.*)\]:", line)
        if m:
            skip = bool(SKIP_RELOC.search(m.group(1)))
            continue
        parts = line.split()
        if skip or len(parts) != 3 or not re.match(r"^[0-9a-f]+$", parts[0]):
            continue
        counts[re.split(r"[+-]0x", parts[2])[0]] += 1
    return counts


def call_graph(objs):
    owner, kind, undef, refs = {}, {}, {}, {}
    for f, o in objs.items():
        d, u = nm_symbols(o)
        for s, k in d.items():
            owner[s] = f
            kind[s] = k
        undef[f] = u
        refs[f] = reloc_counts(o)
    edges = defaultdict(dict)  # (A, B) -> {symbol: references}
    for a in objs:
        for s in undef[a]:
            b = owner.get(s)
            if b and b != a:
                edges[(a, b)][s] = max(refs[a].get(s, 0), 1)
    return edges, kind


def cycles_report(edges, kind=None):
    weight = {e: (sum(v.values()) if isinstance(v, dict) else len(v)) for e, v in edges.items()}
    nodes = {x for e in edges for x in e}
    res = []
    for comp in sccs(nodes, edges):
        order = min_feedback_order(comp, weight)
        pos = {v: i for i, v in enumerate(order)}
        inner = sorted((e for e in edges if e[0] in pos and e[1] in pos),
                       key=lambda e: (pos[e[0]], pos[e[1]]))
        back = [e for e in inner if pos[e[1]] < pos[e[0]]]
        res.append({
            "members": comp,
            "order": order,
            "edges": [{"from": a, "to": b, "weight": weight[(a, b)],
                       "back": pos[b] < pos[a], "detail": detail(edges[(a, b)], kind)}
                      for a, b in inner],
            "back_weight": sum(weight[e] for e in back),
        })
    return res


def detail(v, kind):
    if isinstance(v, dict):
        return ["%s x%d%s" % (s, c, " (data)" if kind and kind.get(s) == "data" else "")
                for s, c in sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))]
    return list(v)


# ---- function lengths ----------------------------------------------------

NAME_BEFORE_PAREN = re.compile(r"([A-Za-z_]\w*)\s*$")
NOT_FUNC = {"if", "for", "while", "switch", "return", "sizeof", "__attribute__"}


def functions(root, files):
    """[(length, file, line, name)] of every function definition."""
    res = []
    for f in files:
        if not f.startswith(FUNC_DIRS) or not f.endswith((".c", ".h")):
            continue
        res += functions_in(f, strip_c(read(root, f)))
    return res


def functions_in(f, code):
    res = []
    depth, i, n = 0, 0, len(code)
    stmt_start = 0  # start of the current top-level declaration
    while i < n:
        c = code[i]
        if c == "{":
            if depth == 0:
                name = func_name(code[stmt_start:i])
                if name:
                    end = match_brace(code, i)
                    first = code.count("\n", 0, i) + 1
                    last = code.count("\n", 0, end) + 1
                    res.append((last - first + 1, f, first, name))
                    i = end + 1
                    stmt_start = i
                    continue
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == ";" and depth == 0:
            stmt_start = i + 1
        i += 1
    return res


def func_name(head):
    """Name of the function whose definition HEAD introduces, or None (a
    struct, enum, union or initializer)."""
    head = head.strip()
    head = re.sub(r"__attribute__\s*\(\(.*?\)\)\s*$", "", head, flags=re.S).strip()
    if not head.endswith(")") or "=" in head.split("(")[0]:
        return None
    depth = 0
    for j in range(len(head) - 1, -1, -1):
        if head[j] == ")":
            depth += 1
        elif head[j] == "(":
            depth -= 1
            if depth == 0:
                m = NAME_BEFORE_PAREN.search(head[:j])
                if m and m.group(1) not in NOT_FUNC:
                    return m.group(1)
                return None
    return None


def match_brace(code, i):
    depth = 0
    for j in range(i, len(code)):
        if code[j] == "{":
            depth += 1
        elif code[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(code) - 1


# ---- output --------------------------------------------------------------


def collect(args):
    root = os.path.abspath(args.root)
    files = tracked_files(root)
    counts = line_counts(root, files)
    funcs = sorted(functions(root, files), key=lambda t: (-t[0], t[1], t[2]))
    long_funcs = [t for t in funcs if t[0] > args.limit]
    build = args.build or "/tmp/house-metrics-build-" + re.sub(r"\W", "_", root.strip("/"))
    objs = ensure_build(root, build, not args.no_build)
    calls, kind = call_graph(objs) if objs else ({}, {})
    src_calls = {e: v for e, v in calls.items() if e[0].startswith("src/") and
                 e[1].startswith("src/")}
    return {
        "root": root,
        "commit": git_head(root),
        "folders": folders(root, counts, files),
        "largest": largest(counts, args.top),
        "largest_product": largest(counts, args.top, ("src/", "platform/", "include/", "cmd/")),
        "include_alias": args.alias,
        "include_cycles": cycles_report(include_graph(root, files, alias=dict(
            a.split("=", 1) for a in args.alias))),
        "header_cycles": cycles_report(include_graph(root, files, headers_only=True)),
        "call_build": build if objs else None,
        "call_objects": sum(1 for f in objs if f.startswith("src/")),
        "call_cycles": cycles_report(src_calls, kind),
        "platform_call_cycles": [c for c in cycles_report(calls, kind) if
                                 any(x.startswith("platform/") for x in c["members"])],
        "function_limit": args.limit,
        "functions_total": len(funcs),
        "functions_over_limit": [{"lines": n, "file": f, "line": ln, "name": nm}
                                 for n, f, ln, nm in long_funcs],
    }


def git_head(root):
    r = subprocess.run(["git", "-C", root, "log", "-1", "--format=%h %s"],
                       capture_output=True, text=True)
    return r.stdout.strip()[:100] if r.returncode == 0 else ""


def print_cycles(title, cycles, unit):
    print("\n== %s" % title)
    if not cycles:
        print("none")
    for c in cycles:
        print("component of %d: %s" % (len(c["members"]), " ".join(c["members"])))
        print("  least back-weight order (%s first): %s" % (unit, " > ".join(c["order"])))
        print("  back-edges (against that order), total weight %d:" % c["back_weight"])
        for e in c["edges"]:
            if e["back"]:
                print("    %s -> %s (%d): %s" % (e["from"], e["to"], e["weight"],
                                              ", ".join(e["detail"])))
        print("  forward edges inside the component:")
        for e in c["edges"]:
            if not e["back"]:
                print("    %s -> %s (%d): %s" % (e["from"], e["to"], e["weight"],
                                              ", ".join(e["detail"])))


def print_text(m):
    print("house metrics of %s (%s)" % (m["root"], m["commit"]))
    print("\n== lines per folder (.c/.h files: files, lines, code = lines neither blank nor"
          " only comment; sh+py = lines of shell and Python scripts)")
    print("%-22s %6s %8s %8s %8s" % ("folder", "files", "lines", "code", "sh+py"))
    for k, v in m["folders"].items():
        indent = "  " if "/" in k else ""
        print("%-22s %6d %8d %8d %8d" % (indent + k, v["files"], v["lines"], v["code"],
                                         v["script_lines"]))
    for key, what in (("largest", "in the tree"),
                      ("largest_product", "in src/ platform/ include/ cmd/")):
        print("\n== largest .c/.h files %s (lines, code lines)" % what)
        for x in m[key]:
            print("%6d %6d  %s" % (x["lines"], x["code"], x["file"]))
    print_cycles("include cycles among src/ modules (x.c + x.h%s; edge weight = #include "
                 "lines)" % "".join(", " + a for a in m["include_alias"]),
                 m["include_cycles"], "includers")
    print_cycles("include cycles among the headers themselves (src/*.h, include/wgd/*.h)",
                 m["header_cycles"], "includers")
    if m["call_build"]:
        print_cycles("call cycles among src/ objects (%d src/ objects of %s; edge weight = "
                     "references)" % (m["call_objects"], m["call_build"]),
                     m["call_cycles"], "callers")
        print_cycles("call cycles that take in platform/ objects (src/ and platform/ objects "
                     "together)", m["platform_call_cycles"], "callers")
    else:
        print("\n== call cycles: no object files (build failed or --no-build)")
    over = m["functions_over_limit"]
    print("\n== functions over %d lines in src/ platform/ cmd/ (opening to closing brace): "
          "%d of %d" % (m["function_limit"], len(over), m["functions_total"]))
    for x in over:
        print("%5d  %s:%d %s" % (x["lines"], x["file"], x["line"], x["name"]))


def cycle_summary(cycles):
    if not cycles:
        return "none"
    return "; ".join("%d (%s), back-weight %d" % (len(c["members"]), " ".join(
        os.path.basename(x) for x in c["members"]), c["back_weight"]) for c in cycles)


def print_compare(b, m):
    print("\n== before -> now: %s -> %s" % (b["commit"][:7], m["commit"][:7]))
    print("%-22s %17s %17s" % ("folder (.c/.h)", "lines", "code"))
    for k in sorted(set(b["folders"]) | set(m["folders"])):
        x = b["folders"].get(k, {"lines": 0, "code": 0})
        y = m["folders"].get(k, {"lines": 0, "code": 0})
        if x["lines"] or y["lines"]:
            print("%-22s %8d %8d %8d %8d" % (("  " if "/" in k else "") + k, x["lines"],
                                             y["lines"], x["code"], y["code"]))
    for key, what in (("include_cycles", "include cycles (modules)"),
                      ("header_cycles", "include cycles (headers)"),
                      ("call_cycles", "call cycles (src/)"),
                      ("platform_call_cycles", "call cycles (platform/)")):
        print("%s:\n  before: %s\n  now:    %s" % (what, cycle_summary(b.get(key, [])),
                                                  cycle_summary(m.get(key, []))))
    print("functions over %d lines: %d of %d -> %d of %d" % (
        m["function_limit"], len(b["functions_over_limit"]), b["functions_total"],
        len(m["functions_over_limit"]), m["functions_total"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root")
    ap.add_argument("--build", help="build dir holding (or to hold) the objects")
    ap.add_argument("--no-build", action="store_true", help="never run cmake/ninja")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--alias", action="append", default=[], metavar="HEADER=MODULE",
                    help="count the header-only module HEADER as part of MODULE "
                    "(e.g. dev=device); repeatable")
    ap.add_argument("--compare", metavar="BEFORE_JSON",
                    help="also print a before/now summary against an earlier --json output")
    args = ap.parse_args()
    m = collect(args)
    if args.json:
        json.dump(m, sys.stdout, indent=1)
        print()
        return
    print_text(m)
    if args.compare:
        with open(args.compare) as fh:
            print_compare(json.load(fh), m)


if __name__ == "__main__":
    main()
