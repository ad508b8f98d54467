"""Sum every test case that ran into one line: `N passed, N failed[, N skipped]`.

cmocka executables are counted per test case (from their own summary lines in
meson's JSON test log); other meson tests count one each; pytest cases come from
its JUnit XML: integration-asan.xml (the whole suite against the ASan+UBSan
build) and integration.xml (the smoke subset against the release build), a
test in both counted in both. A meson test that crashed before printing a
summary counts as one failure, so a crash can never shrink the totals. Exit 1 if anything failed or
nothing ran.
"""
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

PASSED_RE = re.compile(r"^\[  PASSED  \] (\d+) test", re.M)
FAILED_RE = re.compile(r"^\[  FAILED  \] (\d+) test", re.M)
SKIPPED_RE = re.compile(r"^\[  SKIPPED \] (\d+) test", re.M)


def meson_counts(path, label):
    p = f = s = 0
    if not os.path.exists(path):
        print(f"{label}: no results (step did not run): counted as 1 failure")
        return 0, 1, 0
    with open(path) as fh:
        for line in fh:
            t = json.loads(line)
            out = (t.get("stdout", "") or "") + (t.get("stderr", "") or "")
            ok = t.get("result") in ("OK", "EXPECTEDFAIL")
            skipped = t.get("result") == "SKIP"
            mp, mf, ms = PASSED_RE.findall(out), FAILED_RE.findall(out), SKIPPED_RE.findall(out)
            if mp or mf:
                tp, tf, ts = sum(map(int, mp)), sum(map(int, mf)), sum(map(int, ms))
                if not ok and tf == 0:
                    tf = 1  # the executable failed after its summary (leak, crash)
                p, f, s = p + tp, f + tf, s + ts
            elif skipped:
                s += 1
            elif ok:
                p += 1
            else:
                f += 1
            if not ok and not skipped:
                print(f"{label}: FAILED {t.get('name')} ({t.get('result')})")
    print(f"{label}: {p} passed, {f} failed" + (f", {s} skipped" if s else ""))
    return p, f, s


def junit_counts(path, label):
    if not os.path.exists(path):
        print(f"{label}: no results (step did not run): counted as 1 failure")
        return 0, 1, 0
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    p = f = s = 0
    for su in suites:
        for case in su.iter("testcase"):
            kinds = {c.tag for c in case}
            if "failure" in kinds or "error" in kinds:
                f += 1
                print(f"{label}: FAILED {case.get('classname')}::{case.get('name')}")
            elif "skipped" in kinds:
                s += 1
                sk = case.find("skipped")
                kind = "expected failure (strict xfail)" if (sk.get("type") or "").endswith("xfail") else "skipped"
                print(f"{label}: {kind}: {case.get('classname')}::{case.get('name')}: {sk.get('message', '')}")
            else:
                p += 1
    print(f"{label}: {p} passed, {f} failed" + (f", {s} skipped" if s else ""))
    return p, f, s


def extra_counts(path, label):
    """Checks outside cmocka and pytest: one line each, "<name> PASS|FAIL"."""
    p = f = 0
    if os.path.exists(path):
        for line in open(path):
            name, _, res = line.strip().rpartition(" ")
            if res == "PASS":
                p += 1
            else:
                f += 1
                print(f"{label}: FAILED {name}")
    print(f"{label}: {p} passed, {f} failed")
    return p, f, 0


def main():
    d = sys.argv[1]
    tot = [0, 0, 0]
    for res in (meson_counts(os.path.join(d, "unit.json"), "unit+fuzz"),
                meson_counts(os.path.join(d, "asan.json"), "asan"),
                meson_counts(os.path.join(d, "valgrind.json"), "valgrind"),
                meson_counts(os.path.join(d, "tsan.json"), "tsan"),
                extra_counts(os.path.join(d, "extra.txt"), "other"),
                junit_counts(os.path.join(d, "integration-asan.xml"), "integration (asan)"),
                junit_counts(os.path.join(d, "integration.xml"), "integration (release)")):
        tot = [a + b for a, b in zip(tot, res)]
    line = f"{tot[0]} passed, {tot[1]} failed"
    if tot[2]:
        line += f", {tot[2]} skipped"
    print(line)
    sys.exit(1 if tot[1] or tot[0] == 0 else 0)


if __name__ == "__main__":
    main()
