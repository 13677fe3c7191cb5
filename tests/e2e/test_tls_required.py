#!/usr/bin/python3
"""test_tls_required: nothing but STARTTLS happens in plaintext on the
client port (RFC 6120 §5.3.1, §6.4.1), checked with raw sockets.

Before TLS the features offer only <starttls><required/></starttls> (no
SASL mechanisms, no registration). A plaintext <auth mechanism='PLAIN'>
with valid credentials gets <failure><encryption-required/></failure> and
a policy-violation stream error, never <success/>. A message stanza before
TLS gets a not-authorized stream error and is not delivered; a
registration IQ before TLS creates no account. After STARTTLS the same
credentials work, and the certificate is the ECDSA one made in
data_dir/tls, valid for the domain."""

import asyncio
import base64
import re
import socket
import ssl
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
from harness import check  # noqa: E402

NS_TLS = "{%s}" % h.NS_TLS
NS_SASL = "{%s}" % h.NS_SASL


def plain_token(user, password):
    return base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()


def expect_stream_error(s, cond, label):
    """The server sends the stream error, closes its stream, then the TCP
    connection."""
    closed = s.read_until_closed()
    v = s.view
    check(v.stream_error() == cond, "%s: stream error <%s/>" % (label, cond),
          "%s in %r" % (v.stream_error(), v.text[-1500:]))
    check(v.ended, "%s: the server closes its stream (</stream:stream>)" % label, v.text[-300:])
    check(closed, "%s: the server closes the TCP connection" % label)


def plaintext_features(srv):
    s = h.RawStream(srv)
    try:
        feats = s.open()
        tls = feats.find(NS_TLS + "starttls")
        check(tls is not None and tls.find(NS_TLS + "required") is not None,
              "plaintext features offer <starttls><required/></starttls>", ET.tostring(feats))
        check(feats.find(NS_SASL + "mechanisms") is None,
              "plaintext features contain no <mechanisms>", ET.tostring(feats))
        check(len(list(feats)) == 1, "plaintext features offer STARTTLS and nothing else",
              [c.tag for c in feats])
        check(s.view.header is not None and s.view.header.get("from") == srv.domain
              and s.view.header.get("version") == "1.0" and s.view.header.get("id"),
              "the server's stream header has from, id and version 1.0", s.view.header.attrib)
    finally:
        s.close()


def plaintext_auth(srv):
    s = h.RawStream(srv)
    try:
        s.open()
        s.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
               % (h.NS_SASL, plain_token("alice", "secret")))
        closed = s.read_until_closed()
        failure = s.view.find(NS_SASL + "failure")
        check(failure is not None and failure.find(NS_SASL + "encryption-required") is not None,
              "plaintext PLAIN auth gets <failure><encryption-required/></failure>", s.view.text)
        check(s.view.find(NS_SASL + "success") is None and "success" not in s.view.text,
              "the server never sends <success/> to a plaintext auth")
        tags = [e.tag for e in s.view.elements]
        check(tags.index(NS_SASL + "failure") < tags.index("{%s}error" % h.NS_STREAMS),
              "the SASL failure comes before the stream error", tags)
        check(s.view.stream_error() == "policy-violation",
              "... followed by a policy-violation stream error", s.view.stream_error())
        check(s.view.ended and closed, "... and the stream and connection are closed")
    finally:
        s.close()


async def stanzas_before_tls(srv, bob):
    s = h.RawStream(srv)
    try:
        s.open()
        s.send("<message to='bob@localhost' type='chat'><body>sneaky</body></message>")
        expect_stream_error(s, "not-authorized", "a message before TLS")
    finally:
        s.close()
    try:
        m = await bob.next_message(timeout=1.0)
        check(False, "the plaintext message is not delivered", m)
    except asyncio.TimeoutError:
        check(True, "the plaintext message was not delivered to bob")

    s = h.RawStream(srv)
    try:
        s.open()
        s.send("<iq type='set' id='r1'><query xmlns='jabber:iq:register'>"
               "<username>eve</username><password>eavesdropped</password></query></iq>")
        expect_stream_error(s, "not-authorized", "a registration IQ before TLS")
    finally:
        s.close()
    r = h.ctl(srv, "user", "list")
    check("eve@" not in r.stdout, "the plaintext registration created no account", r.stdout)


def after_starttls(srv):
    s = h.RawStream(srv)
    try:
        s.open()
        feats = s.starttls()
        mechs = [m.text for m in feats.findall(NS_SASL + "mechanisms/" + NS_SASL + "mechanism")]
        check(mechs == ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"],
              "after STARTTLS the features offer SCRAM-SHA-256, SCRAM-SHA-1, PLAIN", mechs)
        check(feats.find("{http://jabber.org/features/iq-register}register") is not None,
              "... and in-band registration (registration=open)", ET.tostring(feats))
        check(feats.find(NS_TLS + "starttls") is None, "... and no STARTTLS any more")
        cert_der = s.sock.getpeercert(binary_form=True)
        full = s.login_plain("alice", "secret", resource="tls")
        check(full == "alice@localhost/tls",
              "the same PLAIN credentials work over TLS and bind", full)
        return cert_der
    finally:
        s.close()


def certificate(srv, cert_der):
    with open(srv.cert_path) as f:
        pem = f.read()
    first = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", pem, re.S)
    check(first and ssl.PEM_cert_to_DER_cert(first.group(0)) == cert_der,
          "the server presents the certificate in data_dir/tls/cert.pem")
    text = subprocess.run(["openssl", "x509", "-noout", "-text", "-in", srv.cert_path],
                          capture_output=True, text=True, timeout=10).stdout
    check("id-ecPublicKey" in text and ("prime256v1" in text or "P-256" in text),
          "the made certificate has an ECDSA P-256 key", text[:600])
    ctx = ssl.create_default_context(cafile=srv.cert_path)
    ctx.check_hostname = True
    try:
        with socket.create_connection(srv.addr(direct_tls=True), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=srv.domain):
                ok, why = True, ""
    except ssl.SSLError as e:
        ok, why = False, e
    check(ok, "the certificate verifies for the name '%s' when trusted" % srv.domain, why)


async def main():
    srv = h.Server(registration="open").start()
    r = h.ctl(srv, "user", "add", "alice@localhost", "--password", "secret")
    check(r.returncode == 0, "alice exists (so refusals are not about a wrong password)")
    r = h.ctl(srv, "user", "add", "bob@localhost", "--password", "bobpw")
    bob = await h.login(srv, "bob@localhost/watch", "bobpw")

    plaintext_features(srv)
    plaintext_auth(srv)
    check("authenticated as alice" not in srv.log_text(),
          "the server log shows no authentication of alice so far")
    await stanzas_before_tls(srv, bob)
    cert_der = after_starttls(srv)
    certificate(srv, cert_der)
    check(not bob.gone.is_set(), "bob's session was untouched by all of it")
    await bob.close()


if __name__ == "__main__":
    h.run(main)
