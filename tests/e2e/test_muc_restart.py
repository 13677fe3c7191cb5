#!/usr/bin/python3
"""test_muc_restart: what of a group chat room outlives a restart
(handlers/muc/muc_int.h, doc/configuration.md muc_history_max).

alice makes 'keep' (persistent, members-only, named 'Kept Room', subject
set, bob a member by an admin IQ, dave a member by a mediated invitation)
and 'temp' (not persistent); messages with unique markers are said in
both. After a restart, and again after a restart
from a snapshot (`stanzactl snapshot`): 'keep' has its name, features,
subject and affiliation lists; bob and dave (members) enter, bob gets no
history (history lives in memory only); carol (no member) gets
registration-required; 'temp' is gone (disco item-not-found, a join
creates it anew with 201). No marker is readable on disk: neither
`journal dump --bodies`, nor `snapshot dump --bodies`, nor the raw bytes
of any file under the server's directory, before and after the
snapshot has compacted the journal."""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
from harness import check  # noqa: E402
import mucutil as m  # noqa: E402
from mucutil import codes, item, groupchat  # noqa: E402

ALICE, BOB, CAROL, DAVE = ("%s@%s" % (n, h.DOMAIN) for n in ("alice", "bob", "carol", "dave"))
KEEP, TEMP = m.room_jid("keep"), m.room_jid("temp")
USERS = [(ALICE, "al1ce"), (BOB, "b0b"), (CAROL, "car0l"), (DAVE, "dav3")]


def marker(tag):
    return "%s-%s" % (tag, os.urandom(5).hex())


def no_marker_on_disk(srv, markers, when):
    """With the server stopped: no marker in the offline tools' output
    (with bodies) nor in any file's bytes."""
    r = h.ctl(srv, "journal", "dump", "--bodies", timeout=30)
    check(r.returncode == 0, "%s: journal dump --bodies exits 0" % when, r.stderr)
    seen = [x for x in markers if x in r.stdout]
    check(seen == [], "%s: journal dump --bodies shows no groupchat message" % when, seen)
    snaps = os.path.join(srv.data_dir, "snapshots")
    if os.path.isdir(snaps) and any(f.endswith(".snap") for f in os.listdir(snaps)):
        r = h.ctl(srv, "snapshot", "dump", "--bodies", timeout=30)
        check(r.returncode == 0 and not [x for x in markers if x in r.stdout],
              "%s: snapshot dump --bodies shows no groupchat message" % when,
              (r.returncode, r.stderr))
    files = {x: h.files_holding(srv.dir, x.encode()) for x in markers}
    check(not any(files.values()), "%s: no file under the server's directory holds a "
          "groupchat body" % when, files)


async def setup(srv):
    alice = await m.muc_client(srv, ALICE + "/broom", "al1ce")
    bob = await m.muc_client(srv, BOB + "/desk", "b0b")
    await m.create(alice, KEEP, "alice", {
        "muc#roomconfig_roomname": "Kept Room", "muc#roomconfig_persistentroom": "1",
        "muc#roomconfig_membersonly": "1", "muc#roomconfig_publicroom": "1"})
    await alice["xep_0045"].set_affiliation(KEEP, "member", jid=BOB, timeout=h.STEP_TIMEOUT_S)
    alice["xep_0045"].invite(KEEP, DAVE, reason="join us")  # makes dave a member (§7.8.2)
    await h.sync(alice)
    members = sorted(str(j) for j in await alice["xep_0045"].get_affiliation_list(
        KEEP, "member", timeout=h.STEP_TIMEOUT_S))
    check(members == [BOB, DAVE], "keep's members: bob (admin IQ) and dave (invited)", members)
    alice["xep_0045"].set_subject(KEEP, "kept subject")
    s = await alice.expect(lambda el: m.is_subject(el, KEEP) and el.findtext(m.C + "subject")
                           == "kept subject", "the subject change")
    check(s.get("from") == KEEP + "/alice", "alice sets keep's subject", h.xml_text(s))
    await m.create(alice, TEMP, "alice", {"muc#roomconfig_persistentroom": "0",
                                      "muc#roomconfig_membersonly": "0"})
    await m.join_ok(bob, KEEP, "bob", "bob joins keep")
    await m.join_ok(bob, TEMP, "bob", "bob joins temp")
    markers = []
    for room in (KEEP, TEMP):
        for c in (alice, bob):
            body = marker("gc")
            markers.append(body)
            c.send_raw("<message to='%s' type='groupchat'><body>%s</body></message>" % (room, body))
            for r in (alice, bob):
                await r.expect(groupchat(room, body), "the groupchat " + body)
    check(True, "groupchat messages with unique markers were exchanged in keep and temp")
    await h.sync(alice)
    for c in (alice, bob):
        await c.close()
    return markers


async def after_restart(srv, when):
    alice = await m.muc_client(srv, ALICE + "/broom", "al1ce")
    bob = await m.muc_client(srv, BOB + "/desk", "b0b")
    dave = await m.muc_client(srv, DAVE + "/home", "dav3")
    carol = await m.muc_client(srv, CAROL + "/pda", "car0l")
    ids, feats = await m.disco_info(bob, KEEP)
    check(("conference", "text", "Kept Room") in ids and {"muc_persistent", "muc_membersonly"}
          <= feats, "%s: keep is there, named 'Kept Room', persistent and members-only"
          % when, (ids, sorted(feats)))
    check(KEEP in await m.disco_items(bob, m.MUC), "%s: keep is listed by the service" % when)
    lists = {a: sorted(str(j) for j in await alice["xep_0045"].get_affiliation_list(
        KEEP, a, timeout=h.STEP_TIMEOUT_S)) for a in ("owner", "member")}
    check(lists == {"owner": [ALICE], "member": [BOB, DAVE]},
          "%s: alice is still owner, bob and the invited dave still members" % when, lists)
    j = await m.join_ok(bob, KEEP, "bob", when + ": bob joins keep")
    check(item(j.self_pres).get("affiliation") == "member" and j.history == [] and j.others == []
          and j.subject.findtext(m.C + "subject") == "kept subject",
          "%s: bob enters as a member, alone, with the kept subject and no history (memory only)"
          % when, [h.xml_text(e) for e in j.stanzas])
    j = await m.join_ok(dave, KEEP, "dave", when + ": dave joins keep")
    check(item(j.self_pres).get("affiliation") == "member",
          "%s: the invited dave enters keep as a member" % when, h.xml_text(j.self_pres))
    cond, err = await m.join_refused(carol, KEEP, "carol")
    check(cond == "registration-required",
          "%s: carol (no member) still gets registration-required" % when, h.xml_text(err))
    cond = await m.iq_condition(carol, "get", TEMP, "<query xmlns='%s'/>" % m.NS_INFO)
    check(cond == "item-not-found", "%s: the non-persistent temp is gone (item-not-found)"
          % when, cond)
    j = await m.join_ok(carol, TEMP, "carol", when + ": carol joins temp", until="self")
    check(201 in codes(j.self_pres), "%s: joining temp creates a new room (201)" % when,
          h.xml_text(j.self_pres))
    await m.instant(carol, TEMP)
    await carol["xep_0045"].destroy(TEMP, timeout=h.STEP_TIMEOUT_S)  # temp again absent
    for c in (alice, bob, carol, dave):
        await c.close()


async def main():
    srv = h.Server(registration="closed", snapshot_every_events=0, snapshot_every_s=0,
                   snapshots_keep=1).start()
    m.add_users(srv, USERS)
    markers = await setup(srv)
    check(srv.stop() == 0, "the server stops on SIGTERM")
    no_marker_on_disk(srv, markers, "journal only")
    srv.start()
    await after_restart(srv, "after a restart")

    for n in (1, 2):  # the second snapshot prunes the first and compacts the journal
        r = h.ctl(srv, "snapshot")
        check(r.returncode == 0, "stanzactl snapshot (%d) succeeds" % n, (r.stdout, r.stderr))
    offset = len(srv.log_text())
    check(srv.stop() == 0, "the server stops on SIGTERM")
    srv.start()
    check("state restored from the snapshot" in srv.log_text(offset),
          "the start restored the snapshot", srv.log_text(offset)[-2000:])
    await after_restart(srv, "after a snapshot and restart")
    check(srv.stop() == 0, "the server stops on SIGTERM")
    no_marker_on_disk(srv, markers, "after snapshots and compaction")


if __name__ == "__main__":
    h.run(main)
