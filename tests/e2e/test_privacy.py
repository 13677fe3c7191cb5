#!/usr/bin/python3
"""test_privacy: crypto-erasure keeps no chats (doc/operations.md, "What
stays on disk of a message").

bob writes to alice twice while she is offline, and once to carol while
she is online. With the server stopped, the offline tools see: carol's
message only as a frame "(content erased)", even with --bodies; alice's
two messages readable (they wait), with two live keys in the erasure
table. alice logs in and gets both; with the server stopped again, both
offline copies are erased too, `journal verify` counts no readable
content, and every slot of erasure.keys is zero: the keys are gone from
the file, not just forgotten. After a restart alice gets nothing again.
A SIGKILL while a message waits loses nothing: the key survived."""

import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
from harness import check, stanza_is  # noqa: E402

ALICE = "alice@" + h.DOMAIN
BOB = "bob@" + h.DOMAIN
CAROL = "carol@" + h.DOMAIN
SLOT_BYTES = 40
HEADER_BYTES = 16


def marker(tag):
    return "%s-%s" % (tag, os.urandom(5).hex())


def keys_file(srv):
    return os.path.join(srv.data_dir, "journal", "erasure.keys")


def live_slots(srv):
    with open(keys_file(srv), "rb") as f:
        data = f.read()
    check(data[:8] == b"STZERAS1" and (len(data) - HEADER_BYTES) % SLOT_BYTES == 0,
          "erasure.keys is a key table (header, 40-byte slots)", data[:16])
    slots = [data[i:i + SLOT_BYTES] for i in range(HEADER_BYTES, len(data), SLOT_BYTES)]
    return [s for s in slots if s != bytes(SLOT_BYTES)]


def dump(srv, *args):
    r = h.ctl(srv, "journal", "dump", *args, timeout=30)
    check(r.returncode == 0, "journal dump %s exits 0" % " ".join(args), r.stderr)
    return r.stdout


def verify_counts(srv):
    r = h.ctl(srv, "journal", "verify")
    m = re.search(r"(\d+) with content erased, (\d+) with readable content", r.stdout)
    check(r.returncode == 0 and m, "journal verify exits 0 and counts erased content", r.stdout)
    return int(m.group(1)), int(m.group(2))


def chat_with(body):
    return lambda el: (stanza_is(el, "message", "chat")
                       and el.findtext("{jabber:client}body") == body)


async def main():
    srv = h.Server(registration="closed").start()
    for jid, pw in ((ALICE, "al1ce"), (BOB, "b0b-pass"), (CAROL, "car0l")):
        check(h.ctl(srv, "user", "add", jid, "--password", pw).returncode == 0,
              "the operator creates " + jid)
    waiting = [marker("waiting"), marker("waiting")]
    routed = marker("routed")
    carol = await h.online(srv, CAROL + "/home", "car0l")
    bob = await h.online(srv, BOB + "/desk", "b0b-pass")
    for body in waiting:
        bob.send_raw("<message to='%s' type='chat'><body>%s</body></message>" % (ALICE, body))
    bob.send_raw("<message to='%s' type='chat'><body>%s</body></message>" % (CAROL, routed))
    await carol.expect(chat_with(routed), "carol's message")
    await h.sync(bob)
    await bob.close()
    await carol.close()
    check(srv.stop() == 0, "the server stops on SIGTERM")

    out = dump(srv, "--bodies")
    check(routed not in out, "a message routed to an online recipient is unreadable in the "
          "journal, even with --bodies")
    check(all(w in out for w in waiting),
          "the two messages waiting for alice are readable (dump --bodies)")
    erased, readable = verify_counts(srv)
    check(readable == 2 and erased >= 3,
          "verify: 2 records with readable content, the message stanzas erased", (erased, readable))
    check(len(live_slots(srv)) == 2, "erasure.keys holds exactly the 2 waiting messages' keys",
          len(live_slots(srv)))

    # A crash while they wait loses nothing: their keys were synced with them.
    srv.start()
    srv.kill()
    srv.start()
    alice = await h.online(srv, ALICE + "/phone", "al1ce")
    for body in waiting:
        m = await alice.expect(chat_with(body), "a stored message")
        check(m.find("{urn:xmpp:delay}delay") is not None,
              "alice gets '%s' after a SIGKILL, with a delay stamp" % body)
    await h.sync(alice)
    await alice.close()
    check(srv.stop() == 0, "the server stops on SIGTERM")

    out = dump(srv, "--bodies")
    check(not any(w in out for w in waiting) and routed not in out,
          "once delivered, no message content is readable in the journal, even with --bodies")
    stored = [ln for ln in out.splitlines() if " offline-store " in ln]
    check(len(stored) == 2 and all(ln.endswith("offline-store (content erased)") for ln in stored),
          "... the offline-store records are frames '(content erased)'", stored)
    erased, readable = verify_counts(srv)
    check(readable == 0, "verify: no record with readable content", (erased, readable))
    check(live_slots(srv) == [], "every slot of erasure.keys is overwritten with zeros")

    srv.start()
    alice = await h.online(srv, ALICE + "/tablet", "al1ce")
    again = await alice.none_within(lambda el: stanza_is(el, "message", "chat"), 0.8)
    check(again == [], "after a restart alice gets nothing again", again)
    await alice.close()
    check(srv.stop() == 0, "the server stops on SIGTERM")


if __name__ == "__main__":
    h.run(main)
