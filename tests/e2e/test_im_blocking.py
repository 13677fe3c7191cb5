#!/usr/bin/python3
"""test_im_blocking: blocking command (XEP-0191, urn:xmpp:blocking).

alice (r1, and r2 which has asked for its block list) blocks bob: r1 gets
a result and r2 a block push. bob's messages to alice bounce with
service-unavailable and reach no resource of hers (§3.5), so does an IQ;
alice's message to bob is refused with not-acceptable and <blocked
xmlns='urn:xmpp:blocking:errors'/> (§3.6) and never reaches him. The
block list holds bob. After unblocking (push on r2) messages flow both
ways; blocking again and unblocking everything (an empty <unblock/>)
does the same."""

import sys
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
from harness import check, stanza_is  # noqa: E402

ALICE = "alice@" + h.DOMAIN
BOB = "bob@" + h.DOMAIN
NS = "urn:xmpp:blocking"
QUIET_S = 0.6


def chat_with(body):
    return lambda el: (stanza_is(el, "message", "chat")
                       and el.findtext("{jabber:client}body") == body)


def error_for(msg_id):
    return lambda el: stanza_is(el, "message", "error") and el.get("id") == msg_id


def push(kind):
    return lambda el: stanza_is(el, "iq", "set", child="{%s}%s" % (NS, kind))


async def iq_set(c, payload):
    iq = c.make_iq_set()
    iq.append(ET.fromstring(payload))
    return await iq.send(timeout=h.STEP_TIMEOUT_S)


async def blocklist(c):
    res = await h.iq_get(c, None, "<blocklist xmlns='%s'/>" % NS)
    bl = res.xml.find("{%s}blocklist" % NS)
    return None if bl is None else sorted(i.get("jid") for i in bl.findall("{%s}item" % NS))


async def check_push(r2, kind, jids, what):
    el = await r2.expect(push(kind), "an <%s/> push" % kind)
    items = sorted(i.get("jid") for i in el.find("{%s}%s" % (NS, kind)).findall("{%s}item" % NS))
    check(items == jids and el.get("from") in (None, ALICE),
          "%s: r2 gets an <%s/> push with %s" % (what, kind, jids or "no items"), h.xml_text(el))


async def flows(r1, bob, label):
    bob.send_raw("<message to='%s' type='chat'><body>b-%s</body></message>"
                 % (r1.boundjid.full, label))
    r1.send_raw("<message to='%s' type='chat'><body>a-%s</body></message>" % (BOB, label))
    await r1.expect(chat_with("b-" + label), "bob's message")
    await bob.expect(chat_with("a-" + label), "alice's message")
    check(True, "%s: messages flow both ways again" % label)


async def main():
    srv = h.Server(registration="closed").start()
    for jid, pw in ((ALICE, "al1ce"), (BOB, "b0b")):
        r = h.ctl(srv, "user", "add", jid, "--password", pw)
        check(r.returncode == 0, "account %s exists" % jid, r.stderr)
    bob = await h.online(srv, BOB + "/desk", "b0b")
    r1 = await h.online(srv, ALICE + "/r1", "al1ce")
    r2 = await h.online(srv, ALICE + "/r2", "al1ce")
    for c in (r1, r2):
        c.register_plugin("xep_0191")  # takes the pushes (no error reply)
    check(await blocklist(r2) == [], "r2 asks for the block list: it is empty")

    res = await iq_set(r1, "<block xmlns='%s'><item jid='%s'/></block>" % (NS, BOB))
    check(res["type"] == "result", "r1 blocks bob@localhost")
    await check_push(r2, "block", [BOB], "block")
    check(await blocklist(r1) == [BOB], "the block list holds bob")

    for to, mid in ((ALICE, "m-bare"), (ALICE + "/r1", "m-full")):
        bob.send_raw("<message to='%s' type='chat' id='%s'><body>%s</body></message>"
                     % (to, mid, mid))
        err = await bob.expect(error_for(mid), "an error for " + mid)
        check(h.stanza_error(err) == "service-unavailable",
              "bob's message to %s bounces with service-unavailable" % to, h.xml_text(err))
    try:
        await h.iq_get(bob, ALICE + "/r1", "<ping xmlns='urn:xmpp:ping'/>")
        check(False, "bob's IQ to alice/r1 is refused", "it got a result")
    except h.IqError as e:
        check(h.iq_error_condition(e) == "service-unavailable",
              "bob's IQ to alice/r1 gets service-unavailable", h.iq_error_condition(e))
    got = (await r1.none_within(lambda el: stanza_is(el, "message") or stanza_is(el, "iq", "get"),
                                QUIET_S)
           + r2.take(lambda el: stanza_is(el, "message")))
    check(got == [], "... and no resource of alice gets them", [h.xml_text(e) for e in got])

    r1.send_raw("<message to='%s' type='chat' id='a1'><body>to the blocked</body></message>" % BOB)
    err = await r1.expect(error_for("a1"), "an error for alice's message")
    check(h.stanza_error(err) == "not-acceptable"
          and err.find("{jabber:client}error/{urn:xmpp:blocking:errors}blocked") is not None,
          "alice's message to bob is refused with not-acceptable and <blocked "
          "xmlns='urn:xmpp:blocking:errors'/>", h.xml_text(err))
    got = await bob.none_within(chat_with("to the blocked"), QUIET_S)
    check(got == [], "... and bob never gets it", got)

    res = await iq_set(r1, "<unblock xmlns='%s'><item jid='%s'/></unblock>" % (NS, BOB))
    check(res["type"] == "result", "r1 unblocks bob")
    await check_push(r2, "unblock", [BOB], "unblock")
    check(await blocklist(r1) == [], "the block list is empty again")
    await flows(r1, bob, "unblocked")

    await iq_set(r1, "<block xmlns='%s'><item jid='%s'/></block>" % (NS, BOB))
    await check_push(r2, "block", [BOB], "block again")
    res = await iq_set(r1, "<unblock xmlns='%s'/>" % NS)
    check(res["type"] == "result", "r1 unblocks everyone (an empty <unblock/>)")
    await check_push(r2, "unblock", [], "unblock all")
    check(await blocklist(r1) == [], "the block list is empty")
    await flows(r1, bob, "all unblocked")
    for c in (bob, r1, r2):
        await c.close()


if __name__ == "__main__":
    h.run(main)
