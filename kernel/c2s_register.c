/* c2s_register: in-band registration, password change and cancellation
 * (XEP-0077 §3) on a client stream.
 *
 * A request that carries a password never becomes a stanza event: the
 * kernel derives SCRAM credentials and submits an account event instead
 * (kernel/creds.c), which the accounts handler applies and answers. The
 * policy (open / closed / loopback) and the per-IP rate limit are the
 * kernel's, since they depend on the client's address, which no event
 * records. */
#include <string.h>

#include "handlers/accounts/accounts.h"
#include "kernel/c2s.h"
#include "kernel/creds.h"
#include "kernel/log.h"

static int is_loopback(const char *ip)
{
    return strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0 ||
           strncmp(ip, "::ffff:127.", 11) == 0;
}

int c2s_register_allowed(const struct c2s *c)
{
    switch (c->srv->cfg.registration) {
    case REG_OPEN: return 1;
    case REG_LOOPBACK: return is_loopback(c->ip);
    default: return 0;
    }
}

/* XEP-0077 §3.1: a new account, before authentication. */
static void register_new(struct c2s *c, struct xnode *iq, struct xnode *q)
{
    struct xnode *user = xml_child(q, "username", NULL);
    struct xnode *pass = xml_child(q, "password", NULL);
    char local[JID_PART_MAX + 1], bare[JID_MAX];
    if (!c2s_register_allowed(c)) {
        c2s_stanza_error(c, iq, STANZA_SERVICE_UNAVAILABLE, NULL);
        return;
    }
    if (!user || !pass || !*xml_text(user) || !*xml_text(pass)) {
        c2s_stanza_error(c, iq, STANZA_NOT_ACCEPTABLE, "username and password are required");
        return;
    }
    if (jid_nodeprep(xml_text(user), local)) {
        c2s_stanza_error(c, iq, STANZA_JID_MALFORMED, "that username is not a valid JID localpart");
        return;
    }
    int64_t now = c2s_now_us();
    if (throttle_blocked(&c->srv->reg_rate, c->ip, now)) {
        c2s_stanza_error(c, iq, STANZA_POLICY_VIOLATION, "too many registrations from your address");
        return;
    }
    throttle_hit(&c->srv->reg_rate, c->ip, now);
    snprintf(bare, sizeof bare, "%s@%s", local, c->srv->cfg.domain);
    log_info("c2s %llu %s: in-band registration of %s", (unsigned long long)c->id, c->ip, bare);
    creds_derive_and_submit(c->srv, EV_ACCOUNT_REGISTER, ORIGIN_C2S, c->id, bare,
                            xml_attr(iq, "id"), xml_text(pass));
}

/* XEP-0077 §3.3: a password change, by the authenticated user. */
static void change_password(struct c2s *c, struct xnode *iq, struct xnode *q)
{
    struct xnode *user = xml_child(q, "username", NULL);
    struct xnode *pass = xml_child(q, "password", NULL);
    char local[JID_PART_MAX + 1];
    struct jid me;
    jid_parse(&me, c->user);
    if (!pass || !*xml_text(pass)) {
        c2s_stanza_error(c, iq, STANZA_NOT_ACCEPTABLE, "a new password is required");
        return;
    }
    if (user && (jid_nodeprep(xml_text(user), local) || strcmp(local, me.local) != 0)) {
        c2s_stanza_error(c, iq, STANZA_NOT_AUTHORIZED, "you can change only your own password");
        return;
    }
    creds_derive_and_submit(c->srv, EV_ACCOUNT_PASSWD, ORIGIN_C2S, c->id, c->user,
                            xml_attr(iq, "id"), xml_text(pass));
}

int c2s_register_iq(struct c2s *c, struct xnode *iq)
{
    struct xnode *q = xml_child(iq, "query", NS_REGISTER);
    const char *to = xml_attr(iq, "to");
    const char *type = xml_attr(iq, "type");
    if (!q || (to && strcmp(to, c->srv->cfg.domain) != 0))
        return 0; /* not for this server: routed like any IQ */
    if (strcmp(type, "get") == 0) {
        if (!c->authenticated && !c2s_register_allowed(c)) {
            c2s_stanza_error(c, iq, STANZA_SERVICE_UNAVAILABLE, NULL);
            return 1;
        }
        return 0; /* the form: the accounts handler answers */
    }
    if (strcmp(type, "set") != 0)
        return 1; /* a result or error to the server: nothing to do */
    if (xml_child(q, "remove", NULL)) {
        if (!c->authenticated)
            c2s_stanza_error(c, iq, STANZA_NOT_AUTHORIZED, NULL);
        else
            bus_submit(c->srv->bus, accounts_ev_delete(ORIGIN_C2S, c->id, c->user, xml_attr(iq, "id")));
        return 1;
    }
    if (c->authenticated)
        change_password(c, iq, q);
    else
        register_new(c, iq, q);
    return 1;
}
