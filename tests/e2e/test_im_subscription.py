#!/usr/bin/python3
"""test_im_subscription: presence subscriptions and the roster (RFC 6121).

alice subscribes to bob and bob approves, then bob subscribes to alice
and alice approves; every roster push on both sides is checked in order
with its subscription and ask attributes (§3.1.2-§3.1.6), and the
subscribed presence arrives before the contact's available presence.
Both rosters then hold the other with subscription 'both'; a roster get
with the current version gets an empty result (§2.6.3). When bob's
connection drops without an unavailable presence, alice gets unavailable
from bob's full JID (§4.5.2); when bob logs in again each gets the
other's presence. A subscription request to an offline account is
delivered when she next becomes available, and again at the login after
if she did not answer (§3.1.3). A presence change reaches the subscriber
(§4.4.2). A roster set adds a named, grouped item and is pushed; one
with two items gets bad-request (§2.3). Removing a roster item (§2.5.2)
cancels both subscriptions: bob sees pushes down to 'none' and alice's
unavailable presence."""

import asyncio
import sys
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
from harness import check, stanza_is  # noqa: E402

ALICE = "alice@" + h.DOMAIN
BOB = "bob@" + h.DOMAIN
CAROL = "carol@" + h.DOMAIN
PASSWORDS = {ALICE: "al1ce", BOB: "b0b", CAROL: "car0l"}
NS_ROSTER = "jabber:iq:roster"
Q = "{%s}query" % NS_ROSTER
ITEM = "{%s}item" % NS_ROSTER
GROUP = "{%s}group" % NS_ROSTER


def is_push(el):
    return stanza_is(el, "iq", "set", child=Q)


def push_item(el):
    items = el.find(Q).findall(ITEM)
    return items[0] if len(items) == 1 else None


def push_for(jid):
    return lambda el: is_push(el) and push_item(el) is not None and push_item(el).get("jid") == jid


def state(item):
    """(subscription, ask) of a roster item; ask None when absent."""
    return (item.get("subscription"), item.get("ask"))


def pres(type_, frm):
    return lambda el: stanza_is(el, "presence", type_, frm=frm)


async def check_push(c, contact, want, what):
    """The first roster push about contact on c has the (subscription,
    ask) want, comes from the account (or no one) and carries a version."""
    el = await c.expect(push_for(contact), "roster push about " + contact)
    item = push_item(el)
    frm = el.get("from")
    check(state(item) == want and frm in (None, c.boundjid.bare),
          "%s: %s gets a roster push for %s with subscription=%s ask=%s"
          % (what, c.boundjid.user, contact, want[0], want[1]), h.xml_text(el))
    check(el.find(Q).get("ver"), "... carrying a roster version", h.xml_text(el))
    return el


async def no_push(c, what, unchanged=None):
    """c gets no other roster push. An inbound request leaves the
    contact's roster item as it was (RFC 6121 §3.1.3 has no push for it);
    with unchanged=(subscription, ask), a push repeating exactly that
    state is tolerated but noted."""
    extra = await c.none_within(is_push, 0.3)
    repeats = [e for e in extra if unchanged is not None and state(push_item(e)) == unchanged]
    if repeats:
        print("note: %s: %s got a roster push that changes nothing: %s"
              % (what, c.boundjid.user, [h.xml_text(e) for e in repeats]), flush=True)
    extra = [e for e in extra if e not in repeats]
    check(extra == [], "%s: no other roster push to %s" % (what, c.boundjid.user),
          [h.xml_text(e) for e in extra])


async def roster_get(c, ver=""):
    res = await h.iq_get(c, None, "<query xmlns='%s' ver='%s'/>" % (NS_ROSTER, ver))
    return res.xml


async def handshake(a, b):
    """alice subscribes to bob and back, each side's pushes checked."""
    a.send_raw("<presence to='%s' type='subscribe'/>" % BOB)
    await check_push(a, BOB, ("none", "subscribe"), "alice subscribes to bob")
    el = await b.expect(pres("subscribe", ALICE), "alice's subscription request")
    check(True, "bob gets the request from alice's bare JID", h.xml_text(el))
    await no_push(b, "alice subscribes to bob", unchanged=("none", None))

    b.send_raw("<presence to='%s' type='subscribed'/>" % ALICE)
    await check_push(b, ALICE, ("from", None), "bob approves")
    push, sub, avail = await a.expect_seq([
        ("roster push about bob", push_for(BOB)),
        ("subscribed from bob", pres("subscribed", BOB)),
        ("bob's presence", pres("available", b.boundjid.full))])
    check(state(push_item(push)) == ("to", None),
          "bob approves: alice gets a roster push for bob with subscription=to, no ask",
          h.xml_text(push))
    check(True, "... then the subscribed presence from bob's bare JID, then bob's "
          "available presence from his full JID (in that order)")
    await no_push(a, "bob approves")

    b.send_raw("<presence to='%s' type='subscribe'/>" % ALICE)
    await check_push(b, ALICE, ("from", "subscribe"), "bob subscribes to alice")
    await a.expect(pres("subscribe", BOB), "bob's subscription request")
    check(True, "alice gets the request from bob's bare JID")
    await no_push(a, "bob subscribes to alice", unchanged=("to", None))

    a.send_raw("<presence to='%s' type='subscribed'/>" % BOB)
    last_push_to_a = await check_push(a, BOB, ("both", None), "alice approves")
    push, sub, avail = await b.expect_seq([
        ("roster push about alice", push_for(ALICE)),
        ("subscribed from alice", pres("subscribed", ALICE)),
        ("alice's presence", pres("available", a.boundjid.full))])
    check(state(push_item(push)) == ("both", None),
          "alice approves: bob gets a roster push for alice with subscription=both",
          h.xml_text(push))
    check(True, "... then the subscribed presence, then alice's available presence")
    await no_push(b, "alice approves")
    return last_push_to_a


async def check_rosters(a, b, last_push_to_a):
    for c, contact in ((a, BOB), (b, ALICE)):
        q = (await roster_get(c)).find(Q)
        items = q.findall(ITEM) if q is not None else []
        check(len(items) == 1 and items[0].get("jid") == contact
              and state(items[0]) == ("both", None),
              "%s's roster holds %s with subscription=both" % (c.boundjid.user, contact),
              [h.xml_text(i) for i in items])
    q = (await roster_get(a)).find(Q)
    ver = q.get("ver")
    check(ver, "the roster result carries a version", h.xml_text(q))
    check(last_push_to_a.find(Q).get("ver") == ver,
          "... the version of alice's last roster push", h.xml_text(last_push_to_a))
    res = await roster_get(a, ver)
    check(len(res) == 0, "a roster get with the current version gets an empty result",
          h.xml_text(res))


async def roster_set_iq(c, items):
    iq = c.make_iq_set()
    iq.append(ET.fromstring("<query xmlns='%s'>%s</query>" % (NS_ROSTER, items)))
    return await iq.send(timeout=h.STEP_TIMEOUT_S)


async def presence_update(a, b):
    """A presence change goes to subscribers (§4.4.2)."""
    a.send_raw("<presence><show>away</show><status>lunch</status></presence>")
    el = await b.expect(lambda e: stanza_is(e, "presence", "available", frm=a.boundjid.full)
                        and e.findtext("{jabber:client}show") == "away", "alice's away presence")
    check(el.findtext("{jabber:client}status") == "lunch",
          "alice goes away: bob gets her presence with <show>away</show> and the status",
          h.xml_text(el))


async def roster_set(a):
    """A roster set adds an item with name and group and is pushed
    (§2.3); a set with two items is refused with bad-request (§2.3.3)."""
    dave = "dave@" + h.DOMAIN
    res = await roster_set_iq(a, "<item jid='%s' name='Dave'><group>Friends</group></item>" % dave)
    check(res["type"] == "result", "alice adds dave with a name and a group")
    el = await check_push(a, dave, ("none", None), "alice adds dave")
    item = push_item(el)
    check(item.get("name") == "Dave" and [g.text for g in item.findall(GROUP)]
          == ["Friends"], "... the push has the name and the group", h.xml_text(el))
    q = (await roster_get(a)).find(Q)
    got = [i for i in q.findall(ITEM) if i.get("jid") == dave]
    check(len(got) == 1 and got[0].get("name") == "Dave", "the roster holds dave",
          [h.xml_text(i) for i in got])
    try:
        await roster_set_iq(a, "<item jid='x@%s'/><item jid='y@%s'/>" % (h.DOMAIN, h.DOMAIN))
        cond = "result"
    except h.IqError as e:
        cond = h.iq_error_condition(e)
    check(cond == "bad-request", "a roster set with two items gets bad-request", cond)
    await roster_set_iq(a, "<item jid='%s' subscription='remove'/>" % dave)
    await check_push(a, dave, ("remove", None), "alice removes dave")
    await no_push(a, "after removing dave")


async def offline_request(srv, a):
    """A request to carol, who is offline, waits for her; she gets it at
    each login until she answers."""
    a.send_raw("<presence to='%s' type='subscribe'/>" % CAROL)
    await check_push(a, CAROL, ("none", "subscribe"), "alice subscribes to offline carol")
    for n in ("first", "second"):
        c = await h.online(srv, CAROL + "/" + n, PASSWORDS[CAROL], presence=False)
        early = await c.none_within(pres("subscribe", ALICE), 0.3)
        c.send_raw("<presence/>")
        el = await c.expect(pres("subscribe", ALICE), "alice's stored subscription request")
        check(early == [], "carol's %s login: the stored request comes once she is available, "
              "from alice's bare JID" % n, h.xml_text(el))
        await c.close()


async def main():
    srv = h.Server(registration="closed").start()
    for jid, pw in PASSWORDS.items():
        r = h.ctl(srv, "user", "add", jid, "--password", pw)
        check(r.returncode == 0, "account %s exists" % jid, r.stderr)

    a = await h.online(srv, ALICE + "/home", PASSWORDS[ALICE], roster=True)
    b = await h.online(srv, BOB + "/work", PASSWORDS[BOB], roster=True)
    for c in (a, b):
        q = c.roster_result.find(Q)
        check(q is not None and q.findall(ITEM) == [] and q.get("ver"),
              "%s's first roster (get with ver='') is empty and versioned" % c.boundjid.user,
              h.xml_text(c.roster_result))
    last_push = await handshake(a, b)
    await check_rosters(a, b, last_push)

    b.abort()  # the connection drops: no unavailable presence from bob
    el = await a.expect(pres("unavailable", BOB + "/work"), "bob's unavailable presence")
    check(True, "bob's connection drops: alice gets unavailable from bob@localhost/work",
          h.xml_text(el))

    b = await h.online(srv, BOB + "/back", PASSWORDS[BOB], roster=True)
    await a.expect(pres("available", BOB + "/back"), "bob's presence")
    check(True, "bob logs in again: alice gets his presence from bob@localhost/back")
    await b.expect(pres("available", ALICE + "/home"), "alice's presence")
    check(True, "... and bob gets alice's current presence (the server probed for it)")

    await offline_request(srv, a)
    await presence_update(a, b)
    await roster_set(a)

    res = await roster_set_iq(a, "<item jid='%s' subscription='remove'/>" % BOB)
    check(res["type"] == "result", "alice removes bob from her roster")
    await check_push(a, BOB, ("remove", None), "alice removes bob")
    pushes = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + h.STEP_TIMEOUT_S
    while not pushes or state(push_item(pushes[-1])) != ("none", None):
        pushes.append(await b.expect(push_for(ALICE), "roster push about alice",
                                     timeout=max(0.1, deadline - loop.time())))
    states = [state(push_item(e)) for e in pushes]
    check(states in ([("to", None), ("none", None)], [("from", None), ("none", None)],
                     [("none", None)]),
          "bob's roster pushes about alice go down to subscription=none", states)
    await b.expect(pres("unavailable", ALICE + "/home"), "alice's unavailable presence")
    check(True, "... and bob gets unavailable presence from alice@localhost/home")
    q = (await roster_get(a)).find(Q)
    jids = sorted(i.get("jid") for i in q.findall(ITEM))
    check(jids == [CAROL], "alice's roster no longer holds bob (only carol)", jids)
    q = (await roster_get(b)).find(Q)
    items = [(i.get("jid"),) + state(i) for i in q.findall(ITEM)]
    check(items == [(ALICE, "none", None)], "bob's roster holds alice with subscription=none",
          items)
    for c in (a, b):
        await c.close()


if __name__ == "__main__":
    h.run(main)
