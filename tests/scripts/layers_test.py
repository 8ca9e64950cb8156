#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The layers of src/ hold: every #include "ringlb/FOLDER/..." under src/ and include/ringlb/
names its own folder or one that src/meson.build lets it use, the declared graph has no
cycle, and every folder is declared.

Usage: layers_test.py SOURCE_ROOT FOLDER:USED,USED ...   (the graph comes from src/meson.build)
       layers_test.py --self-test                         (the checker finds what it must)
"""
import os
import re
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s+"ringlb/([^"]+)"')


def parse_graph(entries):
    graph = {}
    for entry in entries:
        name, _, used = entry.partition(":")
        graph[name] = set(filter(None, used.split(",")))
    return graph


def folder_of(root, path):
    """The layer a file of the tree belongs to: its folder under src/ or include/ringlb/."""
    rel = os.path.relpath(path, root).split(os.sep)
    if rel[0] == "src":
        rest = rel[1:]
    elif rel[:2] == ["include", "ringlb"]:
        rest = rel[2:]
    else:
        return None
    if len(rest) == 1:
        return "main" if rest[0] == "main.cpp" else "(top level)"
    return rest[0]


def cycles(graph):
    """Every cycle of the graph, each as a list of folders."""
    found, state, stack = [], {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for used in sorted(graph.get(node, ())):
            if state.get(used) == "open":
                found.append(stack[stack.index(used):] + [used])
            elif used not in state:
                visit(used)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def check(root, graph):
    """Every problem of the tree against the graph, as lines."""
    problems = []
    for cycle in cycles(graph):
        problems.append("the declared graph has a cycle: " + " -> ".join(cycle))
    for name, used in sorted(graph.items()):
        for folder in sorted(used - set(graph)):
            problems.append(f"{name} declares {folder}, which is no layer")
    actual = {}
    for top in ("src", os.path.join("include", "ringlb")):
        for directory, _, files in os.walk(os.path.join(root, top)):
            for file in sorted(files):
                if not file.endswith((".cpp", ".hpp", ".h")):
                    continue
                path = os.path.join(directory, file)
                rel = os.path.relpath(path, root)
                folder = folder_of(root, path)
                if folder not in graph:
                    problems.append(f"{rel}: folder {folder} is not declared in src/meson.build")
                    continue
                with open(path, encoding="utf-8") as text:
                    for number, line in enumerate(text, 1):
                        match = INCLUDE.match(line)
                        if not match:
                            continue
                        target = match.group(1)
                        if not os.path.isfile(os.path.join(root, "include", "ringlb", target)):
                            problems.append(f"{rel}:{number}: includes ringlb/{target}, which does not exist")
                            continue
                        used = target.split("/")[0] if "/" in target else "(top level)"
                        actual.setdefault(folder, set())
                        if used != folder:
                            actual[folder].add(used)
                        if used != folder and used not in graph[folder]:
                            problems.append(
                                f"{rel}:{number}: {folder} includes ringlb/{target}, but "
                                f"src/meson.build does not let {folder} use {used}")
    for cycle in cycles(actual):
        problems.append("the includes run in a cycle: " + " -> ".join(cycle))
    return problems


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as out:
        out.write(text)


def self_test():
    """The checker must see an undeclared include, a missing header, an undeclared folder and
    a cycle, and pass a clean tree."""
    failures = 0
    with tempfile.TemporaryDirectory() as root:
        write(root, "include/ringlb/low/a.hpp", "#pragma once\n")
        write(root, "include/ringlb/high/b.hpp", '#include "ringlb/low/a.hpp"\n')
        write(root, "src/high/b.cpp", '#include "ringlb/high/b.hpp"\n')
        write(root, "src/main.cpp", '#include "ringlb/high/b.hpp"\n')
        graph = {"low": set(), "high": {"low"}, "main": {"high"}}
        cases = [
            ("a clean tree", [], lambda: None),
            ("an include upwards", ["low includes ringlb/high/b.hpp"],
             lambda: write(root, "src/low/a.cpp", '#include "ringlb/high/b.hpp"\n')),
            ("a missing header", ["which does not exist"],
             lambda: write(root, "src/low/a.cpp", '#include "ringlb/low/gone.hpp"\n')),
            ("an undeclared folder", ["folder stray is not declared"],
             lambda: write(root, "src/stray/c.cpp", "\n")),
        ]
        for name, wanted, change in cases:
            change()
            problems = check(root, graph)
            ok = all(any(w in p for p in problems) for w in wanted) and (wanted or not problems)
            print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {problems}"))
            failures += 0 if ok else 1
            for extra in ("src/low/a.cpp", "src/stray/c.cpp"):
                if os.path.exists(os.path.join(root, extra)):
                    os.remove(os.path.join(root, extra))
        cyclic = {"low": {"high"}, "high": {"low"}, "main": {"high"}}
        problems = check(root, cyclic)
        ok = any("cycle" in p for p in problems)
        print(("ok   " if ok else "FAIL ") + "a declared cycle")
        failures += 0 if ok else 1
    return failures


def main(argv):
    if argv[1:] == ["--self-test"]:
        return 1 if self_test() else 0
    root, graph = argv[1], parse_graph(argv[2:])
    problems = check(root, graph)
    for problem in problems:
        print(problem)
    print(f"{len(graph)} layers, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
