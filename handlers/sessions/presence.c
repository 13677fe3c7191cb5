/* presence: a resource's own presence (RFC 6121 §4): broadcast presence
 * among the account's resources, directed presence and the promise to
 * end it, and answers to probes. Contacts are roster's business.
 *
 * Choices:
 *   - Copies for the account's own resources carry 'to' = that resource's
 *     full JID, and go straight to its connection.
 *   - Entities that got directed available presence get unavailable
 *     presence when the resource goes unavailable or its session ends,
 *     whether or not it had sent initial presence (§4.6.3; RFC 3921 §5.1.4
 *     spelled this out).
 *   - A probe finding no available resource is answered with
 *     <presence type='unavailable'/> from the bare JID: the last
 *     unavailable presence of §4.3.2 is not kept (this state is
 *     volatile). A probe to a full JID that is not available gets the
 *     same answer. */
#include <stdlib.h>
#include <string.h>

#include "handlers/sessions/sessions_int.h"
#include "kernel/mem.h"

int presence_priority(const struct xnode *st, int *prio)
{
    const struct xnode *p = xml_child(st, "priority", NULL);
    *prio = 0;
    if (!p)
        return 0;
    const char *t = xml_text(p);
    while (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r')
        t++;
    int sign = 1, v = 0, digits = 0;
    if (*t == '-' || *t == '+')
        sign = *t++ == '-' ? -1 : 1;
    for (; *t >= '0' && *t <= '9' && digits < 4; t++, digits++)
        v = v * 10 + (*t - '0');
    while (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r')
        t++;
    if (!digits || *t || sign * v < -128 || sign * v > 127)
        return -1;
    *prio = sign * v;
    return 0;
}

static struct xnode *copy_to(const struct xnode *st, const char *from, const char *to)
{
    struct xnode *c = xml_copy(st);
    if (from)
        xml_set_attr(c, "from", from);
    xml_set_attr(c, "to", to);
    return c;
}

static void forget_directed(struct session *se)
{
    for (size_t i = 0; i < se->ndirected; i++)
        free(se->directed[i]);
    se->ndirected = 0;
}

static void release_directed(struct session *se)
{
    forget_directed(se);
    free(se->directed);
    se->directed = NULL;
    se->directed_cap = 0;
}

void presence_clear(struct session *se)
{
    xml_free(se->presence);
    se->presence = NULL;
    release_directed(se);
}

/* Unavailable presence st from se to everyone it sent directed presence. */
static void end_directed(struct session *se, const struct xnode *st, struct effects *out)
{
    for (size_t i = 0; i < se->ndirected; i++)
        fx_route(out, copy_to(st, se->full, se->directed[i]));
    forget_directed(se);
}

/* §4.2.2, §4.4.2: available broadcast presence reaches all the account's
 * available resources, the sender included; a newly available resource
 * also learns the presence of the others. */
static int broadcast_available(struct sessions_state *s, struct session *se, const struct xnode *st,
                               struct effects *out)
{
    int prio;
    if (presence_priority(st, &prio))
        return stanza_err(STANZA_BAD_REQUEST); /* §4.7.2.3: not an xs:byte */
    int initial = !se->available;
    se->available = 1;
    se->priority = prio;
    if (initial)
        se->available_since = ++s->availability;
    xml_free(se->presence);
    se->presence = xml_copy(st);
    xml_set_attr(se->presence, "to", NULL);
    struct account_sessions *as = map_get(&s->by_bare, se->bare);
    for (size_t i = 0; as && i < as->n; i++)
        if (as->v[i]->available)
            fx_stanza(out, as->v[i]->conn, copy_to(st, se->full, as->v[i]->full));
    for (size_t i = 0; initial && as && i < as->n; i++) {
        const struct session *other = as->v[i];
        if (other != se && other->available && other->presence)
            fx_stanza(out, se->conn, copy_to(other->presence, other->full, se->full));
    }
    return 0;
}

/* §4.5.2: unavailable broadcast presence reaches the account's available
 * resources and the sender, and ends directed presence (§4.6.3). */
static int broadcast_unavailable(struct sessions_state *s, struct session *se,
                                 const struct xnode *st, struct effects *out)
{
    se->available = 0;
    xml_free(se->presence);
    se->presence = NULL;
    struct account_sessions *as = map_get(&s->by_bare, se->bare);
    for (size_t i = 0; as && i < as->n; i++)
        if (as->v[i]->available || as->v[i] == se)
            fx_stanza(out, as->v[i]->conn, copy_to(st, se->full, as->v[i]->full));
    end_directed(se, st, out);
    return 0;
}

int presence_broadcast(struct sessions_state *s, struct session *se, const struct xnode *st,
                       struct effects *out)
{
    if (stanza_type_is(st, "unavailable"))
        return broadcast_unavailable(s, se, st, out);
    return broadcast_available(s, se, st, out);
}

int presence_directed(struct session *se, const struct xnode *st, const char *to)
{
    size_t i;
    for (i = 0; i < se->ndirected; i++)
        if (strcmp(se->directed[i], to) == 0)
            break;
    if (stanza_type_is(st, "unavailable")) {
        if (i < se->ndirected) {
            free(se->directed[i]);
            se->directed[i] = se->directed[--se->ndirected];
        }
        return 0;
    }
    if (i < se->ndirected)
        return 0;
    if (se->ndirected >= DIRECTED_PRESENCE_MAX)
        return stanza_err(STANZA_RESOURCE_CONSTRAINT);
    if (se->ndirected == se->directed_cap) {
        se->directed_cap = se->directed_cap ? 2 * se->directed_cap : 4;
        se->directed = xrealloc(se->directed, se->directed_cap * sizeof se->directed[0]);
    }
    se->directed[se->ndirected++] = xstrdup(to);
    return 0;
}

void presence_probe_answer(const struct account_sessions *as, const char *bare, const char *full,
                           const struct xnode *probe, struct effects *out)
{
    const char *prober = xml_attr(probe, "from");
    if (!prober)
        return;
    int answered = 0;
    for (size_t i = 0; as && i < as->n; i++) {
        const struct session *se = as->v[i];
        if (!se->available || !se->presence || (full && strcmp(se->full, full) != 0))
            continue;
        fx_route(out, copy_to(se->presence, se->full, prober));
        answered = 1;
    }
    if (answered)
        return;
    struct xnode *un = xml_new("presence", NS_CLIENT);
    xml_set_attr(un, "from", bare);
    xml_set_attr(un, "to", prober);
    xml_set_attr(un, "type", "unavailable");
    fx_route(out, un);
}

void presence_session_gone(struct sessions_state *s, struct session *se, int notify_own,
                           struct effects *out)
{
    struct xnode *un = xml_new("presence", NS_CLIENT);
    xml_set_attr(un, "from", se->full);
    xml_set_attr(un, "type", "unavailable");
    struct account_sessions *as = map_get(&s->by_bare, se->bare);
    for (size_t i = 0; se->available && notify_own && as && i < as->n; i++)
        if (as->v[i] != se && as->v[i]->available)
            fx_stanza(out, as->v[i]->conn, copy_to(un, NULL, as->v[i]->full));
    end_directed(se, un, out);
    se->available = 0;
    xml_free(un);
}
