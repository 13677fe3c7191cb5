#!/usr/bin/python3
"""test_stream_errors: input that breaks the stream rules gets the stream
error RFC 6120 §4.9.3 names for it, the stream and the connection are
closed, and the server carries on. Raw sockets over direct TLS on the
c2s_tls_port (XEP-0368), so every case also runs through TLS.

restricted-xml (§11.1): a DTD, a comment, a processing instruction.
not-well-formed: mismatched tags; an undefined entity.
policy-violation: a stanza over stanza_bytes_max (2048 here), sent by a
logged-in session, while a stanza just under the limit goes through.
invalid-namespace: a wrong stream namespace, a wrong content namespace.
host-unknown: a 'to' naming a domain the server does not serve.
unsupported-version: version 2.0.
After all of them the same server still accepts a login and answers."""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import harness as h  # noqa: E402
from harness import check  # noqa: E402

STANZA_MAX = 2048
HEADER = h.stream_header()


def expect_error_once(srv, label, cond, before_features=None, after_features=None):
    """One connection: sends before_features (instead of a normal header),
    or a normal header and, once the features arrived, after_features.
    Checks the stream error and that everything is closed."""
    s = h.RawStream(srv, direct_tls=True)
    try:
        if before_features is not None:
            s.send(before_features)
        else:
            s.open()
            s.send(after_features)
        closed = s.read_until_closed()
        v = s.view
        check(v.header is not None,
              "%s: the server opened its stream before the error" % label, v.text[:300])
        check(v.stream_error() == cond, "%s: <%s/>" % (label, cond),
              "got %s in %r" % (v.stream_error(), v.text[-1500:]))
        check(v.ended, "%s: ... then </stream:stream>" % label, v.text[-300:])
        check(closed, "%s: ... then the TCP connection closes" % label)
    finally:
        s.close()


def oversized(srv):
    s = h.RawStream(srv, direct_tls=True)
    try:
        s.open()
        full = s.login_plain("tester", "t3ster", resource="big")
        small = "x" * (STANZA_MAX - 400)
        s.send("<message to='%s' id='m1'><body>%s</body></message>" % (full, small))
        el = s.next_element(what="the small message, echoed to our own full JID")
        check(el.tag == "{jabber:client}message" and el.findtext("{jabber:client}body") == small,
              "a %d-byte stanza (under stanza_bytes_max=%d) is delivered"
              % (len(small) + 60, STANZA_MAX))
        big = "y" * (STANZA_MAX * 2)
        s.send("<message to='%s' id='m2'><body>%s</body></message>" % (full, big))
        closed = s.read_until_closed()
        v = s.view
        check(v.stream_error() == "policy-violation",
              "a %d-byte stanza gets <policy-violation/>" % (len(big) + 60),
              "%s in %r" % (v.stream_error(), v.text[-800:]))
        check(big not in v.text, "... and is not delivered")
        check(v.ended and closed, "oversized stanza: </stream:stream>, then the connection closes")
    finally:
        s.close()


def still_serving(srv):
    s = h.RawStream(srv, direct_tls=True)
    try:
        s.open()
        full = s.login_plain("tester", "t3ster", resource="after")
        s.send("<iq type='get' id='p1' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>" % srv.domain)
        el = s.next_element(what="ping result")
        check(el.get("type") == "result" and el.get("id") == "p1",
              "after all the errors a new connection logs in (%s) and gets a ping result" % full)
    finally:
        s.close()
    check(srv.running(), "the server process is still running")


def main():
    srv = h.Server(registration="closed", stanza_bytes_max=STANZA_MAX).start()
    r = h.ctl(srv, "user", "add", "tester@localhost", "--password", "t3ster")
    check(r.returncode == 0, "account tester exists", r.stderr)
    failures = []

    def expect_error(*args, **kw):
        """Runs every case even when one fails, so one run shows them all."""
        try:
            expect_error_once(*args, **kw)
        except AssertionError as e:
            print("FAILED  %s" % e, flush=True)
            failures.append(str(e))

    expect_error(srv, "DTD before the stream header", "restricted-xml",
                 before_features="<?xml version='1.0'?><!DOCTYPE stream:stream "
                 "[<!ENTITY boom 'boom'>]>" + HEADER.replace("<?xml version='1.0'?>", ""))
    expect_error(srv, "comment", "restricted-xml", after_features="<!-- a comment -->")
    expect_error(srv, "comment inside a stanza", "restricted-xml",
                 after_features="<message><!-- hidden --><body>x</body></message>")
    expect_error(srv, "processing instruction", "restricted-xml",
                 after_features="<?evil instruction?>")
    expect_error(srv, "mismatched tags", "not-well-formed",
                 after_features="<message><body>x</body></wrong>")
    expect_error(srv, "undefined entity", "not-well-formed",
                 after_features="<message><body>&boom;</body></message>")
    expect_error(srv, "wrong stream namespace", "invalid-namespace",
                 before_features=h.stream_header(stream_ns="http://example.com/not-streams"))
    expect_error(srv, "wrong content namespace (jabber:server)", "invalid-namespace",
                 before_features=h.stream_header(ns="jabber:server"))
    expect_error(srv, "'to' a domain not served", "host-unknown",
                 before_features=h.stream_header(to="example.org"))
    expect_error(srv, "version 2.0", "unsupported-version",
                 before_features=h.stream_header(version="2.0"))
    try:
        oversized(srv)
    except AssertionError as e:
        print("FAILED  %s" % e, flush=True)
        failures.append(str(e))
    still_serving(srv)
    check(not failures, "every stream error case passed", "\n".join(failures))


if __name__ == "__main__":
    h.run(main)
