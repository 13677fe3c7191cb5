#!/usr/bin/python3
"""test_im_priority: a message to a bare JID goes by presence priority
(RFC 6121 §8.5.2.1.1, §8.5.2.2).

alice has resources with priorities 5, 1 and -1. bob's chat message to
alice@localhost reaches only the priority-5 one; once it is gone, the
priority-1 one gets the next; the priority -1 one never gets a bare-JID
message, though a message to its full JID reaches it. With only the -1
resource online a bare-JID message is stored offline, and is delivered
(with a XEP-0203 delay) when a resource with priority 0 sends initial
presence."""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
from harness import check, stanza_is  # noqa: E402

ALICE = "alice@" + h.DOMAIN
BOB = "bob@" + h.DOMAIN
QUIET_S = 0.8  # how long a resource is watched to prove it got nothing


def chat_with(body):
    return lambda el: (stanza_is(el, "message", "chat")
                       and el.findtext("{jabber:client}body") == body)


async def send_to_bare(bob, body):
    bob.send_raw("<message to='%s' type='chat'><body>%s</body></message>" % (ALICE, body))
    await h.sync(bob)


async def main():
    srv = h.Server(registration="closed").start()
    for jid, pw in ((ALICE, "al1ce"), (BOB, "b0b")):
        r = h.ctl(srv, "user", "add", jid, "--password", pw)
        check(r.returncode == 0, "account %s exists" % jid, r.stderr)
    bob = await h.online(srv, BOB + "/desk", "b0b")
    five = await h.online(srv, ALICE + "/five", "al1ce", priority=5)
    one = await h.online(srv, ALICE + "/one", "al1ce", priority=1)
    neg = await h.online(srv, ALICE + "/neg", "al1ce", priority=-1)

    await send_to_bare(bob, "m1")
    m = await five.expect(chat_with("m1"), "bob's message m1")
    check(m.get("from") == BOB + "/desk",
          "a message to alice's bare JID reaches the priority-5 resource, from bob's full JID",
          h.xml_text(m))
    got = await one.none_within(chat_with("m1"), QUIET_S) + neg.take(chat_with("m1"))
    check(got == [], "... and neither the priority-1 nor the priority -1 resource",
          [h.xml_text(e) for e in got])

    await five.close()
    await send_to_bare(bob, "m2")
    await one.expect(chat_with("m2"), "bob's message m2")
    check(True, "once the priority-5 resource is gone, the priority-1 one gets the next message")
    got = await neg.none_within(chat_with("m2"), QUIET_S)
    check(got == [], "... and the priority -1 one still gets nothing", got)

    bob.send_raw("<message to='%s/neg' type='chat'><body>direct</body></message>" % ALICE)
    await neg.expect(chat_with("direct"), "bob's message to alice/neg")
    check(True, "a message to the full JID of the priority -1 resource reaches it")

    await one.close()
    await send_to_bare(bob, "m3")
    got = await neg.none_within(chat_with("m3"), QUIET_S)
    check(got == [], "with only a priority -1 resource online, a bare-JID message is not "
          "delivered to it", [h.xml_text(e) for e in got])
    errs = bob.take(lambda el: stanza_is(el, "message", "error"))
    check(errs == [], "... and bob gets no error (it is kept offline)",
          [h.xml_text(e) for e in errs])

    zero = await h.online(srv, ALICE + "/zero", "al1ce", priority=0)
    m = await zero.expect(chat_with("m3"), "the offline message m3")
    delay = m.find("{urn:xmpp:delay}delay")
    check(m.get("from") == BOB + "/desk" and delay is not None and delay.get("stamp"),
          "a resource with priority 0 gets the stored message at initial presence, from "
          "bob's full JID with a XEP-0203 delay stamp", h.xml_text(m))
    got = await neg.none_within(chat_with("m3"), QUIET_S) + zero.take(chat_with("m3"))
    check(got == [], "the stored message is delivered once, and not to the priority -1 "
          "resource", [h.xml_text(e) for e in got])
    for c in (bob, neg, zero):
        await c.close()


if __name__ == "__main__":
    h.run(main)
