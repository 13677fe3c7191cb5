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
A SIGKILL while a message waits loses nothing: the key survived.

Then the whole disk: on a server with snapshots_keep=1 and no scheduled
snapshot, a message with a unique marker waits for alice while
`stanzactl snapshot` is taken; `snapshot dump --bodies` shows the marker
(so the scan can see it) and plain `snapshot dump` hides it. Once
delivered, a new snapshot (the old one pruned, the journal compacted) and
a backup are taken; with the server stopped neither `journal dump
--bodies`, nor `snapshot dump --bodies` of every snapshot and of the
backup decrypted with gpg, nor a raw byte scan of every file under the
server's directory (data, backups, log) finds the marker. GnuPG runs in
a throw-away GNUPGHOME."""

import glob
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
from harness import check, stanza_is  # noqa: E402

ALICE = "alice@" + h.DOMAIN
BOB = "bob@" + h.DOMAIN
CAROL = "carol@" + h.DOMAIN
GPG_TIMEOUT_S = 30
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


def gpg(home, *args):
    return subprocess.run(["gpg", "--homedir", home, "--batch", "--yes"] + list(args),
                          capture_output=True, timeout=GPG_TIMEOUT_S)


def make_key(home):
    """A throw-away OpenPGP key without a passphrase; returns its fingerprint."""
    os.makedirs(home, mode=0o700)
    r = gpg(home, "--passphrase", "", "--quick-gen-key", "stanzad test <t@example.invalid>",
            "default", "default", "never")
    check(r.returncode == 0, "a throw-away OpenPGP key is made", r.stderr.decode(errors="replace"))
    out = gpg(home, "--with-colons", "--list-secret-keys").stdout.decode()
    return re.search(r"^fpr:+([0-9A-F]{40}):", out, re.M).group(1)


def snapshot_files(srv):
    return sorted(glob.glob(os.path.join(srv.data_dir, "snapshots", "*.snap")))


def snapshot_dump(srv, *args):
    r = h.ctl(srv, "snapshot", "dump", *args, timeout=30)
    check(r.returncode == 0, "snapshot dump %s exits 0" % " ".join(args), (r.stdout, r.stderr))
    return r.stdout


async def take(srv, what):
    r = h.ctl(srv, what)
    check(r.returncode == 0, "stanzactl %s succeeds" % what, (r.stdout, r.stderr))
    return r.stdout


async def scan_after_compaction(home):
    fpr = make_key(home)
    srv = h.Server("scan", registration="closed", snapshots_keep=1, snapshot_every_events=0,
                   snapshot_every_s=0, backup_recipient=fpr, backup_interval_s=0).start()
    for jid, pw in ((ALICE, "al1ce"), (BOB, "b0b-pass")):
        check(h.ctl(srv, "user", "add", jid, "--password", pw).returncode == 0,
              "the operator creates " + jid)
    secret = marker("compacted")
    bob = await h.online(srv, BOB + "/desk", "b0b-pass")
    bob.send_raw("<message to='%s' type='chat'><body>%s</body><subject>%s</subject></message>"
                 % (ALICE, secret, secret))
    await h.sync(bob)
    await bob.close()
    await take(srv, "snapshot")
    r = h.ctl(srv, "snapshot", "dump")
    check(r.returncode == 4 and "in use" in r.stderr,
          "snapshot dump refuses while the server runs (exit 4)", (r.returncode, r.stderr))
    check(srv.stop() == 0, "the server stops on SIGTERM")

    out = snapshot_dump(srv, "--bodies")
    check(secret in out and re.search(r"^  offline %s id \d+ " % re.escape(ALICE), out, re.M),
          "while it waits, snapshot dump --bodies shows the message in the snapshot", out)
    out = snapshot_dump(srv)
    check(secret not in out and "<body>[hidden %d bytes]</body>" % len(secret) in out
          and "<subject>[hidden %d bytes]</subject>" % len(secret) in out
          and "offline messages: 1" in out,
          "without --bodies its body and subject are hidden", out)
    check("handler accounts:" in out and "handler offline:" in out,
          "every durable handler is listed with its size", out)
    check(not re.search(r"(salt|-stored|-server)='(?!\[hidden\])", out),
          "no SCRAM material is printed", out)

    srv.start()
    alice = await h.online(srv, ALICE + "/phone", "al1ce")
    await alice.expect(chat_with(secret), "the stored message")
    await h.sync(alice)
    await alice.close()
    await take(srv, "snapshot")
    out = await take(srv, "backup")
    backup = re.search(r": (\S+\.snap\.gpg) ", out).group(1)
    check(srv.stop() == 0, "the server stops on SIGTERM")

    snaps = snapshot_files(srv)
    check(len(snaps) == 1, "snapshots_keep=1: the snapshot taken while it waited is pruned", snaps)
    check(secret not in dump(srv, "--bodies"), "journal dump --bodies: the marker is gone")
    out = snapshot_dump(srv, "--bodies")
    check(secret not in out and "offline messages: 0" in out and out.count("snapshot ") == 1,
          "snapshot dump --bodies of every snapshot: the marker is gone", out)
    plain = os.path.join(h.tmpdir(), "scan-backup.snap")
    r = gpg(home, "--output", plain, "--decrypt", backup)
    check(r.returncode == 0, "gpg --decrypt opens the backup", r.stderr.decode(errors="replace"))
    out = snapshot_dump(srv, "--bodies", plain)
    check(secret not in out and "offline messages: 0" in out,
          "snapshot dump --bodies of the decrypted backup: the marker is gone", out)
    r = h.ctl(srv, "snapshot", "dump", keys_file(srv))
    check(r.returncode == 1 and "not a snapshot file" in r.stderr,
          "snapshot dump of a file that is no snapshot says so (exit 1)", (r.returncode, r.stderr))
    check(h.files_holding(srv.dir, secret.encode()) == [],
          "no file under the server's directory (data, backups, log) holds the marker")
    check(h.files_holding(plain, secret.encode()) == [], "nor the decrypted backup's bytes")


async def main():
    await privacy_of_the_journal()
    home = os.path.join(h.tmpdir(), "gnupg")
    os.environ["GNUPGHOME"] = home  # the server and gpg inherit it
    try:
        await scan_after_compaction(home)
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True)


async def privacy_of_the_journal():
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
