#!/usr/bin/python3
"""test_crash_recovery: what the server acknowledged survives a crash, and
one data directory serves one server.

An in-band registration (XEP-0077) is answered only once it is durable:
SIGKILL the server the moment the success result reaches the client,
restart it on the same data_dir, and the account logs in. The same for an
account stanzactl created and a password stanzactl changed just before a
crash. (SIGKILL proves the answer waits for the journal write; only a
power cut could show whether it also waits for fsync.) While a server runs, a second stanzad on the same data_dir refuses
to start with a clear message and a non-zero exit, and leaves the first
one working."""

import re
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
from harness import check  # noqa: E402


async def main():
    srv = h.Server(registration="open").start()
    first_pid = srv.proc.pid

    # --- a second server on the same data directory ---------------------------
    twin = h.Server("twin", data_dir=srv.data_dir, registration="open")
    offset = twin.spawn()
    try:
        rc = twin.proc.wait(10)
    except Exception:
        rc = None
        twin.kill()
    out = twin.log_text(offset)
    check(rc is not None and rc != 0,
          "a second stanzad on the same data_dir exits non-zero", (rc, out))
    twin.proc = None
    print("    the second stanzad said: %s" % " | ".join(out.strip().splitlines()[-3:]))
    cert = open(srv.cert_path, "rb").read()
    check(re.search(r"in use|locked|already", out, re.I) and srv.data_dir in out,
          "... saying the data directory is in use, and which", out.strip())
    check(str(first_pid) in out, "... naming the pid of the server that holds it", out.strip())
    check(not re.search(r"\bready\s*$", out, re.M), "... and never reports ready", out)
    check(srv.running(), "the first server is still running")
    r = h.ctl(srv, "status")
    check(r.returncode == 0, "the first server's control socket still answers", r.stderr)
    for port in (twin.port, twin.tls_port):
        try:
            h.RawStream(twin, port=port).close()
            listening = True
        except OSError:
            listening = False
        check(not listening, "the refused server opened no client port (%d)" % port)

    # --- an in-band registration, then SIGKILL at once ---------------------------
    got = {}

    def crash(cond):
        got["cond"] = cond
        got["t"] = time.monotonic()
        srv.kill_now()

    cond, _, _ = await h.register(srv, "phoenix", "ash3s", on_result=crash)
    check(cond is None, "phoenix registers in-band; the server is SIGKILLed on the result", cond)
    rc = srv.kill()
    check(rc == -9, "the server died of SIGKILL", rc)

    srv.start()
    check(True, "the server restarts on the same data_dir after the crash")
    c = await h.login(srv, "phoenix@localhost", "ash3s")
    check(c.boundjid.bare == "phoenix@localhost",
          "the account registered just before the crash logs in", c.boundjid)
    await c.close()

    # --- operator changes, then SIGKILL ------------------------------------------
    r = h.ctl(srv, "user", "add", "ember@localhost", "--password", "glow")
    check(r.returncode == 0, "stanzactl adds ember", r.stderr)
    r = h.ctl(srv, "user", "passwd", "phoenix@localhost", "--password", "reborn")
    check(r.returncode == 0, "stanzactl changes phoenix's password", r.stderr)
    srv.kill()
    srv.start()
    r = h.ctl(srv, "user", "list")
    check(r.stdout.split() == ["ember@localhost", "phoenix@localhost"],
          "after a second crash, user list shows both accounts", r.stdout)
    c = await h.login(srv, "ember@localhost", "glow")
    check(True, "ember, added by stanzactl just before the crash, logs in")
    await c.close()
    c = await h.login(srv, "phoenix@localhost", "reborn")
    check(True, "phoenix logs in with the password changed just before the crash")
    await c.close()
    cond = await h.login_fails(srv, "phoenix@localhost", "ash3s")
    check(cond == "not-authorized", "phoenix's old password stays refused after the crash", cond)

    # --- a clean stop also keeps everything --------------------------------------
    rc = srv.stop()
    check(rc == 0, "SIGTERM stops the server with exit 0", rc)
    srv.start()
    c = await h.login(srv, "phoenix@localhost", "reborn")
    check(True, "after a clean restart phoenix still logs in")
    await c.close()
    check(open(srv.cert_path, "rb").read() == cert,
          "the certificate made on first run was reused by every restart")


if __name__ == "__main__":
    h.run(main)
