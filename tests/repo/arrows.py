#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The layering, checked: every `#include "..."` of the project's code, every `#include <...>` of
a library that belongs to one layer, and every CMake target link must follow an arrow of the
tables in docs/architecture.md ("Layers and arrows"), which is the only place the arrows are
written. A file belongs to the row with the most specific place that holds it (a file named in a
row wins over its folder). tests/ is not a layer and is not checked.

usage: arrows.py SOURCE_DIR [LINK_GRAPH]   (LINK_GRAPH: build/layers/links.txt, written by CMake)
Prints each arrow that is not allowed, with the file and line, and exits 1 if there is one.
"""
import os
import re
import subprocess
import sys

SOURCE_EXT = (".cpp", ".hpp", ".h", ".c")
BEGIN, END = "<!-- arrows:begin -->", "<!-- arrows:end -->"
LIB_BEGIN, LIB_END = "<!-- libraries:begin -->", "<!-- libraries:end -->"


def table_rows(text, begin, end):
    block = text[text.index(begin) + len(begin):text.index(end)]
    rows = []
    for line in block.splitlines():
        line = line.strip()
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append(cells)
    return rows[1:]  # the header row


def ticked(cell):
    return re.findall(r"`([^`]+)`", cell)


def names(cell):
    return [] if cell in ("", "—", "-") else [n.strip() for n in cell.split(",") if n.strip()]


def load_tables(doc_path):
    text = open(doc_path, encoding="utf-8").read()
    layers = {}
    for cells in table_rows(text, BEGIN, END):
        if len(cells) != 4:
            sys.exit(f"{doc_path}: an arrows row needs 4 cells (layer | where | targets | may use): {cells}")
        name, where, targets, may = cells
        layers[name] = {"where": ticked(where), "targets": ticked(targets), "may": set(names(may))}
    for name, l in layers.items():
        unknown = l["may"] - set(layers)
        if unknown:
            sys.exit(f"{doc_path}: layer {name} may use unknown layers {sorted(unknown)}")
    libs = []
    for cells in table_rows(text, LIB_BEGIN, LIB_END):
        if len(cells) != 3:
            sys.exit(f"{doc_path}: a libraries row needs 3 cells (library | headers | who): {cells}")
        lib, heads, who = cells
        libs.append((lib, ticked(heads), set(names(who))))
    return layers, libs


def layer_of(path, layers):
    best, best_len = None, -1
    for name, l in layers.items():
        for w in l["where"]:
            hit = path == w if not w.endswith("/") else path.startswith(w)
            if hit and len(w) > best_len:
                best, best_len = name, len(w)
    return best


def source_files(root):
    try:
        out = subprocess.run(["git", "-C", root, "ls-files"], capture_output=True, text=True, check=True).stdout
        files = out.split()
    except (OSError, subprocess.CalledProcessError):  # a `git archive` export: walk the tree
        files = []
        for d, dirs, fs in os.walk(root):
            dirs[:] = [x for x in dirs if not x.startswith(".") and not x.startswith("build")]
            files += [os.path.relpath(os.path.join(d, f), root) for f in fs]
    return sorted(f for f in files if f.endswith(SOURCE_EXT) and not f.startswith("tests/"))


def resolve(root, src, inc):
    local = os.path.normpath(os.path.join(os.path.dirname(src), inc))
    if os.path.exists(os.path.join(root, local)):
        return local
    return os.path.normpath(inc)


def check_includes(root, layers, libs):
    bad = []
    for f in source_files(root):
        a = layer_of(f, layers)
        if a is None:
            bad.append(f"{f}: in no layer of docs/architecture.md")
            continue
        with open(os.path.join(root, f), encoding="utf-8", errors="replace") as fh:
            for n, line in enumerate(fh, 1):
                m = re.match(r'\s*#\s*include\s*([<"])([^>"]+)[>"]', line)
                if not m:
                    continue
                kind, inc = m.groups()
                if kind == '"':
                    target = resolve(root, f, inc)
                    if not os.path.exists(os.path.join(root, target)):
                        continue  # a generated or system header reached with quotes
                    b = layer_of(target, layers)
                    if b is None or (b != a and b not in layers[a]["may"]):
                        bad.append(f"{f}:{n}: {a} -> {b} (#include \"{inc}\") is not an arrow")
                else:
                    for lib, heads, who in libs:
                        if any(inc == h or inc.startswith(h) for h in heads) and a not in who:
                            bad.append(f"{f}:{n}: {a} includes {lib} (<{inc}>), which only {', '.join(sorted(who))} may")
    return bad


def check_links(graph_path, layers, root):
    owners = {}
    for name, l in layers.items():
        for t in l["targets"]:
            owners.setdefault(t, set()).add(name)
    aliases = {}
    for d, dirs, fs in os.walk(root):
        dirs[:] = [x for x in dirs if not x.startswith(".") and not x.startswith("build")]
        for f in fs:
            if f == "CMakeLists.txt" or f.endswith(".cmake"):
                for m in re.finditer(r"add_library\(\s*(\S+)\s+ALIAS\s+(\S+)\s*\)", open(os.path.join(d, f)).read()):
                    aliases[m.group(1)] = m.group(2)
    bad = []
    for line in open(graph_path, encoding="utf-8"):
        head, _, deps = line.partition(":")
        t, _, kind = head.strip().partition(" ")
        if t not in owners:
            if kind != "INTERFACE_LIBRARY" and (t.startswith("hg_") or t.startswith("hybridgate")):
                bad.append(f"CMake target {t} is in no layer of docs/architecture.md")
            continue
        for dep in deps.strip().split(";"):
            dep = re.sub(r"^\$<LINK_ONLY:(.*)>$", r"\1", dep.strip())
            dep = aliases.get(dep, dep)
            if dep not in owners or dep == t:
                continue  # a library from outside, or hg_warnings
            ok = any(b == a or b in layers[a]["may"] for a in owners[t] for b in owners[dep])
            if not ok:
                bad.append(f"CMake: {t} ({'/'.join(sorted(owners[t]))}) links {dep} "
                           f"({'/'.join(sorted(owners[dep]))}): not an arrow")
    return sorted(set(bad))


def check_include_roots(root):
    """No repository-wide include directory: no target outside tests/ names the source root."""
    bad = []
    for d, dirs, fs in os.walk(root):
        rel = os.path.relpath(d, root)
        dirs[:] = [x for x in dirs if not x.startswith(".") and not x.startswith("build")]
        if rel.split(os.sep)[0] == "tests":
            continue
        for f in fs:
            if f != "CMakeLists.txt" and not f.endswith(".cmake"):
                continue
            text = open(os.path.join(d, f), encoding="utf-8").read()
            for m in re.finditer(r"target_include_directories\(([^)]*)\)", text):
                if re.search(r"\$\{(PROJECT|CMAKE)_SOURCE_DIR\}(>|\s|$)", m.group(1)):
                    bad.append(f"{os.path.join(rel, f)}: target_include_directories({m.group(1).split()[0]} ...) "
                               "exports the repository root")
    return bad


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    root = sys.argv[1]
    layers, libs = load_tables(os.path.join(root, "docs", "architecture.md"))
    bad = check_includes(root, layers, libs) + check_include_roots(root)
    if len(sys.argv) == 3:
        bad += check_links(sys.argv[2], layers, root)
    for b in bad:
        print(b)
    if bad:
        print(f"FAIL: {len(bad)} arrow(s) not in docs/architecture.md")
        return 1
    print(f"PASS: every include and link follows the {len(layers)} layers' arrows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
