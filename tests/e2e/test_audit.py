#!/usr/bin/python3
"""test_audit: `stanzactl audit [--since T]` shows the account changes
that took effect, in order, with who made them (by=operator for
stanzactl, by=client for in-band XEP-0077) and when; a refused change is
not listed; no password ever appears. A block made by a client (XEP-0191)
is listed with the blocker as actor and the blocked JID as detail, once:
blocking the same JID again changes nothing and adds nothing. The
timeline outlives journal
compaction: after two snapshots with restarts in between, the first
journal segment (which held the early events) is deleted and the early
entries are still listed, now coming from the snapshot."""

import glob
import os
import re
import sys
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
from harness import check  # noqa: E402

NS_REGISTER = "jabber:iq:register"
LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) seq=(\d+) (\S+) (\S+) by=(\S+)"
                  r"(?: detail=(.*))?$")


def segments(srv):
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(srv.data_dir, "journal", "*.seg")))


def audit(srv, *args):
    r = h.ctl(srv, "audit", *args)
    check(r.returncode == 0, "stanzactl audit %s answers" % " ".join(args), r.stderr)
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    for l in lines:
        check(LINE.match(l), "audit line has the documented shape", l)
    return lines, r.stdout


def changes(lines):
    """(what, subject, by) of each line, in order."""
    return [LINE.match(l).group(3, 4, 5) for l in lines]


def details(lines):
    return [LINE.match(l).group(6) for l in lines]


async def block_in_band(srv, user, password, jids):
    """user blocks jids twice (XEP-0191); the second time is a no-op."""
    c = await h.login(srv, "%s@localhost/audit" % user, password)
    c.register_plugin("xep_0191")
    for attempt in ("block", "block again (no change)"):
        res = await c.plugin["xep_0191"].block(jids, timeout=h.STEP_TIMEOUT_S)
        check(res["type"] == "result", "%s: %s of %s answered with a result" % (user, attempt, jids))
    await c.close()


def take_snapshot(srv):
    r = h.ctl(srv, "snapshot")
    check(r.returncode == 0, "stanzactl snapshot", (r.stdout, r.stderr))


async def change_password_in_band(srv, user, old, new):
    c = await h.login(srv, "%s@localhost/audit" % user, old)
    iq = c.Iq()
    iq["type"] = "set"
    q = ET.SubElement(iq.xml, "{%s}query" % NS_REGISTER)
    for name, text in (("username", user), ("password", new)):
        ET.SubElement(q, "{%s}%s" % (NS_REGISTER, name)).text = text
    res = await iq.send(timeout=h.STEP_TIMEOUT_S)
    check(res["type"] == "result", "in-band password change of %s answered with a result" % user)
    await c.close()


async def main():
    srv = h.Server(registration="open", snapshot_every_events=0, snapshot_every_s=0,
                   snapshots_keep=1).start()
    passwords = ["pw-alice-1", "pw-alice-2", "pw-bob-1", "pw-bob-2", "pw-carol-1"]
    ok = lambda r, what: check(r.returncode == 0, what, r.stderr)  # noqa: E731
    ok(h.ctl(srv, "user", "add", "alice@localhost", "--password", "pw-alice-1"), "add alice")
    cond, _, _ = await h.register(srv, "bob", "pw-bob-1")
    check(cond is None, "bob registered in-band", cond)
    r = h.ctl(srv, "user", "add", "bob@localhost", "--password", "whatever")
    check(r.returncode == 1, "adding bob again is refused (conflict)", r.stderr)
    ok(h.ctl(srv, "user", "passwd", "alice@localhost", "--password", "pw-alice-2"), "passwd alice")
    await change_password_in_band(srv, "bob", "pw-bob-1", "pw-bob-2")
    ok(h.ctl(srv, "user", "add", "carol@localhost", "--password", "pw-carol-1"), "add carol")
    ok(h.ctl(srv, "user", "del", "carol@localhost"), "del carol")
    r = h.ctl(srv, "user", "del", "carol@localhost")
    check(r.returncode == 1, "deleting carol twice is refused", r.stderr)
    await block_in_band(srv, "bob", "pw-bob-2", ["spammer@localhost"])

    expected = [
        ("account-created", "alice@localhost", "operator"),
        ("account-created", "bob@localhost", "client"),
        ("password-changed", "alice@localhost", "operator"),
        ("password-changed", "bob@localhost", "client"),
        ("account-created", "carol@localhost", "operator"),
        ("account-deleted", "carol@localhost", "operator"),
        ("block", "bob@localhost", "bob@localhost"),
    ]
    lines, text = audit(srv)
    check(changes(lines) == expected,
          "audit lists exactly the changes that took effect, in order, with who", lines)
    check(details(lines) == [None] * 6 + ["spammer@localhost"],
          "the block names the blocked JID as its detail; account lines have none", lines)
    seqs = [int(LINE.match(l).group(2)) for l in lines]
    check(seqs == sorted(seqs), "... in sequence order", seqs)
    check(not any(p in text for p in passwords), "no password appears in the audit output")

    # --since: the ISO time of the third entry lists it and what follows;
    # a unix time in the future lists nothing; a bad time is a usage error.
    third = LINE.match(lines[2]).group(1)
    since, _ = audit(srv, "--since", third)
    check(changes(since) == expected[2:], "--since %s starts at the third entry" % third, since)
    future, _ = audit(srv, "--since", "4102444800")  # 2100-01-01
    check(future == [], "--since a future unix time lists nothing", future)
    r = h.ctl(srv, "audit", "--since", "yesterday")
    check(r.returncode == 2, "--since with a bad time is a usage error", r.stderr)

    # Two snapshots with restarts in between: the first segment goes.
    for round_no in range(2):
        take_snapshot(srv)
        check(srv.stop() == 0, "the server stops cleanly (round %d)" % round_no)
        srv.start()
    segs = segments(srv)
    check("0000000000000001.seg" not in segs,
          "the first journal segment (with the account events) was compacted away", segs)
    after, _ = audit(srv)
    check(after[:len(lines)] == lines,
          "after compaction and restarts the early entries are still there, unchanged", after)
    check(changes(after) == expected, "... and nothing else was added", after)
    check(details(after)[-1] == "spammer@localhost", "... the block still with its detail", after)
    check(srv.stop() == 0, "stopped")


if __name__ == "__main__":
    h.run(main)
