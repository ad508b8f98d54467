"""
Scenario: the harness's sanitizer check (sanitizer.py) is what fails an
integration test whose processes reported, so it is tested itself: a tiny
program built with -fsanitize=address,undefined commits undefined
behaviour, a heap overflow or a leak, and the same Watch the autouse
fixture uses finds each report: UBSan's on stderr (a process that exited 0
after it, one that was SIGKILLed after it), ASan's and LSan's in the log
directory; a clean run yields nothing. It runs with the session's
ASAN_OPTIONS/UBSAN_OPTIONS, except log_path: the reports go to a private
directory, which this test consumes, so the autouse check of this test
itself stays clean. Needs only gcc, whatever CATENA_BUILD is.
"""

import os
import signal
import subprocess
import time

import pytest

import sanitizer

PROGRAM = r"""
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *volatile kept;

int main(int argc, char **argv)
{
	const char *m = argc > 1 ? argv[1] : "clean";
	volatile int x = INT_MAX;

	if (strncmp(m, "ub", 2) == 0)
		x += argc;                      /* signed overflow */
	if (strcmp(m, "ub-hang") == 0) {
		puts("ready");
		fflush(stdout);
		pause();                        /* until SIGKILL */
	}
	if (strcmp(m, "asan") == 0) {
		char *volatile p = malloc(4);
		p[4] = 1;                       /* heap-buffer-overflow */
		free(p);
	}
	if (strcmp(m, "leak") == 0) {
		kept = malloc(33);
		kept = NULL;                    /* lost: LeakSanitizer at exit */
	}
	return x == 0;
}
"""


@pytest.fixture
def program(tmp_path):
    src = tmp_path / "bad.c"
    src.write_text(PROGRAM)
    exe = str(tmp_path / "bad")
    p = subprocess.run(["gcc", "-g", "-O0", "-fsanitize=address,undefined",
                        "-o", exe, str(src)], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    return exe


def test_sanitizer_check_finds_every_kind_of_report_whatever_the_exit(
        program, tmp_path):
    logs = str(tmp_path / "private-logs")
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ)
    # The session's options (conftest's configure()), with log_path moved.
    sanitizer.configure(logs, env)
    recover = dict(env, UBSAN_OPTIONS=env["UBSAN_OPTIONS"]
                   + ":halt_on_error=0")
    w = sanitizer.Watch(logs)
    w.start()

    def run(mode, env):
        """Like a node: output into files under the test's directory."""
        with open(out / ("%s.stdout" % mode), "wb") as o, \
                open(out / ("%s.stderr" % mode), "wb") as e:
            return subprocess.run([program, mode], stdout=o, stderr=e,
                                  env=env, timeout=60).returncode

    assert run("clean", env) == 0
    assert w.reports(str(out)) == [], "a clean run reported"

    # UBSan, recovering: exit 0, the report only on stderr.
    assert run("ub", recover) == 0
    # UBSan with the session's halt_on_error=1: exit 1.
    assert run("ub-halt", env) == 1
    # ASan and LSan: nonzero exit, the report in the log directory.
    assert run("asan", env) != 0
    assert run("leak", env) != 0
    # SIGKILLed after its report, as tests kill nodes (kill9).
    with open(out / "ub-hang.stdout", "wb") as o, \
            open(out / "ub-hang.stderr", "wb") as e:
        p = subprocess.Popen([program, "ub-hang"], stdout=o, stderr=e,
                             env=recover)
        deadline = time.monotonic() + 30
        while b"ready" not in (out / "ub-hang.stdout").read_bytes():
            assert time.monotonic() < deadline and p.poll() is None
            time.sleep(0.02)
        p.send_signal(signal.SIGKILL)
        assert p.wait(10) == -signal.SIGKILL
    # catena-cli's output is captured in memory: the helpers pass it on.
    cap = subprocess.run([program, "ub"], capture_output=True, text=True,
                         env=recover, timeout=60)
    sanitizer.check("captured", cap.stderr, cap.stdout)

    found = w.reports(str(out))
    text = sanitizer.format_reports(found)
    by_origin = {}
    for origin, excerpt in found:
        by_origin.setdefault(os.path.basename(origin).split(".")[0],
                             []).append(excerpt)
    for mode in ("ub", "ub-halt", "ub-hang", "captured"):
        assert any("runtime error: signed integer overflow" in e
                   for e in by_origin.get(mode, [])), (mode, text)
    logged = [e for o, e in found if o.startswith(logs)]
    assert sum("ERROR: AddressSanitizer: heap-buffer-overflow" in e
               for e in logged) == 1, text
    assert sum("ERROR: LeakSanitizer: detected memory leaks" in e
               for e in logged) == 1, text
    assert "clean" not in by_origin, text
    # Reported once: nothing left for the next call (or this test's own
    # autouse check: the output files go, the log directory is private).
    assert w.reports() == []
    for f in out.iterdir():
        f.unlink()
