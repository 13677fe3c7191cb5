#!/usr/bin/python3
"""test_disk_full: a journal write or fsync that fails loses nothing
acknowledged and acknowledges nothing it did not store.

stanzad runs under Debian's libfiu (`fiu-run -x`, package fiu-utils),
whose preload library wraps libc's pwrite() and fdatasync(), the two
calls journal/journal.c commits with (from a libuv worker thread; the
wrapper works in every thread). `fiu-ctrl` switches a failure point on
and off in the running server through a named pipe.

Disk full (pwrite fails with ENOSPC), on a server that already
acknowledged accounts made by stanzactl and in-band (XEP-0077):
  - the next stanzactl user add is refused (non-zero exit, the reason),
    an in-band registration gets an IQ error <resource-constraint/> of
    type wait, and the log says every state change is now refused;
  - the server keeps running: `stanzactl status` answers and says the
    journal is read-only; an existing session stays open, and since
    every stanza is an event, its ping gets <resource-constraint/> too
    rather than silence; a new client still gets TLS and SASL, and its
    resource binding (an event) gets the bind error <resource-constraint/>
    of type wait (RFC 6120 §7.6.2.2) without a stream error;
  - switching the failure off changes nothing until a restart (a failed
    commit makes the journal read-only for the rest of the run);
  - after a restart `journal verify` passes, every acknowledged account
    is there and logs in, no refused one is, and new accounts work again.
fdatasync failing with EIO (the data written but not made durable) is
refused and cleaned up the same way. Short writes (pwrite writing only
part of a block) are completed, not refused."""

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402

from harness import check  # noqa: E402

ENOSPC = 28
EIO = 5
FIU_CTRL_TIMEOUT_S = 5
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_REGISTER = "jabber:iq:register"
NS_PING = "urn:xmpp:ping"


class FiuServer(h.Server):
    """A stanzad started by fiu-run with the POSIX preload library and
    remote control on a named pipe in the server's own directory. fiu-run
    execs the server, so proc.pid is stanzad's pid."""

    @property
    def fifo_prefix(self):
        return os.path.join(self.dir, "fiu")

    def command(self):
        return ["fiu-run", "-x", "-f", self.fifo_prefix] + super().command()

    def fiu(self, command):
        """Runs one libfiu remote control command in the server."""
        r = subprocess.run(["fiu-ctrl", "-f", self.fifo_prefix, "-c", command, str(self.proc.pid)],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=FIU_CTRL_TIMEOUT_S)
        if r.returncode != 0 or r.stdout.strip() or r.stderr.strip():
            raise AssertionError("fiu-ctrl -c %r failed (exit %d): %s %s"
                                 % (command, r.returncode, r.stdout, r.stderr))
        print("    fiu-ctrl: %s" % command, flush=True)


def stanza_error(el):
    """(type, condition) of an IQ error, or None if el is not one."""
    if el.get("type") != "error":
        return None
    err = el.find("{jabber:client}error")
    if err is None:
        return ("?", "(no <error/>)")
    conds = [c.tag.split("}", 1)[1] for c in err
             if c.tag.startswith("{%s}" % h.NS_STANZA_ERRORS) and not c.tag.endswith("}text")]
    return (err.get("type"), conds[0] if conds else "(no condition)")


def show(el):
    return ET.tostring(el, encoding="unicode")


def register_raw(srv, user, password, req="reg1"):
    """One in-band registration on a new direct-TLS stream; returns the answer."""
    s = h.RawStream(srv, direct_tls=True)
    try:
        s.open()
        s.send("<iq type='set' id='%s'><query xmlns='%s'><username>%s</username>"
               "<password>%s</password></query></iq>" % (req, NS_REGISTER, user, password))
        return s.next_element(what="the registration answer")
    finally:
        s.close()


def ctl_add(srv, user):
    return h.ctl(srv, "user", "add", "%s@%s" % (user, srv.domain), "--password", "pw-" + user)


def make_accounts(srv, prefix, n):
    """n accounts by stanzactl and n in-band, each acknowledged. Returns
    {localpart: password}."""
    made = {}
    for i in range(n):
        user = "%s-ctl%d" % (prefix, i)
        r = ctl_add(srv, user)
        check(r.returncode == 0, "stanzactl adds %s" % user, r.stderr)
        made[user] = "pw-" + user
        user = "%s-ibr%d" % (prefix, i)
        el = register_raw(srv, user, "pw-" + user)
        check(el.get("type") == "result", "%s registers in-band" % user, show(el))
        made[user] = "pw-" + user
    return made


def sasl_plain(s, user, password):
    """PLAIN on the open stream, then the new stream's features."""
    import base64
    tok = base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()
    s.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (h.NS_SASL, tok))
    el = s.next_element(what="SASL answer")
    if el.tag != "{%s}success" % h.NS_SASL:
        raise AssertionError("PLAIN login of %s failed: %s" % (user, show(el)))
    s.restart()
    return s.open()


def bind(s, resource, req="bind1"):
    s.send("<iq type='set' id='%s'><bind xmlns='%s'><resource>%s</resource></bind></iq>"
           % (req, NS_BIND, resource))
    return s.next_element(what="the bind answer")


def ping(s, req):
    s.send("<iq type='get' id='%s' to='%s'><ping xmlns='%s'/></iq>" % (req, h.DOMAIN, NS_PING))
    return s.next_element(what="the ping answer")


def check_refused(srv, user, reason):
    """While the journal refuses writes: stanzactl and in-band
    registration of user (stanzactl) and user+'-ibr' are refused."""
    r = ctl_add(srv, user)
    check(r.returncode != 0 and "refused" in r.stderr and reason in r.stderr
          and "created" not in r.stdout,
          "stanzactl user add %s is refused (exit %d): %r" % (user, r.returncode, reason),
          (r.returncode, r.stdout, r.stderr))
    el = register_raw(srv, user + "-ibr", "pw")
    check(stanza_error(el) == ("wait", "resource-constraint"),
          "in-band registration of %s-ibr gets an IQ error resource-constraint (wait)" % user,
          show(el))
    check(srv.running(), "the server is still running")


def check_after_restart(srv, acked, refused):
    """Stops, verifies the journal, restarts; the accounts are exactly the
    acknowledged ones."""
    rc = srv.stop()
    check(rc == 0, "the read-only server stops on SIGTERM with exit 0", rc)
    r = h.ctl(srv, "journal", "verify")
    check(r.returncode == 0 and "torn tail" not in r.stdout + r.stderr,
          "journal verify passes: the failed commit left no partial block behind",
          (r.returncode, r.stdout, r.stderr))
    srv.start()
    r = h.ctl(srv, "user", "list")
    listed = r.stdout.split()
    want = sorted("%s@%s" % (u, srv.domain) for u in acked)
    check(sorted(listed) == want and len(set(listed)) == len(listed),
          "after a restart user list is exactly the %d acknowledged accounts" % len(want),
          (listed, want))
    check(not set(listed) & {"%s@%s" % (u, srv.domain) for u in refused},
          "no refused account exists (%s)" % ", ".join(sorted(refused)))
    for user in sorted(acked)[:1] + sorted(acked)[-1:]:
        s = h.RawStream(srv, direct_tls=True)
        try:
            s.open()
            jid = s.login_plain(user, acked[user])
        finally:
            s.close()
        check(jid.startswith("%s@%s/" % (user, srv.domain)),
              "%s logs in and binds after the restart" % user, jid)
    r = h.ctl(srv, "status")
    check(r.returncode == 0 and "journal: ok" in r.stdout,
          "the restarted server's journal is writable again", r.stdout)


def disk_full():
    print("--- pwrite fails with ENOSPC", flush=True)
    srv = FiuServer("full", scram_iterations=4096).start()
    acked = make_accounts(srv, "a", 2)
    live = h.RawStream(srv, direct_tls=True)
    live.open()
    live.login_plain("a-ctl0", acked["a-ctl0"], resource="live")
    el = ping(live, "ping0")
    check(el.get("type") == "result", "a bound session pings the server", show(el))

    offset = os.path.getsize(srv.log_path)
    srv.fiu("enable name=posix/io/rw/pwrite,failinfo=%d" % ENOSPC)
    check_refused(srv, "b-full", "No space left on device")
    log = srv.log_text(offset)
    check(re.search(r"error journal: commit failed \(No space left on device\): "
                    r"refusing every state change", log),
          "the server logs the failed commit and that it refuses state changes", log)
    r = h.ctl(srv, "status")
    check(r.returncode == 0 and "journal: READ-ONLY" in r.stdout,
          "stanzactl status answers and says the journal is read-only", r.stdout)

    el = ping(live, "ping1")
    check(stanza_error(el) == ("wait", "resource-constraint"),
          "the existing session's ping (a stanza event) gets resource-constraint (wait)",
          show(el))
    el = ping(live, "ping2")
    check(el.get("id") == "ping2" and live.view.stream_error() is None and not live.eof,
          "... and the session stays open: the next ping is answered too", show(el))

    s = h.RawStream(srv, direct_tls=True)
    try:
        feats = s.open()
        check(feats.find("{%s}mechanisms" % h.NS_SASL) is not None,
              "a new client gets TLS and the SASL mechanisms")
        feats = sasl_plain(s, "a-ibr1", acked["a-ibr1"])
        check(feats.find("{%s}bind" % NS_BIND) is not None,
              "... SASL succeeds (it writes nothing) and binding is offered")
        el = bind(s, "late")
        check(stanza_error(el) == ("wait", "resource-constraint"),
              "... binding (an event) gets the bind error resource-constraint (wait)", show(el))
        check(s.view.stream_error() is None and not s.eof,
              "... without a stream error; the stream stays open", s.view.text[-500:])
    finally:
        s.close()

    srv.fiu("disable name=posix/io/rw/pwrite")
    check_refused(srv, "c-after", "journal refuses writes after an I/O error")
    live.close()
    check_after_restart(srv, acked, {"b-full", "b-full-ibr", "c-after", "c-after-ibr"})
    el = register_raw(srv, "d-new", "pw-d")
    check(el.get("type") == "result", "after the restart a new account registers in-band",
          show(el))
    srv.stop()


def fsync_fails():
    print("--- short writes, then fdatasync fails with EIO", flush=True)
    srv = FiuServer("fsync", scram_iterations=4096, journal_sync="always").start()
    srv.fiu("enable name=posix/io/rw/pwrite/reduce")
    acked = make_accounts(srv, "s", 2)
    check(True, "with every pwrite cut short, each commit is completed and acknowledged")
    srv.fiu("disable name=posix/io/rw/pwrite/reduce")
    acked.update(make_accounts(srv, "e", 1))
    offset = os.path.getsize(srv.log_path)
    srv.fiu("enable name=posix/io/sync/fdatasync,failinfo=%d" % EIO)
    check_refused(srv, "f-eio", "Input/output error")
    log = srv.log_text(offset)
    check(re.search(r"commit failed \(Input/output error\): refusing every state change", log),
          "the server logs the failed fdatasync and that it refuses state changes", log)
    srv.fiu("disable name=posix/io/sync/fdatasync")
    check_after_restart(srv, acked, {"f-eio", "f-eio-ibr"})
    srv.stop()


def main():
    if not (shutil.which("fiu-run") and shutil.which("fiu-ctrl")
            and os.path.exists("/usr/lib/fiu/fiu_posix_preload.so")):
        print("skip: libfiu is not installed (Debian package fiu-utils)")
        return
    with open(h.binary("stanzad"), "rb") as f:
        if b"__asan_init" in f.read():
            # libfiu works by LD_PRELOAD, which an ASan runtime does not
            # survive; the plain build runs this test.
            print("skip: stanzad is an AddressSanitizer build; fault injection needs the plain build")
            return
    disk_full()
    fsync_fails()


if __name__ == "__main__":
    h.run(main)
