"""harness: shared helpers for the end-to-end tests in tests/e2e/.

Each test_*.py is a script run by tests/run.sh as
`/usr/bin/python3 tests/e2e/test_x.py` from the repository root; exit 0
means pass. The scripts call harness.run(main) which:
  - puts every file (server data, logs) in one temp dir, removed at exit;
  - arms a watchdog so no script runs past RUN_TIMEOUT_S;
  - on failure prints the traceback, every server's log and the tail of
    slixmpp's debug log, then stops every process it started.

What is here:
  Server      one stanzad process on free loopback ports, with its stderr
              captured to a file; start / stop (SIGTERM) / kill (SIGKILL).
  ctl()       runs stanzactl against a server's data_dir.
  Client      a slixmpp ClientXMPP that records what the tests look at
              (messages, stream errors, auth failures, disconnection).
  login(), login_fails(), register()   the slixmpp flows the tests use.
  iq_get()    sends one IQ get and returns the result (or IqError).
  Client.inbox, expect(), expect_seq(), take(), none_within()
              every stanza a client received, to wait for, check the
              order of, or check the absence of (instant messaging tests).
  online()    login + optional roster get + initial presence (priority).
  stanza_is(), stanza_error(), sync(), xml_text()   small IM helpers.
  RawStream   a plain or TLS socket speaking XMPP by hand, for checks a
              real client library would refuse to make (stream errors).
  raw_exchange()   one direct-TLS raw stream: features, then one answer
              per request; optionally run inside a network namespace.
  test_netns()     a throw-away network namespace joined to this host by
              a veth pair, for tests that need a non-loopback client.

Network rule: tests use only loopback addresses, or addresses on the veth
pair that test_netns() itself creates; never any other address of the
machine.

slixmpp is Debian's python3-slixmpp 1.8: use /usr/bin/python3. See
/work/shared/TESTING.md for why registration needs force_registration and
_always_send_everything. """

import asyncio
import collections
import contextlib
import copy
import ipaddress
import json
import logging
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

__all__ = [
    "SRCDIR", "BUILDDIR", "DOMAIN", "NS_STREAMS", "NS_STREAM_ERRORS",
    "NS_STANZA_ERRORS", "NS_SASL", "NS_TLS", "Server", "ctl", "check",
    "run", "Client", "login", "login_fails", "register", "iq_get",
    "iq_error_condition", "RawStream", "StreamView", "LoginFailed",
    "IqError", "IqTimeout", "free_port", "tmpdir", "binary",
    "stream_header", "STEP_TIMEOUT_S", "raw_exchange", "test_netns", "Netns",
    "NetnsUnavailable", "NS_CLIENT", "xml_text",
    "stanza_is", "stanza_error", "sync", "online",
]

SRCDIR = os.environ.get("STANZAD_SRCDIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILDDIR = os.path.abspath(os.environ.get("STANZAD_BUILDDIR")
                           or os.path.join(SRCDIR, "build"))
DOMAIN = "localhost"

NS_CLIENT = "jabber:client"
NS_STREAMS = "http://etherx.jabber.org/streams"
NS_STREAM_ERRORS = "urn:ietf:params:xml:ns:xmpp-streams"
NS_STANZA_ERRORS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"

# A whole script must end within this (tests/run.sh has no timeout of its own).
RUN_TIMEOUT_S = 58
# Time a server gets to log "ready", and to exit after SIGTERM.
SERVER_START_TIMEOUT_S = 15
SERVER_STOP_TIMEOUT_S = 8
# Default wait for any single network step.
STEP_TIMEOUT_S = 8

# Settings every test server gets unless the test overrides them. The two
# limits are raised so that tests that log in badly on purpose, or register
# many accounts, are not throttled (throttling is not what they test).
BASE_SETTINGS = {
    "domain": DOMAIN,
    "listen_addr": "127.0.0.1",
    "s2s_port": 0,
    "registration": "open",
    "log_level": "debug",
    "auth_failures_per_ip": 1000,
    "registration_per_ip_per_hour": 0,
}

_servers = []
_clients = []
_tmp_root = None
_slix_log = None
_cleaned = False
_netns_made = []    # [namespace or None, host veth or None]: what exists
_children = []      # Popen of clients running inside a namespace


def tmpdir():
    """The script's temp root (made on first use, removed at exit)."""
    global _tmp_root
    if _tmp_root is None:
        _tmp_root = tempfile.mkdtemp(prefix="stanzad-e2e-")
    return _tmp_root


def files_holding(top, needle):
    """Every regular file under top whose bytes contain needle (bytes)."""
    found = []
    for root, _dirs, files in os.walk(top):
        for name in files:
            path = os.path.join(root, name)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as f:
                    if needle in f.read():
                        found.append(path)
    return found


def check(cond, what, detail=""):
    """Asserts cond; prints what it proved when it holds."""
    if not cond:
        raise AssertionError(what + (": " + str(detail) if detail != "" else ""))
    print("ok  " + what, flush=True)


def free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def binary(name):
    path = os.path.join(BUILDDIR, name)
    if not os.access(path, os.X_OK):
        raise RuntimeError("%s is not built (looked in %s; set STANZAD_BUILDDIR)" % (name, BUILDDIR))
    return path


# --- the server ---------------------------------------------------------------

class ServerError(Exception):
    pass


class Server:
    """One stanzad. data_dir and ports stay the same across restarts, so a
    restart finds what the previous run left. All output goes to
    <dir>/stanzad.log (appended across restarts)."""

    def __init__(self, name="stanzad", data_dir=None, **settings):
        self.name = name
        self.dir = os.path.join(tmpdir(), name)
        os.makedirs(self.dir, exist_ok=True)
        self.data_dir = data_dir or os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "stanzad.log")
        self.settings = dict(BASE_SETTINGS)
        self.settings.update(settings)
        host = self.settings["listen_addr"]
        if "c2s_port" not in settings:
            self.settings["c2s_port"] = free_port(host)
        if "c2s_tls_port" not in settings:
            port = free_port(host)
            while port == self.settings["c2s_port"]:
                port = free_port(host)
            self.settings["c2s_tls_port"] = port
        self.settings["data_dir"] = self.data_dir
        self.proc = None
        self.exit_code = None
        _servers.append(self)

    @property
    def domain(self):
        return self.settings["domain"]

    @property
    def host(self):
        return self.settings["listen_addr"]

    @property
    def port(self):
        return int(self.settings["c2s_port"])

    @property
    def tls_port(self):
        return int(self.settings["c2s_tls_port"])

    @property
    def cert_path(self):
        return os.path.join(self.data_dir, "tls", "cert.pem")

    def command(self):
        cmd = [binary("stanzad")]
        for k, v in self.settings.items():
            cmd += ["--set", "%s=%s" % (k, v)]
        return cmd

    def _log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def spawn(self):
        """Starts the process without waiting. Returns the log offset where
        this run's output begins."""
        if self.proc and self.proc.poll() is None:
            raise ServerError("%s is already running" % self.name)
        offset = self._log_size()
        with open(self.log_path, "ab") as f:
            f.write(("--- %s: %s\n" % (time.strftime("%H:%M:%S"), " ".join(self.command()))).encode())
        offset = self._log_size()
        logf = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=logf, cwd=self.dir, start_new_session=True)
        finally:
            logf.close()
        self.exit_code = None
        return offset

    def start(self, timeout=SERVER_START_TIMEOUT_S):
        offset = self.spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_text(offset)
            if re.search(r"\bready\s*$", text, re.M):
                return self
            rc = self.proc.poll()
            if rc is not None:
                self.exit_code = rc
                raise ServerError("%s exited with status %s before it was ready:\n%s"
                                  % (self.name, rc, text))
            time.sleep(0.05)
        raise ServerError("%s did not log 'ready' within %ss" % (self.name, timeout))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=SERVER_STOP_TIMEOUT_S):
        """SIGTERM, then SIGKILL if it does not exit in time. Returns the
        exit status (negative: killed by that signal)."""
        if self.proc is None:
            return self.exit_code
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                self.note("did not exit within %ss of SIGTERM; killed" % timeout)
        self.exit_code = self.proc.returncode
        self.proc = None
        return self.exit_code

    def kill(self):
        """SIGKILL now (a crash); waits for the process to be gone."""
        if self.proc is None:
            return self.exit_code
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)
        self.exit_code = self.proc.returncode
        self.proc = None
        return self.exit_code

    def kill_now(self):
        """SIGKILL without waiting: safe to call inside a client callback."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)

    def note(self, line):
        with open(self.log_path, "ab") as f:
            f.write(("--- harness: %s\n" % line).encode())

    def log_text(self, offset=0):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def addr(self, direct_tls=False):
        return (self.host, self.tls_port if direct_tls else self.port)


def ctl(srv_or_dir, *args, stdin=None, timeout=15):
    """Runs stanzactl --set data_dir=... ARGS. Returns CompletedProcess
    (text mode) and prints what ran and what came back."""
    data_dir = srv_or_dir if isinstance(srv_or_dir, str) else srv_or_dir.data_dir
    cmd = [binary("stanzactl"), "--set", "data_dir=%s" % data_dir] + list(args)
    r = subprocess.run(cmd, input=stdin if stdin is not None else "", capture_output=True,
                       text=True, timeout=timeout)
    shown = " ".join(a if " " not in a else repr(a) for a in args)
    print("    $ stanzactl %s -> exit %d%s%s" % (
        shown, r.returncode,
        ("; stdout: " + r.stdout.strip().replace("\n", " | ")) if r.stdout.strip() else "",
        ("; stderr: " + r.stderr.strip().replace("\n", " | ")) if r.stderr.strip() else ""),
        flush=True)
    return r


# --- slixmpp ------------------------------------------------------------------

class LoginFailed(Exception):
    pass


class Client(slixmpp.ClientXMPP):
    """A slixmpp client that records what tests check. Certificates are
    not verified (the server's is self-signed; test_tls_required checks
    the certificate itself)."""

    def __init__(self, jid, password, mech=None):
        super().__init__(jid, password, sasl_mech=mech)
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.whitespace_keepalive = False
        loop = asyncio.get_running_loop()
        self.started = loop.create_future()       # session_start
        self.auth_failed = loop.create_future()   # SASL failure condition
        self.gone = asyncio.Event()               # TCP connection closed
        self.connect_error = None
        self.messages = asyncio.Queue()
        self.stream_errors = []                   # conditions, in order
        self.mech_used = None
        self.add_event_handler("session_start", self._on_start)
        self.add_event_handler("failed_auth", self._on_failed_auth)
        self.add_event_handler("failed_all_auth", self._on_failed_all_auth)
        self.add_event_handler("auth_success", self._on_auth_success)
        self.add_event_handler("disconnected", self._on_gone)
        self.add_event_handler("connection_failed", self._on_connection_failed)
        self.add_event_handler("stream_error", self._on_stream_error)
        self.add_event_handler("message", self.messages.put_nowait)
        # Every <message/>, <presence/> and <iq/> received, in arrival order
        # (copies: slixmpp rewrites some in place when it answers them).
        self.inbox = []
        self._inbox_grew = asyncio.Event()
        self.add_filter("in", self._record)
        _clients.append(self)

    def _record(self, stanza):
        if stanza.xml.tag in _STANZA_TAGS:
            self.inbox.append(copy.deepcopy(stanza.xml))
            self._inbox_grew.set()
        return stanza

    def take(self, pred):
        """Removes and returns every received stanza (Element) matching pred."""
        got = [el for el in self.inbox if pred(el)]
        self.inbox = [el for el in self.inbox if not pred(el)]
        return got

    async def _wait_inbox(self, find, what, timeout):
        """Waits until find() (over the inbox) returns something else than
        None and returns that; on timeout the AssertionError names what()
        and lists what arrived instead."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = find()
            if found is not None:
                return found
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError("%s got no %s within %ss; it has: %s" % (
                    self.boundjid.full, what(), timeout,
                    [xml_text(el) for el in self.inbox][-10:] or "nothing"))
            self._inbox_grew.clear()
            try:
                await asyncio.wait_for(self._inbox_grew.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def expect(self, pred, what, timeout=STEP_TIMEOUT_S):
        """Waits for the first received stanza matching pred; removes and
        returns it (an Element)."""
        def find():
            return next((i for i, el in enumerate(self.inbox) if pred(el)), None)
        return self.inbox.pop(await self._wait_inbox(find, lambda: what, timeout))

    async def expect_seq(self, steps, timeout=STEP_TIMEOUT_S):
        """steps: [(what, pred)]. Waits until each has a matching stanza,
        checks they arrived in that order, removes and returns them."""
        def positions():
            idx = []
            for _, pred in steps:
                idx.append(next((k for k, el in enumerate(self.inbox)
                                 if pred(el) and k not in idx), None))
            return idx

        def missing():
            return " / ".join(w for (w, _), i in zip(steps, positions()) if i is None)
        idx = await self._wait_inbox(lambda: None if None in positions() else positions(),
                                     missing, timeout)
        got = [self.inbox[i] for i in idx]
        if idx != sorted(idx):
            raise AssertionError("%s got %s in the wrong order: %s" % (
                self.boundjid.full, " / ".join(w for w, _ in steps),
                [xml_text(self.inbox[i]) for i in sorted(idx)]))
        self.inbox = [el for k, el in enumerate(self.inbox) if k not in idx]
        return got

    async def none_within(self, pred, seconds):
        """Waits seconds; returns (and removes) the stanzas matching pred
        that arrived, so a test can check that there are none."""
        await asyncio.sleep(seconds)
        return self.take(pred)

    def _on_start(self, _):
        if not self.started.done():
            self.started.set_result(True)

    def _on_failed_auth(self, stanza):
        if not self.auth_failed.done():
            self.auth_failed.set_result(stanza["condition"] or "(no condition)")

    def _on_failed_all_auth(self, _):
        if not self.auth_failed.done():
            self.auth_failed.set_result("no usable mechanism")

    def _on_auth_success(self, _):
        self.mech_used = self["feature_mechanisms"].mech.name

    def _on_gone(self, _):
        self.gone.set()

    def _on_connection_failed(self, err):
        self.connect_error = err
        self.cancel_connection_attempt()  # no retry loop: fail at once
        self.gone.set()

    def _on_stream_error(self, err):
        self.stream_errors.append(err["condition"])

    async def next_message(self, timeout=STEP_TIMEOUT_S):
        return await asyncio.wait_for(self.messages.get(), timeout)

    async def wait_gone(self, timeout=STEP_TIMEOUT_S):
        await asyncio.wait_for(self.gone.wait(), timeout)

    async def close(self, timeout=3):
        """Ends the stream politely; aborts if the server does not answer."""
        if self.gone.is_set():
            return
        self.disconnect(wait=timeout)
        try:
            await asyncio.wait_for(self.gone.wait(), timeout + 1)
        except asyncio.TimeoutError:
            self.abort()


_STANZA_TAGS = {"{%s}%s" % (NS_CLIENT, n) for n in ("message", "presence", "iq")}


def xml_text(el):
    """An Element as XML text with the jabber:client namespace left out,
    for messages."""
    el = copy.deepcopy(el)
    prefix = "{%s}" % NS_CLIENT
    for e in el.iter():
        if isinstance(e.tag, str) and e.tag.startswith(prefix):
            e.tag = e.tag[len(prefix):]
    return ET.tostring(el, encoding="unicode")


async def _wait_any(futs, timeout):
    done, _ = await asyncio.wait([asyncio.ensure_future(f) for f in futs], timeout=timeout,
                                 return_when=asyncio.FIRST_COMPLETED)
    return done


async def _connect_and_wait(c, srv, direct_tls, timeout):
    c.connect(srv.addr(direct_tls), use_ssl=direct_tls)
    gone = asyncio.ensure_future(c.gone.wait())
    try:
        await _wait_any([c.started, c.auth_failed, gone], timeout)
    finally:
        gone.cancel()


async def login(srv, jid, password, *, direct_tls=False, mech="SCRAM-SHA-256",
                timeout=STEP_TIMEOUT_S):
    """Logs in (STARTTLS on srv.port, or direct TLS on srv.tls_port) with
    one SASL mechanism and waits for session_start. Returns the Client;
    raises LoginFailed with the reason otherwise."""
    c = Client(jid, password, mech)
    await _connect_and_wait(c, srv, direct_tls, timeout)
    if c.started.done():
        return c
    reason = ("SASL failure %s" % c.auth_failed.result() if c.auth_failed.done()
              else "connection failed: %s" % c.connect_error if c.connect_error
              else "stream error %s" % c.stream_errors if c.stream_errors
              else "disconnected" if c.gone.is_set()
              else "no session_start within %ss" % timeout)
    c.abort()
    raise LoginFailed("%s could not log in: %s" % (jid, reason))


async def login_fails(srv, jid, password, *, direct_tls=False, mech="SCRAM-SHA-256",
                      timeout=STEP_TIMEOUT_S):
    """Expects a refused login. Returns the SASL failure condition (e.g.
    'not-authorized'); raises AssertionError if the login succeeds or
    ends without a SASL failure."""
    c = Client(jid, password, mech)
    await _connect_and_wait(c, srv, direct_tls, timeout)
    ok = c.started.done()
    cond = c.auth_failed.result() if c.auth_failed.done() else None
    if ok:
        await c.close()
        raise AssertionError("%s logged in with password %r, which should be refused"
                             % (jid, password))
    c.abort()
    if cond is None:
        raise AssertionError("login of %s ended without a SASL failure (%s)"
                             % (jid, c.stream_errors or c.connect_error or "timeout"))
    return cond


async def register(srv, user, password, *, direct_tls=False, then_login=False, on_result=None,
                   timeout=STEP_TIMEOUT_S):
    """In-band registration (XEP-0077) with slixmpp before login.
    Returns (condition, form, client): condition None on success, else the
    error condition ('conflict', ...) or 'timeout'; form is the
    registration form the server sent (an Iq). With then_login the client
    goes on to log in with the new account (wait on client.started);
    otherwise it is closed. on_result(condition) runs the moment the
    answer arrives (e.g. to crash the server right then)."""
    c = Client("%s@%s" % (user, srv.domain), password)
    c.register_plugin("xep_0077")
    c["xep_0077"].force_registration = True
    c._always_send_everything = True  # 1.8 queues stanzas until session start
    loop = asyncio.get_running_loop()
    answered = loop.create_future()
    form_box = []

    async def on_register(form):
        form_box.append(form)
        iq = c.Iq()
        iq["type"] = "set"
        iq["register"]["username"] = user
        iq["register"]["password"] = password
        try:
            await iq.send(timeout=timeout)
            cond = None
        except IqError as e:
            cond = e.iq["error"]["condition"] or "error"
        except IqTimeout:
            cond = "timeout"
        if on_result:
            on_result(cond)
        if cond is not None or not then_login:
            # Stop slixmpp from going on to SASL after the answer.
            c.unregister_feature("mechanisms", c["feature_mechanisms"].order)
        if not answered.done():
            answered.set_result(cond)

    c.add_event_handler("register", on_register)
    c.connect(srv.addr(direct_tls), use_ssl=direct_tls)
    gone = asyncio.ensure_future(c.gone.wait())
    try:
        await _wait_any([answered, gone], timeout + 2)
    finally:
        gone.cancel()
    if not answered.done():
        why = ("connection failed: %s" % c.connect_error if c.connect_error
               else "stream error %s" % c.stream_errors if c.stream_errors
               else "connection closed" if c.gone.is_set() else "timeout")
        c.abort()
        raise AssertionError("registration of %s got no answer (%s); the register "
                             "event %s" % (user, why, "fired" if form_box else "never fired"))
    cond = answered.result()
    if cond is not None or not then_login:
        await c.close()
    return cond, (form_box[0] if form_box else None), c


async def iq_get(client, to, payload, timeout=STEP_TIMEOUT_S):
    """Sends <iq type='get' to=to>payload</iq> (payload: XML text).
    Returns the result Iq; raises IqError / IqTimeout."""
    iq = client.make_iq_get(ito=to)
    iq.append(ET.fromstring(payload))
    return await iq.send(timeout=timeout)


def iq_error_condition(err):
    return err.iq["error"]["condition"]


# --- instant messaging (RFC 6121) helpers -------------------------------------

def stanza_is(el, kind, type=None, frm=None, to=None, child=None):
    """Whether el is a <kind/> (message, presence, iq) with this type
    ('available' for a presence without type; 'normal' for a message
    without one), from, to and a child {ns}name, where given."""
    if el.tag != "{%s}%s" % (NS_CLIENT, kind):
        return False
    default = {"presence": "available", "message": "normal"}.get(kind)
    if type is not None and el.get("type", default) != type:
        return False
    if frm is not None and el.get("from") != frm:
        return False
    if to is not None and el.get("to") != to:
        return False
    return child is None or el.find(child) is not None


def stanza_error(el):
    """The defined condition of a stanza's <error/>, or None."""
    err = el.find("{%s}error" % NS_CLIENT)
    if err is None:
        return None
    for c in err:
        if c.tag.startswith("{%s}" % NS_STANZA_ERRORS) and not c.tag.endswith("}text"):
            return c.tag.split("}", 1)[1]
    return "(error without a condition)"


async def sync(c):
    """A ping round trip: the server has handled all c sent before."""
    await iq_get(c, c.boundjid.domain, "<ping xmlns='urn:xmpp:ping'/>")


async def online(srv, jid, password, *, priority=None, roster=False, presence=True,
                 direct_tls=False):
    """Logs in with subscriptions left to the test (slixmpp would answer
    them itself), optionally gets the roster (an "interested resource"),
    sends initial presence (with a priority if given) and waits until the
    server has handled it. Returns the client; with roster, also sets
    c.roster_result (the Element of the roster result)."""
    c = await login(srv, jid, password, direct_tls=direct_tls)
    c.auto_authorize = None
    c.auto_subscribe = False
    if roster:
        res = await iq_get(c, None, "<query xmlns='jabber:iq:roster' ver=''/>")
        c.roster_result = copy.deepcopy(res.xml)
    if presence:
        c.send_raw("<presence>%s</presence>" % (
            "" if priority is None else "<priority>%d</priority>" % priority))
        await sync(c)
    return c


# --- raw streams -------------------------------------------------------------

def stream_header(to=DOMAIN, ns=NS_CLIENT, stream_ns=NS_STREAMS, version="1.0", decl=True):
    h = "<?xml version='1.0'?>" if decl else ""
    h += "<stream:stream xmlns='%s' xmlns:stream='%s'" % (ns, stream_ns)
    if to is not None:
        h += " to='%s'" % to
    if version is not None:
        h += " version='%s'" % version
    return h + " xml:lang='en'>"


class StreamView:
    """What the server sent on one stream, parsed with a real XML parser
    (so badly formed output from the server is itself a failure)."""

    def __init__(self):
        self.parser = ET.XMLPullParser(("start", "end"))
        self.depth = 0
        self.header = None      # the <stream:stream> element (attributes only)
        self.elements = []      # completed top-level children
        self.ended = False      # </stream:stream> seen
        self.text = ""

    def feed(self, data):
        self.text += data
        try:
            self.parser.feed(data)
            events = list(self.parser.read_events())
        except ET.ParseError as e:
            raise AssertionError("the server sent XML that does not parse (%s): %r"
                                 % (e, self.text[-2000:])) from None
        for ev, el in events:
            if ev == "start":
                if self.depth == 0:
                    self.header = el
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth == 1:
                    self.elements.append(el)
                elif self.depth == 0:
                    self.ended = True

    def find(self, tag):
        """First top-level element with this {ns}name, or None."""
        for el in self.elements:
            if el.tag == tag:
                return el
        return None

    def stream_error(self):
        """The condition of the stream error, or None."""
        el = self.find("{%s}error" % NS_STREAMS)
        if el is None:
            return None
        for child in el:
            if child.tag.startswith("{%s}" % NS_STREAM_ERRORS) and not child.tag.endswith("}text"):
                return child.tag.split("}", 1)[1]
        return "(stream error without a condition)"


class RawStream:
    """A blocking client socket speaking XMPP by hand. Every read has a
    deadline. view holds the server's current stream (reset by
    restart())."""

    def __init__(self, srv, direct_tls=False, port=None, host=None, timeout=STEP_TIMEOUT_S):
        self.host = host or srv.host
        self.port = port or (srv.tls_port if direct_tls else srv.port)
        self.sock = socket.create_connection((self.host, self.port), timeout=timeout)
        self.eof = False
        self.reset_by_peer = False
        self.view = StreamView()
        self.cursor = None  # next_element's place in view.elements (None: at the end)
        self.tls = False
        if direct_tls:
            self.start_tls()

    def start_tls(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock, server_hostname=DOMAIN)
        self.tls = True

    def restart(self):
        """A new stream is about to begin (after STARTTLS or SASL)."""
        self.view = StreamView()
        self.cursor = None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _recv_once(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            self.eof = True
            self.reset_by_peer = True
            return True
        except ssl.SSLError as e:
            # An abrupt end of TLS counts as the end of the connection.
            self.eof = True
            self.reset_by_peer = "EOF" in str(e) or "UNEXPECTED" in str(e)
            return True
        if not data:
            self.eof = True
            return True
        self.view.feed(data.decode("utf-8"))
        return True

    def wait_for(self, pred, timeout=STEP_TIMEOUT_S, what="data"):
        """Reads until pred(view) holds; raises AssertionError on timeout
        or if the connection ends first."""
        deadline = time.monotonic() + timeout
        while not pred(self.view):
            if self.eof:
                raise AssertionError("connection closed while waiting for %s; got: %r"
                                     % (what, self.view.text[-2000:]))
            if not self._recv_once(deadline):
                raise AssertionError("no %s within %ss; got: %r"
                                     % (what, timeout, self.view.text[-2000:]))
        return self.view

    def features(self, timeout=STEP_TIMEOUT_S):
        """Waits for <stream:features/> and returns the element."""
        tag = "{%s}features" % NS_STREAMS
        self.wait_for(lambda v: v.find(tag) is not None, timeout, "stream features")
        return self.view.find(tag)

    def open(self, to=DOMAIN):
        self.send(stream_header(to=to))
        return self.features()

    def next_element(self, timeout=STEP_TIMEOUT_S, what="an element"):
        """The element after the one it returned last (the first call: the
        first one to arrive after it). Several can come in one read: a
        server may write a burst at once; none is skipped."""
        n = len(self.view.elements) if self.cursor is None else self.cursor
        self.wait_for(lambda v: len(v.elements) > n, timeout, what)
        self.cursor = n + 1
        return self.view.elements[n]

    def read_until_closed(self, timeout=STEP_TIMEOUT_S):
        """Reads until the server closes the TCP connection. Returns True
        if it did within timeout (the view holds everything sent)."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            if not self._recv_once(deadline):
                return False
        return True

    def starttls(self):
        """Negotiates STARTTLS on the current plaintext stream (features
        already read) and opens the new stream; returns its features."""
        self.send("<starttls xmlns='%s'/>" % NS_TLS)
        el = self.next_element(what="<proceed/>")
        if el.tag != "{%s}proceed" % NS_TLS:
            raise AssertionError("STARTTLS answered with %s" % el.tag)
        self.start_tls()
        self.restart()
        return self.open()

    def login_plain(self, user, password, resource="raw"):
        """SASL PLAIN (TLS must be on), new stream, bind. Returns the full
        JID the server bound."""
        import base64
        tok = base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()
        self.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, tok))
        el = self.next_element(what="SASL answer")
        if el.tag != "{%s}success" % NS_SASL:
            raise AssertionError("PLAIN login of %s failed: %s" % (user, ET.tostring(el)))
        self.restart()
        self.open()
        self.send("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                  "<resource>%s</resource></bind></iq>" % resource)
        el = self.next_element(what="bind result")
        jid = el.find(".//{urn:ietf:params:xml:ns:xmpp-bind}jid")
        if el.get("type") != "result" or jid is None:
            raise AssertionError("bind failed: %s" % ET.tostring(el))
        return jid.text

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --- raw exchanges, and a client in its own network namespace ---------------

# Addresses for test_netns(): one /30 out of this private /16, on the veth
# pair the test creates and nowhere else.
NETNS_NET_PREFIX = "10.213."
NETNS_NAME_PREFIX = "stanzad-t"
# Bound on each `ip` command, and on the veth link coming up.
IP_CMD_TIMEOUT_S = 10
NETNS_LINK_UP_TIMEOUT_S = 5
# Extra time a namespaced client gets on top of its network steps (the
# start of a python that imports slixmpp).
NETNS_CHILD_SLACK_S = 10

Exchange = collections.namedtuple("Exchange", "local_ip features answers")
Netns = collections.namedtuple("Netns", "host_ip name ns_ip")


class NetnsUnavailable(Exception):
    """This machine cannot give the test a network namespace (not root,
    no iproute2, no permission, no veth). Tests print 'skip:' on it."""


def _exchange_here(host, port, sends, timeout=STEP_TIMEOUT_S):
    """raw_exchange() in this process; returns plain data (XML text) so a
    namespaced child can print it as JSON."""
    s = RawStream(None, direct_tls=True, host=host, port=port, timeout=timeout)
    try:
        out = {"local_ip": s.sock.getsockname()[0],
               "features": ET.tostring(s.open(), encoding="unicode"), "answers": []}
        for data, what in sends:
            s.send(data)
            el = s.next_element(timeout, what)
            out["answers"].append(ET.tostring(el, encoding="unicode"))
        return out
    finally:
        s.close()


# What runs inside the namespace: this harness's own _exchange_here, with
# arguments and result as JSON (argv[1] in, one line on stdout out).
_NETNS_CHILD = """import json, sys
sys.dont_write_bytecode = True
sys.path.insert(0, %r)
import harness
print(json.dumps(harness._exchange_here(**json.loads(sys.argv[1]))), flush=True)
""" % os.path.dirname(os.path.abspath(__file__))


def _exchange_in_netns(ns, host, port, sends, timeout):
    args = json.dumps({"host": host, "port": port, "sends": sends, "timeout": timeout})
    cmd = [_ip_binary(), "netns", "exec", ns, "/usr/bin/python3", "-B", "-c", _NETNS_CHILD, args]
    limit = timeout * (len(sends) + 2) + NETNS_CHILD_SLACK_S
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    _children.append(p)
    try:
        out, err = p.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise AssertionError("the client in namespace %s did not finish within %ss; "
                             "stderr: %s" % (ns, limit, err.strip()[-1500:])) from None
    finally:
        _children.remove(p)
    if p.returncode != 0:
        raise AssertionError("the client in namespace %s failed (exit %d): %s"
                             % (ns, p.returncode, err.strip()[-1500:]))
    return json.loads(out.strip().splitlines()[-1])


def raw_exchange(host, port, sends, netns=None, timeout=STEP_TIMEOUT_S):
    """Opens a direct-TLS raw stream to host:port (certificate not
    checked), reads the stream features, then for each (xml, what) in
    sends sends xml and reads the next top-level element (what names it
    in a timeout message). With netns the client runs inside that network
    namespace (`ip netns exec`). Returns Exchange(local_ip, features,
    answers): the client's own address and Elements."""
    sends = [list(x) for x in sends]
    if netns is None:
        r = _exchange_here(host, port, sends, timeout)
    else:
        r = _exchange_in_netns(netns, host, port, sends, timeout)
    return Exchange(r["local_ip"], ET.fromstring(r["features"]),
                    [ET.fromstring(a) for a in r["answers"]])


def _ip_binary():
    path = shutil.which("ip") or shutil.which("ip", path="/usr/sbin:/sbin:/usr/bin:/bin")
    if path is None:
        raise NetnsUnavailable("iproute2 ('ip') is not installed")
    return path


def _ip(*args, ns=None, check_rc=True):
    """Runs `ip ARGS` (inside ns if given). Returns CompletedProcess;
    raises RuntimeError with ip's message when it fails and check_rc."""
    cmd = [_ip_binary()] + (["-n", ns] if ns else []) + list(args)
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=IP_CMD_TIMEOUT_S)
    if check_rc and r.returncode != 0:
        raise RuntimeError("`%s` failed (exit %d): %s"
                           % (" ".join(cmd), r.returncode, r.stderr.strip()))
    return r


# Messages of `ip` that mean the machine, not the test, is at fault.
_NETNS_ENV_ERRORS = ("Operation not permitted", "Permission denied",
                     "Unknown device type", "not supported", "Not supported")


def _ip_or_unavailable(*args):
    try:
        _ip(*args)
    except RuntimeError as e:
        if any(m in str(e) for m in _NETNS_ENV_ERRORS):
            raise NetnsUnavailable(str(e)) from None
        raise


def _used_ipv4_networks():
    """Every IPv4 network this machine has an address or a route in
    (default routes left out): a test subnet must overlap none."""
    nets = []
    lines = (_ip("-4", "-o", "addr", "show").stdout.splitlines()
             + _ip("-4", "route", "show", "table", "all").stdout.splitlines())
    for line in lines:
        toks = line.split()
        cands = toks[3:4] if " inet " in line else toks[:2]
        for tok in cands:
            try:
                nets.append(ipaddress.ip_network(tok, strict=False))
                break
            except ValueError:
                continue
    return nets


def _pick_test_subnet(seed):
    """A /30 in NETNS_NET_PREFIX that overlaps nothing on this machine,
    starting at the seed (the pid) so parallel runs tend to differ."""
    used = _used_ipv4_networks()
    for k in range(250):
        net = ipaddress.ip_network("%s%d.0/30" % (NETNS_NET_PREFIX, (seed + k) % 250))
        if not any(net.overlaps(u) for u in used):
            return net
    raise RuntimeError("no free /30 left in %s0.0/16" % NETNS_NET_PREFIX)


def _netns_delete(made):
    """Deletes what made ([namespace, host veth], from _netns_made) says
    this script created, and only that: the namespace (which takes the
    veth peer inside it along), then the host end if it is still there.
    Never raises."""
    ns, host_if = made
    try:
        if ns is not None:
            _ip("netns", "del", ns, check_rc=False)
        if host_if is not None and _ip("link", "show", "dev", host_if,
                                       check_rc=False).returncode == 0:
            _ip("link", "del", "dev", host_if, check_rc=False)
    except Exception:
        pass
    _netns_made[:] = [m for m in _netns_made if m is not made]


def _wait_link_up(host_if):
    deadline = time.monotonic() + NETNS_LINK_UP_TIMEOUT_S
    while "LOWER_UP" not in _ip("-o", "link", "show", "dev", host_if).stdout:
        if time.monotonic() > deadline:
            raise RuntimeError("veth %s has no carrier after %ss"
                               % (host_if, NETNS_LINK_UP_TIMEOUT_S))
        time.sleep(0.05)


@contextlib.contextmanager
def test_netns():
    """A network namespace "stanzad-t<pid>" joined to this host by a veth
    pair with a private /30: .1 on the host end, .2 inside. Yields
    Netns(host_ip, name, ns_ip); a server listening on host_ip sees a
    client run with raw_exchange(netns=name) come from ns_ip, a
    non-loopback address that exists only on that pair. Everything is
    deleted at exit, also on errors (and by the watchdog). Raises
    NetnsUnavailable when the machine cannot do this (not root, no `ip`,
    no permission)."""
    if os.geteuid() != 0:
        raise NetnsUnavailable("not root (network namespaces need CAP_NET_ADMIN)")
    _ip_binary()
    pid = os.getpid()
    ns = "%s%d" % (NETNS_NAME_PREFIX, pid)
    host_if, peer_if = "stzt%dh" % pid, "stzt%dn" % pid   # <= 12 chars < IFNAMSIZ
    assert len(host_if) < 16 and len(peer_if) < 16
    made = [None, None]
    _netns_made.append(made)
    try:
        # Recorded only once created: a clash with an existing name must
        # not make the cleanup delete what someone else made.
        _ip_or_unavailable("netns", "add", ns)
        made[0] = ns
        _ip_or_unavailable("link", "add", host_if, "type", "veth", "peer", "name", peer_if)
        made[1] = host_if
        _ip("link", "set", peer_if, "netns", ns)
        net = _pick_test_subnet(pid)
        host_ip, ns_ip = str(net.network_address + 1), str(net.network_address + 2)
        _ip("addr", "add", "%s/30" % host_ip, "dev", host_if)
        _ip("addr", "add", "%s/30" % ns_ip, "dev", peer_if, ns=ns)
        _ip("link", "set", "lo", "up", ns=ns)
        _ip("link", "set", peer_if, "up", ns=ns)
        _ip("link", "set", host_if, "up")
        _wait_link_up(host_if)
        print("    netns %s: host %s on %s, namespace %s on %s"
              % (ns, host_ip, host_if, ns_ip, peer_if), flush=True)
        yield Netns(host_ip, ns, ns_ip)
    finally:
        for p in list(_children):
            p.kill()
        _netns_delete(made)


# --- running a test script --------------------------------------------------

def _print_diagnostics():
    for s in _servers:
        text = s.log_text()
        lines = text.splitlines()
        print("\n===== %s log (%s), last %d of %d lines =====" % (
            s.name, s.log_path, min(len(lines), 200), len(lines)))
        print("\n".join(lines[-200:]))
    if _slix_log and os.path.exists(_slix_log):
        with open(_slix_log, errors="replace") as f:
            lines = f.read().splitlines()
        print("\n===== slixmpp debug log, last %d of %d lines =====" % (min(len(lines), 120), len(lines)))
        print("\n".join(lines[-120:]))
    sys.stdout.flush()


def _netns_cleanup():
    for p in list(_children):
        try:
            p.kill()
        except Exception:
            pass
    for made in list(_netns_made):
        _netns_delete(made)


def _cleanup():
    global _cleaned
    if _cleaned:
        return
    _cleaned = True
    _netns_cleanup()
    for s in _servers:
        try:
            s.stop(timeout=3)
        except Exception:
            try:
                s.kill()
            except Exception:
                pass
    if _tmp_root:
        shutil.rmtree(_tmp_root, ignore_errors=True)


def _watchdog(signum, frame):
    print("\nFAIL: watchdog: the test ran past %ss" % RUN_TIMEOUT_S, flush=True)
    traceback.print_stack(frame)
    _print_diagnostics()
    for s in _servers:
        if s.proc is not None and s.proc.poll() is None:
            s.proc.kill()
            try:
                s.proc.wait(3)
            except subprocess.TimeoutExpired:
                pass
    _netns_cleanup()
    if _tmp_root:
        shutil.rmtree(_tmp_root, ignore_errors=True)
    os._exit(2)


def _terminated(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


async def _run_async(main):
    try:
        await main()
    finally:
        for c in _clients:
            try:
                c.abort()
            except Exception:
                pass
        await asyncio.sleep(0.05)


def run(main, timeout=RUN_TIMEOUT_S):
    """Runs main (a function or coroutine function) as a test script and
    exits: 0 when it returns, 1 when it raises."""
    global _slix_log, RUN_TIMEOUT_S
    RUN_TIMEOUT_S = timeout
    _slix_log = os.path.join(tmpdir(), "slixmpp.log")
    handler = logging.FileHandler(_slix_log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.DEBUG)
    signal.signal(signal.SIGALRM, _watchdog)
    signal.signal(signal.SIGTERM, _terminated)
    signal.alarm(timeout)
    name = os.path.basename(sys.argv[0])
    ok = False
    reason = ""
    try:
        if asyncio.iscoroutinefunction(main):
            asyncio.run(_run_async(main))
        else:
            main()
        ok = True
    except BaseException as e:
        reason = "%s: %s" % (type(e).__name__, e)
        print("\nFAIL: %s" % name, flush=True)
        traceback.print_exc(file=sys.stdout)
        sys.stdout.flush()
        _print_diagnostics()
    finally:
        signal.alarm(0)
        _cleanup()
    if not ok:
        # Again at the end: tests/run.sh shows only the last lines of a log.
        print("\nwhy it failed: %s" % (reason if len(reason) < 1500 else reason[:1500] + "..."))
    print("%s: %s" % (name, "PASS" if ok else "FAIL"), flush=True)
    sys.exit(0 if ok else 1)
