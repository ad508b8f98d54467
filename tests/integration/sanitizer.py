"""
Sanitizer reports of the processes the integration tests start, for a run
against an ASan+UBSan build (CATENA_BUILD=build-asan; scripts/test.sh does
it, docs/HARDENING.md says why). A report fails the test that was running,
whatever the process's exit status: it may have been SIGKILLed by the test,
exited 0 after a UBSan report, or been a catena-cli whose exit status the
test expected to be nonzero anyway.

Where reports go:
- ASan and LeakSanitizer write to files, `log_path` in ASAN_OPTIONS (one
  file per process, <dir>/asan.<pid>): this catches every process that
  inherited the environment, including those whose stderr nobody keeps
  (perf/compare.sh's nodes and benchmark).
- UBSan prints to stderr. With gcc's ASan+UBSan runtimes (libasan and
  libubsan are separate libraries) libubsan ignores `log_path` in both
  ASAN_OPTIONS and UBSAN_OPTIONS (checked with gcc 12: only a UBSan-only
  binary honours it), so stderr is all there is: the harness keeps every
  node's and catena-control's stderr in files under the test's tmp_path
  (scanned after the test, and a node's before a restart truncates it),
  and the helpers that run catena-cli and catenactl pass what they
  captured to check().

configure() sets the options (once per session); the autouse fixture in
conftest.py calls Watch.start() before each test and Watch.reports() after
its fixtures were torn down (the nodes' and catena-control's exits, where
LeakSanitizer reports, are part of the test). On a release build none of
this finds anything and costs a directory walk per test.
"""

import os
import re

# The first line of every report: ASan's and LSan's "==PID==ERROR: ...",
# UBSan's "file:line:col: runtime error: ..." (halt_on_error or not; the
# location may also be "<unknown>" or a module+offset, so any prefix but
# Go's "panic: runtime error:", which etcd's log under tmp_path could hold).
REPORT_RE = re.compile(r"ERROR: (?:AddressSanitizer|LeakSanitizer)\b"
                       r"|(?<!panic: )runtime error: ")
# Files under a test's tmp_path that hold a process's output: the nodes'
# node-*.stdout/.stderr, catena-control's control-N.stdout/.stderr, and
# logs. Never binaries, maps or captures.
OUTPUT_SUFFIXES = (".stderr", ".stdout", ".err", ".out", ".log")
EXCERPT_LINES = 40

# ASan/LSan options for every process the tests start (later entries of an
# options string override earlier ones: configure() puts these first, the
# caller's environment after them, log_path last).
#   detect_leaks=1: LeakSanitizer at every exit, catena-node included: its
#     EAL is torn down by rte_eal_cleanup() and the node frees what it
#     allocated, so a leak report is ours (none with DPDK 22.11, checked on
#     every integration test).
#   halt_on_error=1 and abort_on_error=0 are ASan's defaults, spelled out.
ASAN_DEFAULTS = "detect_leaks=1:halt_on_error=1:abort_on_error=0"
# UBSan: stop at the first report (the process exits 1, so a test that
# checks an exit status sees it too) with a stack to find the cause.
UBSAN_DEFAULTS = "halt_on_error=1:print_stacktrace=1"


def _merge(defaults, env_value, last=""):
    return ":".join(p for p in (defaults, env_value or "", last) if p)


def configure(log_dir, environ=os.environ):
    """Point ASan's and LSan's reports at log_dir and set both option
    strings (the environment's own options win over the defaults, log_path
    over everything). Children inherit them."""
    os.makedirs(log_dir, exist_ok=True)
    environ["ASAN_OPTIONS"] = _merge(ASAN_DEFAULTS,
                                     environ.get("ASAN_OPTIONS"),
                                     "log_path=%s/asan" % log_dir)
    environ["UBSAN_OPTIONS"] = _merge(UBSAN_DEFAULTS,
                                      environ.get("UBSAN_OPTIONS"))


def find(text):
    """Excerpts (up to EXCERPT_LINES lines from a report's first line) of
    every sanitizer report in text."""
    out = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if REPORT_RE.search(line):
            out.append("\n".join(lines[max(0, i - 1):i + EXCERPT_LINES]))
    return out


def read(path, limit=64 << 20):
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


_pending = []     # (origin, excerpt) noted by helpers since the last take


def check(origin, *texts):
    """Note the reports in output a helper captured (catena-cli's stderr,
    ...); the running test fails after its teardown if there were any."""
    for t in texts:
        if isinstance(t, bytes):
            t = t.decode("utf-8", "replace")
        for e in find(t or ""):
            _pending.append((origin, e))


def check_file(path):
    """check() on a file (a node's stderr before a restart truncates it)."""
    check(path, read(path))


class Watch:
    """What one test's processes reported: new files in the ASan log
    directory, output files under the test's tmp_path, and what helpers
    noted with check()."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.seen = set()

    def _logs(self):
        try:
            return {os.path.join(self.log_dir, f)
                    for f in os.listdir(self.log_dir)}
        except OSError:
            return set()

    def start(self):
        self.seen = self._logs()
        del _pending[:]

    def reports(self, tmp_dir=None):
        """[(origin, excerpt)] since start(), each report once."""
        found = list(_pending)
        del _pending[:]
        for p in sorted(self._logs() - self.seen):
            self.seen.add(p)
            text = read(p)
            # A log file holds exactly one process's reports: take it
            # whole (the pid is in its name), even if a future report
            # format escaped REPORT_RE.
            found += [(p, e) for e in find(text)] or [(p, text[-4000:])]
        if tmp_dir is not None:
            for root, _dirs, files in os.walk(tmp_dir):
                for f in sorted(files):
                    if f.endswith(OUTPUT_SUFFIXES):
                        p = os.path.join(root, f)
                        found += [(p, e) for e in find(read(p))]
        out, keys = [], set()
        for origin, e in found:
            if e not in keys:
                keys.add(e)
                out.append((origin, e))
        return out


def format_reports(reports):
    return ("sanitizer report(s) from a process this test started "
            "(CATENA_BUILD is a sanitizer build):\n"
            + "\n".join("--- %s\n%s" % (o, e) for o, e in reports))
