#!/usr/bin/python3
"""test_ctl_user_login: the operator's tool manages accounts that real
clients then use.

stanzactl creates an account (password as an option and on stdin); slixmpp
logs in with it over STARTTLS with SCRAM-SHA-256, SCRAM-SHA-1 and PLAIN;
`user list` shows it; adding it again is refused (exit 1); bad JIDs and
unknown commands exit 2 with a one-line error; `user passwd` makes the new
password work and the old one fail; `user del` ends the account's session
and its logins; `status` prints the counters; with no server stanzactl
exits 3. Registration is closed: accounts come only from the operator."""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
from harness import check  # noqa: E402

ALICE = "alice@" + h.DOMAIN
BOB = "bob@" + h.DOMAIN


def one_line_error(r):
    err = r.stderr.strip()
    return err != "" and "\n" not in err and r.stdout.strip() == ""


def status_fields(text):
    out = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


async def main():
    srv = h.Server(registration="closed").start()

    r = h.ctl(srv, "user", "add", ALICE, "--password", "secret")
    check(r.returncode == 0, "user add with --password exits 0", r.stderr)
    r = h.ctl(srv, "user", "add", BOB, stdin="pw from stdin\n")
    check(r.returncode == 0, "user add with the password on stdin exits 0", r.stderr)

    alice = await h.login(srv, ALICE, "secret", mech="SCRAM-SHA-256")
    check(alice.mech_used == "SCRAM-SHA-256",
          "alice logs in over STARTTLS with SCRAM-SHA-256 and gets session_start",
          alice.mech_used)
    check(alice.boundjid.bare == ALICE and alice.boundjid.resource != "",
          "the bound JID is alice's, with a resource", alice.boundjid.full)
    for mech in ("SCRAM-SHA-1", "PLAIN"):
        c = await h.login(srv, ALICE, "secret", mech=mech)
        check(c.mech_used == mech, "alice also logs in with %s" % mech, c.mech_used)
        await c.close()
    b = await h.login(srv, BOB, "pw from stdin")
    check(True, "bob logs in with the password given on stdin")
    await b.close()

    r = h.ctl(srv, "user", "list")
    users = r.stdout.split()
    check(r.returncode == 0 and ALICE in users and BOB in users,
          "user list exits 0 and shows both accounts", r.stdout)

    r = h.ctl(srv, "status")
    f = status_fields(r.stdout)
    check(r.returncode == 0, "status exits 0", r.stderr)
    for key in ("domain", "uptime_s", "connections", "sessions", "accounts", "journal_seq",
                "events_applied"):
        check(key in f, "status prints '%s'" % key, r.stdout)
    check(f.get("accounts") == "2", "status counts 2 accounts", f.get("accounts"))
    check(f.get("sessions") == "1", "status counts alice's 1 bound session", f.get("sessions"))
    check(f.get("domain") == h.DOMAIN, "status names the domain", f.get("domain"))

    r = h.ctl(srv, "user", "add", ALICE, "--password", "other")
    check(r.returncode == 1, "adding an existing JID is refused with exit 1", r.returncode)
    check(one_line_error(r), "... with a one-line error on stderr", repr(r.stderr))
    await h.login(srv, ALICE, "secret")  # raises if the refused add changed anything
    check(True, "the refused add did not change alice's password")

    for bad in ("not a jid", "@x", "alice@" + h.DOMAIN + "/res"):
        r = h.ctl(srv, "user", "add", bad, "--password", "pw")
        check(r.returncode == 2, "user add %r exits 2 (bad JID)" % bad, r.returncode)
        check(one_line_error(r), "... with a one-line error", repr(r.stderr))
    r = h.ctl(srv, "user", "add", "carol@elsewhere.example", "--password", "pw")
    check(r.returncode == 2, "a JID of a domain the server does not host exits 2", r.returncode)
    check(one_line_error(r), "... with a one-line error", repr(r.stderr))
    for cmd in (["frobnicate"], ["user", "frobnicate", ALICE]):
        r = h.ctl(srv, *cmd)
        check(r.returncode == 2, "unknown command %r exits 2" % " ".join(cmd), r.returncode)
        check(one_line_error(r), "... with a one-line error", repr(r.stderr))
        check("unknown command" in r.stderr, "... that says it is unknown", r.stderr)
    r = h.ctl(srv, "user", "list")
    check(r.stdout.split() == sorted([ALICE, BOB]),
          "none of the refused commands created an account", r.stdout)

    r = h.ctl(srv, "user", "passwd", ALICE, "--password", "n3w p4ss")
    check(r.returncode == 0, "user passwd exits 0", r.stderr)
    c = await h.login(srv, ALICE, "n3w p4ss")
    check(True, "alice logs in with the new password")
    await c.close()
    cond = await h.login_fails(srv, ALICE, "secret")
    check(cond == "not-authorized", "the old password is refused (not-authorized)", cond)
    r = h.ctl(srv, "user", "passwd", "nobody@" + h.DOMAIN, "--password", "x")
    check(r.returncode == 1, "user passwd of an unknown account exits 1", r.returncode)

    # alice's first session is still bound; deleting the account ends it.
    check(not alice.gone.is_set(), "alice's first session survived the password change")
    r = h.ctl(srv, "user", "del", ALICE)
    check(r.returncode == 0, "user del exits 0", r.stderr)
    await alice.wait_gone()
    check("not-authorized" in alice.stream_errors,
          "the deleted account's live session is closed with a not-authorized stream error",
          alice.stream_errors)
    cond = await h.login_fails(srv, ALICE, "n3w p4ss")
    check(cond == "not-authorized", "the deleted account cannot log in", cond)
    r = h.ctl(srv, "user", "list")
    check(r.stdout.split() == [BOB], "user list no longer shows alice", r.stdout)
    r = h.ctl(srv, "user", "del", ALICE)
    check(r.returncode == 1, "deleting it again exits 1", r.returncode)
    r = h.ctl(srv, "status")
    check(status_fields(r.stdout).get("accounts") == "1", "status now counts 1 account", r.stdout)

    rc = srv.stop()
    check(rc == 0, "stanzad exits 0 on SIGTERM", rc)
    r = h.ctl(srv, "status")
    check(r.returncode == 3, "stanzactl exits 3 when the server is not running", r.returncode)
    check(one_line_error(r), "... with a one-line error", repr(r.stderr))
    empty = os.path.join(h.tmpdir(), "never-used")
    os.makedirs(empty)
    r = h.ctl(empty, "user", "list")
    check(r.returncode == 3, "stanzactl exits 3 on a data_dir no server ever used", r.returncode)


if __name__ == "__main__":
    h.run(main)
