/* test_roster: the subscription table is RFC 6121 Appendix A cell for
 * cell; roster get/set/remove, pushes and versioning work through the
 * real dispatcher; subscriptions, pre-approval, kept requests, presence to
 * contacts and the last-activity gate produce the RFC's effects; the
 * state survives a snapshot round trip. Checks look only at effects the
 * roster handler makes itself (pushes, results, routed stanzas), since
 * delivery belongs to the sessions handler. */
#include "handlers/roster/roster.h"
#include "handlers/roster/subscription.h"
#include "fixture.h"

/* --- Appendix A, in the RFC's words ------------------------------------ */

struct row {
    const char *dir, *type, *state, *next; /* next NULL: "no state change" */
    int forward;
};

#define NO_CHANGE NULL
static const struct row appendix_a[] = {
    /* A.2.1 outbound subscribe */
    {"out", "subscribe", "None", "None + Pending Out", 1},
    {"out", "subscribe", "None + Pending Out", NO_CHANGE, 1},
    {"out", "subscribe", "None + Pending In", "None + Pending Out+In", 1},
    {"out", "subscribe", "None + Pending Out+In", NO_CHANGE, 1},
    {"out", "subscribe", "To", NO_CHANGE, 1},
    {"out", "subscribe", "To + Pending In", NO_CHANGE, 1},
    {"out", "subscribe", "From", "From + Pending Out", 1},
    {"out", "subscribe", "From + Pending Out", NO_CHANGE, 1},
    {"out", "subscribe", "Both", NO_CHANGE, 1},
    /* A.2.2 outbound unsubscribe */
    {"out", "unsubscribe", "None", NO_CHANGE, 1},
    {"out", "unsubscribe", "None + Pending Out", "None", 1},
    {"out", "unsubscribe", "None + Pending In", NO_CHANGE, 1},
    {"out", "unsubscribe", "None + Pending Out+In", "None + Pending In", 1},
    {"out", "unsubscribe", "To", "None", 1},
    {"out", "unsubscribe", "To + Pending In", "None + Pending In", 1},
    {"out", "unsubscribe", "From", NO_CHANGE, 1},
    {"out", "unsubscribe", "From + Pending Out", "From", 1},
    {"out", "unsubscribe", "Both", "From", 1},
    /* A.2.3 outbound subscribed */
    {"out", "subscribed", "None", NO_CHANGE, 0},
    {"out", "subscribed", "None + Pending Out", NO_CHANGE, 0},
    {"out", "subscribed", "None + Pending In", "From", 1},
    {"out", "subscribed", "None + Pending Out+In", "From + Pending Out", 1},
    {"out", "subscribed", "To", NO_CHANGE, 0},
    {"out", "subscribed", "To + Pending In", "Both", 1},
    {"out", "subscribed", "From", NO_CHANGE, 0},
    {"out", "subscribed", "From + Pending Out", NO_CHANGE, 0},
    {"out", "subscribed", "Both", NO_CHANGE, 0},
    /* A.2.4 outbound unsubscribed */
    {"out", "unsubscribed", "None", NO_CHANGE, 0},
    {"out", "unsubscribed", "None + Pending Out", NO_CHANGE, 0},
    {"out", "unsubscribed", "None + Pending In", "None", 1},
    {"out", "unsubscribed", "None + Pending Out+In", "None + Pending Out", 1},
    {"out", "unsubscribed", "To", NO_CHANGE, 0},
    {"out", "unsubscribed", "To + Pending In", "To", 1},
    {"out", "unsubscribed", "From", "None", 1},
    {"out", "unsubscribed", "From + Pending Out", "None + Pending Out", 1},
    {"out", "unsubscribed", "Both", "To", 1},
    /* A.3.1 inbound subscribe */
    {"in", "subscribe", "None", "None + Pending In", 1},
    {"in", "subscribe", "None + Pending Out", "None + Pending Out+In", 1},
    {"in", "subscribe", "None + Pending In", NO_CHANGE, 0},
    {"in", "subscribe", "None + Pending Out+In", NO_CHANGE, 0},
    {"in", "subscribe", "To", "To + Pending In", 1},
    {"in", "subscribe", "To + Pending In", NO_CHANGE, 0},
    {"in", "subscribe", "From", NO_CHANGE, 0},
    {"in", "subscribe", "From + Pending Out", NO_CHANGE, 0},
    {"in", "subscribe", "Both", NO_CHANGE, 0},
    /* A.3.2 inbound unsubscribe */
    {"in", "unsubscribe", "None", NO_CHANGE, 0},
    {"in", "unsubscribe", "None + Pending Out", NO_CHANGE, 0},
    {"in", "unsubscribe", "None + Pending In", "None", 1},
    {"in", "unsubscribe", "None + Pending Out+In", "None + Pending Out", 1},
    {"in", "unsubscribe", "To", NO_CHANGE, 0},
    {"in", "unsubscribe", "To + Pending In", "To", 1},
    {"in", "unsubscribe", "From", "None", 1},
    {"in", "unsubscribe", "From + Pending Out", "None + Pending Out", 1},
    {"in", "unsubscribe", "Both", "To", 1},
    /* A.3.3 inbound subscribed */
    {"in", "subscribed", "None", NO_CHANGE, 0},
    {"in", "subscribed", "None + Pending Out", "To", 1},
    {"in", "subscribed", "None + Pending In", NO_CHANGE, 0},
    {"in", "subscribed", "None + Pending Out+In", "To + Pending In", 1},
    {"in", "subscribed", "To", NO_CHANGE, 0},
    {"in", "subscribed", "To + Pending In", NO_CHANGE, 0},
    {"in", "subscribed", "From", NO_CHANGE, 0},
    {"in", "subscribed", "From + Pending Out", "Both", 1},
    {"in", "subscribed", "Both", NO_CHANGE, 0},
    /* A.3.4 inbound unsubscribed */
    {"in", "unsubscribed", "None", NO_CHANGE, 0},
    {"in", "unsubscribed", "None + Pending Out", "None", 1},
    {"in", "unsubscribed", "None + Pending In", NO_CHANGE, 0},
    {"in", "unsubscribed", "None + Pending Out+In", "None + Pending In", 1},
    {"in", "unsubscribed", "To", "None", 1},
    {"in", "unsubscribed", "To + Pending In", "None + Pending In", 1},
    {"in", "unsubscribed", "From", NO_CHANGE, 0},
    {"in", "unsubscribed", "From + Pending Out", "From", 1},
    {"in", "unsubscribed", "Both", "From", 1},
};

static int state_by_name(const char *name)
{
    for (int s = 0; s < SUB_STATE_COUNT_; s++)
        if (strcmp(sub_state_name((enum sub_state)s), name) == 0)
            return s;
    return -1;
}

START_TEST(transitions_match_appendix_a_in_every_cell)
{
    int seen[SUB_DIR_COUNT_][SUB_TYPE_COUNT_][SUB_STATE_COUNT_] = {{{0}}};
    size_t nrows = sizeof appendix_a / sizeof appendix_a[0];
    ck_assert_uint_eq(nrows, SUB_DIR_COUNT_ * SUB_TYPE_COUNT_ * SUB_STATE_COUNT_);
    for (size_t i = 0; i < nrows; i++) {
        const struct row *r = &appendix_a[i];
        int dir = strcmp(r->dir, "out") == 0 ? SUB_OUTBOUND : SUB_INBOUND;
        int type = sub_type_parse(r->type);
        int from = state_by_name(r->state);
        int to = r->next ? state_by_name(r->next) : from;
        ck_assert_int_ge(type, 0);
        ck_assert_int_ge(from, 0);
        ck_assert_int_ge(to, 0);
        seen[dir][type][from]++;
        struct sub_step st = sub_transition(dir, type, from);
        ck_assert_msg((int)st.next == to && st.forward == r->forward,
                      "%s %s in %s: got %s/%d, RFC says %s/%d", r->dir, r->type, r->state,
                      sub_state_name(st.next), st.forward, sub_state_name(to), r->forward);
    }
    for (int d = 0; d < SUB_DIR_COUNT_; d++)
        for (int t = 0; t < SUB_TYPE_COUNT_; t++)
            for (int s = 0; s < SUB_STATE_COUNT_; s++)
                ck_assert_int_eq(seen[d][t][s], 1);
}
END_TEST

START_TEST(item_attributes_follow_the_state)
{
    ck_assert_str_eq(sub_attr(SUB_NONE_PENDING_OUT_IN), "none");
    ck_assert_str_eq(sub_attr(SUB_TO_PENDING_IN), "to");
    ck_assert_str_eq(sub_attr(SUB_FROM_PENDING_OUT), "from");
    ck_assert_str_eq(sub_attr(SUB_BOTH), "both");
    ck_assert(sub_pending_out(SUB_FROM_PENDING_OUT));
    ck_assert(!sub_pending_out(SUB_TO_PENDING_IN));
    ck_assert(sub_preapproval_allowed(SUB_TO));
    ck_assert(!sub_preapproval_allowed(SUB_NONE_PENDING_IN));
    ck_assert(!sub_preapproval_allowed(SUB_FROM));
}
END_TEST

/* --- driving the dispatcher --------------------------------------------- */

/* The accounts handler drops stanzas to accounts that do not exist, so
 * every user of these tests is registered. */
static struct dispatch *fresh_with_users(void)
{
    static const char *const users[] = {"alice", "bob", "carol", "dave", "erin", "zed"};
    struct dispatch *d = fresh();
    for (size_t i = 0; i < sizeof users / sizeof users[0]; i++) {
        char bare[64];
        snprintf(bare, sizeof bare, "%s@localhost", users[i]);
        registered(d, bare);
    }
    return d;
}

/* Sends st from the session conn (full JID from); takes st. */
static void send_as(struct dispatch *d, uint64_t conn, const char *from, struct xnode *st,
                    struct effects *fx)
{
    xml_set_attr(st, "from", from);
    send(d, conn, st, fx);
}

static struct xnode *roster_get(const char *id, const char *ver)
{
    struct xnode *iq = xml_new("iq", NS_CLIENT);
    xml_set_attr(iq, "type", "get");
    xml_set_attr(iq, "id", id);
    struct xnode *q = xml_add(iq, "query", NS_ROSTER);
    if (ver)
        xml_set_attr(q, "ver", ver);
    return iq;
}

/* A roster set of one item; name and group may be NULL. */
static struct xnode *roster_set(const char *id, const char *jid, const char *name,
                                const char *group, const char *sub)
{
    struct xnode *iq = xml_new("iq", NS_CLIENT);
    xml_set_attr(iq, "type", "set");
    xml_set_attr(iq, "id", id);
    struct xnode *it = xml_add(xml_add(iq, "query", NS_ROSTER), "item", NULL);
    xml_set_attr(it, "jid", jid);
    if (name)
        xml_set_attr(it, "name", name);
    if (sub)
        xml_set_attr(it, "subscription", sub);
    if (group)
        xml_add_text(xml_add(it, "group", NULL), group);
    return iq;
}

static struct xnode *presence(const char *type, const char *to)
{
    struct xnode *p = xml_new("presence", NS_CLIENT);
    if (type)
        xml_set_attr(p, "type", type);
    if (to)
        xml_set_attr(p, "to", to);
    return p;
}

/* The n-th (from 0) stanza sent on conn with element name and type
 * (NULL: any), or NULL. */
static const struct xnode *sent(const struct effects *fx, uint64_t conn, const char *name,
                                const char *type, int n)
{
    for (size_t i = 0; i < fx->n; i++) {
        const struct effect *e = &fx->v[i];
        if (e->kind != FX_STANZA || e->to != conn || strcmp(e->stanza->name, name) != 0)
            continue;
        const char *t = xml_attr(e->stanza, "type");
        if (type && (!t || strcmp(t, type) != 0))
            continue;
        if (n-- == 0)
            return e->stanza;
    }
    return NULL;
}

static struct xnode *item_of(struct xnode *iq)
{
    return xml_child(xml_child(iq, "query", NS_ROSTER), "item", NULL);
}

static const struct xnode *push_item(const struct xnode *iq)
{
    const struct xnode *q = iq ? xml_child(iq, "query", NS_ROSTER) : NULL;
    return q ? xml_child(q, "item", NULL) : NULL;
}

static int state_of(struct dispatch *d, const char *bare, const char *contact, int *listed)
{
    return roster_item_state(dispatch_state(d, "roster"), bare, contact, listed, NULL);
}

START_TEST(set_pushes_to_interested_resources_with_ver_when_asked)
{
    struct dispatch *d = fresh_with_users();
    struct effects fx;
    effects_init(&fx);
    bind_session(d, 1, "alice@localhost/a");
    bind_session(d, 2, "alice@localhost/b");
    bind_session(d, 3, "alice@localhost/c"); /* never asks: gets no push */
    send_as(d, 1, "alice@localhost/a", roster_get("g1", NULL), &fx);
    const struct xnode *r = sent(&fx, 1, "iq", "result", 0);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(xml_attr(r, "id"), "g1");
    ck_assert_ptr_nonnull(xml_child(r, "query", NS_ROSTER));
    ck_assert_ptr_null(xml_attr(xml_child(r, "query", NS_ROSTER), "ver"));
    effects_clear(&fx);
    send_as(d, 2, "alice@localhost/b", roster_get("g2", ""), &fx);
    ck_assert_str_eq(xml_attr(xml_child(sent(&fx, 2, "iq", "result", 0), "query", NS_ROSTER),
                              "ver"), "0");
    effects_clear(&fx);

    send_as(d, 1, "alice@localhost/a", roster_set("s1", "Bob@LocalHost", "Bob", "Friends", NULL),
         &fx);
    const struct xnode *p1 = sent(&fx, 1, "iq", "set", 0), *p2 = sent(&fx, 2, "iq", "set", 0);
    ck_assert_ptr_nonnull(p1);
    ck_assert_ptr_nonnull(p2);
    ck_assert_ptr_null(sent(&fx, 3, "iq", NULL, 0));
    ck_assert_str_ne(xml_attr(p1, "id"), xml_attr(p2, "id"));
    ck_assert_str_eq(xml_attr(p1, "to"), "alice@localhost/a");
    ck_assert_ptr_null(xml_attr(xml_child(p1, "query", NS_ROSTER), "ver"));
    ck_assert_str_eq(xml_attr(xml_child(p2, "query", NS_ROSTER), "ver"), "1");
    const struct xnode *it = push_item(p2);
    ck_assert_str_eq(xml_attr(it, "jid"), "bob@localhost");
    ck_assert_str_eq(xml_attr(it, "name"), "Bob");
    ck_assert_str_eq(xml_attr(it, "subscription"), "none");
    ck_assert_str_eq(xml_text(xml_child(it, "group", NULL)), "Friends");
    ck_assert_str_eq(xml_attr(sent(&fx, 1, "iq", "result", 0), "id"), "s1");
    ck_assert_ptr_null(xml_first_elem(sent(&fx, 1, "iq", "result", 0)));
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

START_TEST(get_with_current_ver_is_empty_and_old_ver_is_full)
{
    struct dispatch *d = fresh_with_users();
    struct effects fx;
    effects_init(&fx);
    bind_session(d, 1, "alice@localhost/a");
    send_as(d, 1, "alice@localhost/a", roster_set("s1", "bob@localhost", NULL, NULL, NULL), &fx);
    send_as(d, 1, "alice@localhost/a", roster_set("s2", "carol@localhost", NULL, NULL, NULL), &fx);
    effects_clear(&fx);
    ck_assert_uint_eq(roster_version(dispatch_state(d, "roster"), "alice@localhost"), 2);
    send_as(d, 1, "alice@localhost/a", roster_get("g1", "2"), &fx);
    const struct xnode *r = sent(&fx, 1, "iq", "result", 0);
    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_null(xml_first_elem(r));
    effects_clear(&fx);
    send_as(d, 1, "alice@localhost/a", roster_get("g2", "1"), &fx);
    const struct xnode *q = xml_child(sent(&fx, 1, "iq", "result", 0), "query", NS_ROSTER);
    ck_assert_str_eq(xml_attr(q, "ver"), "2");
    const struct xnode *first = xml_first_elem(q);
    ck_assert_str_eq(xml_attr(first, "jid"), "bob@localhost"); /* JID order */
    ck_assert_str_eq(xml_attr(xml_next_elem(first), "jid"), "carol@localhost");
    ck_assert_ptr_null(xml_next_elem(xml_next_elem(first)));
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

static const char *set_error(struct dispatch *d, struct xnode *iq)
{
    static char cond[64];
    struct effects fx;
    effects_init(&fx);
    send_as(d, 1, "alice@localhost/a", iq, &fx);
    const struct xnode *e = sent(&fx, 1, "iq", "error", 0);
    strncpy(cond, error_cond_or_none(e), sizeof cond - 1);
    effects_clear(&fx);
    return cond;
}

START_TEST(invalid_sets_get_the_rfc_conditions)
{
    struct dispatch *d = fresh_with_users();
    bind_session(d, 1, "alice@localhost/a");
    struct xnode *two = roster_set("e1", "bob@localhost", NULL, NULL, NULL);
    xml_set_attr(xml_add(xml_child(two, "query", NS_ROSTER), "item", NULL), "jid",
                 "carol@localhost");
    ck_assert_str_eq(set_error(d, two), "bad-request");
    ck_assert_str_eq(set_error(d, roster_set("e2", "bob@localhost", NULL, "", NULL)),
                     "not-acceptable");
    char longname[ROSTER_NAME_BYTES_MAX + 2];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    ck_assert_str_eq(set_error(d, roster_set("e3", "bob@localhost", longname, NULL, NULL)),
                     "not-acceptable");
    struct xnode *dup = roster_set("e4", "bob@localhost", NULL, "G", NULL);
    xml_add_text(xml_add(item_of(dup), "group", NULL), "G");
    ck_assert_str_eq(set_error(d, dup), "bad-request");
    ck_assert_str_eq(set_error(d, roster_set("e5", "a@b@c", NULL, NULL, NULL)), "jid-malformed");
    ck_assert_str_eq(set_error(d, roster_set("e6", "nobody@localhost", NULL, NULL, "remove")),
                     "item-not-found");
    /* nothing was stored by any of them */
    ck_assert_int_eq(state_of(d, "alice@localhost", "bob@localhost", NULL), -1);
    ck_assert_uint_eq(roster_version(dispatch_state(d, "roster"), "alice@localhost"), 0);
    struct xnode *other = roster_get("e7", NULL);
    xml_set_attr(other, "to", "bob@localhost");
    ck_assert_str_eq(set_error(d, other), "forbidden");
    dispatch_free(d);
}
END_TEST

START_TEST(subscribe_approve_both_ways_then_remove_cancels)
{
    struct dispatch *d = fresh_with_users();
    struct effects fx;
    effects_init(&fx);
    int listed = -1;
    bind_session(d, 1, "alice@localhost/a");
    bind_session(d, 2, "bob@localhost/b");
    send_as(d, 1, "alice@localhost/a", roster_get("g1", NULL), &fx);
    send_as(d, 2, "bob@localhost/b", roster_get("g2", NULL), &fx);
    effects_clear(&fx);

    send_as(d, 1, "alice@localhost/a", presence("subscribe", "bob@localhost/b"), &fx);
    ck_assert_int_eq(state_of(d, "alice@localhost", "bob@localhost", &listed),
                     SUB_NONE_PENDING_OUT);
    ck_assert_int_eq(listed, 1);
    ck_assert_str_eq(xml_attr(push_item(sent(&fx, 1, "iq", "set", 0)), "ask"), "subscribe");
    /* §3.1.3: the request is recorded at bob's, but alice is not in his roster */
    ck_assert_int_eq(state_of(d, "bob@localhost", "alice@localhost", &listed),
                     SUB_NONE_PENDING_IN);
    ck_assert_int_eq(listed, 0);
    ck_assert_ptr_null(sent(&fx, 2, "iq", "set", 0));
    effects_clear(&fx);

    send_as(d, 2, "bob@localhost/b", presence("subscribed", "alice@localhost"), &fx);
    ck_assert_int_eq(state_of(d, "bob@localhost", "alice@localhost", &listed), SUB_FROM);
    ck_assert_int_eq(listed, 1);
    ck_assert_int_eq(state_of(d, "alice@localhost", "bob@localhost", NULL), SUB_TO);
    ck_assert_str_eq(xml_attr(push_item(sent(&fx, 2, "iq", "set", 0)), "subscription"), "from");
    ck_assert_str_eq(xml_attr(push_item(sent(&fx, 1, "iq", "set", 0)), "subscription"), "to");
    ck_assert_ptr_null(xml_attr(push_item(sent(&fx, 1, "iq", "set", 0)), "ask"));
    effects_clear(&fx);

    send_as(d, 2, "bob@localhost/b", presence("subscribe", "alice@localhost"), &fx);
    ck_assert_int_eq(state_of(d, "alice@localhost", "bob@localhost", NULL), SUB_TO_PENDING_IN);
    ck_assert_int_eq(state_of(d, "bob@localhost", "alice@localhost", NULL),
                     SUB_FROM_PENDING_OUT);
    send_as(d, 1, "alice@localhost/a", presence("subscribed", "bob@localhost"), &fx);
    ck_assert_int_eq(state_of(d, "alice@localhost", "bob@localhost", NULL), SUB_BOTH);
    ck_assert_int_eq(state_of(d, "bob@localhost", "alice@localhost", NULL), SUB_BOTH);
    effects_clear(&fx);

    /* §2.5.2: removal routes unsubscribe and unsubscribed to the contact */
    send_as(d, 1, "alice@localhost/a", roster_set("r1", "bob@localhost", NULL, NULL, "remove"),
         &fx);
    ck_assert_str_eq(xml_attr(push_item(sent(&fx, 1, "iq", "set", 0)), "subscription"),
                     "remove");
    ck_assert_ptr_nonnull(sent(&fx, 1, "iq", "result", 0));
    ck_assert_int_eq(state_of(d, "alice@localhost", "bob@localhost", NULL), -1);
    ck_assert_int_eq(state_of(d, "bob@localhost", "alice@localhost", &listed), SUB_NONE);
    ck_assert_int_eq(listed, 1);
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

START_TEST(pending_request_is_resent_at_each_login_until_answered)
{
    struct dispatch *d = fresh_with_users();
    struct effects fx;
    effects_init(&fx);
    bind_session(d, 1, "alice@localhost/a");
    struct xnode *sub = presence("subscribe", "bob@localhost");
    xml_add_text(xml_add(sub, "status", NULL), "it's alice");
    send_as(d, 1, "alice@localhost/a", sub, &fx);
    effects_clear(&fx);

    bind_session(d, 2, "bob@localhost/b");
    send_as(d, 2, "bob@localhost/b", presence(NULL, NULL), &fx);
    const struct xnode *req = sent(&fx, 2, "presence", "subscribe", 0);
    ck_assert_ptr_nonnull(req);
    ck_assert_str_eq(xml_attr(req, "from"), "alice@localhost");
    ck_assert_str_eq(xml_text(xml_child(req, "status", NULL)), "it's alice");
    effects_clear(&fx);
    send_as(d, 2, "bob@localhost/b", presence(NULL, NULL), &fx); /* not initial */
    ck_assert_ptr_null(sent(&fx, 2, "presence", "subscribe", 0));
    effects_clear(&fx);
    bind_session(d, 3, "bob@localhost/c");
    send_as(d, 3, "bob@localhost/c", presence(NULL, NULL), &fx); /* another login */
    ck_assert_ptr_nonnull(sent(&fx, 3, "presence", "subscribe", 0));
    effects_clear(&fx);

    send_as(d, 2, "bob@localhost/b", presence("unsubscribed", "alice@localhost"), &fx);
    ck_assert_int_eq(state_of(d, "alice@localhost", "bob@localhost", NULL), SUB_NONE);
    ck_assert_int_eq(state_of(d, "bob@localhost", "alice@localhost", NULL), -1);
    effects_clear(&fx);
    bind_session(d, 4, "bob@localhost/d");
    send_as(d, 4, "bob@localhost/d", presence(NULL, NULL), &fx);
    ck_assert_ptr_null(sent(&fx, 4, "presence", "subscribe", 0));
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

START_TEST(preapproval_answers_the_later_request)
{
    struct dispatch *d = fresh_with_users();
    struct effects fx;
    effects_init(&fx);
    int listed = 0, approved = 0;
    bind_session(d, 1, "alice@localhost/a");
    bind_session(d, 2, "bob@localhost/b");
    send_as(d, 2, "bob@localhost/b", roster_get("g", NULL), &fx);
    effects_clear(&fx);
    send_as(d, 2, "bob@localhost/b", presence("subscribed", "alice@localhost"), &fx);
    ck_assert_int_eq(roster_item_state(dispatch_state(d, "roster"), "bob@localhost",
                                       "alice@localhost", &listed, &approved),
                     SUB_NONE);
    ck_assert_int_eq(listed, 1);
    ck_assert_int_eq(approved, 1);
    ck_assert_str_eq(xml_attr(push_item(sent(&fx, 2, "iq", "set", 0)), "approved"), "true");
    /* not routed: alice's roster knows nothing */
    ck_assert_int_eq(state_of(d, "alice@localhost", "bob@localhost", NULL), -1);
    effects_clear(&fx);

    send_as(d, 1, "alice@localhost/a", presence("subscribe", "bob@localhost"), &fx);
    ck_assert_int_eq(roster_item_state(dispatch_state(d, "roster"), "bob@localhost",
                                       "alice@localhost", &listed, &approved),
                     SUB_FROM);
    ck_assert_int_eq(approved, 0);
    ck_assert_int_eq(state_of(d, "alice@localhost", "bob@localhost", NULL), SUB_TO);
    ck_assert_ptr_null(sent(&fx, 2, "presence", "subscribe", 0)); /* never shown to bob */
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

static struct xnode *last_query(const char *to)
{
    struct xnode *iq = xml_new("iq", NS_CLIENT);
    xml_set_attr(iq, "type", "get");
    xml_set_attr(iq, "id", "l1");
    xml_set_attr(iq, "to", to);
    xml_add(iq, "query", NS_LAST);
    return iq;
}

START_TEST(last_activity_only_for_subscribers)
{
    struct dispatch *d = fresh_with_users();
    struct effects fx;
    effects_init(&fx);
    bind_session(d, 1, "alice@localhost/a");
    bind_session(d, 2, "bob@localhost/b");
    send_as(d, 2, "bob@localhost/b", last_query("alice@localhost"), &fx);
    ck_assert_str_eq(error_cond_or_none(sent(&fx, 2, "iq", "error", 0)), "forbidden");
    effects_clear(&fx);
    send_as(d, 2, "bob@localhost/b", presence("subscribe", "alice@localhost"), &fx);
    send_as(d, 1, "alice@localhost/a", presence("subscribed", "bob@localhost"), &fx);
    effects_clear(&fx);
    send_as(d, 2, "bob@localhost/b", last_query("alice@localhost"), &fx);
    ck_assert_str_ne(error_cond_or_none(sent(&fx, 2, "iq", "error", 0)), "forbidden");
    effects_clear(&fx);
    send_as(d, 1, "alice@localhost/a", last_query("alice@localhost"), &fx);
    ck_assert_str_ne(error_cond_or_none(sent(&fx, 1, "iq", "error", 0)), "forbidden");
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

/* --- the roster handler alone: routed stanzas stay visible --------------- */

static uint64_t solo_seq;

/* Applies ev to the roster handler, then each stanza it routes back into
 * it as inbound (like the dispatcher, minus the other handlers); the
 * FX_ROUTE effects stay in fx for inspection. Takes ev. */
static int solo(void *st, struct event *ev, struct effects *fx)
{
    ev->seq = ++solo_seq;
    int rc = roster_handler.apply(st, ev, fx);
    for (size_t i = 0; i < fx->n && i < 200; i++) {
        if (fx->v[i].kind != FX_ROUTE)
            continue;
        struct event in = *ev;
        in.type = EV_STANZA;
        in.origin_kind = ORIGIN_ROUTE;
        in.origin = 0;
        in.body = fx->v[i].stanza;
        roster_handler.apply(st, &in, fx);
    }
    event_free(ev);
    return rc;
}

static int solo_send(void *st, uint64_t conn, const char *from, struct xnode *p,
                     struct effects *fx)
{
    xml_set_attr(p, "from", from);
    return solo(st, event_new(EV_STANZA, ORIGIN_C2S, conn, NULL, p), fx);
}

static size_t routed(const struct effects *fx, const char *type, const char *from,
                     const char *to)
{
    size_t n = 0;
    for (size_t i = 0; i < fx->n; i++) {
        const struct xnode *st = fx->v[i].stanza;
        if (fx->v[i].kind != FX_ROUTE || strcmp(st->name, "presence") != 0)
            continue;
        const char *t = xml_attr(st, "type");
        if ((type ? t && strcmp(t, type) == 0 : !t) && strcmp(xml_attr(st, "from"), from) == 0 &&
            strcmp(xml_attr(st, "to"), to) == 0)
            n++;
    }
    return n;
}

static void *solo_both(void)
{
    solo_seq = 0;
    void *st = roster_handler.create();
    struct effects fx;
    effects_init(&fx);
    solo(st, event_server_started("localhost", "test"), &fx);
    solo_send(st, 1, "alice@localhost/a", presence("subscribe", "bob@localhost"), &fx);
    solo_send(st, 2, "bob@localhost/b", presence("subscribed", "alice@localhost"), &fx);
    solo_send(st, 2, "bob@localhost/b", presence("subscribe", "alice@localhost"), &fx);
    solo_send(st, 1, "alice@localhost/a", presence("subscribed", "bob@localhost"), &fx);
    effects_clear(&fx);
    ck_assert_int_eq(roster_item_state(st, "alice@localhost", "bob@localhost", NULL, NULL),
                     SUB_BOTH);
    return st;
}

START_TEST(presence_goes_to_subscribers_and_probes_once)
{
    void *st = solo_both();
    struct effects fx;
    effects_init(&fx);
    ck_assert_int_eq(solo_send(st, 1, "alice@localhost/a", presence(NULL, NULL), &fx), H_PASS);
    ck_assert_uint_eq(routed(&fx, "probe", "alice@localhost", "bob@localhost"), 1);
    ck_assert_uint_eq(routed(&fx, NULL, "alice@localhost/a", "bob@localhost"), 1);
    ck_assert_uint_eq(routed(&fx, "unsubscribed", "bob@localhost", "alice@localhost"), 0);
    effects_clear(&fx);
    solo_send(st, 1, "alice@localhost/a", presence(NULL, NULL), &fx);
    ck_assert_uint_eq(routed(&fx, "probe", "alice@localhost", "bob@localhost"), 0);
    ck_assert_uint_eq(routed(&fx, NULL, "alice@localhost/a", "bob@localhost"), 1);
    effects_clear(&fx);
    /* §4.5.1: a session that ends while available goes unavailable */
    struct event *closed = event_new(EV_SESSION_CLOSED, ORIGIN_C2S, 1, NULL, NULL);
    xml_set_attr(closed->body, "jid", "alice@localhost/a");
    solo(st, closed, &fx);
    ck_assert_uint_eq(routed(&fx, "unavailable", "alice@localhost/a", "bob@localhost"), 1);
    effects_clear(&fx);
    closed = event_new(EV_SESSION_CLOSED, ORIGIN_C2S, 1, NULL, NULL);
    xml_set_attr(closed->body, "jid", "alice@localhost/a");
    solo(st, closed, &fx); /* once only */
    ck_assert_uint_eq(fx.n, 0);
    effects_clear(&fx);
    roster_handler.destroy(st);
}
END_TEST

/* RFC 6121 §4.7.2.3: a priority outside -128..127 is refused before any
 * contact hears of the presence. */
START_TEST(invalid_priority_is_refused_before_any_broadcast)
{
    void *st = solo_both();
    struct effects fx;
    effects_init(&fx);
    const char *bad[] = {"128", "-129", "five", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct xnode *p = presence(NULL, NULL);
        xml_add_text(xml_add(p, "priority", NULL), bad[i]);
        ck_assert_int_eq(solo_send(st, 1, "alice@localhost/a", p, &fx),
                         stanza_err(STANZA_BAD_REQUEST));
        ck_assert_uint_eq(fx.n, 0);
    }
    struct xnode *p = presence(NULL, NULL);
    xml_add_text(xml_add(p, "priority", NULL), "-128");
    ck_assert_int_eq(solo_send(st, 1, "alice@localhost/a", p, &fx), H_PASS);
    ck_assert_uint_eq(routed(&fx, NULL, "alice@localhost/a", "bob@localhost"), 1);
    effects_clear(&fx);
    roster_handler.destroy(st);
}
END_TEST

START_TEST(probe_from_a_stranger_is_answered_unsubscribed)
{
    void *st = solo_both();
    struct effects fx;
    effects_init(&fx);
    struct xnode *probe = presence("probe", "alice@localhost");
    xml_set_attr(probe, "from", "carol@localhost");
    struct event *ev = event_new(EV_STANZA, ORIGIN_ROUTE, 0, NULL, probe);
    ck_assert_int_eq(solo(st, ev, &fx), 0);
    ck_assert_uint_eq(routed(&fx, "unsubscribed", "alice@localhost", "carol@localhost"), 1);
    effects_clear(&fx);
    probe = presence("probe", "alice@localhost");
    xml_set_attr(probe, "from", "bob@localhost");
    ev = event_new(EV_STANZA, ORIGIN_ROUTE, 0, NULL, probe);
    ck_assert_int_eq(solo(st, ev, &fx), H_PASS); /* a subscriber: sessions answers */
    ck_assert_uint_eq(fx.n, 0);
    effects_clear(&fx);
    roster_handler.destroy(st);
}
END_TEST

START_TEST(unsubscribed_cancels_a_preapproval_without_routing)
{
    void *st = solo_both();
    struct effects fx;
    effects_init(&fx);
    int approved = 0, listed = 0;
    solo_send(st, 2, "bob@localhost/b", presence("subscribed", "carol@localhost"), &fx);
    ck_assert_int_eq(roster_item_state(st, "bob@localhost", "carol@localhost", &listed, &approved),
                     SUB_NONE);
    ck_assert_int_eq(approved, 1);
    solo_send(st, 2, "bob@localhost/b", presence("unsubscribed", "carol@localhost"), &fx);
    ck_assert_int_eq(roster_item_state(st, "bob@localhost", "carol@localhost", &listed, &approved),
                     SUB_NONE);
    ck_assert_int_eq(approved, 0);
    ck_assert_int_eq(listed, 1);
    for (size_t i = 0; i < fx.n; i++)
        ck_assert_int_ne(fx.v[i].kind, FX_ROUTE);
    effects_clear(&fx);
    roster_handler.destroy(st);
}
END_TEST

START_TEST(deleted_account_cancels_its_subscriptions)
{
    void *st = solo_both();
    struct effects fx;
    effects_init(&fx);
    struct event *del = event_new(EV_ACCOUNT_DELETE, ORIGIN_CTL, 9, NULL, NULL);
    xml_set_attr(del->body, "jid", "alice@localhost");
    solo(st, del, &fx);
    ck_assert_uint_eq(routed(&fx, "unsubscribe", "alice@localhost", "bob@localhost"), 1);
    ck_assert_uint_eq(routed(&fx, "unsubscribed", "alice@localhost", "bob@localhost"), 1);
    ck_assert_int_eq(roster_item_state(st, "alice@localhost", "bob@localhost", NULL, NULL), -1);
    ck_assert_int_eq(roster_item_state(st, "bob@localhost", "alice@localhost", NULL, NULL),
                     SUB_NONE);
    effects_clear(&fx);
    roster_handler.destroy(st);
}
END_TEST

/* --- snapshots ------------------------------------------------------------ */

static void encode(struct dispatch *d, struct buf *b)
{
    buf_init(b);
    dispatch_encode(d, b);
}

START_TEST(snapshot_round_trip_keeps_rosters_and_requests)
{
    struct dispatch *d = fresh_with_users();
    struct effects fx;
    effects_init(&fx);
    bind_session(d, 1, "alice@localhost/a");
    bind_session(d, 2, "bob@localhost/b");
    send_as(d, 1, "alice@localhost/a", roster_set("s", "dave@localhost", "Dave", "Work", NULL), &fx);
    send_as(d, 1, "alice@localhost/a", presence("subscribe", "bob@localhost"), &fx);
    send_as(d, 2, "bob@localhost/b", presence("subscribed", "alice@localhost"), &fx);
    send_as(d, 2, "bob@localhost/b", presence("subscribed", "erin@localhost"), &fx);
    send_as(d, 2, "bob@localhost/b", presence("subscribe", "carol@localhost"), &fx);
    bind_session(d, 3, "carol@localhost/c");
    send_as(d, 3, "carol@localhost/c", presence("subscribe", "alice@localhost"), &fx);
    effects_clear(&fx);
    struct buf a;
    buf_init(&a);
    struct dispatch *d2 = snapshot_round_trip(d, &a);
    const void *r = dispatch_state(d2, "roster");
    int approved = 0;
    ck_assert_int_eq(roster_item_state(r, "alice@localhost", "bob@localhost", NULL, NULL), SUB_TO);
    ck_assert_int_eq(roster_item_state(r, "bob@localhost", "erin@localhost", NULL, &approved),
                     SUB_NONE);
    ck_assert_int_eq(approved, 1);
    ck_assert_int_eq(roster_item_state(r, "carol@localhost", "bob@localhost", NULL, NULL),
                     SUB_NONE_PENDING_IN);
    ck_assert_uint_eq(roster_version(r, "alice@localhost"),
                      roster_version(dispatch_state(d, "roster"), "alice@localhost"));

    /* after a restart the kept request still reaches alice's next login */
    apply(d2, event_server_started("localhost", "test"), &fx);
    effects_clear(&fx);
    bind_session(d2, 7, "alice@localhost/new");
    send_as(d2, 7, "alice@localhost/new", presence(NULL, NULL), &fx);
    const struct xnode *req = sent(&fx, 7, "presence", "subscribe", 0);
    ck_assert_ptr_nonnull(req);
    ck_assert_str_eq(xml_attr(req, "from"), "carol@localhost");
    effects_clear(&fx);
    send_as(d2, 7, "alice@localhost/new", roster_get("g", NULL), &fx);
    const struct xnode *q = xml_child(sent(&fx, 7, "iq", "result", 0), "query", NS_ROSTER);
    const struct xnode *dave = xml_next_elem(xml_first_elem(q)); /* bob, dave */
    ck_assert_str_eq(xml_attr(dave, "jid"), "dave@localhost");
    ck_assert_str_eq(xml_attr(dave, "name"), "Dave");
    ck_assert_str_eq(xml_text(xml_child(dave, "group", NULL)), "Work");
    effects_clear(&fx);

    struct dispatch *d3 = dispatch_new();
    ck_assert_int_ne(dispatch_decode(d3, a.p, a.len - 1), 0); /* cut short */
    dispatch_free(d3);
    buf_free(&a);
    dispatch_free(d2);
    dispatch_free(d);
}
END_TEST

START_TEST(equal_rosters_encode_equal_whatever_the_order)
{
    const char *jids[] = {"bob@localhost", "carol@localhost", "dave@localhost", "erin@localhost"};
    struct buf out[2];
    for (int pass = 0; pass < 2; pass++) {
        struct dispatch *d = fresh_with_users();
        struct effects fx;
        effects_init(&fx);
        for (int i = 0; i < 4; i++) {
            const char *j = jids[pass ? 3 - i : i];
            send_as(d, 1, "alice@localhost/a", roster_set("s", j, NULL, NULL, NULL), &fx);
            send_as(d, 1, "zed@localhost/z", roster_set("s", j, NULL, NULL, NULL), &fx);
        }
        effects_clear(&fx);
        encode(d, &out[pass]);
        dispatch_free(d);
    }
    ck_assert_uint_eq(out[0].len, out[1].len);
    ck_assert_int_eq(memcmp(out[0].p, out[1].p, out[0].len), 0);
    buf_free(&out[0]);
    buf_free(&out[1]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("roster");
    TCase *table = tcase_create("appendix_a");
    tcase_add_test(table, transitions_match_appendix_a_in_every_cell);
    tcase_add_test(table, item_attributes_follow_the_state);
    suite_add_tcase(s, table);
    TCase *iq = tcase_create("roster_iq");
    tcase_add_test(iq, set_pushes_to_interested_resources_with_ver_when_asked);
    tcase_add_test(iq, get_with_current_ver_is_empty_and_old_ver_is_full);
    tcase_add_test(iq, invalid_sets_get_the_rfc_conditions);
    suite_add_tcase(s, iq);
    TCase *sub = tcase_create("subscriptions");
    tcase_add_test(sub, subscribe_approve_both_ways_then_remove_cancels);
    tcase_add_test(sub, pending_request_is_resent_at_each_login_until_answered);
    tcase_add_test(sub, preapproval_answers_the_later_request);
    tcase_add_test(sub, last_activity_only_for_subscribers);
    suite_add_tcase(s, sub);
    TCase *pres = tcase_create("presence");
    tcase_add_test(pres, presence_goes_to_subscribers_and_probes_once);
    tcase_add_test(pres, probe_from_a_stranger_is_answered_unsubscribed);
    tcase_add_test(pres, invalid_priority_is_refused_before_any_broadcast);
    tcase_add_test(pres, unsubscribed_cancels_a_preapproval_without_routing);
    tcase_add_test(pres, deleted_account_cancels_its_subscriptions);
    suite_add_tcase(s, pres);
    TCase *snap = tcase_create("snapshot");
    tcase_add_test(snap, snapshot_round_trip_keeps_rosters_and_requests);
    tcase_add_test(snap, equal_rosters_encode_equal_whatever_the_order);
    suite_add_tcase(s, snap);
    return run_suite(s);
}
