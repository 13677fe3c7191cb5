/* route: the inbound pass for stanzas to a local user (RFC 6121 §8.5,
 * the "contact's server"), and Message Carbons <received/> copies
 * (XEP-0280 §6) of what it delivers.
 *
 * Choices the RFC leaves open:
 *   - A message to the bare JID (normal, chat) goes to the one available
 *     resource with the highest non-negative priority (§8.5.2.1.1 allows
 *     one or all); among equals, to the one that became available most
 *     recently, which is the device the user most likely holds.
 *   - A message with a 'type' we do not know is routed as "normal"
 *     (§5.2.2 tells receivers to treat it so).
 *   - Presence of the subscription types to a bare JID goes to every
 *     available resource (§3.1.3, §3.2.3, ...: roster has already decided
 *     it should be delivered); to a full JID it is treated as to the bare
 *     JID (§8.5.3.2.2, and §3 addresses subscriptions to bare JIDs). */
#include <stdlib.h>
#include <string.h>

#include "handlers/offline/offline.h"
#include "handlers/sessions/sessions_int.h"

enum msg_kind { MSG_NORMAL, MSG_CHAT, MSG_HEADLINE, MSG_GROUPCHAT, MSG_ERROR };

static enum msg_kind message_kind(const struct xnode *st)
{
    if (stanza_type_is(st, "chat"))
        return MSG_CHAT;
    if (stanza_type_is(st, "headline"))
        return MSG_HEADLINE;
    if (stanza_type_is(st, "groupchat"))
        return MSG_GROUPCHAT;
    if (stanza_type_is(st, "error"))
        return MSG_ERROR;
    return MSG_NORMAL;
}

static void deliver(struct effects *out, const struct session *se, const struct xnode *st)
{
    fx_stanza(out, se->conn, xml_copy(st));
}

/* The resources a message to the bare JID goes to (§8.5.2.1.1): for a
 * headline every available one with non-negative priority, otherwise
 * the best of them. Returns how many were written to pick. */
static size_t pick_for_bare(const struct account_sessions *as, enum msg_kind kind,
                            struct session **pick /* OUT: SESSIONS_PER_ACCOUNT_MAX */)
{
    size_t n = 0;
    struct session *best = NULL;
    for (size_t i = 0; as && i < as->n; i++) {
        struct session *se = as->v[i];
        if (!se->available || se->priority < 0)
            continue;
        if (kind == MSG_HEADLINE)
            pick[n++] = se;
        else if (!best || se->priority > best->priority ||
                 (se->priority == best->priority && se->available_since > best->available_since))
            best = se;
    }
    if (best)
        pick[n++] = best;
    return n;
}

/* The message reached `got`: the account's other carbons-enabled
 * resources get <received/> copies. A message between the account's own
 * resources is left out: its <sent/> copies already reached them. */
static void copy_received(const struct account_sessions *as, const char *bare,
                          const struct xnode *st, struct session *const *got, size_t ngot,
                          struct effects *out)
{
    const char *from = xml_attr(st, "from");
    size_t bare_len = strlen(bare);
    if (from && strncmp(from, bare, bare_len) == 0 && (from[bare_len] == '/' || !from[bare_len]))
        return;
    if (carbons_eligible(st, 1))
        carbons_copy(as, bare, st, "received", got, ngot, out);
}

static int message_to_bare(struct sessions_state *s, const struct xnode *st, const char *bare,
                           struct effects *out)
{
    enum msg_kind kind = message_kind(st);
    if (kind == MSG_ERROR)
        return 0;
    if (kind == MSG_GROUPCHAT)
        return stanza_err(STANZA_SERVICE_UNAVAILABLE);
    struct account_sessions *as = map_get(&s->by_bare, bare);
    struct session *pick[SESSIONS_PER_ACCOUNT_MAX];
    size_t n = pick_for_bare(as, kind, pick);
    if (n == 0) {
        /* §8.5.2.2.1: nobody to take it; storage is offline's decision. */
        if (kind != MSG_HEADLINE)
            fx_event(out, offline_ev_store(bare, st));
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        deliver(out, pick[i], st);
    copy_received(as, bare, st, pick, n, out);
    return 0;
}

/* §8.5.3: a message to a full JID. */
static int message_to_full(struct sessions_state *s, const struct xnode *st, const char *bare,
                           const char *full, struct effects *out)
{
    struct session *se = map_get(&s->by_full, full);
    if (se) {
        deliver(out, se, st); /* §8.5.3.1: connected is enough, available or not */
        copy_received(map_get(&s->by_bare, bare), bare, st, &se, 1, out);
        return 0;
    }
    switch (message_kind(st)) { /* §8.5.3.2.1 */
    case MSG_NORMAL:
    case MSG_CHAT: return message_to_bare(s, st, bare, out);
    case MSG_GROUPCHAT: return stanza_err(STANZA_SERVICE_UNAVAILABLE);
    default: return 0; /* headline, error */
    }
}

static int is_subscription(const struct xnode *st)
{
    return stanza_type_is(st, "subscribe") || stanza_type_is(st, "subscribed") ||
           stanza_type_is(st, "unsubscribe") || stanza_type_is(st, "unsubscribed");
}

/* §8.5.2.1.2 / §8.5.2.2.2: presence to the bare JID reaches every
 * available resource, or nobody. */
static int presence_to_all(struct sessions_state *s, const struct xnode *st, const char *bare,
                           struct effects *out)
{
    struct account_sessions *as = map_get(&s->by_bare, bare);
    for (size_t i = 0; as && i < as->n; i++)
        if (as->v[i]->available)
            deliver(out, as->v[i], st);
    return 0;
}

static int route_presence(struct sessions_state *s, const struct xnode *st, const char *bare,
                          const char *full, struct effects *out)
{
    if (stanza_type_is(st, "probe")) {
        presence_probe_answer(map_get(&s->by_bare, bare), bare, full, st, out);
        return 0;
    }
    if (!full || is_subscription(st))
        return presence_to_all(s, st, bare, out);
    struct session *se = map_get(&s->by_full, full);
    if (se)
        deliver(out, se, st); /* §8.5.3.1 */
    return 0;                 /* §8.5.3.2.2: gone, dropped */
}

static int route_iq(struct sessions_state *s, const struct xnode *st, const char *full,
                    struct effects *out)
{
    if (!full)
        return H_PASS; /* §8.5.2.1.3: the server answers on the account's behalf */
    struct session *se = map_get(&s->by_full, full);
    if (se) {
        deliver(out, se, st);
        return 0;
    }
    if (stanza_type_is(st, "get") || stanza_type_is(st, "set"))
        return stanza_err(STANZA_SERVICE_UNAVAILABLE); /* §8.5.3.2.1 */
    return 0;
}

int route_inbound_local(struct sessions_state *s, const struct xnode *st, const char *bare,
                        const char *full, struct effects *out)
{
    if (strcmp(st->name, "message") == 0)
        return full ? message_to_full(s, st, bare, full, out) : message_to_bare(s, st, bare, out);
    if (strcmp(st->name, "presence") == 0)
        return route_presence(s, st, bare, full, out);
    if (strcmp(st->name, "iq") == 0)
        return route_iq(s, st, full, out);
    return H_PASS;
}
