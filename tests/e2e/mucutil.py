"""mucutil: helpers the group chat (XEP-0045) end-to-end tests share.

Joins and leaves are sent as raw presences and their answers read from
Client.inbox (harness), so the tests see the exact stanzas, in the order
they arrived; slixmpp's xep_0045 plugin is used for the owner and admin
IQs it does well (config form, affiliations, roles, destroy, invite)."""

import xml.etree.ElementTree as ET

import harness as h
from harness import stanza_is

MUC = "chat." + h.DOMAIN
NS_MUC = "http://jabber.org/protocol/muc"
NS_USER = NS_MUC + "#user"
NS_ADMIN = NS_MUC + "#admin"
NS_OWNER = NS_MUC + "#owner"
NS_XDATA = "jabber:x:data"
NS_DELAY = "urn:xmpp:delay"
NS_INFO = "http://jabber.org/protocol/disco#info"
NS_ITEMS = "http://jabber.org/protocol/disco#items"
NS_PING = "urn:xmpp:ping"
C = "{jabber:client}"
ROOMCONFIG = NS_MUC + "#roomconfig"
# Pairs of room features (XEP-0045 §6.4, §15.1): a room has exactly one of each.
FEATURE_PAIRS = (("muc_persistent", "muc_temporary"), ("muc_membersonly", "muc_open"),
                 ("muc_passwordprotected", "muc_unsecured"), ("muc_public", "muc_hidden"),
                 ("muc_moderated", "muc_unmoderated"), ("muc_nonanonymous", "muc_semianonymous"))


def room_jid(name, service=MUC):
    return "%s@%s" % (name, service)


def bare(jid):
    return (jid or "").split("/", 1)[0]


def from_room(el, room):
    return bare(el.get("from")) == room


def muc_x(el):
    return el.find("{%s}x" % NS_USER)


def codes(el):
    """The muc#user status codes of a stanza, as a set of ints."""
    x = muc_x(el)
    if x is None:
        return set()
    return {int(s.get("code", "0")) for s in x.findall("{%s}status" % NS_USER)}


def item(el):
    """The muc#user <item/> of a presence (attributes dict), or {}."""
    x = muc_x(el)
    it = x.find("{%s}item" % NS_USER) if x is not None else None
    return dict(it.attrib) if it is not None else {}


def is_subject(el, room):
    """A subject message (§7.2.15): groupchat from the room, <subject/>, no <body/>."""
    return (stanza_is(el, "message", "groupchat") and from_room(el, room)
            and el.find(C + "subject") is not None and el.find(C + "body") is None)


def groupchat(room, body, frm=None):
    return lambda el: (stanza_is(el, "message", "groupchat") and from_room(el, room)
                       and el.findtext(C + "body") == body
                       and (frm is None or el.get("from") == frm))


def presence_from(occ, type=None, code=None):
    return lambda el: (stanza_is(el, "presence", type, frm=occ)
                       and (code is None or code in codes(el)))


class Join:
    """What a join brought, in arrival order: error (condition or None),
    the error presence, other occupants' presences, the self-presence,
    the history messages, the subject message, and every stanza from the
    room up to the end of the join (for order checks)."""

    def __init__(self):
        self.error = None
        self.error_el = None
        self.others = []
        self.self_pres = None
        self.history = []
        self.subject = None
        self.stanzas = []


def join_presence(occ, password=None, maxstanzas=None, muc=True, extra=""):
    inner = ""
    if password is not None:
        inner += "<password>%s</password>" % password
    if maxstanzas is not None:
        inner += "<history maxstanzas='%d'/>" % maxstanzas
    x = "<x xmlns='%s'>%s</x>" % (NS_MUC, inner) if muc else ""
    return "<presence to='%s'>%s%s</presence>" % (occ, x, extra)


async def join(c, room, nick, *, password=None, maxstanzas=None, until="subject",
               timeout=h.STEP_TIMEOUT_S):
    """Sends a MUC join to room/nick and waits for its end: an error
    presence from room/nick, or (until='subject') the subject message, or
    (until='self') the self-presence (status 110). Stanzas from the room
    that arrived up to that point are taken out of the inbox."""
    occ = room + "/" + nick
    c.take(lambda el: from_room(el, room))  # leftovers of earlier steps
    c.send_raw(join_presence(occ, password, maxstanzas))

    def end():
        for i, el in enumerate(c.inbox):
            if stanza_is(el, "presence", "error") and from_room(el, room):
                return i
            if until == "subject" and is_subject(el, room):
                return i
            if until == "self" and stanza_is(el, "presence", frm=occ) and 110 in codes(el):
                return i
        return None

    last = await c._wait_inbox(end, lambda: "end of the join of %s (error, %s)"
                               % (occ, until), timeout)
    got = [el for k, el in enumerate(c.inbox) if k <= last and from_room(el, room)]
    c.inbox = [el for k, el in enumerate(c.inbox) if not (k <= last and from_room(el, room))]
    j = Join()
    j.stanzas = got
    for el in got:
        if stanza_is(el, "presence", "error"):
            j.error_el, j.error = el, h.stanza_error(el)
        elif stanza_is(el, "presence") and 110 in codes(el):
            j.self_pres = el
        elif stanza_is(el, "presence"):
            j.others.append(el)
        elif is_subject(el, room):
            j.subject = el
        elif stanza_is(el, "message", "groupchat") and el.find("{%s}delay" % NS_DELAY) is not None:
            j.history.append(el)
    return j


async def join_ok(c, room, nick, what, **kw):
    j = await join(c, room, nick, **kw)
    if j.error is not None or j.self_pres is None:
        raise AssertionError("%s: the join of %s/%s failed: %s" % (
            what, room, nick, h.xml_text(j.error_el) if j.error_el is not None
            else [h.xml_text(e) for e in j.stanzas]))
    return j


async def join_refused(c, room, nick, **kw):
    """Returns (condition, error presence) of a join that must fail."""
    j = await join(c, room, nick, **kw)
    if j.error is None:
        raise AssertionError("the join of %s/%s by %s was accepted: %s" % (
            room, nick, c.boundjid.full, [h.xml_text(e) for e in j.stanzas]))
    return j.error, j.error_el


async def leave(c, room, nick):
    """Unavailable presence to room/nick; waits for the self-presence of
    the leave (unavailable, 110)."""
    occ = room + "/" + nick
    c.send_raw("<presence to='%s' type='unavailable'/>" % occ)
    return await c.expect(presence_from(occ, "unavailable", 110), "the leave of " + occ)


async def iq(c, type, to, payload, timeout=h.STEP_TIMEOUT_S):
    """Sends <iq type=type to=to>payload</iq>; returns the result Iq,
    raises IqError / IqTimeout."""
    stanza = c.make_iq_get(ito=to) if type == "get" else c.make_iq_set(ito=to)
    if payload:
        stanza.append(ET.fromstring(payload))
    return await stanza.send(timeout=timeout)


async def iq_condition(c, type, to, payload):
    """The error condition of an IQ that must fail (None if it succeeds)."""
    try:
        await iq(c, type, to, payload)
        return None
    except h.IqError as e:
        return h.iq_error_condition(e)


async def disco_info(c, jid):
    """(identities [(category, type, name)], features set) of jid."""
    res = await iq(c, "get", jid, "<query xmlns='%s'/>" % NS_INFO)
    q = res.xml.find("{%s}query" % NS_INFO)
    ids = [(i.get("category"), i.get("type"), i.get("name"))
           for i in q.findall("{%s}identity" % NS_INFO)]
    return ids, {f.get("var") for f in q.findall("{%s}feature" % NS_INFO)}


async def disco_items(c, jid):
    res = await iq(c, "get", jid, "<query xmlns='%s'/>" % NS_ITEMS)
    q = res.xml.find("{%s}query" % NS_ITEMS)
    return [i.get("jid") for i in q.findall("{%s}item" % NS_ITEMS)]


async def config_form(c, room):
    """The owner's room configuration form (slixmpp's get_room_config):
    {var: (type, [values], [option values])}."""
    form = await c["xep_0045"].get_room_config(room, timeout=h.STEP_TIMEOUT_S)
    out = {}
    for f in form.xml.findall("{%s}field" % NS_XDATA):
        var = f.get("var")
        if var is None:
            continue
        values = [v.text or "" for v in f.findall("{%s}value" % NS_XDATA)]
        options = [o.findtext("{%s}value" % NS_XDATA) for o in f.findall("{%s}option" % NS_XDATA)]
        out[var] = (f.get("type"), values, options)
    return out


def submit_xml(form, changes):
    """A submitted muc#roomconfig form: every field of form (as
    config_form returns it) with its value, changes overriding."""
    fields = []
    for var, (ftype, values, _opts) in form.items():
        if ftype == "fixed":
            continue
        if var in changes:
            v = changes[var]
            values = v if isinstance(v, list) else [v]
        fields.append("<field var='%s'>%s</field>" % (
            var, "".join("<value>%s</value>" % x for x in values)))
    return ("<query xmlns='%s'><x xmlns='%s' type='submit'>%s</x></query>"
            % (NS_OWNER, NS_XDATA, "".join(fields)))


async def configure(c, room, changes):
    """Gets the form, submits it with changes; returns the form."""
    form = await config_form(c, room)
    await iq(c, "set", room, submit_xml(form, changes))
    return form


async def instant(c, room):
    """Accepts the default configuration (§10.1.2)."""
    return await iq(c, "set", room, "<query xmlns='%s'><x xmlns='%s' type='submit'/></query>"
                    % (NS_OWNER, NS_XDATA))


async def create(c, room, nick, changes=None):
    """Creates a room (join, 201) and configures it (changes: form values),
    or makes it an instant room (changes None). Returns the self-presence."""
    j = await join_ok(c, room, nick, "creating " + room, until="self")
    if 201 not in codes(j.self_pres):
        raise AssertionError("%s was not created (no 201): %s" % (room, h.xml_text(j.self_pres)))
    if changes is None:
        await instant(c, room)
    else:
        await configure(c, room, changes)
    return j.self_pres


async def muc_client(srv, jid, password):
    """online() plus the xep_0045 plugin and ping answers (XEP-0199)."""
    c = await h.online(srv, jid, password)
    c.register_plugin("xep_0045")
    c.register_plugin("xep_0199")
    return c


def add_users(srv, users):
    for jid, pw in users:
        r = h.ctl(srv, "user", "add", jid, "--password", pw)
        h.check(r.returncode == 0, "account %s exists" % jid, r.stderr)
