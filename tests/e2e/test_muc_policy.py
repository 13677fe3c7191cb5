#!/usr/bin/python3
"""test_muc_policy: the service-wide group chat settings
(doc/configuration.md: muc_domain, muc_local_create_only,
muc_foreign_need_invite, muc_history_max, muc_max_users, muc_rooms_max).

One server with muc_domain=conference.localhost, muc_max_users=2,
muc_rooms_max=2, muc_history_max=2: the server lists conference.localhost
(not chat.localhost); a local user creates rooms there (muc_local_create_only
is on by default: local users may); a third occupant gets
service-unavailable (§7.2.10) while an admin still enters, and so does a
second occupant of a room whose own maxusers is 1; a newcomer gets
at most 2 history messages whatever it asks for; a third room gets
resource-constraint until one is destroyed. A server with muc_domain=off
lists no service and answers no room. With muc_local_create_only=no and
muc_foreign_need_invite=no local users are treated as before. Bad settings (muc_domain equal to
domain, out-of-range limits) stop the server from starting.

Not tested here: users of another server (muc_local_create_only refusing
a foreign creator with not-allowed, muc_foreign_need_invite refusing an
uninvited foreign user with registration-required). stanzad has no
federation yet and the kernel stamps every client stanza with the
session's own JID, so no foreign 'from' can reach the service end to
end; the unit tests of handlers/muc cover those paths."""

import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
from harness import check  # noqa: E402
import mucutil as m  # noqa: E402
from mucutil import codes, groupchat  # noqa: E402

ALICE, BOB, CAROL, DAVE = ("%s@%s" % (n, h.DOMAIN) for n in ("alice", "bob", "carol", "dave"))
USERS = [(ALICE, "al1ce"), (BOB, "b0b"), (CAROL, "car0l"), (DAVE, "dav3")]
CONF = "conference." + h.DOMAIN
START_REFUSED_WAIT_S = 10


def start_refused(name, **settings):
    """The server must exit (non-zero) before it is ready."""
    srv = h.Server(name, **settings)
    srv.spawn()
    deadline = time.monotonic() + START_REFUSED_WAIT_S
    while time.monotonic() < deadline and srv.proc.poll() is None:
        if "ready" in srv.log_text():
            break
        time.sleep(0.05)
    rc = srv.proc.poll()
    log = srv.log_text()
    srv.kill()
    return rc, log


async def no_service_at(c, domain, what):
    """Nothing answers for domain: a disco#info there and to a room there
    gets an error (the kernel's: no such local domain, no federation)."""
    for to in (domain, m.room_jid("any", domain)):
        cond = await m.iq_condition(c, "get", to, "<query xmlns='%s'/>" % m.NS_INFO)
        check(cond in ("remote-server-not-found", "service-unavailable", "item-not-found"),
              "%s: disco#info to %s gets an error (%s)" % (what, to, cond), cond)


async def limits():
    srv = h.Server("limits", registration="closed", muc_domain=CONF, muc_max_users=2,
                   muc_rooms_max=2, muc_history_max=2).start()
    m.add_users(srv, USERS)
    alice, bob, carol, dave = [await m.muc_client(srv, j + "/r", pw) for j, pw in USERS]
    items = await m.disco_items(alice, h.DOMAIN)
    check(CONF in items and m.MUC not in items,
          "muc_domain=%s: the server lists it, not %s" % (CONF, m.MUC), items)
    ids, feats = await m.disco_info(alice, CONF)
    check(any(i[:2] == ("conference", "text") for i in ids) and m.NS_MUC in feats,
          "the service answers disco#info on %s" % CONF, (ids, feats))

    one, two, three = (m.room_jid(n, CONF) for n in ("one", "two", "three"))
    self_pres = await m.create(alice, one, "alice", {"muc#roomconfig_membersonly": "0"})
    check(201 in codes(self_pres), "a local user creates a room (muc_local_create_only=yes "
          "lets local users)", h.xml_text(self_pres))
    for n in ("m1", "m2", "m3"):
        alice.send_raw("<message to='%s' type='groupchat'><body>%s</body></message>" % (one, n))
        await alice.expect(groupchat(one, n), "the reflection of " + n)
    for maxst, who in ((None, bob), (10, dave)):
        j = await m.join_ok(who, one, who.boundjid.user, "joining one", maxstanzas=maxst)
        bodies = [e.findtext(m.C + "body") for e in j.history]
        check(bodies == ["m2", "m3"], "muc_history_max=2: %s (history %s) gets only the last 2"
              % (who.boundjid.user, "not asked" if maxst is None else "maxstanzas=10"), bodies)
        if who is dave:
            break
        await m.leave(bob, one, "bob")
    # one holds alice and dave now: full at muc_max_users=2.
    cond, err = await m.join_refused(carol, one, "carol")
    check(cond == "service-unavailable",
          "muc_max_users=2: a third occupant gets service-unavailable (§7.2.10)", h.xml_text(err))
    await alice["xep_0045"].set_affiliation(one, "admin", jid=BOB, timeout=h.STEP_TIMEOUT_S)
    j = await m.join_ok(bob, one, "bob", "the admin bob joins the full room")
    check(j.self_pres is not None, "... an admin still enters the full room")

    small = m.room_jid("small", CONF)
    await m.create(alice, small, "alice", None)
    form = await m.config_form(alice, small)
    await m.iq(alice, "set", small, m.submit_xml(form, {"muc#roomconfig_maxusers": "1"}))
    cond, err = await m.join_refused(carol, small, "carol")
    check(cond == "service-unavailable",
          "a room's own maxusers=1 (below muc_max_users): a second occupant gets "
          "service-unavailable", h.xml_text(err))
    await alice["xep_0045"].destroy(small, timeout=h.STEP_TIMEOUT_S)

    await m.create(alice, two, "alice")
    cond, err = await m.join_refused(alice, three, "alice")
    check(cond == "resource-constraint",
          "muc_rooms_max=2: creating a third room gets resource-constraint", h.xml_text(err))
    await alice["xep_0045"].destroy(two, timeout=h.STEP_TIMEOUT_S)
    self_pres = await m.create(alice, three, "alice")
    check(201 in codes(self_pres), "once a room is destroyed, a new one can be created",
          h.xml_text(self_pres))

    await no_service_at(alice, m.MUC, "muc_domain=%s" % CONF)
    for c in (alice, bob, carol, dave):
        await c.close()
    srv.stop()


async def service_off():
    srv = h.Server("off", registration="closed", muc_domain="off").start()
    m.add_users(srv, USERS[:1])
    alice = await m.muc_client(srv, ALICE + "/r", "al1ce")
    items = await m.disco_items(alice, h.DOMAIN)
    check(m.MUC not in items, "muc_domain=off: the server lists no %s" % m.MUC, items)
    await no_service_at(alice, m.MUC, "muc_domain=off")
    await alice.close()
    srv.stop()


async def knobs_off():
    """muc_local_create_only=no and muc_foreign_need_invite=no are about
    users of other servers only: local users still create rooms, and a
    members-only room still refuses a local non-member."""
    srv = h.Server("knobs", registration="closed", muc_local_create_only="no",
                   muc_foreign_need_invite="no").start()
    m.add_users(srv, USERS[:2])
    alice = await m.muc_client(srv, ALICE + "/r", "al1ce")
    bob = await m.muc_client(srv, BOB + "/r", "b0b")
    club = m.room_jid("club")
    await m.create(alice, club, "alice", {"muc#roomconfig_membersonly": "1"})
    cond, err = await m.join_refused(bob, club, "bob")
    check(cond == "registration-required", "both knobs off: a local non-member still gets "
          "registration-required from a members-only room", h.xml_text(err))
    self_pres = await m.create(bob, m.room_jid("bobs"), "bob")
    check(201 in codes(self_pres), "both knobs off: a local user still creates rooms",
          h.xml_text(self_pres))
    for c in (alice, bob):
        await c.close()
    srv.stop()


async def main():
    await limits()
    await service_off()
    await knobs_off()
    for name, settings in (("same", {"muc_domain": h.DOMAIN}),
                           ("hist", {"muc_history_max": 1001}),
                           ("users", {"muc_max_users": 0}),
                           ("rooms", {"muc_rooms_max": 0})):
        rc, log = start_refused(name, **settings)
        check(rc not in (None, 0), "%s: the server refuses to start" % settings, log[-800:])


if __name__ == "__main__":
    h.run(main)
