#!/usr/bin/python3
"""test_snapshots: the server starts from its newest usable snapshot plus
the journal after it, deletes journal segments that the oldest kept
snapshot covers, falls back to an older snapshot when the newest is
damaged, and refuses to start (never guesses) when neither a snapshot nor
the journal can account for the state.

A new journal segment begins at every start, so restarts between
snapshots give compaction whole segments to delete."""

import glob
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
from harness import check  # noqa: E402


def segments(srv):
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(srv.data_dir, "journal", "*.seg")))


def snapshots(srv):
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(srv.data_dir, "snapshots", "*.snap")))


def add_users(srv, names):
    for n in names:
        r = h.ctl(srv, "user", "add", "%s@localhost" % n, "--password", "pw-" + n)
        check(r.returncode == 0, "stanzactl created %s" % n, r.stderr)


def take_snapshot(srv):
    r = h.ctl(srv, "snapshot")
    check(r.returncode == 0 and re.search(r"snapshot at seq \d+", r.stdout),
          "stanzactl snapshot writes a snapshot and says which seq it covers", (r.stdout, r.stderr))
    return int(re.search(r"seq (\d+)", r.stdout).group(1))


def user_list(srv):
    r = h.ctl(srv, "user", "list")
    check(r.returncode == 0, "user list answers", r.stderr)
    return sorted(r.stdout.split())


async def main():
    srv = h.Server(snapshot_every_events=0, snapshot_every_s=0, snapshots_keep=2).start()
    everyone = []
    for round_no in range(3):
        names = ["r%du%d" % (round_no, i) for i in range(3)]
        add_users(srv, names)
        everyone += ["%s@localhost" % n for n in names]
        take_snapshot(srv)
        check(srv.stop() == 0, "the server stops cleanly (round %d)" % round_no)
        srv.start()
    everyone.sort()
    check(len(snapshots(srv)) == 2, "only snapshots_keep=2 snapshots are kept", snapshots(srv))
    segs = segments(srv)
    check("0000000000000001.seg" not in segs,
          "the first journal segment, covered by the oldest kept snapshot, was deleted", segs)
    print("    journal segments now: %s; snapshots: %s" % (segs, snapshots(srv)))
    check(user_list(srv) == everyone, "every account is there after snapshots, compaction, restarts")
    offset = len(srv.log_text())
    check(srv.stop() == 0, "stopped")
    srv.start()
    log = srv.log_text(offset)
    check(re.search(r"state restored from the snapshot at seq \d+", log),
          "the start restored the newest snapshot", log)
    check(user_list(srv) == everyone, "... and has every account")

    # A damaged newest snapshot: the start falls back to the older one.
    newest = os.path.join(srv.data_dir, "snapshots", snapshots(srv)[-1])
    older_seq = int(snapshots(srv)[0].split(".")[0], 16)
    check(srv.stop() == 0, "stopped")
    data = bytearray(open(newest, "rb").read())
    data[len(data) // 2] ^= 0x40
    open(newest, "wb").write(bytes(data))
    offset = len(srv.log_text())
    srv.start()
    log = srv.log_text(offset)
    check(re.search(re.escape(os.path.basename(newest)) + r".*", log),
          "the damaged snapshot is reported by name", log)
    check("state restored from the snapshot at seq %d" % older_seq in log,
          "the start fell back to the older snapshot (seq %d)" % older_seq, log)
    check(user_list(srv) == everyone, "... plus the journal after it: every account is there")

    # No usable snapshot while the journal no longer starts at 1: refuse.
    check(srv.stop() == 0, "stopped")
    for p in glob.glob(os.path.join(srv.data_dir, "snapshots", "*.snap")):
        os.unlink(p)
    offset = srv.spawn()
    try:
        rc = srv.proc.wait(15)
    finally:
        if srv.proc.poll() is None:
            srv.kill()
    log = srv.log_text(offset)
    srv.proc = None
    check(rc not in (None, 0), "without snapshots a compacted journal is not enough: start refused", rc)
    check(re.search(r"no usable snapshot covers", log), "... with a message saying why", log)


if __name__ == "__main__":
    h.run(main)
