#!/usr/bin/python3
"""test_crash_kill9: SIGKILL under load loses no acknowledged registration.

A real stanzad takes in-band registrations (XEP-0077) from several
concurrent clients, each keeping a few requests in flight on a raw
direct-TLS stream; at a random moment 50-500 ms into the round the server
is killed with SIGKILL, then restarted on the same data_dir. Repeated for
ROUNDS rounds. After every crash:
  - `stanzactl journal verify` (server stopped) passes, and any torn tail
    it notes is one the restarted server logs as cut. SIGKILL alone
    hardly ever tears a block, so every TORN_EVERY-th round the test
    appends zero bytes to the newest segment after the kill, as a power
    cut can leave them; the server must cut exactly those and log it;
  - `stanzactl user list` holds every account whose success result a
    client received, in this round or any before, and nothing twice;
  - every listed account is one a client asked for (an unacknowledged
    request may or may not have made it; nothing else may appear).
At the end a clean stop, a last verify, and `journal dump` shows one
account-register record per JID: no batch was written twice.

The kill delays come from random.Random(seed); the seed is printed and
CRASH_SEED=N reruns with the same delays (thread timing still varies)."""

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

ROUNDS = 30
WORKERS = 6
# Requests a worker keeps in flight on its stream, and registrations per
# stream before it opens a new one (so connects and TLS handshakes are
# part of the load too).
WINDOW = 3
PER_STREAM = 40
KILL_DELAY_MS = (50, 500)
# A worker must notice the dead server within this after the kill.
WORKER_JOIN_S = 5
# Every TORN_EVERY-th round the test tears the tail itself (see
# tear_tail), with 1..TORN_MAX_BYTES zero bytes.
TORN_EVERY = 5
TORN_MAX_BYTES = 8192

NS_REGISTER = "jabber:iq:register"
NS_CLIENT_IQ = "{jabber:client}iq"


class Ledger:
    """What clients asked for and what the server acknowledged, over all
    rounds. Shared by the worker threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent = set()      # bare JIDs a registration was sent for
        self.acked = set()     # bare JIDs whose success result arrived
        self.errors = []       # unexpected answers (IQ errors, bad XML)

    def note_sent(self, jid):
        with self.lock:
            self.sent.add(jid)

    def note_acked(self, jid):
        with self.lock:
            self.acked.add(jid)

    def note_error(self, what):
        with self.lock:
            self.errors.append(what)


def register_xml(req_id, user):
    return ("<iq type='set' id='%s'><query xmlns='%s'><username>%s</username>"
            "<password>pw-%s</password></query></iq>" % (req_id, NS_REGISTER, user, user))


def one_stream(srv, ledger, prefix, stop):
    """Registers up to PER_STREAM accounts named prefix-N on one stream,
    WINDOW at a time. Returns False once the server is gone."""
    try:
        s = h.RawStream(srv, direct_tls=True)
        s.open()
    except (OSError, AssertionError):
        return False
    pending = {}
    n = 0
    try:
        while n < PER_STREAM or pending:
            while n < PER_STREAM and len(pending) < WINDOW and not stop.is_set():
                user = "%s-%d" % (prefix, n)
                jid = "%s@%s" % (user, srv.domain)
                ledger.note_sent(jid)  # before the bytes leave: it may be applied
                s.send(register_xml("q%d" % n, user))
                pending["q%d" % n] = jid
                n += 1
            if not pending:
                break
            el = s.next_element(what="a registration answer")
            jid = pending.pop(el.get("id"), None)
            if el.tag != NS_CLIENT_IQ or jid is None:
                ledger.note_error("unexpected element %s id=%s" % (el.tag, el.get("id")))
            elif el.get("type") == "result":
                ledger.note_acked(jid)
            else:
                ledger.note_error("%s: %s" % (jid, ET.tostring(el, encoding="unicode")))
        return not stop.is_set()
    except (OSError, AssertionError):
        return False  # the connection ended: the server was killed
    finally:
        s.close()


def worker(srv, ledger, rnd, w, stop):
    k = 0
    while not stop.is_set():
        if not one_stream(srv, ledger, "r%dw%ds%d" % (rnd, w, k), stop):
            return
        k += 1


def ctl_quiet(srv, *args):
    """stanzactl without echoing its output (user list grows long)."""
    cmd = [h.binary("stanzactl"), "--set", "data_dir=%s" % srv.data_dir] + list(args)
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=15)


def verify_stopped(srv, label):
    """journal verify on the stopped server; returns its torn-tail notes."""
    r = ctl_quiet(srv, "journal", "verify")
    if r.returncode != 0:
        raise AssertionError("%s: journal verify failed (exit %d): %s %s"
                             % (label, r.returncode, r.stdout[-1500:], r.stderr[-1500:]))
    return [ln for ln in (r.stdout + r.stderr).splitlines() if "torn tail" in ln]


def check_accounts(srv, ledger, label):
    r = ctl_quiet(srv, "user", "list")
    if r.returncode != 0:
        raise AssertionError("%s: user list failed (exit %d): %s" % (label, r.returncode, r.stderr))
    listed = r.stdout.split()
    have = set(listed)
    with ledger.lock:
        acked, sent = set(ledger.acked), set(ledger.sent)
    lost = sorted(acked - have)
    if lost:
        raise AssertionError("%s: %d acknowledged account(s) lost: %s"
                             % (label, len(lost), lost[:20]))
    if len(listed) != len(have):
        dups = sorted(j for j in have if listed.count(j) > 1)
        raise AssertionError("%s: accounts listed twice: %s" % (label, dups[:20]))
    extra = sorted(have - sent)
    if extra:
        raise AssertionError("%s: accounts nobody asked for: %s" % (label, extra[:20]))
    return len(have), len(acked), len(sent)


def crash_round(srv, ledger, rng, rnd):
    delay = rng.uniform(*KILL_DELAY_MS) / 1000.0
    stop = threading.Event()
    threads = [threading.Thread(target=worker, args=(srv, ledger, rnd, w, stop), daemon=True)
               for w in range(WORKERS)]
    acked_before = len(ledger.acked)
    for t in threads:
        t.start()
    time.sleep(delay)
    rc = srv.kill()
    stop.set()
    for t in threads:
        t.join(WORKER_JOIN_S)
    if any(t.is_alive() for t in threads):
        raise AssertionError("round %d: a worker did not notice the dead server" % rnd)
    if rc != -9:
        raise AssertionError("round %d: the server was not killed by SIGKILL (%s)" % (rnd, rc))
    tore = tear_tail(srv, rng) if rnd % TORN_EVERY == 0 else None
    torn = verify_stopped(srv, "round %d" % rnd)
    if tore and not torn:
        raise AssertionError("round %d: journal verify did not note the torn tail %s"
                             % (rnd, tore))
    return delay, acked_before, torn, tore


def tear_tail(srv, rng):
    """Appends zero bytes to the newest segment, as a power cut leaves
    them when a file's new size reached the disk before its data. SIGKILL
    alone almost never tears a block (one pwrite() on a regular file is
    done whole or not at all), so the cutting of a torn tail is exercised
    this way. Returns (segment file name, bytes appended)."""
    segdir = os.path.join(srv.data_dir, "journal")
    newest = max(f for f in os.listdir(segdir) if f.endswith(".seg"))
    n = rng.randint(1, TORN_MAX_BYTES)
    with open(os.path.join(segdir, newest), "ab") as f:
        f.write(bytes(n))
    return newest, n


def restart_and_check(srv, ledger, rnd, torn, tore):
    offset = srv.spawn()
    srv_wait_ready(srv, offset)
    log = srv.log_text(offset)
    if torn and "torn tail" not in log:
        raise AssertionError("round %d: verify noted %s but the restarted server did not "
                             "log cutting it:\n%s" % (rnd, torn, log[-2000:]))
    if tore and not re.search(r"journal: \S*%s at offset \d+: %d bytes: torn tail"
                              % (re.escape(tore[0]), tore[1]), log):
        raise AssertionError("round %d: the restarted server did not log cutting the %d "
                             "bytes torn off %s:\n%s" % (rnd, tore[1], tore[0], log[-2000:]))
    return check_accounts(srv, ledger, "round %d" % rnd)


def srv_wait_ready(srv, offset, timeout=h.SERVER_START_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(r"\bready\s*$", srv.log_text(offset), re.M):
            return
        if srv.proc.poll() is not None:
            raise AssertionError("the server exited (%s) while restarting after a crash:\n%s"
                                 % (srv.proc.returncode, srv.log_text(offset)[-3000:]))
        time.sleep(0.02)
    raise AssertionError("the server did not restart within %ss" % timeout)


def main():
    seed = int(os.environ.get("CRASH_SEED") or random.SystemRandom().randrange(1 << 32))
    print("    seed %d (rerun with CRASH_SEED=%d)" % (seed, seed), flush=True)
    rng = random.Random(seed)
    srv = h.Server(scram_iterations=4096, registration="open",
                   registration_per_ip_per_hour=0).start()
    ledger = Ledger()
    t0 = time.monotonic()
    torn_total = 0
    for rnd in range(1, ROUNDS + 1):
        delay, before, torn, tore = crash_round(srv, ledger, rng, rnd)
        have, acked, sent = restart_and_check(srv, ledger, rnd, torn, tore)
        torn_total += len(torn)
        print("    round %2d: killed at %3d ms, %3d acknowledged this round; %d accounts, "
              "%d acknowledged, %d asked for%s" % (
                  rnd, delay * 1000, acked - before, have, acked, sent,
                  "; torn tail cut" if torn else ""), flush=True)
        if ledger.errors:
            raise AssertionError("round %d: unexpected answers: %s" % (rnd, ledger.errors[:5]))
    elapsed = time.monotonic() - t0
    check(len(ledger.acked) >= ROUNDS,
          "%d rounds of SIGKILL under load in %.1fs; %d registrations acknowledged"
          % (ROUNDS, elapsed, len(ledger.acked)), len(ledger.acked))
    check(True, "after every crash each acknowledged account existed, none twice, "
          "none unasked for")
    check(torn_total >= ROUNDS // TORN_EVERY,
          "journal verify passed after every crash; %d torn tail(s) noted (%d made by the "
          "test), each logged as cut by the restarted server"
          % (torn_total, ROUNDS // TORN_EVERY), torn_total)
    rc = srv.stop()
    check(rc == 0, "the server stops cleanly after the last restart", rc)
    torn = verify_stopped(srv, "after the clean stop")
    check(not torn, "journal verify passes after the clean stop, with no torn tail", torn)
    check_journal_once(srv, ledger)


def check_journal_once(srv, ledger):
    """Every account-register record in the journal is for a JID asked
    for, and no JID has two: no batch was written or replayed twice."""
    r = ctl_quiet(srv, "journal", "dump")
    if r.returncode != 0:
        raise AssertionError("journal dump failed (exit %d): %s" % (r.returncode, r.stderr[-1500:]))
    seen = {}
    for line in r.stdout.splitlines():
        f = line.split(" ", 5)
        if len(f) > 4 and f[2] == "account-register":
            seen[f[4]] = seen.get(f[4], 0) + 1
    twice = sorted(j for j, n in seen.items() if n > 1)
    check(not twice and set(seen) <= ledger.sent and ledger.acked <= set(seen),
          "journal dump: %d account-register records, one per JID, each one asked for"
          % sum(seen.values()), (twice[:20], sorted(set(seen) - ledger.sent)[:20]))


if __name__ == "__main__":
    h.run(main)
