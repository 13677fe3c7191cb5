#!/usr/bin/python3
"""test_journal_tool: `stanzactl journal verify` and `journal dump` on the
journal a real server wrote, with the server stopped.

The operator creates three accounts; romeo sends juliet (online) enough
messages to fill several 64 KiB segments, then one with a unique marker
in its body, subject and thread and another marker inside an OMEMO-style
encrypted element, and the same message to nurse, who never logs in, so
it waits in offline storage. While the server runs, both commands refuse
and name the lock and the server's pid. After SIGTERM: verify lists
every segment and ends "ok: N records, seq 1..N, E with content erased,
1 with readable content" (exit 0). dump shows the account-register
events; every message juliet got is a frame "(content erased)": its data
key was destroyed on delivery, so not even --bodies can show it. The
waiting offline message is readable, and dump shows its body, subject,
thread and encrypted payload as [hidden N bytes] and every SCRAM salt or
key as [hidden]; dump --bodies shows its markers but still no
credentials; --from/--to select records. A torn tail (the last segment cut short) is
reported by verify, exit 0, and left in place. A byte flipped in the
middle of an earlier segment makes verify exit 1 naming that file and the
offset of the block that holds the byte."""

import base64
import os
import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
from harness import check  # noqa: E402

ROMEO = "romeo@" + h.DOMAIN
JULIET = "juliet@" + h.DOMAIN
NURSE = "nurse@" + h.DOMAIN
MARKER = "m4rker-%s" % os.urandom(6).hex()
SECRET_MARKER = "omemo-%s" % os.urandom(6).hex()
SEGMENT_BYTES = 65536
FILLER_MESSAGES = 700       # ~300 KB of hardly compressible text: five or more segments
SEG_HDR_BYTES = 64          # doc/formats/journal.md
BLOCK_OFF_LEN = 4
NS_OMEMO_OLD = "eu.siacs.conversations.axolotl"
SECRET_ATTR = re.compile(r"\s(salt|[\w-]+-stored|[\w-]+-server)='([^']*)'")


def ctl_dump(srv, *args):
    """Like h.ctl, but prints only the start of what came back: a dump
    of the whole journal would bury the rest of the log."""
    cmd = [h.binary("stanzactl"), "--set", "data_dir=%s" % srv.data_dir] + list(args)
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    print("    $ stanzactl %s -> exit %d; %d lines on stdout; stderr: %s"
          % (" ".join(args), r.returncode, len(r.stdout.splitlines()), r.stderr.strip()[:300]),
          flush=True)
    return r


def journal_dir(srv):
    return os.path.join(srv.data_dir, "journal")


def segments(srv):
    d = journal_dir(srv)
    return sorted(os.path.join(d, n) for n in os.listdir(d) if n.endswith(".seg"))


def block_offsets(path):
    """Offsets of the blocks of a segment, walking block_len."""
    with open(path, "rb") as f:
        data = f.read()
    offs, off = [], SEG_HDR_BYTES
    while off + 44 <= len(data):
        offs.append(off)
        off += struct.unpack_from("<I", data, off + BLOCK_OFF_LEN)[0]
    return offs


async def chat(srv):
    romeo = await h.login(srv, ROMEO + "/balcony", "r0meo-pass")
    juliet = await h.login(srv, JULIET + "/garden", "jul1et-pass")
    for i in range(FILLER_MESSAGES):
        text = "%d %s" % (i, base64.b64encode(os.urandom(300)).decode())
        romeo.send_message(mto=juliet.boundjid.full, mbody=text, mtype="chat")
    for to in (juliet.boundjid.full, NURSE):  # nurse never logs in: the copy waits offline
        m = romeo.make_message(mto=to, mbody="the word is " + MARKER,
                               msubject="subject " + MARKER, mtype="chat")
        m["thread"] = "thread-" + MARKER
        enc = ET.SubElement(m.xml, "{%s}encrypted" % NS_OMEMO_OLD)
        ET.SubElement(enc, "{%s}header" % NS_OMEMO_OLD, sid="1234")
        ET.SubElement(enc, "{%s}payload" % NS_OMEMO_OLD).text = SECRET_MARKER
        m.send()
    got = 0
    while True:
        msg = await juliet.next_message(timeout=20)
        got += 1
        if MARKER in msg["body"]:
            break
    check(got == FILLER_MESSAGES + 1, "juliet got all %d messages, the marker last"
          % (FILLER_MESSAGES + 1), got)
    await romeo.close()
    await juliet.close()


def check_refused_while_running(srv):
    for args in (("journal", "verify"), ("journal", "dump")):
        r = h.ctl(srv, *args)
        check(r.returncode == 4, "`%s` with the server running exits 4" % " ".join(args),
              r.returncode)
        check("lock" in r.stderr and str(srv.proc.pid) in r.stderr,
              "... naming the lock and the server's pid %d" % srv.proc.pid, r.stderr.strip())
        check(r.stdout == "", "... and printing nothing on stdout", r.stdout)


def check_verify_ok(srv):
    r = h.ctl(srv, "journal", "verify")
    check(r.returncode == 0, "journal verify exits 0 on the stopped server's journal", r.stderr)
    lines = r.stdout.strip().splitlines()
    m = re.fullmatch(r"ok: (\d+) records, seq 1\.\.(\d+), (\d+) with content erased, 1 with readable content", lines[-1]) if lines else None
    check(m is not None and m.group(1) == m.group(2),
          "... and ends with 'ok: N records, seq 1..N'", lines[-1:] or r.stdout)
    segs = segments(srv)
    seg_lines = [ln for ln in lines if ".seg: seq " in ln]
    check(len(segs) >= 3 and len(seg_lines) == len(segs),
          "... after one line per segment (%d segments of %d bytes)" % (len(segs), SEGMENT_BYTES),
          r.stdout)
    first = re.match(r"(\S+): seq 1\.\.(\d+), (\d+) blocks, (\d+) records, (\d+) bytes$",
                     seg_lines[0])
    check(first is not None and first.group(1) == segs[0]
          and int(first.group(5)) == os.path.getsize(segs[0]),
          "... each naming its file, seqs, blocks, records and bytes", seg_lines[0])
    return int(m.group(1))


def secret_attrs(text):
    return SECRET_ATTR.findall(text)


def check_dump(srv, total):
    r = ctl_dump(srv, "journal", "dump")
    out = r.stdout
    lines = out.splitlines()
    check(r.returncode == 0 and len(lines) == total,
          "journal dump exits 0 with one line per record (%d)" % total,
          (r.returncode, len(lines), r.stderr))
    check(re.match(r"1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z server-started server - <", lines[0]),
          "... each line: seq, UTC time with microseconds, type, origin, subject, XML", lines[0])
    regs = [ln for ln in lines if " account-register ctl:" in ln]
    check(len(regs) == 3 and ROMEO in regs[0] and JULIET in regs[1] and NURSE in regs[2],
          "... the operator's three account-register events are there", regs)
    erased = [ln for ln in lines if re.fullmatch(r"\d+ \S+ stanza \(content erased\)", ln)]
    check(len(erased) == FILLER_MESSAGES + 2,
          "... every message stanza is a frame '(content erased)' (%d)" % (FILLER_MESSAGES + 2),
          (len(erased), lines[-3:]))
    stored = [ln for ln in lines if " offline-store " in ln]
    check(len(stored) == 1 and NURSE in stored[0],
          "... and the message waiting for nurse is readable, once", stored)
    check(MARKER not in out and SECRET_MARKER not in out,
          "... but no trace of its body, subject, thread or encrypted payload")
    body_bytes = len(("the word is " + MARKER).encode())
    check(("<body>[hidden %d bytes]</body>" % body_bytes) in stored[0]
          and "<thread>[hidden" in stored[0] and "<subject>[hidden" in stored[0]
          and "[hidden %d bytes]</encrypted>" % len(SECRET_MARKER) in stored[0],
          "... they read [hidden N bytes] instead", stored[:1])
    attrs = secret_attrs(out)
    check(len(attrs) == 3 * 5 and all(v == "[hidden]" for _, v in attrs),
          "... and every salt / *-stored / *-server value is [hidden]", attrs[:6])

    r = ctl_dump(srv, "journal", "dump", "--bodies")
    bodies = r.stdout.splitlines()
    shown = [ln for ln in bodies if MARKER in ln]
    check(r.returncode == 0 and len(shown) == 1 and " offline-store " in shown[0]
          and SECRET_MARKER in shown[0],
          "journal dump --bodies shows the markers of the waiting message only", shown[:2])
    check(len([ln for ln in bodies if "(content erased)" in ln]) == FILLER_MESSAGES + 2,
          "... while delivered messages stay erased even for it")
    attrs = secret_attrs(r.stdout)
    check(len(attrs) == 15 and all(v == "[hidden]" for _, v in attrs),
          "... but still never the SCRAM salt or keys", attrs[:6])

    r = h.ctl(srv, "journal", "dump", "--from", "2", "--to", "3")
    seqs = [ln.split()[0] for ln in r.stdout.splitlines()]
    check(r.returncode == 0 and seqs == ["2", "3"], "dump --from 2 --to 3 prints seqs 2 and 3",
          seqs)
    r = h.ctl(srv, "journal", "dump", "--from", "x")
    check(r.returncode == 2, "dump with a bad --from is a usage error (exit 2)", r.returncode)


def check_torn_tail(srv, total):
    last = segments(srv)[-1]
    with open(last, "rb") as f:
        pristine = f.read()
    with open(last, "r+b") as f:
        f.truncate(len(pristine) - 7)
    r = h.ctl(srv, "journal", "verify")
    check(r.returncode == 0 and "torn tail" in r.stdout and last in r.stdout,
          "a torn tail in the last segment is reported by verify, exit 0", r.stdout[-400:])
    check(os.path.getsize(last) == len(pristine) - 7, "... and left in place, not cut")
    m = re.search(r"ok: (\d+) records", r.stdout)
    check(m is not None and int(m.group(1)) < total,
          "... and the records before it are counted", m.group(0) if m else r.stdout)
    with open(last, "wb") as f:
        f.write(pristine)


def check_bit_flip(srv):
    segs = segments(srv)
    victim = segs[len(segs) // 2 - 1] if len(segs) > 2 else segs[0]
    size = os.path.getsize(victim)
    pos = size // 2
    block = max(o for o in block_offsets(victim) if o <= pos)
    with open(victim, "r+b") as f:
        f.seek(pos)
        b = f.read(1)
        f.seek(pos)
        f.write(bytes([b[0] ^ 0x10]))
    r = h.ctl(srv, "journal", "verify")
    check(r.returncode == 1, "a byte flipped in the middle of %s: verify exits 1"
          % os.path.basename(victim), r.returncode)
    check(("%s: offset %d:" % (victim, block)) in r.stdout,
          "... naming the file and the offset of the damaged block (%d)" % block,
          r.stdout.strip().splitlines()[-1:])
    r = ctl_dump(srv, "journal", "dump")
    check(r.returncode == 1 and victim in r.stderr, "dump stops at the damage too (exit 1)",
          r.stderr.strip())


async def main():
    srv = h.Server(registration="closed", journal_segment_bytes=SEGMENT_BYTES).start()
    for jid, pw in ((ROMEO, "r0meo-pass"), (JULIET, "jul1et-pass"), (NURSE, "nur5e-pass")):
        r = h.ctl(srv, "user", "add", jid, "--password", pw)
        check(r.returncode == 0, "the operator creates %s" % jid, r.stderr)
    await chat(srv)
    check_refused_while_running(srv)
    check(srv.stop() == 0, "the server stops on SIGTERM")
    total = check_verify_ok(srv)
    check_dump(srv, total)
    check_torn_tail(srv, total)
    check_bit_flip(srv)


if __name__ == "__main__":
    h.run(main)
