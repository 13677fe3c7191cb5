#!/usr/bin/python3
"""test_muc: the group chat service (XEP-0045) on chat.localhost, by the
letter of the XEP, with real slixmpp clients.

Discovery (§6): the server lists chat.localhost; the service is a
conference/text identity with the muc feature; public rooms are listed,
hidden ones are not; a room's muc_* features match its configuration.
Creation (§10.1): the first join gets 110 and 201, the room stays locked
(item-not-found for others) until the owner submits the configuration
form; an empty submitted form makes an instant room. Entering (§7.2):
other occupants' presences, then the self-presence (110, 100 in a
non-anonymous room, no 210 when the nick is kept), then history with
<delay from=room/> (maxstanzas honoured), then the subject (empty
<subject/> when none). Groupchat, nick change (303), nick conflict,
nick change to a taken nick (conflict), private messages (§7.5), subject
(§8.1), /help answered to its sender only and kept out of history,
leaving (§7.14), a non-occupant's groupchat (not-acceptable), self-ping
(XEP-0410), a session's end leaving its rooms. Members-only rooms
(registration-required, mediated invitation and decline §7.8.2, 321 on losing
membership), kick (307), ban (301, then forbidden), voice in a moderated
room (§8.3, 104 on a configuration change), affiliation lists (§9),
passwords (not-authorized), destruction (§10.9) with reason and
alternate venue, the owner-only IQs (forbidden for others), who may kick,
ban or silence whom (not-allowed, conflict), and a cancelled initial
configuration (§10.1.3)."""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
from harness import check, stanza_is  # noqa: E402
import mucutil as m  # noqa: E402
from mucutil import codes, item, presence_from, groupchat  # noqa: E402

ALICE, BOB, CAROL, DAVE = ("%s@%s" % (n, h.DOMAIN) for n in ("alice", "bob", "carol", "dave"))
COVEN, SECRET, VAULT, QUICK = (m.room_jid(n) for n in ("coven", "secret", "vault", "quick"))
QUIET_S = 0.5


def show(els):
    return [h.xml_text(e) for e in els]


async def discovery(alice):
    items = await m.disco_items(alice, h.DOMAIN)
    check(m.MUC in items, "the server's disco#items lists %s" % m.MUC, items)
    ids, feats = await m.disco_info(alice, m.MUC)
    check(any(i[0] == "conference" and i[1] == "text" for i in ids),
          "the service has the identity conference/text", ids)
    check(m.NS_MUC in feats, "... and the feature %s" % m.NS_MUC, feats)


def check_room_features(feats, expect, what):
    """expect: the feature of each pair the room must have."""
    for pair in m.FEATURE_PAIRS:
        want = [f for f in pair if f in expect]
        check(len(want) == 1 and want[0] in feats and not (set(pair) - set(want)) & feats,
              "%s: disco#info has %s and not %s" % (what, want[0], (set(pair) - set(want)).pop()),
              sorted(feats))


async def create_coven(alice, bob):
    j = await m.join_ok(alice, COVEN, "alice", "create coven", until="self")
    it = item(j.self_pres)
    check({110, 201} <= codes(j.self_pres) and it.get("affiliation") == "owner"
          and it.get("role") == "moderator",
          "joining a new room creates it: self-presence with 110 and 201, owner/moderator",
          h.xml_text(j.self_pres))
    cond, err = await m.join_refused(bob, COVEN, "bob")
    check(cond == "item-not-found" and err.get("from") == COVEN + "/bob",
          "the room is locked until configured: bob gets item-not-found from coven/bob (§7.2.11)",
          h.xml_text(err))
    form = await m.config_form(alice, COVEN)
    check(form.get("FORM_TYPE", (None, [None]))[1][:1] == [m.ROOMCONFIG]
          and form["FORM_TYPE"][0] == "hidden",
          "the owner's form has the hidden FORM_TYPE muc#roomconfig", form.get("FORM_TYPE"))
    wanted = ["muc#roomconfig_" + f for f in (
        "roomname", "roomdesc", "persistentroom", "publicroom", "membersonly", "moderatedroom",
        "passwordprotectedroom", "roomsecret", "whois", "allowpm", "allowinvites",
        "changesubject", "maxusers")]
    check(all(w in form for w in wanted), "the form has the §10.2 fields", sorted(form))
    check(form["muc#roomconfig_persistentroom"][0] == "boolean"
          and form["muc#roomconfig_membersonly"][0] == "boolean"
          and {"moderators", "anyone"} <= set(form["muc#roomconfig_whois"][2]),
          "booleans are boolean fields, whois offers moderators and anyone",
          (form["muc#roomconfig_persistentroom"], form["muc#roomconfig_whois"]))
    await m.configure(alice, COVEN, {
        "muc#roomconfig_roomname": "The Coven", "muc#roomconfig_persistentroom": "1",
        "muc#roomconfig_publicroom": "1", "muc#roomconfig_membersonly": "0",
        "muc#roomconfig_moderatedroom": "0", "muc#roomconfig_passwordprotectedroom": "0",
        "muc#roomconfig_whois": "anyone", "muc#roomconfig_allowpm": "anyone"})
    form = await m.config_form(alice, COVEN)
    check(form["muc#roomconfig_roomname"][1] == ["The Coven"]
          and form["muc#roomconfig_persistentroom"][1][0] in ("1", "true"),
          "the form now shows the submitted name and persistence",
          (form["muc#roomconfig_roomname"], form["muc#roomconfig_persistentroom"]))
    ids, feats = await m.disco_info(alice, COVEN)
    check(("conference", "text", "The Coven") in ids and m.NS_MUC in feats,
          "the room's disco#info: conference/text named 'The Coven', muc feature", (ids, feats))
    check_room_features(feats, {"muc_persistent", "muc_open", "muc_unsecured", "muc_public",
                                "muc_unmoderated", "muc_nonanonymous"}, "coven")
    check(COVEN in await m.disco_items(alice, m.MUC), "the public room is in the service's items")


async def enter_coven(alice, bob, carol):
    for n in ("h1", "h2", "h3"):
        alice.send_raw("<message to='%s' type='groupchat'><body>%s</body></message>" % (COVEN, n))
        await alice.expect(groupchat(COVEN, n, COVEN + "/alice"), "the reflection of " + n)
    check(True, "alice's groupchat messages come back to her from coven/alice")
    j = await m.join_ok(bob, COVEN, "bob", "bob joins", maxstanzas=2)
    kinds = ["other" if e in j.others else "self" if e is j.self_pres else "history"
             if e in j.history else "subject" if e is j.subject else "?" for e in j.stanzas]
    check(kinds == ["other", "self", "history", "history", "subject"],
          "bob gets, in order: alice's presence, his own, 2 history messages, the subject",
          show(j.stanzas))
    a = j.others[0]
    check(a.get("from") == COVEN + "/alice" and item(a).get("affiliation") == "owner"
          and item(a).get("role") == "moderator" and m.bare(item(a).get("jid")) == ALICE,
          "alice's presence: owner, moderator, her real JID (non-anonymous room)", h.xml_text(a))
    sc = codes(j.self_pres)
    check(110 in sc and 100 in sc and 210 not in sc and 201 not in sc
          and item(j.self_pres).get("role") == "participant"
          and item(j.self_pres).get("affiliation") == "none",
          "bob's self-presence: 110, 100 (non-anonymous), no 210 (nick kept), no 201; "
          "participant", h.xml_text(j.self_pres))
    check([e.findtext(m.C + "body") for e in j.history] == ["h2", "h3"]
          and all(e.get("from") == COVEN + "/alice"
                  and e.find("{%s}delay" % m.NS_DELAY).get("from") == COVEN
                  and e.find("{%s}delay" % m.NS_DELAY).get("stamp") for e in j.history),
          "<history maxstanzas='2'/>: the last 2 messages, from coven/alice, with <delay "
          "from='%s' stamp=.../>" % COVEN, show(j.history))
    check(j.subject.findtext(m.C + "subject") == "",
          "no subject yet: an empty <subject/> (§7.2.15)", h.xml_text(j.subject))
    p = await alice.expect(presence_from(COVEN + "/bob"), "bob's join presence")
    check(110 not in codes(p) and item(p).get("jid", "").startswith(BOB),
          "alice sees bob join (no 110, his real JID)", h.xml_text(p))
    j = await m.join_ok(carol, COVEN, "carol", "carol joins")
    check([e.findtext(m.C + "body") for e in j.history] == ["h1", "h2", "h3"]
          and len(j.others) == 2,
          "carol (no <history/>) gets all 3 messages and 2 presences", show(j.stanzas))
    for c in (alice, bob):
        await c.expect(presence_from(COVEN + "/carol"), "carol's join presence")


async def talk(alice, bob, carol, dave):
    bob.send_raw("<message to='%s' type='groupchat'><body>hello all</body></message>" % COVEN)
    for c in (alice, bob, carol):
        await c.expect(groupchat(COVEN, "hello all", COVEN + "/bob"), "bob's groupchat")
    check(True, "a groupchat message reaches every occupant (sender too) from coven/bob")

    cond, err = await m.join_refused(dave, COVEN, "bob")
    check(cond == "conflict" and err.get("from") == COVEN + "/bob",
          "dave joining as 'bob': conflict (§7.2.9)", h.xml_text(err))

    carol.send_raw("<presence to='%s/carla'/>" % COVEN)
    for c in (alice, bob, carol):
        un, av = await c.expect_seq([
            ("unavailable 303", presence_from(COVEN + "/carol", "unavailable", 303)),
            ("carla's presence", presence_from(COVEN + "/carla"))])
        check(item(un).get("nick") == "carla" and ((110 in codes(un)) == (c is carol))
              and (110 in codes(av)) == (c is carol),
              "%s: nick change: unavailable from coven/carol with 303 and nick='carla', then "
              "coven/carla (110 only to carol) (§7.6)" % c.boundjid.user, show([un, av]))

    carol.send_raw("<presence to='%s/alice'/>" % COVEN)
    err = await carol.expect(presence_from(COVEN + "/alice", "error"), "an error for the change")
    check(h.stanza_error(err) == "conflict",
          "carla changing her nick to 'alice': conflict (§7.6)", h.xml_text(err))
    moved = await alice.none_within(presence_from(COVEN + "/carla", "unavailable"), 0.1)
    check(moved == [], "... and carla stays carla", show(moved))

    bob.send_raw("<message to='%s/alice' type='chat' id='pm1'><body>psst</body></message>" % COVEN)
    pm = await alice.expect(lambda el: stanza_is(el, "message", "chat")
                            and el.findtext(m.C + "body") == "psst", "bob's private message")
    check(pm.get("from") == COVEN + "/bob" and m.muc_x(pm) is not None,
          "a private message arrives from coven/bob with <x xmlns='%s'/> (§7.5)" % m.NS_USER,
          h.xml_text(pm))
    leak = await carol.none_within(lambda el: el.findtext(m.C + "body") == "psst", QUIET_S)
    check(leak == [], "... and nobody else gets it", show(leak))
    bob.send_raw("<message to='%s/alice' type='groupchat' id='pm2'><body>x</body></message>"
                 % COVEN)
    err = await bob.expect(lambda el: stanza_is(el, "message", "error") and el.get("id") == "pm2",
                           "an error for a groupchat to one occupant")
    check(h.stanza_error(err) == "bad-request",
          "a type='groupchat' message to one occupant gets bad-request (§7.5)", h.xml_text(err))

    alice["xep_0045"].set_subject(COVEN, "Spells")
    for c in (alice, bob, carol):
        s = await c.expect(lambda el: m.is_subject(el, COVEN)
                           and el.findtext(m.C + "subject") == "Spells", "the new subject")
        check(s.get("from") == COVEN + "/alice", "%s gets the subject from coven/alice (§8.1)"
              % c.boundjid.user, h.xml_text(s))

    bob.send_raw("<message to='%s' type='groupchat'><body>/help</body></message>" % COVEN)
    ans = await bob.expect(lambda el: stanza_is(el, "message") and m.from_room(el, COVEN)
                           and el.findtext(m.C + "body") not in (None, "/help"),
                           "the answer to /help")
    text = ans.findtext(m.C + "body")
    commands = {w for w in text.split() if w.startswith("/") and len(w) > 1}
    check(len(commands) >= 3 and ans.get("from") != COVEN + "/bob",
          "'/help' is answered to bob by the room with the list of commands", h.xml_text(ans))
    echo = await bob.none_within(groupchat(COVEN, "/help"), 0.1)
    others = []
    for c in (alice, carol):
        others += await c.none_within(lambda el: stanza_is(el, "message")
                                      and el.findtext(m.C + "body") in ("/help", text), QUIET_S)
    check(echo == [] and others == [],
          "'/help' is not broadcast, and nobody else sees it or its answer", show(echo + others))

    j = await m.join_ok(dave, COVEN, "dave", "dave joins")
    bodies = [e.findtext(m.C + "body") for e in j.history]
    check(j.subject.findtext(m.C + "subject") == "Spells" and "/help" not in bodies
          and text not in bodies and bodies[-1] == "hello all",
          "a later joiner gets the subject 'Spells' and a history without /help", show(j.stanzas))


async def self_ping(alice, bob):
    ping = "<ping xmlns='%s'/>" % m.NS_PING
    res = await m.iq(bob, "get", COVEN + "/bob", ping)
    check(res["type"] == "result", "XEP-0410 self-ping while joined: result")
    await m.leave(bob, COVEN, "bob")
    p = await alice.expect(presence_from(COVEN + "/bob", "unavailable"), "bob's leave")
    check(110 not in codes(p) and item(p).get("role") == "none",
          "alice sees bob leave: unavailable from coven/bob, role none (§7.14)", h.xml_text(p))
    cond = await m.iq_condition(bob, "get", COVEN + "/bob", ping)
    check(cond == "not-acceptable", "... after leaving: not-acceptable", cond)
    bob.send_raw("<message to='%s' type='groupchat' id='out1'><body>outside</body></message>"
                 % COVEN)
    err = await bob.expect(lambda el: stanza_is(el, "message", "error") and el.get("id") == "out1",
                           "an error for a non-occupant's groupchat")
    leak = await alice.none_within(groupchat(COVEN, "outside"), QUIET_S)
    check(h.stanza_error(err) == "not-acceptable" and leak == [],
          "a groupchat message from a non-occupant: not-acceptable, not broadcast (§7.4)",
          h.xml_text(err))


async def moderation(alice, bob, carol, dave):
    everyone = (alice, carol, dave)
    await alice["xep_0045"].set_role(COVEN, "dave", "none", reason="be quiet",
                                     timeout=h.STEP_TIMEOUT_S)
    for c in everyone:
        p = await c.expect(presence_from(COVEN + "/dave", "unavailable", 307), "the kick")
        check(item(p).get("role") == "none" and (110 in codes(p)) == (c is dave),
              "kick: %s gets unavailable from coven/dave with 307, role none%s (§8.2)"
              % (c.boundjid.user, ", 110" if c is dave else ""), h.xml_text(p))
    await alice["xep_0045"].set_affiliation(COVEN, "outcast", jid=CAROL, reason="spoilers",
                                            timeout=h.STEP_TIMEOUT_S)
    for c in (alice, carol):
        p = await c.expect(presence_from(COVEN + "/carla", "unavailable", 301), "the ban")
        check(item(p).get("affiliation") == "outcast" and (110 in codes(p)) == (c is carol),
              "ban: %s gets unavailable from coven/carla with 301, outcast (§9.1)"
              % c.boundjid.user, h.xml_text(p))
    cond, err = await m.join_refused(carol, COVEN, "carol")
    check(cond == "forbidden", "the banned carol rejoins: forbidden (§7.2.8)", h.xml_text(err))

    await alice["xep_0045"].set_affiliation(COVEN, "member", jid=BOB, timeout=h.STEP_TIMEOUT_S)
    lists = {}
    for a in ("owner", "admin", "member", "outcast"):
        lists[a] = sorted(str(j) for j in await alice["xep_0045"].get_affiliation_list(
            COVEN, a, timeout=h.STEP_TIMEOUT_S))
    check(lists == {"owner": [ALICE], "admin": [], "member": [BOB], "outcast": [CAROL]},
          "affiliation lists: owner alice, no admin, member bob, outcast carol (§9.5, §10.5)",
          lists)
    cond = await m.iq_condition(bob, "get", COVEN, "<query xmlns='%s'><item affiliation='outcast'/>"
                                "</query>" % m.NS_ADMIN)
    check(cond == "forbidden", "a member asking for the outcast list: forbidden", cond)

    # Moderated room: a newcomer without affiliation is a visitor (§5.1).
    await m.configure(alice, COVEN, {"muc#roomconfig_moderatedroom": "1"})
    note = await alice.expect(lambda el: stanza_is(el, "message") and m.from_room(el, COVEN)
                              and 104 in codes(el), "a 104 notice")
    check(note.get("from") == COVEN, "a configuration change is announced with 104 (§10.2.1)",
          h.xml_text(note))
    ids, feats = await m.disco_info(alice, COVEN)
    check("muc_moderated" in feats and "muc_unmoderated" not in feats,
          "disco#info now says muc_moderated", sorted(feats))
    j = await m.join_ok(dave, COVEN, "dave", "dave rejoins")
    check(item(j.self_pres).get("role") == "visitor",
          "dave rejoins the moderated room as a visitor", h.xml_text(j.self_pres))
    dave.send_raw("<message to='%s' type='groupchat' id='v1'><body>mute</body></message>" % COVEN)
    err = await dave.expect(lambda el: stanza_is(el, "message", "error") and el.get("id") == "v1",
                            "an error for the visitor's message")
    leak = await alice.none_within(groupchat(COVEN, "mute"), QUIET_S)
    check(h.stanza_error(err) == "forbidden" and leak == [],
          "a visitor's groupchat message: forbidden, not broadcast (§7.4)", h.xml_text(err))
    await alice["xep_0045"].set_role(COVEN, "dave", "participant", timeout=h.STEP_TIMEOUT_S)
    p = await dave.expect(presence_from(COVEN + "/dave", code=110), "dave's new role")
    check(item(p).get("role") == "participant", "voice granted: dave is a participant (§8.3)",
          h.xml_text(p))
    dave.send_raw("<message to='%s' type='groupchat'><body>voiced</body></message>" % COVEN)
    await alice.expect(groupchat(COVEN, "voiced", COVEN + "/dave"), "dave's message")
    check(True, "... and his message now reaches alice")
    cond = await m.iq_condition(dave, "get", COVEN, "<query xmlns='%s'/>" % m.NS_OWNER)
    check(cond == "forbidden", "a non-owner asking for the configuration form: forbidden "
          "(§10.2)", cond)
    cond = await m.iq_condition(dave, "set", COVEN, "<query xmlns='%s'><destroy/></query>"
                                % m.NS_OWNER)
    check(cond == "forbidden", "a non-owner destroying the room: forbidden (§10.9)", cond)


async def members_only(alice, dave):
    await m.create(alice, SECRET, "alice", {
        "muc#roomconfig_membersonly": "1", "muc#roomconfig_publicroom": "0",
        "muc#roomconfig_persistentroom": "0", "muc#roomconfig_whois": "moderators"})
    ids, feats = await m.disco_info(alice, SECRET)
    check_room_features(feats, {"muc_temporary", "muc_membersonly", "muc_unsecured", "muc_hidden",
                                "muc_unmoderated", "muc_semianonymous"}, "secret")
    items = await m.disco_items(alice, m.MUC)
    check(COVEN in items and SECRET not in items,
          "the service's items list the public coven, not the hidden secret", items)
    cond, err = await m.join_refused(dave, SECRET, "dave")
    check(cond == "registration-required",
          "dave, no member, joining: registration-required (§7.2.7)", h.xml_text(err))
    alice["xep_0045"].invite(SECRET, DAVE, reason="come in")
    inv = await dave.expect(lambda el: stanza_is(el, "message") and el.get("from") == SECRET
                            and m.muc_x(el) is not None
                            and m.muc_x(el).find("{%s}invite" % m.NS_USER) is not None,
                            "the invitation")
    i = m.muc_x(inv).find("{%s}invite" % m.NS_USER)
    check(m.bare(i.get("from")) in (ALICE, SECRET) and i.findtext("{%s}reason" % m.NS_USER)
          == "come in",
          "the invitation reaches dave from the room with <invite from=alice> and the reason "
          "(§7.8.2)", h.xml_text(inv))
    dave["xep_0045"].decline(SECRET, ALICE, reason="later")
    dec = await alice.expect(lambda el: stanza_is(el, "message") and el.get("from") == SECRET
                             and m.muc_x(el) is not None
                             and m.muc_x(el).find("{%s}decline" % m.NS_USER) is not None,
                             "the decline")
    d = m.muc_x(dec).find("{%s}decline" % m.NS_USER)
    check(m.bare(d.get("from")) == DAVE and d.findtext("{%s}reason" % m.NS_USER) == "later",
          "a decline reaches alice from the room with <decline from=dave> (§7.8.2)",
          h.xml_text(dec))
    j = await m.join_ok(dave, SECRET, "dave", "dave joins after the invitation")
    check(item(j.self_pres).get("affiliation") == "member" and 100 not in codes(j.self_pres)
          and "jid" not in item(j.others[0]),
          "invited, dave enters as a member; semi-anonymous: no 100, no real JIDs",
          show(j.stanzas))
    await alice["xep_0045"].set_affiliation(SECRET, "none", jid=DAVE, timeout=h.STEP_TIMEOUT_S)
    for c in (alice, dave):
        p = await c.expect(presence_from(SECRET + "/dave", "unavailable", 321), "removal (321)")
        check((110 in codes(p)) == (c is dave),
              "membership revoked in a members-only room: %s gets unavailable with 321 (§9.4)"
              % c.boundjid.user, h.xml_text(p))


async def password_and_destroy(alice, bob):
    await m.create(alice, VAULT, "alice", {
        "muc#roomconfig_passwordprotectedroom": "1", "muc#roomconfig_roomsecret": "sesame",
        "muc#roomconfig_publicroom": "1"})
    ids, feats = await m.disco_info(alice, VAULT)
    check("muc_passwordprotected" in feats and "muc_unsecured" not in feats,
          "vault's disco#info: muc_passwordprotected", sorted(feats))
    for pw in (None, "open"):
        cond, err = await m.join_refused(bob, VAULT, "bob", password=pw)
        check(cond == "not-authorized", "joining vault with %s: not-authorized (§7.2.6)"
              % ("no password" if pw is None else "a wrong password"), h.xml_text(err))
    await m.join_ok(bob, VAULT, "bob", "bob joins vault", password="sesame")
    check(True, "with the right password bob enters")
    await alice["xep_0045"].destroy(VAULT, reason="moving", altroom=COVEN,
                                    timeout=h.STEP_TIMEOUT_S)
    for c, nick in ((alice, "alice"), (bob, "bob")):
        p = await c.expect(presence_from(VAULT + "/" + nick, "unavailable"), "the destruction")
        d = m.muc_x(p).find("{%s}destroy" % m.NS_USER) if m.muc_x(p) is not None else None
        check(d is not None and d.get("jid") == COVEN
              and d.findtext("{%s}reason" % m.NS_USER) == "moving",
              "destroy: %s gets unavailable with <destroy jid='%s'><reason>moving</reason> "
              "(§10.9)" % (nick, COVEN), h.xml_text(p))
    cond = await m.iq_condition(bob, "get", VAULT, "<query xmlns='%s'/>" % m.NS_INFO)
    check(cond == "item-not-found", "the destroyed room's disco#info: item-not-found", cond)
    check(VAULT not in await m.disco_items(bob, m.MUC), "... and it is no longer listed")
    j = await m.join_ok(bob, VAULT, "bob", "bob joins the old name", until="self")
    check(201 in codes(j.self_pres) and item(j.self_pres).get("affiliation") == "owner",
          "joining the old name creates a new room, bob its owner (201)", h.xml_text(j.self_pres))

    await m.create(alice, QUICK, "alice")
    j = await m.join_ok(bob, QUICK, "bob", "bob joins the instant room")
    check(201 not in codes(j.self_pres) and j.subject is not None,
          "an instant room (empty submitted form) is open at once (§10.1.2)", show(j.stanzas))
    ids, feats = await m.disco_info(bob, QUICK)
    check(all(len(set(pair) & feats) == 1 for pair in m.FEATURE_PAIRS),
          "the instant room's disco#info has exactly one feature of each muc_* pair",
          sorted(feats))


async def refused(coro):
    """The error condition of a plugin IQ that must fail (None if it succeeds)."""
    try:
        await coro
        return None
    except h.IqError as e:
        return h.iq_error_condition(e)


async def privileges(alice, bob):
    """In quick (alice owner, bob inside): the rules on who may act on whom."""
    x = alice["xep_0045"]
    await x.set_affiliation(QUICK, "admin", jid=BOB, timeout=h.STEP_TIMEOUT_S)
    p = await bob.expect(presence_from(QUICK + "/bob", code=110), "bob's new affiliation")
    check(item(p).get("affiliation") == "admin" and item(p).get("role") == "moderator",
          "made admin, bob is broadcast as admin and moderator (§10.6)", h.xml_text(p))
    y = bob["xep_0045"]
    t = h.STEP_TIMEOUT_S
    cases = [
        (y.set_role(QUICK, "alice", "none", timeout=t), "not-allowed",
         "the admin bob kicking the owner alice (§8.2)"),
        (y.set_affiliation(QUICK, "outcast", jid=ALICE, timeout=t), "not-allowed",
         "the admin bob banning the owner alice (§9.1)"),
        (y.set_role(QUICK, "alice", "visitor", timeout=t), "not-allowed",
         "the admin bob revoking the owner's voice (§8.4)"),
        (x.set_affiliation(QUICK, "outcast", jid=ALICE, timeout=t), "conflict",
         "alice banning herself (§9.1)"),
        (x.set_affiliation(QUICK, "admin", jid=ALICE, timeout=t), "conflict",
         "the only owner stepping down (§10.6)"),
    ]
    for coro, want, what in cases:
        cond = await refused(coro)
        check(cond == want, "%s: %s" % (what, want), cond)
    lists = [sorted(str(j) for j in await x.get_affiliation_list(QUICK, a, timeout=t))
             for a in ("owner", "admin", "outcast")]
    check(lists == [[ALICE], [BOB], []], "... and the lists are unchanged", lists)

    cancelme = m.room_jid("cancelme")
    await m.join_ok(alice, cancelme, "alice", "creating cancelme", until="self")
    await x.cancel_config(cancelme, timeout=t)
    cond = await m.iq_condition(bob, "get", cancelme, "<query xmlns='%s'/>" % m.NS_INFO)
    check(cond == "item-not-found", "a cancelled initial configuration destroys the new room "
          "(§10.1.3)", cond)


async def main():
    srv = h.Server(registration="closed").start()
    m.add_users(srv, [(ALICE, "al1ce"), (BOB, "b0b"), (CAROL, "car0l"), (DAVE, "dav3")])
    alice = await m.muc_client(srv, ALICE + "/broom", "al1ce")
    bob = await m.muc_client(srv, BOB + "/desk", "b0b")
    carol = await m.muc_client(srv, CAROL + "/pda", "car0l")
    dave = await m.muc_client(srv, DAVE + "/home", "dav3")
    await discovery(alice)
    await create_coven(alice, bob)
    await enter_coven(alice, bob, carol)
    await talk(alice, bob, carol, dave)
    await self_ping(alice, bob)
    await moderation(alice, bob, carol, dave)
    await members_only(alice, dave)
    await password_and_destroy(alice, bob)
    await privileges(alice, bob)
    await dave.close()
    p = await alice.expect(presence_from(COVEN + "/dave", "unavailable"), "dave's departure")
    check(item(p).get("role") == "none",
          "when dave's session ends, alice gets unavailable from coven/dave", h.xml_text(p))
    for c in (alice, bob, carol):
        await c.close()


if __name__ == "__main__":
    h.run(main)
