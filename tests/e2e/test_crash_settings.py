#!/usr/bin/python3
"""test_crash_settings: changes acknowledged after the last snapshot
survive SIGKILL, including those whose handling depends on the server's
settings (domain, limits).

The handlers take their settings from the server-started event only. A
start rebuilds the state from the newest snapshot plus the journal after
it, and the server-started that configured the run is before the
snapshot: unless the snapshot carries those settings, the journal tail is
applied by handlers with no domain, and a vCard (XEP-0054) or private XML
(XEP-0049) stored after the snapshot is silently not re-applied.

alice logs in; `stanzactl snapshot`; she sets her vCard and stores
private XML (both answered with a result); the server is killed with
SIGKILL and restarted on the same data_dir from that snapshot; both are
still there, and survive a clean restart too."""

import re
import sys
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
from harness import check  # noqa: E402

ALICE = "alice@" + h.DOMAIN
BOB = "bob@" + h.DOMAIN
PASSWORDS = {ALICE: "al1ce", BOB: "b0b"}
VC = "{vcard-temp}vCard"
PREFS = "{jabber:iq:private}query/{urn:example:prefs}prefs"


async def iq_set(c, payload):
    iq = c.make_iq_set()
    iq.append(ET.fromstring(payload))
    return await iq.send(timeout=h.STEP_TIMEOUT_S)


def take_snapshot(srv):
    r = h.ctl(srv, "snapshot")
    m = re.search(r"snapshot at seq (\d+)", r.stdout)
    check(r.returncode == 0 and m, "stanzactl snapshot writes a snapshot", (r.stdout, r.stderr))
    return int(m.group(1))


async def check_kept(srv, label):
    a = await h.online(srv, ALICE + "/phone", PASSWORDS[ALICE])
    card = await h.iq_get(a, None, "<vCard xmlns='vcard-temp'/>")
    priv = await h.iq_get(a, None, "<query xmlns='jabber:iq:private'>"
                                   "<prefs xmlns='urn:example:prefs'/></query>")
    await a.close()
    v = card.xml.find(VC)
    p = priv.xml.find(PREFS)
    kept_card = (v is not None and v.findtext("{vcard-temp}FN") == "Alice Liddell"
                 and v.findtext("{vcard-temp}NICKNAME") == "al")
    kept_priv = p is not None and p.findtext("{urn:example:prefs}color") == "blue"
    print("    %s: vCard %s, private XML %s" % (label, "kept" if kept_card else "LOST",
                                               "kept" if kept_priv else "LOST"))
    check(kept_card, "%s: alice's vCard set after the snapshot is there" % label,
          h.xml_text(card.xml))
    check(kept_priv, "%s: her private XML stored after the snapshot is there" % label,
          h.xml_text(priv.xml))


async def main():
    srv = h.Server(registration="closed", snapshot_every_events=0, snapshot_every_s=0).start()
    for jid, pw in PASSWORDS.items():
        r = h.ctl(srv, "user", "add", jid, "--password", pw)
        check(r.returncode == 0, "account %s exists" % jid, r.stderr)
    a = await h.online(srv, ALICE + "/home", PASSWORDS[ALICE])
    seq = take_snapshot(srv)

    res = await iq_set(a, "<vCard xmlns='vcard-temp'><FN>Alice Liddell</FN>"
                          "<NICKNAME>al</NICKNAME></vCard>")
    check(res["type"] == "result", "alice sets her vCard after the snapshot at seq %d" % seq)
    res = await iq_set(a, "<query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'>"
                          "<color>blue</color></prefs></query>")
    check(res["type"] == "result", "alice stores private XML after the snapshot")

    rc = srv.kill()
    check(rc == -9, "the server is killed with SIGKILL", rc)
    await a.close()
    offset = len(srv.log_text())
    srv.start()
    log = srv.log_text(offset)
    check(re.search(r"state restored from the snapshot at seq %d\b" % seq, log),
          "the restart restored the snapshot at seq %d and replayed the journal after it" % seq,
          log[-2000:])
    await check_kept(srv, "after SIGKILL")

    check(srv.stop() == 0, "the server stops cleanly")
    srv.start()
    await check_kept(srv, "after a clean restart")
    check(srv.stop() == 0, "the server stops cleanly again")


if __name__ == "__main__":
    h.run(main)
