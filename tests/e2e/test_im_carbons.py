#!/usr/bin/python3
"""test_im_carbons: message carbons (XEP-0280, urn:xmpp:carbons:2).

alice has r1 and r2 with carbons enabled and r3 without. A chat message
from bob to alice/r1 reaches r1 as is and r2 as a <received/> carbon
(from alice's bare JID, the original inside <forwarded
xmlns='urn:xmpp:forward:0'/>); a chat message r1 sends reaches r2 as a
<sent/> carbon. r3 and bob get no copies. Messages marked <private
xmlns='urn:xmpp:carbons:2'/> are copied in neither direction; after r2
disables carbons it gets no more copies."""

import asyncio
import sys
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
from harness import check, stanza_is  # noqa: E402

ALICE = "alice@" + h.DOMAIN
BOB = "bob@" + h.DOMAIN
NS = "urn:xmpp:carbons:2"
FWD = "{urn:xmpp:forward:0}forwarded"
CM = "{jabber:client}message"
QUIET_S = 0.6


def body_of(el):
    return el.findtext("{jabber:client}body")


def plain_chat(body):
    return lambda el: (stanza_is(el, "message", "chat") and body_of(el) == body
                       and el.find("{%s}received" % NS) is None
                       and el.find("{%s}sent" % NS) is None)


def carbon(kind, body):
    """A <kind/> carbon (received or sent) of the message with body."""
    def pred(el):
        wrap = el.find("{%s}%s" % (NS, kind))
        inner = wrap.find(FWD + "/" + CM) if wrap is not None else None
        return stanza_is(el, "message") and inner is not None and body_of(inner) == body
    return pred


def any_copy(body):
    return lambda el: carbon("received", body)(el) or carbon("sent", body)(el)


async def iq_set(c, payload):
    iq = c.make_iq_set()
    iq.append(ET.fromstring(payload))
    return await iq.send(timeout=h.STEP_TIMEOUT_S)


async def chat(src, to, body, private=False):
    src.send_raw("<message to='%s' type='chat'><body>%s</body>%s</message>" % (
        to, body, "<private xmlns='%s'/><no-copy xmlns='urn:xmpp:hints'/>" % NS if private else ""))
    await h.sync(src)


async def nobody_else(clients, body, what, wait=QUIET_S):
    """After wait, none of clients has a carbon of the message body."""
    await asyncio.sleep(wait)
    got = []
    for c in clients:
        got += [(c.boundjid.full, h.xml_text(e)) for e in c.take(any_copy(body))]
    check(got == [], what, got)


async def main():
    srv = h.Server(registration="closed").start()
    for jid, pw in ((ALICE, "al1ce"), (BOB, "b0b")):
        r = h.ctl(srv, "user", "add", jid, "--password", pw)
        check(r.returncode == 0, "account %s exists" % jid, r.stderr)
    bob = await h.online(srv, BOB + "/desk", "b0b")
    r1 = await h.online(srv, ALICE + "/r1", "al1ce")
    r2 = await h.online(srv, ALICE + "/r2", "al1ce")
    r3 = await h.online(srv, ALICE + "/r3", "al1ce")
    for r in (r1, r2):
        res = await iq_set(r, "<enable xmlns='%s'/>" % NS)
        check(res["type"] == "result", "%s enables carbons" % r.boundjid.full)

    await chat(bob, ALICE + "/r1", "to r1")
    m = await r1.expect(plain_chat("to r1"), "bob's message")
    check(m.get("from") == BOB + "/desk", "r1 gets bob's message itself", h.xml_text(m))
    c = await r2.expect(carbon("received", "to r1"), "a <received/> carbon")
    inner = c.find("{%s}received/%s/%s" % (NS, FWD, CM))
    check(c.get("from") == ALICE and c.get("to") == ALICE + "/r2",
          "r2 gets a <received/> carbon from alice's bare JID", h.xml_text(c))
    check(inner.get("from") == BOB + "/desk" and inner.get("to") == ALICE + "/r1"
          and inner.get("type") == "chat",
          "... forwarding the original from bob/desk to alice/r1", h.xml_text(c))
    await nobody_else((r1, r3, bob), "to r1", "r3 (carbons not enabled), r1 and bob get no copy")

    await chat(r1, BOB, "from r1")
    await bob.expect(plain_chat("from r1"), "r1's message")
    c = await r2.expect(carbon("sent", "from r1"), "a <sent/> carbon")
    inner = c.find("{%s}sent/%s/%s" % (NS, FWD, CM))
    check(c.get("from") == ALICE and inner.get("from") == ALICE + "/r1"
          and inner.get("to") == BOB,
          "r2 gets a <sent/> carbon of r1's message to bob, from alice's bare JID",
          h.xml_text(c))
    await nobody_else((r1, r3, bob), "from r1", "r1 itself, r3 and bob get no copy of it")

    await chat(bob, ALICE + "/r1", "private in", private=True)
    await r1.expect(plain_chat("private in"), "bob's private message")
    await chat(r1, BOB, "private out", private=True)
    await bob.expect(plain_chat("private out"), "r1's private message")
    await nobody_else((r2, r3), "private in",
                      "a message to r1 with <private xmlns='%s'/> is not copied" % NS)
    await nobody_else((r2, r3), "private out", "a message r1 sends with <private/> is not copied")

    res = await iq_set(r2, "<disable xmlns='%s'/>" % NS)
    check(res["type"] == "result", "r2 disables carbons")
    await chat(bob, ALICE + "/r1", "after disable")
    await r1.expect(plain_chat("after disable"), "bob's message")
    await nobody_else((r2,), "after disable", "r2 gets no more carbons")
    for cl in (bob, r1, r2, r3):
        await cl.close()


if __name__ == "__main__":
    h.run(main)
