#!/usr/bin/python3
"""test_registration_policy: the `registration` setting decides who may
create accounts in-band (XEP-0077).

closed: the stream features after TLS carry no <register/>, and both the
form request (IQ get) and a registration (IQ set) get service-unavailable;
no account appears. loopback: a client on 127.0.0.1 sees <register/> and
registers with slixmpp; a client from a non-loopback address is refused
like under closed. That client runs in a network namespace this test
creates (harness.test_netns(): a veth pair with a private /30), so no
other address of the machine is used; without root or iproute2 that part
is skipped."""

import asyncio
import re
import sys
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
from harness import check  # noqa: E402

NS_FEATURE_REGISTER = "{http://jabber.org/features/iq-register}register"
NS_MECHANISMS = "{%s}mechanisms" % h.NS_SASL


def reg_iq(iq_type, ident, user=None, password=None):
    body = ""
    if user is not None:
        body = "<username>%s</username><password>%s</password>" % (user, password)
    return ("<iq type='%s' id='%s'><query xmlns='jabber:iq:register'>%s</query></iq>"
            % (iq_type, ident, body))


def error_condition(el):
    err = el.find("{jabber:client}error")
    if err is None:
        return None
    for c in err:
        if c.tag.startswith("{%s}" % h.NS_STANZA_ERRORS) and not c.tag.endswith("}text"):
            return c.tag.split("}", 1)[1]
    return "(no condition)"


def refused_registration(srv, label, netns=None):
    """A raw client on srv (direct TLS; inside the network namespace netns
    if given) sees no register feature, and its get and set requests are
    refused with service-unavailable. Returns the client's own address."""
    x = h.raw_exchange(srv.host, srv.tls_port, [
        (reg_iq("get", "g1"), "answer to the form request"),
        (reg_iq("set", "s1", "mallory", "m4llory"), "answer to the registration"),
        # The stream stays usable: a refused request is not a stream error.
        ("<auth xmlns='%s' mechanism='NO-SUCH-MECH'>=</auth>" % h.NS_SASL, "SASL failure"),
    ], netns=netns)
    feats = x.features
    check(feats.find(NS_MECHANISMS) is not None,
          "%s: the features after TLS offer SASL" % label, ET.tostring(feats))
    check(feats.find(NS_FEATURE_REGISTER) is None,
          "%s: the features do not offer <register/>" % label, ET.tostring(feats))
    el = x.answers[0]
    check(el.get("type") == "error" and el.get("id") == "g1"
          and error_condition(el) == "service-unavailable",
          "%s: the registration form request gets service-unavailable" % label,
          ET.tostring(el))
    el = x.answers[1]
    check(el.get("type") == "error" and el.get("id") == "s1"
          and error_condition(el) == "service-unavailable",
          "%s: a registration IQ set gets service-unavailable" % label, ET.tostring(el))
    el = x.answers[2]
    check(el.tag == "{%s}failure" % h.NS_SASL,
          "%s: the stream is still open after the refusals" % label, ET.tostring(el))
    return x.local_ip


async def main():
    closed = h.Server("closed", registration="closed").start()
    refused_registration(closed, "closed")
    r = h.ctl(closed, "user", "list")
    check(r.returncode == 0 and "mallory" not in r.stdout,
          "closed: no account was created", r.stdout)
    cond = await h.login_fails(closed, "mallory@localhost", "m4llory")
    check(cond == "not-authorized", "closed: the refused username cannot log in", cond)
    closed.stop()

    loop_srv = h.Server("loopback", registration="loopback").start()
    s = h.RawStream(loop_srv, direct_tls=True)
    feats = s.open()
    s.close()
    check(feats.find(NS_FEATURE_REGISTER) is not None,
          "loopback: a client on 127.0.0.1 is offered <register/>", ET.tostring(feats))
    cond, _, c = await h.register(loop_srv, "lou", "l0u-pass", then_login=True)
    check(cond is None, "loopback: slixmpp on 127.0.0.1 registers in-band", cond)
    await asyncio.wait_for(c.started, h.STEP_TIMEOUT_S)
    check(c.boundjid.bare == "lou@localhost",
          "loopback: ... and goes on to log in with the new account", c.boundjid)
    await c.close()
    loop_srv.stop()

    try:
        with h.test_netns() as net:
            remote_client_refused(net)
    except h.NetnsUnavailable as e:
        print("skip: no network namespace for a non-loopback client (%s); the refusal "
              "of a remote client under 'loopback' is not checked" % e, flush=True)


def remote_client_refused(net):
    """Under loopback, a client in the namespace net (address net.ns_ip,
    reaching the server on net.host_ip over the veth pair) is refused."""
    remote = h.Server("loopback-remote", registration="loopback",
                      listen_addr=net.host_ip).start()
    label = "loopback, client from %s in namespace %s" % (net.ns_ip, net.name)
    local_ip = refused_registration(remote, label, netns=net.name)
    check(local_ip == net.ns_ip, "the namespaced client connected from %s" % net.ns_ip,
          local_ip)
    check(re.search(r"connection from %s\b" % re.escape(net.ns_ip), remote.log_text()),
          "the server saw that connection come from %s, not loopback" % net.ns_ip)
    r = h.ctl(remote, "user", "list")
    check(r.returncode == 0 and "mallory" not in r.stdout,
          "loopback: the remote client created no account", r.stdout)
    remote.stop()


if __name__ == "__main__":
    h.run(main)
