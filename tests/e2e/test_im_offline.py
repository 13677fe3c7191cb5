#!/usr/bin/python3
"""test_im_offline: offline messages (RFC 6121 §8.5.2.2, XEP-0160,
XEP-0203).

A chat message to an account with no session is kept and delivered once,
when the account next sends initial presence, with a <delay
xmlns='urn:xmpp:delay'/> from the server and a stamp of when it was sent;
the login after gets nothing. The same across a server restart between
the sending and the login. With offline_quota=2, the third message
waiting for one account bounces back to its sender with
service-unavailable; the first two are delivered."""

import datetime
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
from harness import check, stanza_is  # noqa: E402

ALICE = "alice@" + h.DOMAIN
BOB = "bob@" + h.DOMAIN
QUIET_S = 0.8


def chat_with(body):
    return lambda el: (stanza_is(el, "message", "chat")
                       and el.findtext("{jabber:client}body") == body)


def parse_stamp(s):
    """XEP-0082 DateTime (UTC, 'Z', optional fraction) or None."""
    if not s.endswith("Z"):
        return None
    try:
        return datetime.datetime.fromisoformat(s[:-1] + "+00:00")
    except ValueError:
        return None


def now():
    return datetime.datetime.now(datetime.timezone.utc)


async def send_offline(bob, body, msg_id=None):
    bob.send_raw("<message to='%s' type='chat'%s><body>%s</body></message>"
                 % (ALICE, " id='%s'" % msg_id if msg_id else "", body))
    await h.sync(bob)


async def no_errors(bob, what):
    errs = await bob.none_within(lambda el: stanza_is(el, "message", "error"), 0.3)
    check(errs == [], what, [h.xml_text(e) for e in errs])


async def receive_stored(srv, body, sent_at, label):
    """alice logs in: nothing before initial presence, then the stored
    message with a delay; a login after that gets nothing."""
    a = await h.online(srv, ALICE + "/" + label, "al1ce", presence=False)
    early = await a.none_within(chat_with(body), 0.3)
    check(early == [], "%s: nothing is delivered before initial presence" % label,
          [h.xml_text(e) for e in early])
    a.send_raw("<presence/>")
    m = await a.expect(chat_with(body), "the stored message " + body)
    delay = m.find("{urn:xmpp:delay}delay")
    check(m.get("from") == BOB + "/desk" and m.get("to") == ALICE,
          "%s: the stored message is delivered at initial presence, from bob's full JID to "
          "alice's bare JID" % label, h.xml_text(m))
    stamp = parse_stamp(delay.get("stamp", "")) if delay is not None else None
    check(delay is not None and delay.get("from") == h.DOMAIN and stamp is not None,
          "%s: ... with <delay xmlns='urn:xmpp:delay' from='%s'/> and a UTC stamp"
          % (label, h.DOMAIN), h.xml_text(m))
    check(sent_at - datetime.timedelta(seconds=2) <= stamp <= now(),
          "%s: ... stamped with when it was sent" % label, (delay.get("stamp"), sent_at))
    again = await a.none_within(chat_with(body), QUIET_S)
    check(again == [], "%s: it is delivered once" % label, again)
    await a.close()
    a = await h.online(srv, ALICE + "/" + label + "-again", "al1ce")
    again = await a.none_within(chat_with(body), QUIET_S)
    check(again == [], "%s: the next login gets nothing" % label, again)
    await a.close()


async def main():
    srv = h.Server(registration="closed", offline_quota=2).start()
    for jid, pw in ((ALICE, "al1ce"), (BOB, "b0b")):
        r = h.ctl(srv, "user", "add", jid, "--password", pw)
        check(r.returncode == 0, "account %s exists" % jid, r.stderr)

    bob = await h.online(srv, BOB + "/desk", "b0b")
    sent_at = now()
    await send_offline(bob, "while you were out")
    await no_errors(bob, "a message to alice, who has never logged in, is accepted")
    await receive_stored(srv, "while you were out", sent_at, "first")

    sent_at = now()
    await send_offline(bob, "across a restart")
    await no_errors(bob, "a second offline message is accepted")
    await bob.close()
    srv.stop()
    srv.start()
    check(True, "the server restarts")
    await receive_stored(srv, "across a restart", sent_at, "restart")

    bob = await h.online(srv, BOB + "/desk", "b0b")
    await send_offline(bob, "q1", "q1")
    await send_offline(bob, "q2", "q2")
    await no_errors(bob, "two offline messages fit the quota of 2")
    await send_offline(bob, "q3", "q3")
    err = await bob.expect(lambda el: stanza_is(el, "message", "error"), "an error for q3")
    check(err.get("id") == "q3" and h.stanza_error(err) == "service-unavailable"
          and err.get("from") == ALICE,
          "the third one bounces to bob with service-unavailable, from alice's bare JID and "
          "with q3's id", h.xml_text(err))
    a = await h.online(srv, ALICE + "/quota", "al1ce")
    await a.expect_seq([("q1", chat_with("q1")), ("q2", chat_with("q2"))])
    check(True, "alice gets the first two at her next login, in the order sent")
    rest = await a.none_within(chat_with("q3"), QUIET_S)
    check(rest == [], "... and not the bounced one", rest)
    for c in (a, bob):
        await c.close()


if __name__ == "__main__":
    h.run(main)
