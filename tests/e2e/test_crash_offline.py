#!/usr/bin/python3
"""test_crash_offline: SIGKILL under load loses no acknowledged offline
message and delivers none twice in one login (XEP-0160, RFC 6121 §8.5.2).

Senders on raw direct-TLS streams send chat messages with unique bodies
to MAILBOXES accounts that have no available resource, each message
followed by a ping to the server. A message is ACKNOWLEDGED when the ping
after it got its result: the server releases that result only once
everything before it is durable, the offline-store decision included.
At a random moment 50-500 ms into the round the server is killed with
SIGKILL and restarted on the same data_dir; ROUNDS rounds.

In every DRAIN_EVERY-th round one mailbox (which gets no new messages
that round, so nothing reaches it live) logs in meanwhile, sends
available presence with priority 0 and a ping, and records what it is
delivered; a kill may land between a delivery and its tombstone. A
login is CONFIRMED when the ping after its presence got its result:
its deliveries were sent before that result and its tombstone is then
durable. At the end every mailbox logs in once more, then again.

What must hold (at-least-once, never twice in one login):
  - every acknowledged message is delivered in at least one login of
    its mailbox, with <delay xmlns='urn:xmpp:delay' from=domain/>;
  - no login gets one message twice;
  - every delivered message is one that was sent, to that mailbox;
  - a message delivered in a confirmed login is never delivered again.
    Delivered in a login the kill cut short (tombstone maybe lost), it
    may come again in a later login: a redelivery across a crash is
    allowed, and counted;
  - a login confirmed after the last one gets nothing;
  - after a clean stop, `stanzactl journal verify` passes.
The at-least-once rule assumes what the server wrote to a session before
its tombstone became durable reaches the client despite the kill (the
messages go out before the tombstone is journaled); no XEP-0198 here.

The kill delays and drain start times come from random.Random(seed); the
seed is printed and CRASH_SEED=N reruns with the same delays (thread
timing still varies)."""

import os
import random
import re
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
from harness import check  # noqa: E402

ROUNDS = 24
MAILBOXES = 3
SENDERS = 2
# Message+ping pairs a sender keeps in flight.
WINDOW = 4
DRAIN_EVERY = 2
KILL_DELAY_MS = (50, 500)
# Bound on the messages a sender sends in one round, so the final login's
# backlog stays a size one read loop takes in well under a second.
MAX_PER_SENDER_ROUND = 1500
# A client thread must notice the dead server within this after the kill.
JOIN_S = 5
OFFLINE_QUOTA = 1000000

NS_PING = "urn:xmpp:ping"
NS_DELAY = "{urn:xmpp:delay}delay"
TAG_IQ = "{jabber:client}iq"
TAG_MESSAGE = "{jabber:client}message"
TAG_PRESENCE = "{jabber:client}presence"
TAG_BODY = "{jabber:client}body"


def mailbox(i):
    return "box%d@%s" % (i, h.DOMAIN)


def sender(i):
    return "sender%d@%s" % (i, h.DOMAIN)


def password(jid):
    return "pw-" + jid.split("@")[0]


def ping_xml(req_id):
    return "<iq type='get' id='%s' to='%s'><ping xmlns='%s'/></iq>" % (req_id, h.DOMAIN, NS_PING)


class Login:
    """One drain login of a mailbox: what it was delivered, in order."""

    def __init__(self, box, label):
        self.box = box
        self.label = label
        self.bodies = []
        self.late = []          # delivered after the presence's ping result
        self.confirmed = False
        self.bad = []           # deliveries without a proper <delay/>


class Ledger:
    """What was sent, acknowledged and delivered over all rounds. Shared
    by the client threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent = {}          # body -> mailbox it was sent to
        self.acked = set()
        self.errors = []        # unexpected answers
        self.logins = []        # Login, in the order they began

    def note_error(self, what):
        with self.lock:
            self.errors.append(what)


def open_session(srv, jid, resource):
    s = h.RawStream(srv, direct_tls=True)
    try:
        s.open()
        s.login_plain(jid.split("@")[0], password(jid), resource=resource)
    except BaseException:
        s.close()
        raise
    return s


# --- sending -----------------------------------------------------------------

def send_load(srv, ledger, rnd, k, targets, stop):
    """Sends message+ping pairs, WINDOW in flight, to the targets in turn
    until stop or the server is gone."""
    try:
        s = open_session(srv, sender(k), "r%d" % rnd)
    except (OSError, AssertionError):
        return
    pending = {}
    n = 0
    try:
        while n < MAX_PER_SENDER_ROUND or pending:
            while n < MAX_PER_SENDER_ROUND and len(pending) < WINDOW and not stop.is_set():
                body = "r%d-s%d-%d" % (rnd, k, n)
                box = targets[n % len(targets)]
                with ledger.lock:
                    ledger.sent[body] = box  # before the bytes leave: it may be stored
                s.send("<message to='%s' type='chat' id='m-%s'><body>%s</body></message>%s"
                       % (box, body, body, ping_xml("p-" + body)))
                pending["p-" + body] = body
                n += 1
            if not pending:
                return
            el = s.next_element(what="a ping result")
            body = pending.pop(el.get("id"), None)
            if el.tag == TAG_IQ and body is not None and el.get("type") == "result":
                with ledger.lock:
                    ledger.acked.add(body)
            else:
                ledger.note_error("sender%d got %s" % (k, ET.tostring(el, encoding="unicode")))
    except (OSError, AssertionError):
        return  # the connection ended: the server was killed
    finally:
        s.close()


# --- receiving -----------------------------------------------------------------

def take_delivery(login, el):
    body = el.findtext(TAG_BODY)
    delay = el.find(NS_DELAY)
    if delay is None or delay.get("from") != h.DOMAIN or not delay.get("stamp"):
        login.bad.append(ET.tostring(el, encoding="unicode"))
    return body


def drain(srv, ledger, box, label, delay_s=0.0, stop=None):
    """Logs box in, sends available presence (priority 0) and pings until
    a ping's result comes with nothing delivered since it was sent (then
    the login is confirmed: a backlog comes in chunks), then sends one more
    ping and records anything delivered before its result as late. Returns the Login; a dead server
    ends it early (unconfirmed)."""
    if delay_s and stop is not None and stop.wait(delay_s):
        return None
    login = Login(box, label)
    with ledger.lock:
        ledger.logins.append(login)
    try:
        s = open_session(srv, box, label)
    except (OSError, AssertionError):
        return login
    try:
        # A backlog comes in chunks, each after the tombstone of the one
        # before: ping until a ping's result arrives with nothing new
        # delivered since it was sent; then every delivery went out and its
        # tombstone is durable (the login is confirmed). One more ping
        # catches anything late.
        k = 1
        mark = 0
        s.send("<presence><priority>0</priority></presence>" + ping_xml("drain-1"))
        into = login.bodies
        for _ in range(4 * MAX_PER_SENDER_ROUND * SENDERS * ROUNDS + 10):
            el = s.next_element(what="a delivery or the ping result")
            if el.tag == TAG_MESSAGE and el.get("type") == "chat":
                into.append(take_delivery(login, el))
            elif (el.tag == TAG_IQ and el.get("id") == "drain-%d" % k and not login.confirmed
                  and el.get("type") == "result"):
                if len(login.bodies) == mark:
                    login.confirmed = True
                    into = login.late
                    s.send(ping_xml("drain-last"))
                else:
                    mark = len(login.bodies)
                    k += 1
                    s.send(ping_xml("drain-%d" % k))
            elif el.tag == TAG_IQ and el.get("id") == "drain-last" and el.get("type") == "result":
                return login
            elif el.tag != TAG_PRESENCE:  # its own presence may come back
                ledger.note_error("%s got %s" % (label, ET.tostring(el, encoding="unicode")))
        ledger.note_error("%s: the delivery did not end" % label)
    except (OSError, AssertionError):
        pass
    finally:
        s.close()
    return login


# --- the invariants ---------------------------------------------------------

def check_deliveries(ledger, label):
    """Everything delivered so far: sent to that mailbox, once per login,
    with a delay, never after a confirmed delivery. Returns the number of
    redeliveries (allowed: after a login the kill cut short)."""
    with ledger.lock:
        logins = list(ledger.logins)
        sent = dict(ledger.sent)
        errors = list(ledger.errors)
    if errors:
        raise AssertionError("%s: unexpected answers: %s" % (label, errors[:5]))
    done = {}     # body -> label of the confirmed login that got it
    seen = set()
    redelivered = 0
    for lg in logins:
        got = lg.bodies + lg.late
        if lg.bad:
            raise AssertionError("%s: %s got messages without <delay from='%s'/>: %s"
                                 % (label, lg.label, h.DOMAIN, lg.bad[:3]))
        if lg.late:
            raise AssertionError("%s: %s got %d stored message(s) after the result of the ping "
                                 "that followed its presence: %s"
                                 % (label, lg.label, len(lg.late), lg.late[:5]))
        twice = sorted({b for b in got if got.count(b) > 1}) if len(set(got)) != len(got) else []
        if twice:
            raise AssertionError("%s: %s got %d message(s) twice in one login: %s"
                                 % (label, lg.label, len(twice), twice[:10]))
        wrong = [b for b in got if sent.get(b) != lg.box]
        if wrong:
            raise AssertionError("%s: %s (%s) got message(s) never sent to it: %s"
                                 % (label, lg.label, lg.box,
                                    [(b, sent.get(b, "never sent")) for b in wrong[:10]]))
        again = [(b, done[b]) for b in got if b in done]
        if again:
            raise AssertionError("%s: %s got %d message(s) again that the confirmed login named "
                                 "here had already been delivered: %s"
                                 % (label, lg.label, len(again), again[:10]))
        redelivered += len([b for b in got if b in seen])
        seen.update(got)
        if lg.confirmed:
            done.update((b, lg.label) for b in got)
    return redelivered


def check_acked_delivered(ledger):
    with ledger.lock:
        got = set()
        for lg in ledger.logins:
            got.update(lg.bodies)
        lost = sorted(ledger.acked - got)
        where = {}
        for b in lost:  # per round and mailbox, to tell one bad restart from a pattern
            key = "%s->%s" % (b.split("-")[0], ledger.sent[b].split("@")[0])
            where[key] = where.get(key, 0) + 1
    if lost:
        raise AssertionError("%d acknowledged message(s) never delivered (by round->mailbox: %s): %s"
                             % (len(lost), where, lost[:20]))


# --- the rounds ------------------------------------------------------------------

def crash_round(srv, ledger, rng, rnd):
    delay = rng.uniform(*KILL_DELAY_MS) / 1000.0
    drained = rnd % MAILBOXES if rnd % DRAIN_EVERY == 0 else None
    drain_at = rng.uniform(0, delay)
    targets = [mailbox(i) for i in range(MAILBOXES) if i != drained]
    stop = threading.Event()
    threads = [threading.Thread(target=send_load, args=(srv, ledger, rnd, k, targets, stop),
                                daemon=True) for k in range(SENDERS)]
    if drained is not None:
        threads.append(threading.Thread(
            target=drain, args=(srv, ledger, mailbox(drained), "round-%d" % rnd, drain_at, stop),
            daemon=True))
    for t in threads:
        t.start()
    time.sleep(delay)
    rc = srv.kill()
    stop.set()
    for t in threads:
        t.join(JOIN_S)
    if any(t.is_alive() for t in threads):
        raise AssertionError("round %d: a client did not notice the dead server" % rnd)
    if rc != -9:
        raise AssertionError("round %d: the server was not killed by SIGKILL (%s)" % (rnd, rc))
    return delay


def restart(srv):
    offset = srv.spawn()
    deadline = time.monotonic() + h.SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if re.search(r"\bready\s*$", srv.log_text(offset), re.M):
            return
        if srv.proc.poll() is not None:
            raise AssertionError("the server exited (%s) while restarting after a crash:\n%s\n"
                                 "journal verify says: %s"
                                 % (srv.proc.returncode, srv.log_text(offset)[-3000:],
                                    journal_verify(srv)[1][-1500:]))
        time.sleep(0.02)
    raise AssertionError("the server did not restart within %ss" % h.SERVER_START_TIMEOUT_S)


def journal_verify(srv):
    """stanzactl journal verify (server stopped): (exit code, output)."""
    r = subprocess.run([h.binary("stanzactl"), "--set", "data_dir=%s" % srv.data_dir, "journal",
                        "verify"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=15)
    return r.returncode, r.stdout + r.stderr


def describe_drain(ledger, rnd):
    lg = next((x for x in ledger.logins if x.label == "round-%d" % rnd), None)
    if lg is None:
        return ""
    return "; %s drained: %d delivered%s" % (lg.box.split("@")[0], len(lg.bodies),
                                             ", confirmed" if lg.confirmed else ", cut short")


def final_logins(srv, ledger):
    for i in range(MAILBOXES):
        lg = drain(srv, ledger, mailbox(i), "final")
        check(lg.confirmed, "%s logs in after the last crash: %d message(s) delivered, each with "
              "a delay" % (mailbox(i), len(lg.bodies)), lg.label)
        again = drain(srv, ledger, mailbox(i), "final-again")
        check(again.confirmed and not again.bodies,
              "... and its next login gets nothing", again.bodies[:10])


def main():
    seed = int(os.environ.get("CRASH_SEED") or random.SystemRandom().randrange(1 << 32))
    print("    seed %d (rerun with CRASH_SEED=%d)" % (seed, seed), flush=True)
    rng = random.Random(seed)
    srv = h.Server(registration="closed", offline_quota=OFFLINE_QUOTA).start()
    for jid in [mailbox(i) for i in range(MAILBOXES)] + [sender(k) for k in range(SENDERS)]:
        r = h.ctl(srv, "user", "add", jid, "--password", password(jid))
        check(r.returncode == 0, "account %s exists" % jid, r.stderr)
    ledger = Ledger()
    t0 = time.monotonic()
    for rnd in range(1, ROUNDS + 1):
        before = len(ledger.acked)
        delay = crash_round(srv, ledger, rng, rnd)
        restart(srv)
        check_deliveries(ledger, "round %d" % rnd)
        print("    round %2d: killed at %3d ms, %4d acknowledged (%d in all, %d sent)%s" % (
            rnd, delay * 1000, len(ledger.acked) - before, len(ledger.acked), len(ledger.sent),
            describe_drain(ledger, rnd)), flush=True)
    elapsed = time.monotonic() - t0
    check(len(ledger.acked) >= ROUNDS,
          "%d rounds of SIGKILL under load in %.1fs; %d offline messages acknowledged of %d sent"
          % (ROUNDS, elapsed, len(ledger.acked), len(ledger.sent)), len(ledger.acked))
    final_logins(srv, ledger)
    redelivered = check_deliveries(ledger, "at the end")
    check_acked_delivered(ledger)
    delivered = {b for lg in ledger.logins for b in lg.bodies}
    check(True, "every acknowledged message was delivered (%d delivered in all, %d of them not "
          "acknowledged); none twice in one login, none unsent or to the wrong mailbox, none "
          "again after a confirmed delivery; %d redelivered after a crash cut a login short"
          % (len(delivered), len(delivered - ledger.acked), redelivered))
    cut = [lg for lg in ledger.logins if not lg.confirmed and lg.bodies]
    print("    %d drain login(s) during the rounds, %d cut short after deliveries began"
          % (len([lg for lg in ledger.logins if lg.label.startswith("round")]), len(cut)))
    rc = srv.stop()
    check(rc == 0, "the server stops cleanly after the last restart", rc)
    rc, out = journal_verify(srv)
    check(rc == 0, "journal verify passes after the clean stop", out[-1500:])


if __name__ == "__main__":
    h.run(main)
