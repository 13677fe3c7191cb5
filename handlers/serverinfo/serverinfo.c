/* serverinfo: see serverinfo.h. */
#include "handlers/serverinfo/serverinfo.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handlers/accounts/accounts.h"
#include "handlers/last/last.h"
#include "handlers/private/private.h"
#include "handlers/vcard/vcard.h"
#include "kernel/mem.h"

struct serverinfo_state {
    char *domain;
    char *muc_domain; /* "" when there is no group chat service */
    char *version;
};

/* What disco#info on the server lists: exactly what is implemented, in
 * byte order (XEP-0115 hashes expect sorted features). Roster versioning
 * is a stream feature (RFC 6121 §2.6), not listed here. */
static const char *const server_features[] = {
    NS_DISCO_INFO,        /* XEP-0030 */
    NS_DISCO_ITEMS,       /* XEP-0030 */
    NS_LAST,              /* XEP-0012: handlers/last */
    NS_PRIVATE,           /* XEP-0049: handlers/private */
    NS_REGISTER,          /* XEP-0077: handlers/accounts */
    NS_VERSION,           /* XEP-0092 */
    "msgoffline",         /* XEP-0160: handlers/offline */
    "urn:xmpp:blocking",  /* XEP-0191: handlers/blocking */
    "urn:xmpp:carbons:2", /* XEP-0280: handlers/sessions */
    NS_PING,              /* XEP-0199 */
    NS_TIME,              /* XEP-0202 */
    NS_VCARD,             /* XEP-0054: handlers/vcard */
};

static void *serverinfo_create(void)
{
    for (size_t i = 1; i < sizeof server_features / sizeof server_features[0]; i++)
        assert(strcmp(server_features[i - 1], server_features[i]) < 0); /* sorted, unique */
    struct serverinfo_state *s = xcalloc(1, sizeof *s);
    s->domain = xstrdup("");
    s->muc_domain = xstrdup("");
    s->version = xstrdup("");
    return s;
}

static void serverinfo_destroy(void *state)
{
    struct serverinfo_state *s = state;
    free(s->domain);
    free(s->muc_domain);
    free(s->version);
    free(s);
}

static void answer_disco_info(const struct xnode *q, struct xnode *r)
{
    struct xnode *rq = xml_add(r, "query", NS_DISCO_INFO);
    struct xnode *id = xml_add(rq, "identity", NULL);
    xml_set_attr(id, "category", "server");
    xml_set_attr(id, "type", "im");
    xml_set_attr(id, "name", "stanzad");
    (void)q;
    for (size_t i = 0; i < sizeof server_features / sizeof server_features[0]; i++)
        xml_set_attr(xml_add(rq, "feature", NULL), "var", server_features[i]);
}

/* XEP-0202: UTC in the XEP-0082 profile, with milliseconds. */
static void answer_time(int64_t time_us, struct xnode *r)
{
    struct xnode *t = xml_add(r, "time", NS_TIME);
    char utc[96];
    xmpp_stamp(time_us, utc, sizeof utc);
    xml_add_text(xml_add(t, "tzo", NULL), "+00:00");
    xml_add_text(xml_add(t, "utc", NULL), utc);
}

/* Returns 1 when the stanza is addressed to the server itself. */
static int to_server(const struct serverinfo_state *s, const struct xnode *st)
{
    const char *to = xml_attr(st, "to");
    return !to || strcmp(to, s->domain) == 0;
}

static int answer_get(struct serverinfo_state *s, const struct event *ev, const struct xnode *q,
                      struct effects *out)
{
    const struct xnode *st = ev->body;
    struct xnode *r = stanza_reply(st, "result");
    if (strcmp(q->ns, NS_DISCO_INFO) == 0 && !xml_attr(q, "node")) {
        answer_disco_info(q, r);
    } else if (strcmp(q->ns, NS_DISCO_ITEMS) == 0 && !xml_attr(q, "node")) {
        struct xnode *items = xml_add(r, "query", NS_DISCO_ITEMS);
        if (*s->muc_domain) /* the group chat service (handlers/muc) */
            xml_set_attr(xml_add(items, "item", NULL), "jid", s->muc_domain);
    } else if (strcmp(q->ns, NS_VERSION) == 0 && strcmp(q->name, "query") == 0) {
        struct xnode *rq = xml_add(r, "query", NS_VERSION);
        xml_add_text(xml_add(rq, "name", NULL), "stanzad");
        xml_add_text(xml_add(rq, "version", NULL), s->version);
    } else if (strcmp(q->ns, NS_PING) == 0 && strcmp(q->name, "ping") == 0) {
        /* an empty result is the pong */
    } else if (strcmp(q->ns, NS_TIME) == 0 && strcmp(q->name, "time") == 0) {
        answer_time(ev->time_us, r);
    } else if (strcmp(q->ns, NS_DISCO_INFO) == 0 || strcmp(q->ns, NS_DISCO_ITEMS) == 0) {
        xml_free(r);
        return stanza_err(STANZA_ITEM_NOT_FOUND); /* a node we do not have */
    } else {
        xml_free(r);
        return H_PASS;
    }
    fx_stanza(out, ev->origin, r);
    return 0;
}

static int apply_stanza(struct serverinfo_state *s, const struct event *ev, struct effects *out)
{
    const struct xnode *st = ev->body;
    if (strcmp(st->name, "iq") != 0 || !to_server(s, st))
        return H_PASS;
    const char *type = xml_attr(st, "type");
    struct xnode *q = xml_first_elem(st);
    if (!type || !q)
        return H_PASS;
    if (strcmp(type, "get") == 0)
        return answer_get(s, ev, q, out);
    if (strcmp(type, "set") == 0 && strcmp(q->ns, NS_SESSION) == 0 &&
        strcmp(q->name, "session") == 0) {
        fx_stanza(out, ev->origin, stanza_reply(st, "result"));
        return 0;
    }
    return H_PASS;
}

static void serverinfo_settings(void *state, const struct event *started)
{
    struct serverinfo_state *s = state;
    const char *d = xml_attr(started->body, "domain");
    const char *v = xml_attr(started->body, "version");
    const char *md = xml_attr(started->body, "muc-domain");
    free(s->domain);
    free(s->version);
    free(s->muc_domain);
    s->domain = xstrdup(d ? d : "");
    s->version = xstrdup(v ? v : "");
    s->muc_domain = xstrdup(md ? md : "");
}

static int serverinfo_apply(void *state, const struct event *ev, struct effects *out)
{
    struct serverinfo_state *s = state;
    if (ev->type == EV_SERVER_STARTED) {
        serverinfo_settings(s, ev);
        return 0;
    }
    if (ev->type == EV_STANZA)
        return apply_stanza(s, ev, out);
    return H_PASS;
}

const struct handler serverinfo_handler = {
    .name = "serverinfo",
    .wants = EV_BIT(EV_SERVER_STARTED) | EV_BIT(EV_STANZA),
    .create = serverinfo_create,
    .destroy = serverinfo_destroy,
    .apply = serverinfo_apply,
    .encode = NULL,
    .decode = NULL,
    .settings = serverinfo_settings,
};
