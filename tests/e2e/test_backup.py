#!/usr/bin/python3
"""test_backup: `stanzactl backup` writes an OpenPGP-encrypted snapshot
that holds no account name or SCRAM data in clear; `gpg --decrypt` with
the operator's key gives back a snapshot that `stanzactl restore` puts
into a new data directory, where a server starts with every account and
its credentials (logins work); a restore into a live data directory, or
while a server holds it, is refused; a backup named older than
backup_retention_days is pruned by the next backup; a failing
backup_command is reported by `stanzactl status` (and the backup is not
called done). GnuPG runs in a throw-away GNUPGHOME."""

import glob
import os
import re
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
from harness import check  # noqa: E402

USERS = {"backupalice": "alice-pw-1", "backupbob": "bob pw 2"}
GPG_TIMEOUT_S = 30


def gpg(home, *args, **kw):
    return subprocess.run(["gpg", "--homedir", home, "--batch", "--yes"] + list(args),
                          capture_output=True, timeout=GPG_TIMEOUT_S, **kw)


def make_key(home):
    """A throw-away OpenPGP key without a passphrase; returns its fingerprint."""
    os.makedirs(home, mode=0o700)
    r = gpg(home, "--passphrase", "", "--quick-gen-key", "stanzad test <t@example.invalid>",
            "default", "default", "never")
    check(r.returncode == 0, "a throw-away OpenPGP key is made", r.stderr.decode(errors="replace"))
    out = gpg(home, "--with-colons", "--list-secret-keys").stdout.decode()
    fpr = re.search(r"^fpr:+([0-9A-F]{40}):", out, re.M).group(1)
    print("    key fingerprint %s" % fpr)
    return fpr


def backups(srv):
    return sorted(glob.glob(os.path.join(srv.data_dir, "backups", "stanzad-*.snap.gpg")))


def status(srv):
    r = h.ctl(srv, "status")
    check(r.returncode == 0, "status answers", r.stderr)
    return r.stdout


def take_backup(srv):
    r = h.ctl(srv, "backup")
    check(r.returncode == 0 and "backup at seq" in r.stdout, "stanzactl backup writes a backup",
          (r.stdout, r.stderr))
    return re.search(r": (\S+\.snap\.gpg) ", r.stdout).group(1)


def check_ciphertext(path):
    data = open(path, "rb").read()
    check(len(data) > 0 and data[:8] != b"SZSNAPSH", "the backup is not a snapshot in clear")
    for name in USERS:
        check(name.encode() not in data, "the account name %s is not in the backup in clear" % name)
    for needle in (b"sha256-stored", b"sha1-server", b"salt", b"localhost"):
        check(needle not in data, "%r (SCRAM data, state) is not in the backup in clear" % needle)


async def check_logins(srv):
    for name, pw in USERS.items():
        c = await h.login(srv, "%s@localhost" % name, pw)
        await c.close()
        check(True, "%s logs in on the restored server (SCRAM credentials intact)" % name)


async def main():
    home = os.path.join(h.tmpdir(), "gnupg")
    os.environ["GNUPGHOME"] = home  # the servers and gpg inherit it
    try:
        await run_test(home)
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True)


def unknown_recipient():
    """A recipient missing from the keyring fails loudly and writes nothing."""
    srv = h.Server("nokey", backup_recipient="00" * 20, backup_interval_s=0).start()
    r = h.ctl(srv, "backup")
    check(r.returncode == 1 and "no such public key" in r.stderr,
          "a backup to a key missing from the keyring fails and says why", r.stderr)
    check(re.search(r"^backup_last_error: gpg: backup_recipient 0+: no such public key", status(srv),
                    re.M), "status shows that failure")
    check(backups(srv) == [], "and no backup file is left")
    check(srv.stop() == 0, "that server stops")


async def run_test(home):
    fpr = make_key(home)
    unknown_recipient()
    srv = h.Server("live", backup_recipient=fpr, backup_interval_s=0, snapshot_every_events=0,
                   snapshot_every_s=0).start()
    check("backup_last_ok: never" in status(srv), "status says no backup was taken yet")
    for name, pw in USERS.items():
        r = h.ctl(srv, "user", "add", "%s@localhost" % name, "--password", pw)
        check(r.returncode == 0, "account %s created" % name, r.stderr)

    path = take_backup(srv)
    check(os.path.exists(path) and path in backups(srv), "the backup file exists", path)
    check(oct(os.stat(path).st_mode & 0o777) == "0o600", "the backup file is mode 0600")
    check_ciphertext(path)
    st = status(srv)
    check(re.search(r"^backup_last_ok: \d{8}T\d{6}Z$", st, re.M) and
          "backup_last_error: none" in st, "status shows the backup's time and no error", st)
    check(not glob.glob(os.path.join(srv.data_dir, "backups", "*.seg")),
          "no journal segment is in the backup directory")

    plain = os.path.join(h.tmpdir(), "restore.snap")
    r = gpg(home, "--output", plain, "--decrypt", path)
    check(r.returncode == 0, "gpg --decrypt opens the backup with the operator's key",
          r.stderr.decode(errors="replace"))
    check(open(plain, "rb").read(8) == b"SZSNAPSH", "what gpg gives back is a snapshot file")

    r = h.ctl(srv, "restore", plain)
    check(r.returncode == 4 and "in use" in r.stderr,
          "restore refuses a data directory a running server holds", r.stderr)

    # Retention: a backup whose name is 91 days old goes on the next run.
    old = os.path.join(srv.data_dir, "backups", "stanzad-20000101T000000Z-1.snap.gpg")
    shutil.copy(path, old)
    stale_tmp = os.path.join(srv.data_dir, "backups", ".tmp-stanzad-20000101T000000Z-1")
    open(stale_tmp, "wb").write(b"half a backup")
    # A failing shipment is reported, not skipped.
    check(srv.stop() == 0, "the live server stops")
    srv.settings["backup_command"] = "echo shipping \"$1\" >&2; exit 3"
    srv.start()
    r = h.ctl(srv, "backup")
    check(r.returncode != 0 and "backup_command failed (exit status 3)" in r.stderr,
          "a failing backup_command makes `stanzactl backup` fail", (r.stdout, r.stderr))
    check(not os.path.exists(old), "the backup named older than backup_retention_days was pruned")
    check(os.path.exists(path), "the recent backup is kept")
    check(not os.path.exists(stale_tmp), "a day-old temporary file (a crash's) was removed")
    st = status(srv)
    check(re.search(r"^backup_last_error: .*backup_command failed \(exit status 3\)", st, re.M),
          "status shows the failed shipment", st)
    check("backup FAILED" in srv.log_text() and "shipping" in srv.log_text(),
          "the failure is in the log, and the command got the file as $1")
    check(srv.stop() == 0, "the live server stops")

    r = h.ctl(srv, "restore", plain)
    check(r.returncode == 1 and "live data directory" in r.stderr,
          "restore refuses to overwrite a live data directory", r.stderr)

    # A new machine: an empty data directory, the journal key copied over.
    new_dir = os.path.join(h.tmpdir(), "restored")
    os.makedirs(new_dir, mode=0o700)
    r = h.ctl(new_dir, "restore", plain)
    check(r.returncode == 1 and "no journal key" in r.stderr,
          "restore without the journal master key is refused", r.stderr)
    shutil.copy(os.path.join(srv.data_dir, "journal.key"), os.path.join(new_dir, "journal.key"))
    os.chmod(os.path.join(new_dir, "journal.key"), 0o600)
    r = h.ctl(new_dir, "restore", plain)
    check(r.returncode == 0 and "restored the snapshot at seq" in r.stdout,
          "stanzactl restore puts the backup into a new data directory", (r.stdout, r.stderr))
    r = h.ctl(new_dir, "journal", "verify")
    check(r.returncode == 0, "the restored journal verifies", r.stdout)

    new = h.Server("restored", data_dir=new_dir).start()
    r = h.ctl(new, "backup")
    check(r.returncode == 1 and "backups are off" in r.stderr,
          "stanzactl backup without backup_recipient is refused, not skipped in silence", r.stderr)
    check(re.search(r"state restored from the snapshot at seq \d+", new.log_text()),
          "the restored server starts from the restored snapshot")
    r = h.ctl(new, "user", "list")
    want = sorted("%s@localhost" % n for n in USERS)
    check(r.returncode == 0 and sorted(r.stdout.split()) == want,
          "every account exists on the restored server", r.stdout)
    await check_logins(new)
    check(new.stop() == 0, "the restored server stops")
    new.start()
    r = h.ctl(new, "user", "list")
    check(sorted(r.stdout.split()) == want, "and still after a restart of the restored server")

    # The schedule: a first start with no backup takes one at once, then
    # one every backup_interval_s.
    check(new.stop() == 0, "the restored server stops")
    new.settings.update(backup_recipient=fpr, backup_interval_s=2)
    new.start()
    deadline = time.monotonic() + 8
    while len(backups(new)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    check(len(backups(new)) >= 2, "scheduled backups are taken without a request", backups(new))
    check(re.search(r"^backup_last_ok: \d{8}T\d{6}Z$", status(new), re.M),
          "status shows the scheduled backup")
    check(new.stop() == 0, "a server with a backup schedule stops cleanly")

    # A shipment that hangs does not hang the shutdown: the server waits
    # its grace period, then ends the command's process group.
    new.settings.update(backup_interval_s=0, backup_command="sleep 30")
    new.start()
    req = subprocess.Popen([h.binary("stanzactl"), "--set", "data_dir=%s" % new_dir, "backup"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 8
    while "(running)" not in status(new) and time.monotonic() < deadline:
        time.sleep(0.2)
    t0 = time.monotonic()
    check(new.stop() == 0, "a server whose backup_command hangs stops cleanly")
    check(time.monotonic() - t0 < h.SERVER_STOP_TIMEOUT_S and
          "ending backup_command" in new.log_text(), "... within its grace period, ending it")
    out, err = req.communicate(timeout=10)
    check(req.returncode != 0, "the waiting `stanzactl backup` does not report success", (out, err))


if __name__ == "__main__":
    h.run(main)
