#!/usr/bin/python3
"""test_im_vcard_misc: vcard-temp (XEP-0054), private XML storage
(XEP-0049), last activity (XEP-0012), the server's disco#info features
(XEP-0030) and roster versioning in the stream features (RFC 6121 §2.6).

alice sets her vCard, gets it back, and replaces it; she gets bob's
vCard (stored while he was online) from his bare JID while he is
offline. She stores private XML and gets it back (another namespace
comes back empty); bob may not read it. bob, whom alice is subscribed
to, logs out with a status: alice's last-activity query to his bare JID
gets the seconds since then and the status; carol, not subscribed, gets
forbidden. disco#info on the server lists exactly the features it
implements."""

import asyncio
import base64
import sys
import time
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
from harness import check, stanza_is  # noqa: E402

ALICE = "alice@" + h.DOMAIN
BOB = "bob@" + h.DOMAIN
CAROL = "carol@" + h.DOMAIN
PASSWORDS = {ALICE: "al1ce", BOB: "b0b", CAROL: "car0l"}
VC = "{vcard-temp}vCard"
PRIV = "{jabber:iq:private}query"
FEATURES = {
    "http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items",
    "jabber:iq:last", "jabber:iq:private", "jabber:iq:register", "jabber:iq:version",
    "msgoffline", "urn:xmpp:blocking", "urn:xmpp:carbons:2", "urn:xmpp:ping",
    "urn:xmpp:time", "vcard-temp",
}


async def iq_set(c, payload, to=None):
    iq = c.make_iq_set(ito=to)
    iq.append(ET.fromstring(payload))
    return await iq.send(timeout=h.STEP_TIMEOUT_S)


async def refused(coro):
    """The error condition of an IQ that must fail, or 'result'."""
    try:
        await coro
        return "result"
    except h.IqError as e:
        return h.iq_error_condition(e)


def vcard(fn, nick):
    return "<vCard xmlns='vcard-temp'><FN>%s</FN><NICKNAME>%s</NICKNAME></vCard>" % (fn, nick)


async def vcards(srv):
    a = await h.online(srv, ALICE + "/home", PASSWORDS[ALICE])
    res = await iq_set(a, vcard("Alice Liddell", "al"))
    check(res["type"] == "result", "alice sets her vCard")
    res = await h.iq_get(a, None, "<vCard xmlns='vcard-temp'/>")
    v = res.xml.find(VC)
    check(v is not None and v.findtext("{vcard-temp}FN") == "Alice Liddell"
          and v.findtext("{vcard-temp}NICKNAME") == "al" and res["from"].bare in ("", ALICE),
          "alice gets her own vCard back", h.xml_text(res.xml))
    await iq_set(a, "<vCard xmlns='vcard-temp'><FN>Alice L.</FN></vCard>")
    res = await h.iq_get(a, None, "<vCard xmlns='vcard-temp'/>")
    v = res.xml.find(VC)
    check(v is not None and v.findtext("{vcard-temp}FN") == "Alice L."
          and v.find("{vcard-temp}NICKNAME") is None,
          "a second set replaces the whole vCard", h.xml_text(res.xml))

    b = await h.online(srv, BOB + "/desk", PASSWORDS[BOB])
    await iq_set(b, vcard("Bob Builder", "bob"))
    await b.close()
    res = await h.iq_get(a, BOB, "<vCard xmlns='vcard-temp'/>")
    v = res.xml.find(VC)
    check(v is not None and v.findtext("{vcard-temp}FN") == "Bob Builder"
          and res["from"].full == BOB,
          "alice gets offline bob's vCard from his bare JID (the server answers)",
          h.xml_text(res.xml))
    return a


async def private_storage(srv, a):
    res = await iq_set(a, "<query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'>"
                          "<color>blue</color></prefs></query>")
    check(res["type"] == "result", "alice stores private XML in urn:example:prefs")
    a2 = await h.online(srv, ALICE + "/phone", PASSWORDS[ALICE])
    res = await h.iq_get(a2, None, "<query xmlns='jabber:iq:private'>"
                                   "<prefs xmlns='urn:example:prefs'/></query>")
    p = res.xml.find(PRIV + "/{urn:example:prefs}prefs")
    check(p is not None and p.findtext("{urn:example:prefs}color") == "blue",
          "her other session gets it back", h.xml_text(res.xml))
    res = await h.iq_get(a2, None, "<query xmlns='jabber:iq:private'>"
                                   "<other xmlns='urn:example:other'/></query>")
    p = res.xml.find(PRIV + "/{urn:example:other}other")
    check(p is not None and len(p) == 0 and not (p.text or "").strip(),
          "a namespace with nothing stored comes back as the empty element", h.xml_text(res.xml))
    await a2.close()
    b = await h.online(srv, BOB + "/desk", PASSWORDS[BOB])
    cond = await refused(h.iq_get(b, ALICE, "<query xmlns='jabber:iq:private'>"
                                            "<prefs xmlns='urn:example:prefs'/></query>"))
    check(cond in ("forbidden", "service-unavailable"),
          "bob may not read alice's private XML (forbidden or service-unavailable)", cond)
    return b


async def last_activity(srv, a, b):
    a.send_raw("<presence to='%s' type='subscribe'/>" % BOB)
    await b.expect(lambda el: stanza_is(el, "presence", "subscribe", frm=ALICE),
                   "alice's subscription request")
    b.send_raw("<presence to='%s' type='subscribed'/>" % ALICE)
    await a.expect(lambda el: stanza_is(el, "presence", "subscribed", frm=BOB), "bob's approval")
    check(True, "alice is subscribed to bob's presence")
    b.send_raw("<presence type='unavailable'><status>Gone fishing</status></presence>")
    await h.sync(b)
    gone_at = time.monotonic()
    await b.close()
    await asyncio.sleep(1.5)
    res = await h.iq_get(a, BOB, "<query xmlns='jabber:iq:last'/>")
    elapsed = time.monotonic() - gone_at
    q = res.xml.find("{jabber:iq:last}query")
    seconds = int(q.get("seconds", "-1")) if q is not None else None
    check(seconds is not None and 1 <= seconds <= elapsed + 1 and res["from"].full == BOB,
          "alice's last-activity query to offline bob gets the seconds since he left "
          "(%.1f s ago)" % elapsed, h.xml_text(res.xml))
    check((q.text or "").strip() == "Gone fishing",
          "... and the status of his last unavailable presence", h.xml_text(res.xml))
    c = await h.online(srv, CAROL + "/x", PASSWORDS[CAROL])
    cond = await refused(h.iq_get(c, BOB, "<query xmlns='jabber:iq:last'/>"))
    check(cond == "forbidden", "carol, not subscribed to bob, gets forbidden", cond)
    await c.close()


async def disco(srv, a):
    res = await h.iq_get(a, srv.domain, "<query xmlns='http://jabber.org/protocol/disco#info'/>")
    q = res.xml.find("{http://jabber.org/protocol/disco#info}query")
    feats = [f.get("var") for f in q.findall("{http://jabber.org/protocol/disco#info}feature")]
    check(set(feats) == FEATURES and len(feats) == len(FEATURES),
          "disco#info on the server lists exactly the implemented features",
          "missing %s, extra %s, duplicates %s" % (
              sorted(FEATURES - set(feats)), sorted(set(feats) - FEATURES),
              sorted({f for f in feats if feats.count(f) > 1})))


def stream_features_have_rosterver(srv):
    s = h.RawStream(srv)
    try:
        s.open()
        s.starttls()
        tok = base64.b64encode(("\0alice\0" + PASSWORDS[ALICE]).encode()).decode()
        s.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (h.NS_SASL, tok))
        el = s.next_element(what="SASL answer")
        check(el.tag == "{%s}success" % h.NS_SASL, "a raw stream logs in with PLAIN",
              h.xml_text(el))
        s.restart()
        feats = s.open()
        check(feats.find("{urn:xmpp:features:rosterver}ver") is not None,
              "the stream features after login include <ver xmlns='urn:xmpp:features:rosterver'/>",
              h.xml_text(feats))
    finally:
        s.close()


async def main():
    srv = h.Server(registration="closed").start()
    for jid, pw in PASSWORDS.items():
        r = h.ctl(srv, "user", "add", jid, "--password", pw)
        check(r.returncode == 0, "account %s exists" % jid, r.stderr)
    stream_features_have_rosterver(srv)
    a = await vcards(srv)
    b = await private_storage(srv, a)
    await disco(srv, a)
    await last_activity(srv, a, b)
    await a.close()


if __name__ == "__main__":
    h.run(main)
