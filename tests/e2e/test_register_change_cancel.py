#!/usr/bin/python3
"""test_register_change_cancel: the two in-band account operations after
login (XEP-0077 §3.3 and §3.2).

A user changes their password in-band: the new one logs in, the old one
is refused, and the change survives a restart. A user cancels their
account in-band: the server answers with a result, then ends every
session of that account with a <not-authorized/> stream error (another
resource included); the account is gone from `stanzactl user list`, and
logging in with it fails, also after a restart."""

import sys
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
from harness import check  # noqa: E402

NS_REGISTER = "jabber:iq:register"


async def send_register_set(c, children):
    """Sends <iq type='set'><query xmlns='jabber:iq:register'>children</query></iq>
    to the server and returns the answer (result Iq, or raises IqError)."""
    iq = c.Iq()
    iq["type"] = "set"
    q = ET.SubElement(iq.xml, "{%s}query" % NS_REGISTER)
    for name, text in children:
        el = ET.SubElement(q, "{%s}%s" % (NS_REGISTER, name))
        if text is not None:
            el.text = text
    return await iq.send(timeout=h.STEP_TIMEOUT_S)


async def main():
    srv = h.Server(registration="open").start()
    for user in ("juliet", "romeo"):
        r = h.ctl(srv, "user", "add", "%s@localhost" % user, "--password", "old-" + user)
        check(r.returncode == 0, "stanzactl created %s" % user, r.stderr)

    # --- password change (XEP-0077 §3.3) --------------------------------
    c = await h.login(srv, "juliet@localhost/balcony", "old-juliet")
    res = await send_register_set(c, [("username", "juliet"), ("password", "new-juliet")])
    check(res["type"] == "result", "the password change is answered with a result", res)
    try:
        await send_register_set(c, [("username", "romeo"), ("password", "stolen")])
        check(False, "changing another user's password is refused")
    except h.IqError as e:
        check(h.iq_error_condition(e) == "not-authorized",
              "changing another user's password is refused with not-authorized",
              h.iq_error_condition(e))
    await c.close()
    cond = await h.login_fails(srv, "juliet@localhost/x", "old-juliet")
    check(cond == "not-authorized", "the old password no longer works", cond)
    (await h.login(srv, "juliet@localhost/x", "new-juliet")).abort()
    cond = await h.login_fails(srv, "romeo@localhost/x", "stolen")
    check(cond == "not-authorized", "romeo's password did not change", cond)
    check(srv.stop() == 0, "stopped")
    srv.start()
    (await h.login(srv, "juliet@localhost/x", "new-juliet")).abort()
    print("ok  the new password survives a restart")

    # --- cancellation (XEP-0077 §3.2) ------------------------------------
    other = await h.login(srv, "juliet@localhost/phone", "new-juliet")
    c = await h.login(srv, "juliet@localhost/balcony", "new-juliet")
    res = await send_register_set(c, [("remove", None)])
    check(res["type"] == "result", "the cancellation is answered with a result", res)
    for who, client in (("the cancelling session", c), ("the account's other session", other)):
        await client.wait_gone()
        check("not-authorized" in client.stream_errors,
              "%s is closed with a not-authorized stream error" % who, client.stream_errors)
    r = h.ctl(srv, "user", "list")
    check("juliet@localhost" not in r.stdout.split() and "romeo@localhost" in r.stdout.split(),
          "juliet's account is gone, romeo's is still there", r.stdout)
    cond = await h.login_fails(srv, "juliet@localhost/x", "new-juliet")
    check(cond == "not-authorized", "the cancelled account cannot log in", cond)
    check(srv.stop() == 0, "stopped")
    srv.start()
    cond = await h.login_fails(srv, "juliet@localhost/x", "new-juliet")
    check(cond == "not-authorized", "... nor after a restart", cond)


if __name__ == "__main__":
    h.run(main)
