#!/usr/bin/env python3
"""Brings each listed defect back, one at a time, and runs the test that must catch it.

Usage: scripts/mutants/run.py scripts/mutants/issue-13.json [ID ...]

Each entry is {id, file, old, new, test}: `old` must occur exactly once in `file`; it is
replaced by `new`, `test` (a cargo test command) must then FAIL, and the file is restored
(`git checkout`). Run it on a clean tree: it refuses otherwise. Exits 1 if any defect is not
caught or a mutation no longer applies (the code moved on: update its text).
"""
import json
import subprocess
import sys


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    if subprocess.run(["git", "diff", "--quiet"]).returncode != 0:
        print("the working tree has changes: commit or stash them first")
        return 2
    wanted = set(sys.argv[2:])
    failures = 0
    for m in json.load(open(sys.argv[1])):
        if wanted and m["id"] not in wanted:
            continue
        source = open(m["file"]).read()
        if source.count(m["old"]) != 1:
            print(f"{m['id']}: does not apply (its text is not in {m['file']} exactly once)")
            failures += 1
            continue
        try:
            with open(m["file"], "w") as f:
                f.write(source.replace(m["old"], m["new"]))
            run = subprocess.run(m["test"], shell=True, capture_output=True, text=True)
        finally:
            subprocess.run(["git", "checkout", "--", m["file"]], check=True)
        out = run.stdout + run.stderr
        if "could not compile" in out:
            verdict, failures = "does not compile: fix the mutation", failures + 1
        elif run.returncode != 0:
            verdict = "caught: the test fails"
        else:
            verdict, failures = "NOT CAUGHT: the test passes with the defect", failures + 1
        print(f"{m['id']}: {verdict} ({m['test']})", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
