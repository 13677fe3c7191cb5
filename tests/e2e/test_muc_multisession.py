#!/usr/bin/python3
"""test_muc_multisession: one user in a room from several clients with
the same nickname (a multi-session nick, as Prosody and ejabberd allow):
the room treats them as one occupant.

alice creates a room from her phone, bob joins; alice's desktop joins
with the same nick: it gets bob's presence, its own (110) and the
subject, while bob sees no second alice. bob's groupchat and private
message reach both of alice's clients; /help from one of them is
answered to that one only. carol cannot take the nick (conflict); a
direct invitation (XEP-0249) reaches her untouched and she joins. The
desktop leaves: it hears its own unavailable presence (110), bob hears
none (alice is still there) and the phone still gets the room's
messages. The phone's session ends: now bob sees alice leave."""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
import mucutil as m  # noqa: E402
from harness import check, stanza_is  # noqa: E402

ALICE, BOB, CAROL = ("%s@%s" % (u, h.DOMAIN) for u in ("alice", "bob", "carol"))
QUIET_S = 0.6
ROOM = m.room_jid("family")


async def main():
    srv = h.Server(registration="closed").start()
    m.add_users(srv, ((ALICE, "al1ce"), (BOB, "b0b"), (CAROL, "car0l")))
    phone = await m.muc_client(srv, ALICE + "/phone", "al1ce")
    desk = await m.muc_client(srv, ALICE + "/desk", "al1ce")
    bob = await m.muc_client(srv, BOB + "/pc", "b0b")
    carol = await m.muc_client(srv, CAROL + "/pc", "car0l")

    await m.create(phone, ROOM, "alice")
    await m.join_ok(bob, ROOM, "bob", "bob joins")
    await phone.expect(m.presence_from(ROOM + "/bob"), "the phone sees bob join")

    j = await m.join_ok(desk, ROOM, "alice", "alice's desktop joins with the same nick")
    check([e.get("from") for e in j.others] == [ROOM + "/bob"],
          "the desktop gets bob's presence (and no other occupant)",
          [h.xml_text(e) for e in j.others])
    check(m.item(j.self_pres).get("affiliation") == "owner" and j.subject is not None,
          "... then its own presence as the owner (110) and the subject", h.xml_text(j.self_pres))
    got = await bob.none_within(
        lambda el: stanza_is(el, "presence", "unavailable", frm=ROOM + "/alice"), QUIET_S)
    check(got == [], "bob sees no alice leave or join twice", got)

    bob.send_raw("<message to='%s' type='groupchat'><body>hi both</body></message>" % ROOM)
    for c, name in ((phone, "phone"), (desk, "desktop")):
        await c.expect(m.groupchat(ROOM, "hi both", ROOM + "/bob"),
                       "bob's groupchat on alice's " + name)
    bob.send_raw("<message to='%s/alice' type='chat'><body>psst</body></message>" % ROOM)
    for c, name in ((phone, "phone"), (desk, "desktop")):
        el = await c.expect(lambda e: stanza_is(e, "message", "chat", frm=ROOM + "/bob")
                            and e.findtext(m.C + "body") == "psst",
                            "bob's private message on alice's " + name)
        check(m.muc_x(el) is not None, "... marked as sent through the room (%s)" % name)

    desk.send_raw("<message to='%s' type='groupchat'><body>/help</body></message>" % ROOM)
    await desk.expect(lambda e: stanza_is(e, "message", "groupchat", frm=ROOM)
                      and (e.findtext(m.C + "body") or "").startswith("Commands"),
                      "/help answered on the desktop")
    got = await phone.none_within(lambda e: stanza_is(e, "message", "groupchat", frm=ROOM)
                                  and (e.findtext(m.C + "body") or "").startswith("Commands"),
                                  QUIET_S)
    check(got == [], "... and not on the phone", got)

    cond, _ = await m.join_refused(carol, ROOM, "alice")
    check(cond == "conflict", "carol cannot take alice's nick: conflict", cond)

    # A direct invitation (XEP-0249) is a message between users: it passes
    # through untouched, and carol can enter the open room.
    phone.send_raw("<message to='%s'><x xmlns='jabber:x:conference' jid='%s' reason='join us'/>"
                   "</message>" % (CAROL, ROOM))
    el = await carol.expect(lambda e: stanza_is(e, "message", frm=ALICE + "/phone")
                            and e.find("{jabber:x:conference}x") is not None,
                            "carol gets alice's direct invitation")
    x = el.find("{jabber:x:conference}x")
    check(x.get("jid") == ROOM and x.get("reason") == "join us",
          "... with the room and the reason intact", h.xml_text(el))
    await m.join_ok(carol, ROOM, "carol", "carol follows the direct invitation")

    el = await m.leave(desk, ROOM, "alice")
    check(m.item(el).get("jid") == ALICE + "/desk",
          "the desktop leaves and hears its own unavailable presence", h.xml_text(el))
    got = await bob.none_within(
        lambda e: stanza_is(e, "presence", "unavailable", frm=ROOM + "/alice"), QUIET_S)
    check(got == [], "bob does not see alice leave: her phone is still in", got)
    bob.send_raw("<message to='%s' type='groupchat'><body>still here?</body></message>" % ROOM)
    await phone.expect(m.groupchat(ROOM, "still here?"), "the phone still gets the room")
    got = await desk.none_within(m.groupchat(ROOM, "still here?"), QUIET_S)
    check(got == [], "... and the desktop no longer does", got)

    await phone.close()
    el = await bob.expect(lambda e: stanza_is(e, "presence", "unavailable", frm=ROOM + "/alice"),
                          "bob sees alice leave when her last client is gone")
    check(m.item(el).get("role") == "none", "... with role none", h.xml_text(el))
    for c in (desk, bob, carol):
        await c.close()


if __name__ == "__main__":
    h.run(main)
