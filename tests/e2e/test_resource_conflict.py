#!/usr/bin/python3
"""test_resource_conflict: resource binding (RFC 6120 §7) with real
clients.

A second session binding the same full JID replaces the first, which gets
a <conflict/> stream error and is disconnected (§7.7.2.2, the server's
"override" policy); the new session then gets what is sent to that full
JID. A client that asks for no resource gets one the server makes up,
different for each session, and neither session disturbs the other."""

import asyncio
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
from harness import check  # noqa: E402

ROSA = "rosa@" + h.DOMAIN


async def main():
    srv = h.Server(registration="closed").start()
    for jid, pw in ((ROSA, "r0sa"), ("sam@" + h.DOMAIN, "s4m")):
        r = h.ctl(srv, "user", "add", jid, "--password", pw)
        check(r.returncode == 0, "account %s exists" % jid, r.stderr)
    sam = await h.login(srv, "sam@localhost/phone", "s4m")

    first = await h.login(srv, ROSA + "/desk", "r0sa")
    check(first.boundjid.full == ROSA + "/desk", "the first session binds rosa@localhost/desk",
          first.boundjid.full)
    second = await h.login(srv, ROSA + "/desk", "r0sa", direct_tls=True)
    check(second.boundjid.full == ROSA + "/desk",
          "a second session binds the same resource", second.boundjid.full)
    await first.wait_gone()
    check(first.stream_errors == ["conflict"],
          "the first session gets a <conflict/> stream error and is disconnected",
          first.stream_errors)
    check(not second.gone.is_set(), "the second session stays connected")

    sam.send_message(mto=ROSA + "/desk", mbody="to the desk", mtype="chat")
    m = await second.next_message()
    check(m["body"] == "to the desk" and m["from"].full == "sam@localhost/phone",
          "a message to rosa@localhost/desk now reaches the second session", m)
    check(first.messages.empty(), "the replaced session got nothing")
    res = await h.iq_get(second, srv.domain, "<ping xmlns='urn:xmpp:ping'/>")
    check(res["type"] == "result", "the second session answers a ping")

    a = await h.login(srv, ROSA, "r0sa")
    b = await h.login(srv, ROSA, "r0sa")
    ra, rb = a.boundjid.resource, b.boundjid.resource
    check(a.boundjid.bare == ROSA and ra != "",
          "a client that asks for no resource gets a server-generated one", a.boundjid.full)
    check(rb != "" and rb != ra and rb != "desk",
          "another one gets a different generated resource", (ra, rb))
    await asyncio.sleep(0.3)
    check(not a.gone.is_set() and not b.gone.is_set() and not second.gone.is_set(),
          "three sessions of rosa coexist (no conflict between different resources)")

    sam.send_message(mto=a.boundjid.full, mbody="to a", mtype="chat")
    sam.send_message(mto=b.boundjid.full, mbody="to b", mtype="chat")
    ma, mb = await a.next_message(), await b.next_message()
    check(ma["body"] == "to a" and mb["body"] == "to b",
          "each generated full JID routes to its own session", (ma["body"], mb["body"]))
    r = h.ctl(srv, "status")
    check("sessions: 4" in r.stdout, "status counts 4 sessions (3 of rosa, 1 of sam)", r.stdout)
    for c in (a, b, second, sam):
        await c.close()


if __name__ == "__main__":
    h.run(main)
