"""
Scenario: the units `meson install` ships are run by systemd as
docs/DEPLOY.md says (section "systemd").

- `systemd-analyze verify` finds nothing to say about either installed
  unit (their paths mapped into the staging directory, as
  test_deploy_install.py starts a node): every key is one systemd reads
  where it is, so the crash-loop limit (StartLimit* in [Unit]) holds.
- RestartPreventExitStatus= is the status catena-control and catena-node
  really exit with on a bad config, so systemd does not restart them in
  vain.
- Type=notify: catena-control, and a catena-node on af_packet, send
  READY=1 to the NOTIFY_SOCKET the test binds (a Unix datagram socket, as
  systemd's), once their ready line is out; STOPPING=1 at SIGTERM.
- With stderr on "the journal" (JOURNAL_STREAM naming the socket that is
  their stderr, as systemd sets it) every line carries a <N> priority:
  errors <3>, catena-control's events <5>, EAL's lines at their own
  level. Without it, not one line changes.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

import control as control_mod
from test_deploy_install import staged, unit_file  # noqa: F401 (fixture)

MAP = ("epoch 1\nslots 8\ncraq off\n"
       "node 1 10.99.0.1 02:ca:7e:00:00:01\n"
       "chain 1 1\nassign all roundrobin\n")


def staged_units(stage, d, out_dir):
    """The installed units with every path under the prefix moved under
    the staging directory (binaries included), written to out_dir."""
    paths = []
    pat = re.compile(r"(?<=[=\s])" + re.escape(d["prefix"] + "/"))
    for name in ("catena-control.service", "catena-node@.service"):
        text = open(stage + os.path.join(d["unitdir"], name)).read()
        p = os.path.join(out_dir, name)
        with open(p, "w") as f:
            f.write(pat.sub(stage + d["prefix"] + "/", text))
        paths.append(p)
    return paths


def test_systemd_analyze_verify_finds_nothing_in_the_installed_units(
        staged, tmp_path):  # noqa: F811
    stage, d = staged
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze not found (Debian package systemd)"
    out = tmp_path / "units"
    out.mkdir()
    units = staged_units(stage, d, str(out))
    p = subprocess.run([analyze, "verify"] + units, capture_output=True,
                       text=True, timeout=120)
    said = (p.stdout + p.stderr).strip()
    assert p.returncode == 0 and said == "", "systemd-analyze verify:\n" + said

    for u in units:
        unit = unit_file(u)
        assert unit["Unit"]["StartLimitIntervalSec"] == ["60"], unit
        assert unit["Unit"]["StartLimitBurst"] == ["5"], unit
        assert unit["Service"]["Type"] == ["notify"], unit
        assert unit["Service"]["RestartPreventExitStatus"] == ["2"], unit


def test_bad_config_exits_with_the_status_the_units_do_not_restart(
        binaries, control_binaries, staged, tmp_path):  # noqa: F811
    stage, d = staged
    bad = tmp_path / "bad.conf"
    bad.write_text("[control]\nno_such_key = 1\n[node]\nno_such_key = 1\n")
    for name, cmd in (
            ("catena-control.service",
             [control_binaries["control"], "--config", str(bad)]),
            ("catena-node@.service",
             [binaries["node"], "--", "--config", str(bad)])):
        want = unit_file(stage + os.path.join(d["unitdir"], name))[
            "Service"]["RestartPreventExitStatus"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert [str(p.returncode)] == want, (cmd, p.returncode, p.stderr)


class NotifySocket:
    """What systemd listens on for sd_notify: a Unix datagram socket,
    named to the service in NOTIFY_SOCKET."""

    def __init__(self):
        # sun_path is 108 bytes: not under pytest's long tmp_path.
        self.dir = tempfile.mkdtemp(prefix="catena-notify-", dir="/tmp")
        self.path = os.path.join(self.dir, "notify")
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.bind(self.path)
        self.got = []

    def wait(self, word, timeout=20.0, proc=None):
        deadline = time.monotonic() + timeout
        while not any(word in m.split("\n") for m in self.got):
            left = deadline - time.monotonic()
            assert left > 0, "no %s from %s; got %r" % (word, proc, self.got)
            self.s.settimeout(min(left, 0.2))
            try:
                self.got.append(self.s.recv(4096).decode())
            except socket.timeout:
                if proc is not None and proc.poll() is not None:
                    pytest.fail("exited %s before %s" % (proc.returncode, word))
        return [m for m in self.got if word in m.split("\n")][0]

    def close(self):
        self.s.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def notify():
    n = NotifySocket()
    yield n
    n.close()


def read_all(sock, timeout=2.0):
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            c = sock.recv(65536)
        except socket.timeout:
            break
        if not c:
            break
        data += c
    return data.decode(errors="replace")


def journal_pair():
    """(our end, its stderr, env) as systemd gives a service: stderr a
    stream socket, JOURNAL_STREAM its device:inode."""
    ours, theirs = socket.socketpair()
    st = os.fstat(theirs.fileno())
    return ours, theirs, {"JOURNAL_STREAM": "%d:%d" % (st.st_dev, st.st_ino)}


def test_control_notifies_ready_and_logs_with_priorities_to_the_journal(
        control_binaries, tmp_path, notify):
    map_path = tmp_path / "one.map"
    map_path.write_text(MAP)
    ctl = control_mod.Control(control_binaries, tmp_path)
    ctl.write_config(str(map_path))
    ours, theirs, env = journal_pair()
    env = dict(os.environ, NOTIFY_SOCKET=notify.path, **env)
    out = open(tmp_path / "control.stdout", "w+")
    proc = subprocess.Popen([control_binaries["control"], "--config", ctl.conf],
                            stdout=out, stderr=theirs, env=env,
                            stdin=subprocess.DEVNULL)
    theirs.close()
    try:
        msg = notify.wait("READY=1", proc=proc)
        assert "STATUS=serving epoch 1, 1 nodes, 1 chains" in msg, msg
        # READY comes after the ready line, and catenactl is answered.
        out.seek(0)
        assert out.read().startswith("catena-control: ready epoch=1"), msg
        assert ctl.result("status")["epoch"] == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        notify.wait("STOPPING=1", proc=None)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = read_all(ours).splitlines()
    ours.close()
    assert lines, "nothing on stderr"
    assert all(re.match(r"<[0-7]>catena-control: ", l) for l in lines), lines
    assert any(l.startswith("<5>catena-control: epoch 1: initial map from")
               for l in lines), lines

    # A bad config: the line that says why is an error.
    bad = tmp_path / "bad.conf"
    bad.write_text("[control]\nno_such_key = 1\n")
    ours, theirs, env = journal_pair()
    p = subprocess.run([control_binaries["control"], "--config", str(bad)],
                       stderr=theirs, stdout=subprocess.DEVNULL,
                       env=dict(os.environ, **env), timeout=30)
    theirs.close()
    said = read_all(ours)
    ours.close()
    assert p.returncode == 2 and said.startswith(
        "<3>catena-control: config %s: " % bad), said
    # Not the journal (the variable names another socket): as always.
    _, other, env = journal_pair()
    p = subprocess.run([control_binaries["control"], "--config", str(bad)],
                       capture_output=True, text=True,
                       env=dict(os.environ, **env), timeout=30)
    assert p.returncode == 2 and p.stderr.startswith(
        "catena-control: config %s: " % bad), p.stderr


def test_node_notifies_ready_once_it_serves(harness, notify, monkeypatch):
    harness.setup(clients=1)
    monkeypatch.setenv("NOTIFY_SOCKET", notify.path)
    node = harness.start_node(wait_ready=False)
    msg = notify.wait("READY=1", proc=node.proc)
    assert re.search(r"^STATUS=node 1 serving on %s:\d+, 1 workers, epoch \d+$"
                     % re.escape(harness.node_ip), msg, re.M), msg
    # Ready means serving: the line is out and a request is answered.
    assert node.wait_ready(timeout=1)["ip"] == harness.node_ip
    res = harness.ops([{"op": "put", "key": "notified", "value": "yes"}])
    assert res[0]["status_name"] == "OK", res
    assert node.stop() == 0, node.stderr()[-2000:]
    notify.wait("STOPPING=1")
    # The test's own stderr is a file, not the journal: no <N> anywhere.
    assert not re.search(r"^<[0-7]>", node.stderr(), re.M), node.stderr()


def test_node_logs_with_priorities_when_stderr_is_the_journal(
        binaries, privileges, tmp_path):
    conf = tmp_path / "n.conf"
    conf.write_text("[node]\nid = 1\nip = 10.99.0.1\n[store]\nslots = 64\n")
    # EAL starts (no hugepages, no device) and the node stops at once: no
    # DPDK port, a config error.
    cmd = [binaries["node"], "-l", "0,1", "--no-pci", "--no-huge", "-m", "128",
           "--file-prefix", "jt%d" % os.getpid(), "--", "--config", str(conf)]
    ours, theirs, env = journal_pair()
    p = subprocess.run(cmd, stderr=theirs, stdout=subprocess.DEVNULL,
                       env=dict(os.environ, **env), timeout=60)
    theirs.close()
    lines = read_all(ours).splitlines()
    ours.close()
    assert p.returncode == 2, lines
    assert all(re.match(r"<[0-7]>", l) for l in lines), lines
    assert any(re.match(r"<6>EAL: ", l) for l in lines), lines
    assert lines[-1].startswith("<3>catena-node: no DPDK port"), lines

    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, p.stderr
    assert not re.search(r"^<[0-7]>", p.stderr, re.M), p.stderr
    assert p.stderr.splitlines()[-1].startswith("catena-node: no DPDK port"), \
        p.stderr
