#!/usr/bin/python3
"""test_replay: `stanzactl replay` against a real server's data directory.

1. Traffic (registration, login and bind, messages, an unknown IQ, a
   resource conflict, subscriptions, presence, an offline message, a
   block, a vCard, an account deleted), snapshots taken in between and
   restarts: after each stop `replay --verify` rebuilds the durable state
   from the oldest retained point and from the newest snapshot and prints
   two equal digests.
2. `replay --record` writes a golden file from that journal and
   `replay --check` replays it into fresh handlers with every effect as
   recorded; a golden file with one expected effect changed fails --check
   and names the line.
3. `replay --verify` refuses while the server runs (the data dir lock).

With --regen DIR it records the golden files of tests/replay/ instead
(doc/replay.md, "Recording a golden file")."""

import asyncio
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
from harness import check  # noqa: E402

D = h.DOMAIN
REGEN = None


def verify(srv, what):
    r = h.ctl(srv, "replay", "--verify")
    digests = re.findall(r"^(oldest|newest): .*sha256 ([0-9a-f]{64})$", r.stdout, re.M)
    check(r.returncode == 0 and "ok: both rebuilds agree" in r.stdout,
          "replay --verify passes %s" % what, (r.stdout, r.stderr))
    check(len(digests) == 2 and digests[0][1] == digests[1][1],
          "... and prints two equal digests", r.stdout)
    return r.stdout


def take_snapshot(srv):
    r = h.ctl(srv, "snapshot")
    check(r.returncode == 0 and "snapshot at seq" in r.stdout, "stanzactl snapshot", (r.stdout, r.stderr))
    return int(re.search(r"snapshot at seq (\d+)", r.stdout).group(1))


async def chat(srv):
    """Registration, login/bind, a message each way, an unknown IQ."""
    cond, _, _ = await h.register(srv, "alice", "al1ce-pw")
    check(cond is None, "alice registers in band", cond)
    r = h.ctl(srv, "user", "add", "bob@" + D, "--password", "b0b-pw")
    check(r.returncode == 0, "bob is added by the operator", r.stderr)
    alice = await h.login(srv, "alice@%s/desk" % D, "al1ce-pw")
    bob = await h.login(srv, "bob@%s/phone" % D, "b0b-pw")
    alice.send_message(mto="bob@%s/phone" % D, mbody="hello bob", mtype="chat")
    m = await bob.next_message()
    check(m["body"] == "hello bob", "bob gets alice's message", m)
    bob.send_message(mto="alice@%s/desk" % D, mbody="hi alice", mtype="chat")
    m = await alice.next_message()
    check(m["body"] == "hi alice", "alice gets bob's answer", m)
    try:
        await h.iq_get(alice, D, "<query xmlns='urn:example:no-such-thing'/>")
        check(False, "an unknown IQ is answered with an error")
    except h.IqError as e:
        check(h.iq_error_condition(e) == "service-unavailable",
              "an unknown IQ gets service-unavailable", h.iq_error_condition(e))
    await alice.close()
    await bob.close()


async def conflict(srv):
    """A second session binding the same full JID replaces the first."""
    r = h.ctl(srv, "user", "add", "rosa@" + D, "--password", "r0sa")
    check(r.returncode == 0, "rosa is added", r.stderr)
    first = await h.login(srv, "rosa@%s/desk" % D, "r0sa")
    second = await h.login(srv, "rosa@%s/desk" % D, "r0sa")
    await first.wait_gone()
    check(first.stream_errors == ["conflict"], "the first session gets <conflict/>", first.stream_errors)
    await second.close()


def presence_from(jid, type=None):
    return lambda el: (h.stanza_is(el, "presence", type) and el.get("from") == jid)


async def im(srv):
    """The IM handlers: a subscription both ways with roster pushes,
    presence and probes, a message kept offline and delivered with its
    tombstone, a block, a vCard."""
    for user in ("olga", "pavel"):
        r = h.ctl(srv, "user", "add", "%s@%s" % (user, D), "--password", user + "-pw")
        check(r.returncode == 0, "%s is added" % user, r.stderr)
    olga = await h.online(srv, "olga@%s/home" % D, "olga-pw", roster=True)
    pavel = await h.online(srv, "pavel@%s/work" % D, "pavel-pw", roster=True)
    olga.send_raw("<presence to='pavel@%s' type='subscribe'/>" % D)
    await pavel.expect(presence_from("olga@" + D, "subscribe"), "olga's request")
    pavel.send_raw("<presence to='olga@%s' type='subscribed'/>" % D)
    pavel.send_raw("<presence to='olga@%s' type='subscribe'/>" % D)
    await olga.expect(presence_from("pavel@" + D, "subscribe"), "pavel's request")
    olga.send_raw("<presence to='pavel@%s' type='subscribed'/>" % D)
    await pavel.expect(presence_from("olga@%s/home" % D), "olga's presence")
    await h.sync(olga)
    await pavel.close()
    await olga.expect(presence_from("pavel@%s/work" % D, "unavailable"), "pavel goes offline")
    olga.send_raw("<message to='pavel@%s' type='chat' id='off1'><body>while you were out"
                  "</body></message>" % D)
    olga.send_raw("<iq type='set' id='vc1'><vCard xmlns='vcard-temp'><FN>Olga</FN></vCard></iq>")
    await h.sync(olga)
    pavel = await h.online(srv, "pavel@%s/work" % D, "pavel-pw")
    await pavel.expect(lambda el: h.stanza_is(el, "message", "chat") and
                       el.findtext("{jabber:client}body") == "while you were out",
                       "the offline message")
    pavel.send_raw("<iq type='set' id='bl1'><block xmlns='urn:xmpp:blocking'>"
                   "<item jid='spam@%s'/></block></iq>" % D)
    await h.sync(pavel)
    await pavel.close()
    await olga.close()


def delete(srv, user):
    r = h.ctl(srv, "user", "del", "%s@%s" % (user, D))
    check(r.returncode == 0, "%s is deleted" % user, r.stderr)


def record(srv, path):
    r = h.ctl(srv, "replay", "--record", path)
    check(r.returncode == 0 and os.path.getsize(path) > 0, "replay --record writes %s" % path,
          (r.stdout, r.stderr))


def check_golden(path):
    r = h.ctl("/nonexistent", "replay", "--check", path)
    check(r.returncode == 0 and r.stdout.startswith("ok:"), "replay --check %s passes" % path,
          (r.stdout, r.stderr))


def mutate_and_check(path):
    """Changes the first expected stanza's id and expects --check to fail."""
    lines = open(path).read().split("\n")
    idx = next(i for i, l in enumerate(lines) if l.startswith("fx stanza ") and " id='" in l)
    lines[idx] = re.sub(r" id='([^']*)'", r" id='\1-mutated'", lines[idx], count=1)
    bad = path + ".mutated"
    open(bad, "w").write("\n".join(lines))
    r = h.ctl("/nonexistent", "replay", "--check", bad)
    check(r.returncode == 1 and r.stdout.startswith("mismatch:") and ("line %d:" % (idx + 1)) in r.stdout,
          "a golden file with one changed expected stanza fails --check at that line",
          (idx + 1, r.stdout, r.stderr))


async def foreign_snapshot_differs():
    """Two servers with the same journal key (from the environment) and
    different accounts; server b's snapshot put in place of a's at the
    same seq still opens, decodes and covers the right seq, but the state
    it holds is not what a's journal says: --verify must say they differ."""
    os.environ["STANZAD_JOURNAL_KEY"] = "5a" * 32
    try:
        seqs = {}
        for name, users in (("a", ("u1", "u2")), ("b", ("v1", "v2"))):
            srv = h.Server(name=name, snapshot_every_events=0, snapshot_every_s=0).start()
            for u in users:
                r = h.ctl(srv, "user", "add", "%s@%s" % (u, D), "--password", "pw")
                check(r.returncode == 0, "%s: %s added" % (name, u), r.stderr)
            seqs[name] = (srv, take_snapshot(srv))
            if name == "a":
                r = h.ctl(srv, "user", "add", "u3@" + D, "--password", "pw")
                check(r.returncode == 0, "a: u3 added after the snapshot", r.stderr)
            check(srv.stop() == 0, "stopped")
        (a, sa), (b, sb) = seqs["a"], seqs["b"]
        check(sa == sb, "both snapshots cover the same seq", (sa, sb))
        verify(a, "on server a before the swap")
        name = "%016x.snap" % sa
        os.replace(os.path.join(b.data_dir, "snapshots", name), os.path.join(a.data_dir, "snapshots", name))
        r = h.ctl(a, "replay", "--verify")
        digests = re.findall(r"^(oldest|newest): .*sha256 ([0-9a-f]{64})$", r.stdout, re.M)
        check(r.returncode == 1 and "differ:" in r.stdout and len(digests) == 2 and
              digests[0][1] != digests[1][1],
              "a snapshot whose state the journal does not lead to: --verify prints two different "
              "digests and exits 1", (r.returncode, r.stdout, r.stderr))
    finally:
        del os.environ["STANZAD_JOURNAL_KEY"]


async def regen(outdir):
    """Records the golden files of tests/replay/ from fresh servers."""
    for name, scenario in (("chat", chat), ("conflict", conflict), ("im", im)):
        srv = h.Server(name=name).start()
        await scenario(srv)
        if name == "chat":
            delete(srv, "bob")
        check(srv.stop() == 0, "stopped")
        record(srv, os.path.join(outdir, name + ".golden"))


async def main():
    if REGEN:
        await regen(REGEN)
        return
    srv = h.Server(snapshot_every_events=0, snapshot_every_s=0, snapshots_keep=2).start()
    r = h.ctl(srv, "replay", "--verify")
    check(r.returncode == 4 and "in use" in r.stderr, "replay --verify refuses while the server runs",
          (r.returncode, r.stderr))
    await chat(srv)
    await conflict(srv)
    await im(srv)
    delete(srv, "bob")
    check(srv.stop() == 0, "stopped")
    out = verify(srv, "with no snapshot (journal from seq 1 both ways)")
    check("only one way" in out, "... and says both start from the same point", out)

    golden = os.path.join(srv.dir, "run.golden")
    record(srv, golden)
    text = open(golden).read()
    check("event server-started" in text and "event session-bound" in text and
          "event account-delete" in text and "fx close" in text and "conflict" in text,
          "the golden file holds the start, binds, the conflict and the delete", text[:2000])
    erased = re.findall(r"^event (\S+) server:0 - time=\d+\nbody <erased xmlns='urn:stanzad:event'/>$",
                        text, re.M)
    check("event offline-delivered" in text and "offline-store" in erased and "stanza" in erased,
          "... the offline tombstone, and every delivered message (stanza, offline-store) as an "
          "erased block: no content, the sequence whole", erased)
    check_golden(golden)
    mutate_and_check(golden)

    # Snapshots between restarts; compaction deletes what the oldest covers.
    snaps = []
    for i in range(3):
        srv.start()
        cond, _, _ = await h.register(srv, "user%d" % i, "pw-%d" % i)
        check(cond is None, "user%d registers" % i, cond)
        snaps.append(take_snapshot(srv))
        if i == 1:
            delete(srv, "alice")
        check(srv.stop() == 0, "stopped")
        out = verify(srv, "after snapshot %d" % (i + 1))
        check(re.search(r"^newest: snapshot seq %d \+ " % snaps[-1], out, re.M),
              "... the newest rebuild starts from the newest snapshot (seq %d)" % snaps[-1], out)
    check(re.search(r"^oldest: (journal seq 1\.\.|snapshot seq %d )" % snaps[-2], out, re.M),
          "... the oldest from seq 1 or the oldest kept snapshot (seq %d)" % snaps[-2], out)
    if "oldest: snapshot" in out:
        r = h.ctl(srv, "replay", "--record", os.path.join(srv.dir, "late.golden"))
        check(r.returncode == 1 and "compacted" in r.stderr,
              "--record refuses a compacted journal (golden files start at seq 1)", (r.stdout, r.stderr))

    # A damaged newest snapshot: --verify falls back as a start would.
    newest = os.path.join(srv.data_dir, "snapshots", "%016x.snap" % snaps[-1])
    data = bytearray(open(newest, "rb").read())
    data[len(data) // 2] ^= 0x40
    open(newest, "wb").write(bytes(data))
    out = verify(srv, "with the newest snapshot damaged")
    check(re.search(r"^newest: snapshot seq %d \+ journal" % snaps[-2], out, re.M) and "not usable" in out,
          "... the newest usable one (seq %d) is used and the damaged one reported" % snaps[-2], out)

    await foreign_snapshot_differs()

    srcdir = os.environ.get("STANZAD_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
    for name in sorted(os.listdir(os.path.join(srcdir, "tests", "replay"))):
        if name.endswith(".golden"):
            check_golden(os.path.join(srcdir, "tests", "replay", name))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--regen":
        REGEN = os.path.abspath(sys.argv[2])
    h.run(main)
