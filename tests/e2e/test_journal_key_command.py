#!/usr/bin/python3
"""test_journal_key_command: the journal master key from
`journal_key_command` (doc/operations.md, "The journal key").

A fresh data directory with journal_key_command='cat KEYFILE' (64 hex
digits and a newline in a 0600 file outside the data directory): the
server starts, makes no journal.key, takes an account and a login, and
after a restart still has them (the journal was sealed and is read with
the command's key). The offline tools (`journal verify`, `replay
--verify`) honour the command too, and without it there is no key. A
command that fails, prints nothing, prints a malformed key or prints
another key makes the start fail with an error naming the cause, and the
key never appears in the log."""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
from harness import check  # noqa: E402

KEY_HEX = "c0ffee" + "5a" * 29  # 64 hex digits
OTHER_HEX = "0b" * 32
USER, PASSWORD = "kim@" + h.DOMAIN, "k1m-pw"


def write_secret(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def start_fails(srv, command, want, what):
    srv.settings["journal_key_command"] = command
    offset = srv.spawn()
    try:
        rc = srv.proc.wait(timeout=h.SERVER_START_TIMEOUT_S)
    except Exception:
        srv.kill()
        check(False, "%s: the start fails" % what, "still running")
    text = srv.log_text(offset)
    check(rc != 0, "%s: the start fails (exit %s)" % (what, rc), text)
    check(want in text, "%s: the error says %r" % (what, want), text)
    check(KEY_HEX not in text and KEY_HEX.upper() not in text,
          "%s: the key is not in the log" % what)


async def login_works(srv, what):
    c = await h.login(srv, USER + "/k", PASSWORD)
    check(c.boundjid.bare == USER, "%s: %s logs in" % (what, USER))
    await c.close()


async def main():
    base = h.tmpdir()
    keyfile = os.path.join(base, "stanzad-key.hex")
    write_secret(keyfile, KEY_HEX + "\n")
    command = "cat '%s'" % keyfile
    srv = h.Server(journal_key_command=command).start()
    key_path = os.path.join(srv.data_dir, "journal.key")
    check(not os.path.exists(key_path), "no journal.key is made when a key command is set")
    r = h.ctl(srv, "user", "add", USER, "--password", PASSWORD)
    check(r.returncode == 0, "account added", r.stderr)
    await login_works(srv, "first run")
    log = srv.log_text()
    check(KEY_HEX not in log and KEY_HEX.upper() not in log, "the key is not in the log")
    check(srv.stop() == 0, "stopped")

    srv.start()
    await login_works(srv, "after a restart")
    check(srv.stop() == 0, "stopped again")

    # Offline tools: with the command they read the journal; without it
    # (no variable, no key file) they have no key.
    r = h.ctl(srv, "--set", "journal_key_command=" + command, "journal", "verify")
    check(r.returncode == 0 and "ok:" in r.stdout, "journal verify with the key command", r.stderr)
    r = h.ctl(srv, "--set", "journal_key_command=" + command, "replay", "--verify")
    check(r.returncode == 0, "replay --verify with the key command", (r.stdout, r.stderr))
    r = h.ctl(srv, "journal", "verify")
    check(r.returncode != 0 and "no journal key" in r.stderr,
          "journal verify without the command has no key", r.stderr)
    check(not os.path.exists(key_path), "... and makes none")

    start_fails(srv, "exit 7", "exit status 7", "a failing command")
    start_fails(srv, "true", "printed nothing", "a command that prints nothing")
    start_fails(srv, "echo not-a-key", "not 64 hex digits", "a malformed key")
    other = os.path.join(base, "other-key.hex")
    write_secret(other, OTHER_HEX + "\n")
    start_fails(srv, "cat '%s'" % other, "wrong journal key", "another key")
    check(not os.path.exists(key_path), "no failed start made a key file")

    srv.settings["journal_key_command"] = command
    srv.start()
    await login_works(srv, "with the right command again")
    check(srv.stop() == 0, "stopped at the end")


if __name__ == "__main__":
    h.run(main)
