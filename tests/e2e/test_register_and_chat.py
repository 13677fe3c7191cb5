#!/usr/bin/python3
"""test_register_and_chat: two people register in-band with a real client
and talk, over STARTTLS and over direct TLS; the server answers the IQs
it advertises.

slixmpp registers two accounts (XEP-0077), one on each port; both log in
with SCRAM-SHA-256; messages go both ways to full JIDs with the body and
the sender's full JID intact, and to a bare JID; the same again with both
on direct TLS (XEP-0368) and with one on each; disco#info, disco#items,
ping, version and time are answered; an unknown IQ gets
service-unavailable; registering a taken username gets <conflict/> and
leaves the account as it was."""

import datetime
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
from harness import check  # noqa: E402

BODY = "hello <&> \u00fcn\u00efc\u00f8d\u00e9 \u2713 'quoted' \"too\""


async def exchange(a, b, label):
    """a and b message each other at their full JIDs, then a messages b's
    bare JID."""
    for src, dst in ((a, b), (b, a)):
        text = "%s %s -> %s: %s" % (label, src.boundjid.user, dst.boundjid.user, BODY)
        src.send_message(mto=dst.boundjid.full, mbody=text, mtype="chat")
        m = await dst.next_message()
        check(m["body"] == text, "%s: %s gets %s's message with the body intact"
              % (label, dst.boundjid.user, src.boundjid.user), repr(m["body"]))
        check(m["from"].full == src.boundjid.full,
              "%s: ... stamped from %s's full JID" % (label, src.boundjid.user), m["from"])
        check(m["type"] == "chat" and m["to"].bare == dst.boundjid.bare,
              "%s: ... with type chat, to %s" % (label, dst.boundjid.bare),
              "%s %s" % (m["type"], m["to"]))
    text = "%s to the bare JID" % label
    # RFC 6121 §8.5.2.1.1: only an available resource takes bare-JID messages.
    b.send_presence()
    await h.sync(b)
    a.send_message(mto=b.boundjid.bare, mbody=text, mtype="chat")
    m = await b.next_message()
    check(m["body"] == text and m["from"].full == a.boundjid.full,
          "%s: a message to %s's bare JID reaches the available session" % (label, b.boundjid.bare),
          "%r from %s" % (m["body"], m["from"]))


def child(iq, tag):
    return iq.xml.find(tag)


async def server_iqs(c, srv):
    res = await h.iq_get(c, srv.domain, "<query xmlns='http://jabber.org/protocol/disco#info'/>")
    q = child(res, "{http://jabber.org/protocol/disco#info}query")
    listed = [f.get("var") for f in q.findall("{http://jabber.org/protocol/disco#info}feature")]
    features = set(listed)
    ident = q.find("{http://jabber.org/protocol/disco#info}identity")
    check(res["type"] == "result" and res["from"].full == srv.domain,
          "disco#info on the server gets a result from %s" % srv.domain, res["from"])
    check(ident is not None and ident.get("category") == "server" and ident.get("type") == "im",
          "disco#info has the server/im identity", ET.tostring(q))
    want = {"http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items",
            "jabber:iq:last", "jabber:iq:private", "jabber:iq:register", "jabber:iq:version",
            "msgoffline", "urn:xmpp:blocking", "urn:xmpp:carbons:2", "urn:xmpp:ping",
            "urn:xmpp:time", "vcard-temp"}
    check(want == features, "disco#info lists exactly what the server implements",
          {"missing": sorted(want - features), "extra": sorted(features - want)})
    check(listed == sorted(features, key=lambda v: v.encode()),
          "disco#info lists its features once each, in byte order", listed)

    res = await h.iq_get(c, srv.domain, "<query xmlns='http://jabber.org/protocol/disco#items'/>")
    check(child(res, "{http://jabber.org/protocol/disco#items}query") is not None,
          "disco#items on the server gets a result", res)

    res = await h.iq_get(c, srv.domain, "<ping xmlns='urn:xmpp:ping'/>")
    check(res["type"] == "result" and len(res.xml) == 0,
          "ping gets an empty result (XEP-0199)", res)

    res = await h.iq_get(c, srv.domain, "<query xmlns='jabber:iq:version'/>")
    q = child(res, "{jabber:iq:version}query")
    name = q.findtext("{jabber:iq:version}name") if q is not None else None
    version = q.findtext("{jabber:iq:version}version") if q is not None else None
    check(name == "stanzad", "version answers the name stanzad", name)
    out = subprocess.run([h.binary("stanzad"), "--version"], capture_output=True, text=True,
                         timeout=10).stdout.split()
    check(version and out and version == out[-1],
          "version answers the same version as `stanzad --version`", (version, out))

    res = await h.iq_get(c, srv.domain, "<time xmlns='urn:xmpp:time'/>")
    t = child(res, "{urn:xmpp:time}time")
    utc = t.findtext("{urn:xmpp:time}utc") if t is not None else None
    tzo = t.findtext("{urn:xmpp:time}tzo") if t is not None else None
    when = datetime.datetime.fromisoformat(utc.replace("Z", "+00:00")) if utc else None
    now = datetime.datetime.now(datetime.timezone.utc)
    check(when is not None and abs((when - now).total_seconds()) < 60 and tzo,
          "time answers the current UTC time and a tzo (XEP-0202)", (utc, tzo))

    try:
        await h.iq_get(c, srv.domain, "<query xmlns='urn:example:no-such-thing'/>")
        check(False, "an unknown IQ get to the server is refused", "it got a result")
    except h.IqError as e:
        cond = h.iq_error_condition(e)
        check(cond == "service-unavailable",
              "an unknown IQ get to the server gets service-unavailable", cond)
    res = await h.iq_get(c, srv.domain, "<ping xmlns='urn:xmpp:ping'/>")
    check(res["type"] == "result", "the session still works after the error")


async def main():
    srv = h.Server(registration="open").start()

    cond, form, _ = await h.register(srv, "romeo", "r0meo-pass")
    check(cond is None, "romeo registers in-band over STARTTLS", cond)
    q = form.xml.find("{jabber:iq:register}query") if form is not None else None
    check(q is not None and q.find("{jabber:iq:register}username") is not None
          and q.find("{jabber:iq:register}password") is not None,
          "the registration form asks for username and password",
          ET.tostring(form.xml) if form is not None else None)
    cond, _, _ = await h.register(srv, "juliet", "jul1et-pass", direct_tls=True)
    check(cond is None, "juliet registers in-band over direct TLS", cond)

    romeo = await h.login(srv, "romeo@localhost/balcony", "r0meo-pass", mech="SCRAM-SHA-256")
    juliet = await h.login(srv, "juliet@localhost/garden", "jul1et-pass", mech="SCRAM-SHA-256")
    check(romeo.mech_used == juliet.mech_used == "SCRAM-SHA-256",
          "both log in over STARTTLS with SCRAM-SHA-256")
    check(romeo.boundjid.full == "romeo@localhost/balcony",
          "the requested resource is bound", romeo.boundjid.full)
    await exchange(romeo, juliet, "STARTTLS")
    await server_iqs(romeo, srv)
    await romeo.close()
    await juliet.close()

    romeo = await h.login(srv, "romeo@localhost/tls", "r0meo-pass", direct_tls=True)
    juliet = await h.login(srv, "juliet@localhost/tls", "jul1et-pass", direct_tls=True)
    check(romeo.mech_used == juliet.mech_used == "SCRAM-SHA-256",
          "both log in over direct TLS (XEP-0368) with SCRAM-SHA-256")
    await exchange(romeo, juliet, "direct TLS")
    res = await h.iq_get(juliet, srv.domain, "<ping xmlns='urn:xmpp:ping'/>")
    check(res["type"] == "result", "ping works over direct TLS")
    await romeo.close()

    romeo = await h.login(srv, "romeo@localhost/plain-port", "r0meo-pass")
    await exchange(romeo, juliet, "mixed ports")

    cond, _, _ = await h.register(srv, "romeo", "another-pass")
    check(cond == "conflict", "registering the taken username romeo gets <conflict/>", cond)
    cond = await h.login_fails(srv, "romeo@localhost", "another-pass")
    check(cond == "not-authorized", "the refused registration did not set its password", cond)
    c = await h.login(srv, "romeo@localhost/again", "r0meo-pass")
    check(True, "romeo still logs in with his own password")
    await c.close()
    await romeo.close()
    await juliet.close()


if __name__ == "__main__":
    h.run(main)
