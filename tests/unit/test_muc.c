/* test_muc: the group chat service (XEP-0045) through the real
 * dispatcher: local users bound on connections send to chat.localhost
 * (sessions routes it, muc takes the inbound pass) and what the room
 * sends them shows up as FX_STANZA effects on their connections.
 * A user of another server cannot have a local session: their stanzas
 * are injected as inbound (ORIGIN_ROUTE). What the room answers them
 * goes nowhere without federation, so refusals to them are read from
 * the muc handler's own effects (from_abroad) and from what the local
 * occupants see afterwards. Section numbers are XEP-0045's. */
#include "handlers/muc/muc.h"
#include "fixture.h"

#define JULIET "juliet@localhost/balcony" /* conn 1: creates the rooms */
#define ROMEO "romeo@localhost/orchard"   /* conn 2 */
#define NURSE "nurse@localhost/hall"      /* conn 3 */
#define STRANGER "stranger@remote.example/x"
#define SERVICE "chat.localhost"
#define ROOM "coven@" SERVICE
#define AS(nick) ROOM "/" nick

#define NS_MUC "http://jabber.org/protocol/muc"
#define NS_MUC_USER NS_MUC "#user"
#define NS_MUC_ADMIN NS_MUC "#admin"
#define NS_MUC_OWNER NS_MUC "#owner"
#define NS_XDATA "jabber:x:data"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"

/* --- driving the dispatcher -------------------------------------------- */

static struct event *started(int local_create_only, int foreign_need_invite)
{
    struct event *ev = event_server_started("localhost", "test");
    event_set_muc(ev, &(struct muc_settings){SERVICE, local_create_only, foreign_need_invite,
                                             .history_max = 20, .max_users = 1000,
                                             .rooms_max = 10000});
    return ev;
}

/* Juliet, Romeo and the Nurse online on connections 1, 2, 3. The muc
 * makes decisions (a new subject, a membership from an invitation) that
 * later stanzas depend on: they are applied at once, as the kernel does. */
static struct dispatch *fresh_with(int local_create_only, int foreign_need_invite)
{
    apply_feeds_decisions = 1;
    struct dispatch *d = fresh_from(started(local_create_only, foreign_need_invite));
    online(d, 1, JULIET);
    online(d, 2, ROMEO);
    online(d, 3, NURSE);
    return d;
}

static struct dispatch *fresh_three_online(void) { return fresh_with(1, 1); }

/* --- reading effects ---------------------------------------------------- */

/* The first `name` stanza to conn from `from`, or NULL. */
static const struct xnode *find(const struct effects *fx, uint64_t conn, const char *name,
                                const char *from)
{
    for (size_t i = 0; i < fx->n; i++) {
        const struct xnode *st = fx->v[i].stanza;
        if (fx->v[i].kind == FX_STANZA && fx->v[i].to == conn && strcmp(st->name, name) == 0 &&
            xml_attr(st, "from") && strcmp(xml_attr(st, "from"), from) == 0)
            return st;
    }
    return NULL;
}

/* xml_child that takes NULL, so a missing stanza fails an assertion
 * rather than the process. */
static const struct xnode *kid(const struct xnode *n, const char *name, const char *ns)
{
    return n ? xml_child(n, name, ns) : NULL;
}

/* Where in fx the first `name` stanza to conn from `from` is; fx->n if none. */
static size_t index_of(const struct effects *fx, uint64_t conn, const char *name, const char *from)
{
    const struct xnode *st = find(fx, conn, name, from);
    for (size_t i = 0; st && i < fx->n; i++)
        if (fx->v[i].kind == FX_STANZA && fx->v[i].stanza == st)
            return i;
    return fx->n;
}

static int type_is(const struct xnode *st, const char *type)
{
    if (!st)
        return 0;
    const char *t = xml_attr(st, "type");
    return type ? t && strcmp(t, type) == 0 : t == NULL;
}

/* The error condition of the only stanza conn got. */
static const char *only_error(const struct effects *fx, uint64_t conn)
{
    ck_assert_uint_eq(count_to(fx, conn, NULL), 1);
    ck_assert(type_is(nth_to(fx, conn, 0), "error"));
    return error_cond(nth_to(fx, conn, 0));
}

/* The error condition of a refusal: conn got one error and nothing else
 * happened (nobody else heard anything, no decision was made); fx is
 * emptied. */
static const char *refusal(struct effects *fx, uint64_t conn)
{
    static char cond[64];
    snprintf(cond, sizeof cond, "%s", only_error(fx, conn));
    ck_assert_uint_eq(fx->n, 1);
    effects_clear(fx);
    return cond;
}

/* Offers an inbound stanza from abroad to the muc handler alone and
 * returns the error condition it answers with ("" : none): the one it
 * returns, or the one it routes back to the sender. Nothing else of its
 * effects is carried out, so use it only where a refusal is expected. */
static const char *from_abroad(struct dispatch *d, struct xnode *st)
{
    static char cond[64];
    struct event *ev = event_new(EV_STANZA, ORIGIN_ROUTE, 0, "", st);
    ev->seq = next_seq + 1; /* not dispatched: the journal's count stays */
    ev->time_us = 1000000 * (int64_t)ev->seq;
    struct effects fx;
    effects_init(&fx);
    int rc = muc_handler.apply((void *)dispatch_state(d, "muc"), ev, &fx);
    cond[0] = 0;
    if (is_stanza_err(rc))
        snprintf(cond, sizeof cond, "%s", stanza_err_name(stanza_err_cond(rc)));
    for (size_t i = 0; i < fx.n && !cond[0]; i++)
        if (fx.v[i].kind == FX_ROUTE && type_is(fx.v[i].stanza, "error"))
            snprintf(cond, sizeof cond, "%s", error_cond(fx.v[i].stanza));
    effects_clear(&fx);
    event_free(ev);
    return cond;
}

static const struct xnode *muc_x(const struct xnode *st) { return kid(st, "x", NS_MUC_USER); }
static const struct xnode *muc_item(const struct xnode *st) { return kid(muc_x(st), "item", NULL); }

static int has_status(const struct xnode *st, int code)
{
    char v[8];
    snprintf(v, sizeof v, "%d", code);
    const struct xnode *x = muc_x(st);
    for (const struct xnode *c = x ? xml_first_elem(x) : NULL; c; c = xml_next_elem(c))
        if (strcmp(c->name, "status") == 0 && xml_attr(c, "code") &&
            strcmp(xml_attr(c, "code"), v) == 0)
            return 1;
    return 0;
}

static const char *attr_or(const struct xnode *n, const char *name)
{
    const char *v = n ? xml_attr(n, name) : NULL;
    return v ? v : "(none)";
}

/* The text of st's child `name`; "(none)" when either is missing. */
static const char *child_text(const struct xnode *st, const char *name)
{
    const struct xnode *c = kid(st, name, NULL);
    return c ? xml_text(c) : "(none)";
}

/* Every test: a dispatcher d with the three users online, effects fx. */
#define SETUP(make)                                                                                \
    struct dispatch *d = (make);                                                                   \
    struct effects fx;                                                                             \
    effects_init(&fx)

static void done(struct dispatch *d, struct effects *fx)
{
    effects_clear(fx);
    dispatch_free(d);
}

/* --- room operations ------------------------------------------------------ */

/* Presence to room/nick; with_x adds <x xmlns=muc/> (with password pw). */
static struct xnode *join_presence(const char *full, const char *to, int with_x, const char *pw)
{
    struct xnode *p = stanza("presence", full, to, NULL, NULL);
    if (!with_x)
        return p;
    struct xnode *x = xml_add(p, "x", NS_MUC);
    if (pw)
        xml_add_text(xml_add(x, "password", NULL), pw);
    return p;
}

/* The join presence p asking for history with one attribute (§7.2.14). */
static struct xnode *with_history(struct xnode *p, const char *attr, const char *value)
{
    xml_set_attr(xml_add(xml_child(p, "x", NS_MUC), "history", NULL), attr, value);
    return p;
}

static void join(struct dispatch *d, uint64_t conn, const char *full, const char *to,
                 struct effects *fx)
{
    send(d, conn, join_presence(full, to, 1, NULL), fx);
}

/* A muc#owner set with a submitted form; kv: var, value pairs, NULL-ended. */
static void configure(struct dispatch *d, uint64_t conn, const char *full, const char *room,
                      const char *const *kv, struct effects *fx)
{
    struct xnode *iq = stanza("iq", full, room, "set", "cfg1");
    struct xnode *x = xml_add(xml_add(iq, "query", NS_MUC_OWNER), "x", NS_XDATA);
    xml_set_attr(x, "type", "submit");
    for (size_t i = 0; kv && kv[i]; i += 2) {
        struct xnode *f = xml_add(x, "field", NULL);
        xml_set_attr(f, "var", kv[i]);
        xml_add_text(xml_add(f, "value", NULL), kv[i + 1]);
    }
    send(d, conn, iq, fx);
}

/* Juliet creates `room` as nick Juliet and submits kv (instant when
 * NULL); the room is open and configured, its effects dropped. */
static void make_room(struct dispatch *d, const char *room, const char *const *kv)
{
    char to[128];
    snprintf(to, sizeof to, "%s/Juliet", room);
    struct effects fx;
    effects_init(&fx);
    join(d, 1, JULIET, to, NULL);
    configure(d, 1, JULIET, room, kv, &fx);
    ck_assert(type_is(nth_to(&fx, 1, 0), "result"));
    effects_clear(&fx);
}

static void join_quiet(struct dispatch *d, uint64_t conn, const char *full, const char *to)
{
    struct effects fx;
    effects_init(&fx);
    join(d, conn, full, to, &fx);
    ck_assert_ptr_nonnull(find(&fx, conn, "presence", to));
    ck_assert(type_is(find(&fx, conn, "presence", to), NULL));
    effects_clear(&fx);
}

static struct xnode *groupchat(const char *full, const char *body)
{
    struct xnode *m = stanza("message", full, ROOM, "groupchat", NULL);
    xml_add_text(xml_add(m, "body", NULL), body);
    return m;
}

/* A muc#admin set with one or two items (attribute pairs, NULL-ended). */
static void admin_set(struct dispatch *d, uint64_t conn, const char *full, const char *const *a,
                      const char *const *b, struct effects *fx)
{
    struct xnode *iq = stanza("iq", full, ROOM, "set", "adm1");
    struct xnode *q = xml_add(iq, "query", NS_MUC_ADMIN);
    const char *const *items[2] = {a, b};
    for (size_t k = 0; k < 2 && items[k]; k++) {
        struct xnode *it = xml_add(q, "item", NULL);
        for (size_t i = 0; items[k][i]; i += 2)
            xml_set_attr(it, items[k][i], items[k][i + 1]);
    }
    send(d, conn, iq, fx);
}

static void set_affil(struct dispatch *d, uint64_t conn, const char *full, const char *jid,
                      const char *affil, struct effects *fx)
{
    admin_set(d, conn, full, (const char *[]){"jid", jid, "affiliation", affil, NULL}, NULL, fx);
}

/* The JIDs Juliet's admin list `affil` holds, space-separated. */
static const char *affil_list(struct dispatch *d, const char *affil)
{
    static char out[256];
    struct xnode *iq = stanza("iq", JULIET, ROOM, "get", "list1");
    xml_set_attr(xml_add(xml_add(iq, "query", NS_MUC_ADMIN), "item", NULL), "affiliation", affil);
    struct effects fx;
    effects_init(&fx);
    send(d, 1, iq, &fx);
    const struct xnode *r = nth_to(&fx, 1, 0);
    ck_assert(type_is(r, "result"));
    out[0] = 0;
    const struct xnode *q = kid(r, "query", NS_MUC_ADMIN);
    for (const struct xnode *it = xml_first_elem(q); it; it = xml_next_elem(it)) {
        ck_assert_str_eq(attr_or(it, "affiliation"), affil); /* §17.4: no role */
        ck_assert_ptr_null(xml_attr(it, "role"));
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", out[0] ? " " : "",
                 attr_or(it, "jid"));
    }
    effects_clear(&fx);
    return out;
}

static void disco(struct dispatch *d, uint64_t conn, const char *full, const char *to,
                  const char *ns, struct effects *fx)
{
    struct xnode *iq = stanza("iq", full, to, "get", "disco1");
    xml_add(iq, "query", ns);
    send(d, conn, iq, fx);
}

static int has_feature(const struct xnode *reply, const char *var)
{
    const struct xnode *q = kid(reply, "query", NS_DISCO_INFO);
    for (const struct xnode *f = q ? xml_first_elem(q) : NULL; f; f = xml_next_elem(f))
        if (strcmp(f->name, "feature") == 0 && strcmp(attr_or(f, "var"), var) == 0)
            return 1;
    return 0;
}

/* --- 1. creating a room -------------------------------------------------- */

START_TEST(a_new_room_is_locked_until_the_owner_configures_it)
{
    SETUP(fresh_three_online());
    join(d, 1, JULIET, AS("Juliet"), &fx);
    const struct xnode *self = find(&fx, 1, "presence", AS("Juliet"));
    ck_assert_ptr_nonnull(self);
    ck_assert(has_status(self, 110));
    ck_assert(has_status(self, 201)); /* §10.1.1 */
    ck_assert_str_eq(attr_or(muc_item(self), "affiliation"), "owner");
    ck_assert_str_eq(attr_or(muc_item(self), "role"), "moderator");
    effects_clear(&fx);
    join(d, 2, ROMEO, AS("Romeo"), &fx);
    ck_assert_str_eq(refusal(&fx, 2), "item-not-found"); /* §7.2.10: locked */
    configure(d, 1, JULIET, ROOM, NULL, &fx); /* §10.1.2: instant room */
    ck_assert(type_is(nth_to(&fx, 1, 0), "result"));
    ck_assert_str_eq(attr_or(nth_to(&fx, 1, 0), "id"), "cfg1");
    effects_clear(&fx);
    join_quiet(d, 2, ROMEO, AS("Romeo"));
    done(d, &fx);
}
END_TEST

START_TEST(a_join_without_the_muc_extension_makes_an_instant_room)
{
    SETUP(fresh_three_online());
    send(d, 1, join_presence(JULIET, AS("Juliet"), 0, NULL), &fx);
    ck_assert(has_status(find(&fx, 1, "presence", AS("Juliet")), 201));
    effects_clear(&fx);
    join_quiet(d, 2, ROMEO, AS("Romeo")); /* no MUC extension: instant, not locked */
    done(d, &fx);
}
END_TEST

/* --- 2. entering ------------------------------------------------------------ */

START_TEST(a_newcomer_gets_occupants_then_itself_then_history_then_subject)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM, NULL);
    join_quiet(d, 2, ROMEO, AS("Romeo"));
    send(d, 1, groupchat(JULIET, "hello"), NULL);
    join(d, 3, NURSE, AS("Nurse"), &fx);
    ck_assert_uint_eq(count_to(&fx, 3, NULL), 5);
    const struct xnode *p0 = nth_to(&fx, 3, 0), *p1 = nth_to(&fx, 3, 1), *p2 = nth_to(&fx, 3, 2);
    const struct xnode *h = nth_to(&fx, 3, 3), *s = nth_to(&fx, 3, 4);
    ck_assert_str_eq(attr_or(p0, "from"), AS("Juliet")); /* §7.2.2, in join order */
    ck_assert_str_eq(attr_or(p1, "from"), AS("Romeo"));
    ck_assert_str_eq(attr_or(p2, "from"), AS("Nurse"));
    ck_assert(!has_status(p1, 110));
    ck_assert(has_status(p2, 110));
    ck_assert_str_eq(attr_or(muc_item(p2), "role"), "participant");
    ck_assert_str_eq(attr_or(muc_item(p2), "affiliation"), "none");
    ck_assert_str_eq(attr_or(muc_item(p0), "jid"), "(none)"); /* semi-anonymous */
    ck_assert_str_eq(h->name, "message"); /* §7.2.13 */
    ck_assert_str_eq(attr_or(h, "from"), AS("Juliet"));
    ck_assert_str_eq(child_text(h, "body"), "hello");
    ck_assert_str_eq(attr_or(kid(h, "delay", "urn:xmpp:delay"), "from"), ROOM);
    ck_assert_str_eq(s->name, "message"); /* §7.2.15: the subject, empty */
    ck_assert(type_is(s, "groupchat"));
    ck_assert_ptr_nonnull(kid(s, "subject", NULL));
    ck_assert_str_eq(child_text(s, "subject"), "");
    ck_assert_ptr_null(kid(s, "body", NULL));
    /* the others hear of her; only the moderator sees her real JID */
    const struct xnode *to_j = find(&fx, 1, "presence", AS("Nurse"));
    const struct xnode *to_r = find(&fx, 2, "presence", AS("Nurse"));
    ck_assert_str_eq(attr_or(muc_item(to_j), "jid"), NURSE);
    ck_assert_ptr_nonnull(to_r);
    ck_assert_str_eq(attr_or(muc_item(to_r), "jid"), "(none)");
    ck_assert(!has_status(to_r, 110));
    ck_assert_uint_eq(count_to(&fx, 1, NULL), 1);
    ck_assert_uint_eq(count_to(&fx, 2, NULL), 1);
    done(d, &fx);
}
END_TEST

START_TEST(a_non_anonymous_room_shows_real_jids_to_all_with_status_100)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM, (const char *[]){"muc#roomconfig_whois", "anyone", NULL});
    join(d, 2, ROMEO, AS("Romeo"), &fx);
    ck_assert(has_status(find(&fx, 2, "presence", AS("Romeo")), 100)); /* §7.2.3 */
    ck_assert_str_eq(attr_or(muc_item(find(&fx, 2, "presence", AS("Juliet"))), "jid"), JULIET);
    done(d, &fx);
}
END_TEST

/* --- 3. nicknames, leaving ---------------------------------------------------- */

START_TEST(nick_change_announces_303_then_the_new_presence_and_refuses_taken_nicks)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM, NULL);
    join_quiet(d, 2, ROMEO, AS("Romeo"));
    send(d, 2, join_presence(ROMEO, AS("Juliet"), 0, NULL), &fx);
    ck_assert_str_eq(refusal(&fx, 2), "conflict"); /* §7.6 */
    send(d, 2, join_presence(ROMEO, AS("Romy"), 0, NULL), &fx);
    for (uint64_t conn = 1; conn <= 2; conn++) {
        ck_assert_uint_eq(count_to(&fx, conn, NULL), 2);
        const struct xnode *gone = nth_to(&fx, conn, 0), *back = nth_to(&fx, conn, 1);
        ck_assert_str_eq(attr_or(gone, "from"), AS("Romeo"));
        ck_assert(type_is(gone, "unavailable"));
        ck_assert(has_status(gone, 303));
        ck_assert_str_eq(attr_or(muc_item(gone), "nick"), "Romy");
        ck_assert_str_eq(attr_or(back, "from"), AS("Romy"));
        ck_assert(type_is(back, NULL));
        ck_assert_int_eq(has_status(gone, 110), conn == 2);
        ck_assert_int_eq(has_status(back, 110), conn == 2);
    }
    done(d, &fx);
}
END_TEST

START_TEST(leaving_tells_everyone_and_an_empty_temporary_room_ends)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM, NULL);
    join_quiet(d, 2, ROMEO, AS("Romeo"));
    send(d, 2, stanza("presence", ROMEO, AS("Romeo"), "unavailable", NULL), &fx);
    const struct xnode *self = find(&fx, 2, "presence", AS("Romeo"));
    ck_assert(type_is(self, "unavailable"));
    ck_assert(has_status(self, 110)); /* §7.14 */
    ck_assert_str_eq(attr_or(muc_item(self), "role"), "none");
    const struct xnode *other = find(&fx, 1, "presence", AS("Romeo"));
    ck_assert(type_is(other, "unavailable"));
    ck_assert(!has_status(other, 110));
    effects_clear(&fx);
    send(d, 1, stanza("presence", JULIET, AS("Juliet"), "unavailable", NULL), NULL);
    join(d, 2, ROMEO, AS("Romeo"), &fx); /* gone: created again, Romeo owns it */
    const struct xnode *p = find(&fx, 2, "presence", AS("Romeo"));
    ck_assert(has_status(p, 201));
    ck_assert_str_eq(attr_or(muc_item(p), "affiliation"), "owner");
    done(d, &fx);
}
END_TEST

START_TEST(a_session_that_ends_leaves_its_rooms)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM, NULL);
    join_quiet(d, 2, ROMEO, AS("Romeo"));
    apply(d, sessions_ev_closed(2, ROMEO), &fx);
    ck_assert(type_is(find(&fx, 1, "presence", AS("Romeo")), "unavailable"));
    effects_clear(&fx);
    send(d, 1, groupchat(JULIET, "alone?"), &fx);
    ck_assert_uint_eq(count_to(&fx, 1, "message"), 1); /* Romeo is not an occupant any more */
    done(d, &fx);
}
END_TEST

/* --- 4. messages ------------------------------------------------------------ */

START_TEST(groupchat_goes_to_every_occupant_and_only_occupants_may_send)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM, NULL);
    join_quiet(d, 2, ROMEO, AS("Romeo"));
    struct xnode *said = groupchat(ROMEO, "but soft");
    xml_set_attr(said, "id", "g1");
    send(d, 2, said, &fx);
    for (uint64_t conn = 1; conn <= 2; conn++) {
        const struct xnode *m = find(&fx, conn, "message", AS("Romeo"));
        ck_assert_ptr_nonnull(m); /* §7.4, reflected to the sender too */
        ck_assert_str_eq(attr_or(m, "id"), "g1"); /* §7.4: the same 'id' */
        ck_assert(type_is(m, "groupchat"));
        ck_assert_str_eq(child_text(m, "body"), "but soft");
    }
    ck_assert_uint_eq(count_to(&fx, 3, NULL), 0);
    effects_clear(&fx);
    send(d, 3, groupchat(NURSE, "anon"), &fx);
    ck_assert_str_eq(refusal(&fx, 3), "not-acceptable");
    done(d, &fx);
}
END_TEST

START_TEST(a_visitor_in_a_moderated_room_may_not_speak)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM, (const char *[]){"muc#roomconfig_moderatedroom", "1", NULL});
    join(d, 2, ROMEO, AS("Romeo"), &fx);
    ck_assert_str_eq(attr_or(muc_item(find(&fx, 2, "presence", AS("Romeo"))), "role"), "visitor");
    effects_clear(&fx);
    send(d, 2, groupchat(ROMEO, "hear me"), &fx);
    ck_assert_str_eq(refusal(&fx, 2), "forbidden"); /* §7.4 */
    done(d, &fx);
}
END_TEST

static struct xnode *subject(const char *full, const char *text)
{
    struct xnode *m = stanza("message", full, ROOM, "groupchat", NULL);
    xml_add_text(xml_add(m, "subject", NULL), text);
    return m;
}

START_TEST(a_participant_changes_the_subject_only_when_the_room_allows_it)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM, NULL);
    join_quiet(d, 2, ROMEO, AS("Romeo"));
    send(d, 2, subject(ROMEO, "love"), &fx);
    ck_assert_str_eq(refusal(&fx, 2), "forbidden"); /* §7.3, §8.1 */
    configure(d, 1, JULIET, ROOM, (const char *[]){"muc#roomconfig_changesubject", "1", NULL},
              NULL);
    send(d, 2, subject(ROMEO, "love"), &fx);
    const struct xnode *m = find(&fx, 1, "message", AS("Romeo"));
    ck_assert_str_eq(child_text(m, "subject"), "love");
    ck_assert_ptr_nonnull(find(&fx, 2, "message", AS("Romeo")));
    effects_clear(&fx);
    join(d, 3, NURSE, AS("Nurse"), &fx);
    m = find(&fx, 3, "message", AS("Romeo")); /* §7.2.15: from who set it */
    ck_assert_str_eq(child_text(m, "subject"), "love");
    done(d, &fx);
}
END_TEST

START_TEST(history_is_cut_to_what_the_newcomer_asks)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM, NULL);
    const char *said[] = {"one", "two", "three"};
    for (size_t i = 0; i < 3; i++)
        send(d, 1, groupchat(JULIET, said[i]), NULL);
    send(d, 2, with_history(join_presence(ROMEO, AS("Romeo"), 1, NULL), "maxstanzas", "1"), &fx);
    ck_assert_uint_eq(count_to(&fx, 2, NULL), 4); /* Juliet, self, one line, subject */
    const struct xnode *h = nth_to(&fx, 2, 2);
    ck_assert_str_eq(child_text(h, "body"), "three"); /* §7.2.14 */
    ck_assert_ptr_nonnull(kid(nth_to(&fx, 2, 3), "subject", NULL));
    effects_clear(&fx);
    join(d, 3, NURSE, AS("Nurse"), &fx);
    ck_assert_uint_eq(count_to(&fx, 3, "message"), 4); /* no limit: all three, subject */
    effects_clear(&fx);
    send(d, 3, stanza("presence", NURSE, AS("Nurse"), "unavailable", NULL), NULL);
    send(d, 3, with_history(join_presence(NURSE, AS("Nurse"), 1, NULL), "maxchars", "0"), &fx);
    ck_assert_uint_eq(count_to(&fx, 3, "message"), 1); /* §7.2.14: maxchars 0, none */
    done(d, &fx);
}
END_TEST

START_TEST(help_is_answered_to_the_sender_alone_and_not_kept)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM, NULL);
    join_quiet(d, 2, ROMEO, AS("Romeo"));
    send(d, 2, groupchat(ROMEO, "/help"), &fx);
    ck_assert_uint_eq(count_to(&fx, 1, NULL), 0);
    ck_assert_uint_eq(count_to(&fx, 2, NULL), 1);
    const struct xnode *m = find(&fx, 2, "message", ROOM);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(strstr(child_text(m, "body"), "/nick"));
    effects_clear(&fx);
    join(d, 3, NURSE, AS("Nurse"), &fx);
    ck_assert_uint_eq(count_to(&fx, 3, "message"), 1); /* the subject only */
    done(d, &fx);
}
END_TEST

START_TEST(private_messages_come_from_the_senders_occupant_jid)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM, NULL);
    join_quiet(d, 2, ROMEO, AS("Romeo"));
    struct xnode *pm = stanza("message", ROMEO, AS("Juliet"), "chat", "pm1");
    xml_add_text(xml_add(pm, "body", NULL), "psst");
    send(d, 2, pm, &fx);
    const struct xnode *m = find(&fx, 1, "message", AS("Romeo"));
    ck_assert_ptr_nonnull(m); /* §7.5 */
    ck_assert(type_is(m, "chat"));
    ck_assert_str_eq(attr_or(m, "to"), JULIET);
    ck_assert_ptr_nonnull(muc_x(m));
    ck_assert_str_eq(child_text(m, "body"), "psst");
    ck_assert_uint_eq(count_to(&fx, 2, NULL), 0);
    effects_clear(&fx);
    send(d, 2, stanza("message", ROMEO, AS("Nobody"), "chat", "pm2"), &fx);
    ck_assert_str_eq(refusal(&fx, 2), "item-not-found"); /* §7.5 MUST */
    send(d, 2, stanza("message", ROMEO, AS("Juliet"), "groupchat", "pm3"), &fx);
    ck_assert_str_eq(refusal(&fx, 2), "bad-request");
    send(d, 3, stanza("message", NURSE, AS("Juliet"), "chat", "pm4"), &fx);
    ck_assert_str_eq(refusal(&fx, 3), "not-acceptable");
    done(d, &fx);
}
END_TEST

/* --- 5. members-only --------------------------------------------------------- */

static void invite(struct dispatch *d, uint64_t conn, const char *from, const char *invitee,
                   struct effects *fx)
{
    struct xnode *m = stanza("message", from, ROOM, NULL, "inv1");
    xml_set_attr(xml_add(xml_add(m, "x", NS_MUC_USER), "invite", NULL), "to", invitee);
    send(d, conn, m, fx);
}

START_TEST(an_owners_invitation_makes_a_member_of_a_members_only_room)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM, (const char *[]){"muc#roomconfig_membersonly", "1", NULL});
    join(d, 2, ROMEO, AS("Romeo"), &fx);
    ck_assert_str_eq(refusal(&fx, 2), "registration-required"); /* §7.2.6 */
    set_affil(d, 1, JULIET, "nurse@localhost", "member", NULL);
    join_quiet(d, 3, NURSE, AS("Nurse"));
    invite(d, 3, NURSE, "romeo@localhost", &fx); /* §7.8.2: a mere member */
    ck_assert_str_eq(refusal(&fx, 3), "forbidden");
    ck_assert_str_eq(affil_list(d, "member"), "nurse@localhost");
    invite(d, 1, JULIET, "romeo@localhost", &fx);
    const struct xnode *m = find(&fx, 2, "message", ROOM); /* §7.8.2 */
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(attr_or(kid(muc_x(m), "invite", NULL), "from"), "juliet@localhost");
    effects_clear(&fx);
    ck_assert_str_eq(affil_list(d, "member"), "nurse@localhost romeo@localhost");
    join_quiet(d, 2, ROMEO, AS("Romeo"));
    done(d, &fx);
}
END_TEST

/* --- 6. the service's policy on users of other servers -------------------------- */

START_TEST(a_foreign_user_cannot_create_a_room)
{
    SETUP(fresh_three_online());
    ck_assert_str_eq(from_abroad(d, join_presence(STRANGER, AS("Stranger"), 1, NULL)),
                     "not-allowed");
    join(d, 1, JULIET, AS("Juliet"), &fx); /* it does not exist: Juliet creates it */
    ck_assert(has_status(find(&fx, 1, "presence", AS("Juliet")), 201));
    ck_assert_uint_eq(count_to(&fx, 1, "presence"), 1);
    done(d, &fx);
}
END_TEST

START_TEST(a_foreign_user_enters_an_open_room_only_when_invited)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM, (const char *[]){"muc#roomconfig_allowinvites", "1", NULL});
    join_quiet(d, 2, ROMEO, AS("Romeo"));
    ck_assert_str_eq(from_abroad(d, join_presence(STRANGER, AS("Stranger"), 1, NULL)),
                     "registration-required");
    route(d, join_presence(STRANGER, AS("Stranger"), 1, NULL), &fx);
    ck_assert_uint_eq(count_to(&fx, 1, NULL), 0);
    ck_assert_uint_eq(count_to(&fx, 2, NULL), 0);
    effects_clear(&fx);
    invite(d, 2, ROMEO, bare_of(STRANGER), NULL); /* a participant, invitations allowed */
    route(d, join_presence(STRANGER, AS("Stranger"), 1, NULL), &fx);
    ck_assert(type_is(find(&fx, 1, "presence", AS("Stranger")), NULL));
    ck_assert_ptr_nonnull(find(&fx, 2, "presence", AS("Stranger")));
    effects_clear(&fx);
    route(d, groupchat(STRANGER, "hail"), &fx);
    ck_assert_ptr_nonnull(find(&fx, 1, "message", AS("Stranger")));
    done(d, &fx);
}
END_TEST

START_TEST(an_owner_may_invite_a_foreign_user_where_occupants_may_not)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM, NULL);
    join_quiet(d, 2, ROMEO, AS("Romeo"));
    invite(d, 2, ROMEO, bare_of(STRANGER), NULL); /* invitations not allowed: no entry */
    ck_assert_str_eq(from_abroad(d, join_presence(STRANGER, AS("Stranger"), 1, NULL)),
                     "registration-required");
    invite(d, 1, JULIET, bare_of(STRANGER), NULL);
    route(d, join_presence(STRANGER, AS("Stranger"), 1, NULL), &fx);
    ck_assert(type_is(find(&fx, 1, "presence", AS("Stranger")), NULL));
    done(d, &fx);
}
END_TEST

START_TEST(the_policy_switches_let_foreign_users_in_and_create)
{
    SETUP(fresh_with(1, 0));
    make_room(d, ROOM, NULL);
    route(d, join_presence(STRANGER, AS("Stranger"), 1, NULL), &fx);
    ck_assert(type_is(find(&fx, 1, "presence", AS("Stranger")), NULL));
    effects_clear(&fx);
    ck_assert_str_eq(from_abroad(d, join_presence(STRANGER, "new@" SERVICE "/S", 1, NULL)),
                     "not-allowed");
    dispatch_free(d);

    d = fresh_with(0, 1);
    route(d, join_presence(STRANGER, AS("Stranger"), 0, NULL), &fx); /* instant room */
    effects_clear(&fx);
    join(d, 1, JULIET, AS("Juliet"), &fx);
    ck_assert_ptr_nonnull(find(&fx, 1, "presence", AS("Stranger"))); /* Stranger made it */
    const struct xnode *self = find(&fx, 1, "presence", AS("Juliet"));
    ck_assert(!has_status(self, 201));
    ck_assert_str_eq(attr_or(muc_item(self), "affiliation"), "none");
    done(d, &fx);
}
END_TEST

/* --- 7. muc#admin ---------------------------------------------------------------- */

START_TEST(a_kicked_occupant_and_everyone_get_307)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM, NULL);
    join_quiet(d, 2, ROMEO, AS("Romeo"));
    join_quiet(d, 3, NURSE, AS("Nurse"));
    admin_set(d, 3, NURSE, (const char *[]){"nick", "Romeo", "role", "none", NULL}, NULL, &fx);
    ck_assert_str_eq(refusal(&fx, 3), "forbidden"); /* §8.2: a participant */
    admin_set(d, 1, JULIET, (const char *[]){"nick", "Nurse", "role", "moderator", NULL}, NULL,
              NULL);
    admin_set(d, 3, NURSE, (const char *[]){"nick", "Juliet", "role", "none", NULL}, NULL, &fx);
    ck_assert_str_eq(refusal(&fx, 3), "not-allowed"); /* §8.2: an owner */
    admin_set(d, 1, JULIET, (const char *[]){"nick", "Romeo", "role", "none", NULL}, NULL, &fx);
    ck_assert_ptr_nonnull(find(&fx, 1, "iq", ROOM));
    ck_assert(type_is(find(&fx, 1, "iq", ROOM), "result"));
    for (uint64_t conn = 1; conn <= 3; conn++) {
        const struct xnode *p = find(&fx, conn, "presence", AS("Romeo"));
        ck_assert(type_is(p, "unavailable"));
        ck_assert(has_status(p, 307));
        ck_assert_str_eq(attr_or(muc_item(p), "role"), "none");
        ck_assert_int_eq(has_status(p, 110), conn == 2);
    }
    done(d, &fx);
}
END_TEST

START_TEST(a_kick_tells_the_kicked_then_the_moderator_then_the_others)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM, NULL);
    join_quiet(d, 2, ROMEO, AS("Romeo"));
    join_quiet(d, 3, NURSE, AS("Nurse"));
    admin_set(d, 1, JULIET, (const char *[]){"nick", "Romeo", "role", "none", NULL}, NULL, &fx);
    /* §8.2: "After removing the kicked occupant(s), the service MUST then
     * inform the moderator of success ... After informing the moderator,
     * the service MUST then inform all of the remaining occupants" */
    size_t kicked = index_of(&fx, 2, "presence", AS("Romeo"));
    size_t result = index_of(&fx, 1, "iq", ROOM);
    ck_assert_uint_lt(kicked, result);
    ck_assert_uint_lt(result, index_of(&fx, 1, "presence", AS("Romeo")));
    ck_assert_uint_lt(result, index_of(&fx, 3, "presence", AS("Romeo")));
    done(d, &fx);
}
END_TEST

START_TEST(a_banned_user_gets_301_and_cannot_come_back)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM, NULL);
    join_quiet(d, 2, ROMEO, AS("Romeo"));
    set_affil(d, 1, JULIET, "romeo@localhost", "outcast", &fx);
    const struct xnode *p = find(&fx, 2, "presence", AS("Romeo"));
    ck_assert(type_is(p, "unavailable")); /* §9.1 */
    ck_assert(has_status(p, 301));
    ck_assert(has_status(p, 110));
    ck_assert(has_status(find(&fx, 1, "presence", AS("Romeo")), 301));
    effects_clear(&fx);
    join(d, 2, ROMEO, AS("Romeo"), &fx);
    ck_assert_str_eq(refusal(&fx, 2), "forbidden"); /* §7.2.7 */
    ck_assert_str_eq(affil_list(d, "outcast"), "romeo@localhost");
    done(d, &fx);
}
END_TEST

START_TEST(an_admin_cannot_ban_an_owner_or_itself)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM, NULL);
    join_quiet(d, 3, NURSE, AS("Nurse"));
    set_affil(d, 1, JULIET, "nurse@localhost", "admin", NULL);
    set_affil(d, 3, NURSE, "juliet@localhost", "outcast", &fx);
    ck_assert_str_eq(refusal(&fx, 3), "not-allowed"); /* §9.1: an admin bans an owner */
    set_affil(d, 3, NURSE, "nurse@localhost", "outcast", &fx);
    ck_assert_str_eq(refusal(&fx, 3), "conflict"); /* §9.1: banning oneself, MUST */
    ck_assert_str_eq(affil_list(d, "outcast"), "");
    done(d, &fx);
}
END_TEST

START_TEST(the_last_owner_cannot_step_down)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM, NULL);
    set_affil(d, 1, JULIET, "juliet@localhost", "member", &fx);
    ck_assert_str_eq(refusal(&fx, 1), "conflict"); /* §10.4 */
    ck_assert_str_eq(affil_list(d, "owner"), "juliet@localhost");
    done(d, &fx);
}
END_TEST

START_TEST(an_admin_set_with_one_bad_item_changes_nothing)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM, NULL);
    join_quiet(d, 2, ROMEO, AS("Romeo"));
    admin_set(d, 1, JULIET,
              (const char *[]){"jid", "romeo@localhost", "affiliation", "member", NULL},
              (const char *[]){"jid", "nurse@localhost", "affiliation", "emperor", NULL}, &fx);
    ck_assert_str_eq(refusal(&fx, 1), "bad-request");
    admin_set(d, 1, JULIET,
              (const char *[]){"jid", "romeo@localhost", "affiliation", "member", NULL},
              (const char *[]){"jid", "juliet@localhost", "affiliation", "outcast", NULL}, &fx);
    ck_assert_str_eq(refusal(&fx, 1), "conflict"); /* §9.1, §10.4: herself, the last owner */
    ck_assert_str_eq(affil_list(d, "member"), "");
    done(d, &fx);
}
END_TEST

START_TEST(an_item_with_both_role_and_affiliation_is_a_bad_request)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM, NULL);
    join_quiet(d, 2, ROMEO, AS("Romeo"));
    admin_set(d, 1, JULIET,
              (const char *[]){"nick", "Romeo", "role", "moderator", "jid", "romeo@localhost",
                               "affiliation", "admin", NULL},
              NULL, &fx);
    ck_assert_str_eq(refusal(&fx, 1), "bad-request"); /* §17.4, MUST */
    ck_assert_str_eq(affil_list(d, "admin"), "");
    done(d, &fx);
}
END_TEST

/* --- 8. muc#owner ------------------------------------------------------------------ */

START_TEST(the_configuration_form_is_a_roomconfig_form)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM, NULL);
    struct xnode *iq = stanza("iq", JULIET, ROOM, "get", "cfg0");
    xml_add(iq, "query", NS_MUC_OWNER);
    send(d, 1, iq, &fx);
    const struct xnode *r = nth_to(&fx, 1, 0);
    ck_assert(type_is(r, "result"));
    const struct xnode *x = kid(kid(r, "query", NS_MUC_OWNER), "x", NS_XDATA);
    ck_assert_ptr_nonnull(x); /* §10.2 */
    ck_assert(type_is(x, "form"));
    const struct xnode *f = xml_first_elem(x);
    while (f && strcmp(f->name, "field") != 0)
        f = xml_next_elem(f);
    ck_assert_str_eq(attr_or(f, "var"), "FORM_TYPE");
    ck_assert_str_eq(xml_text(kid(f, "value", NULL)), NS_MUC "#roomconfig");
    effects_clear(&fx);
    join_quiet(d, 2, ROMEO, AS("Romeo"));
    iq = stanza("iq", ROMEO, ROOM, "get", "cfg0");
    xml_add(iq, "query", NS_MUC_OWNER);
    send(d, 2, iq, &fx);
    ck_assert_str_eq(refusal(&fx, 2), "forbidden"); /* §10.2: owners only */
    done(d, &fx);
}
END_TEST

START_TEST(going_members_only_expels_non_members_with_322_and_tells_104)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM, NULL);
    join_quiet(d, 2, ROMEO, AS("Romeo"));
    join_quiet(d, 3, NURSE, AS("Nurse"));
    set_affil(d, 1, JULIET, "nurse@localhost", "member", NULL);
    configure(d, 1, JULIET, ROOM, (const char *[]){"muc#roomconfig_membersonly", "1", NULL}, &fx);
    const struct xnode *p = find(&fx, 2, "presence", AS("Romeo"));
    ck_assert(type_is(p, "unavailable")); /* §10.2 */
    ck_assert(has_status(p, 322));
    ck_assert(has_status(find(&fx, 3, "presence", AS("Romeo")), 322));
    for (uint64_t conn = 1; conn <= 3; conn += 2) {
        const struct xnode *m = find(&fx, conn, "message", ROOM);
        ck_assert(has_status(m, 104)); /* §10.2.1 */
    }
    ck_assert_uint_eq(count_to(&fx, 3, "presence"), 1);
    done(d, &fx);
}
END_TEST

START_TEST(destroying_a_room_tells_the_occupants_and_it_is_gone)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM, NULL);
    join_quiet(d, 2, ROMEO, AS("Romeo"));
    struct xnode *iq = stanza("iq", ROMEO, ROOM, "set", "bye0");
    xml_add(xml_add(iq, "query", NS_MUC_OWNER), "destroy", NULL);
    send(d, 2, iq, &fx);
    ck_assert_str_eq(refusal(&fx, 2), "forbidden"); /* §10.9 */
    iq = stanza("iq", JULIET, ROOM, "set", "bye");
    struct xnode *de = xml_add(xml_add(iq, "query", NS_MUC_OWNER), "destroy", NULL);
    xml_set_attr(de, "jid", "tomb@" SERVICE);
    xml_add_text(xml_add(de, "reason", NULL), "a plague");
    send(d, 1, iq, &fx);
    ck_assert(type_is(find(&fx, 1, "iq", ROOM), "result"));
    for (uint64_t conn = 1; conn <= 2; conn++) {
        const struct xnode *p = find(&fx, conn, "presence", conn == 1 ? AS("Juliet") : AS("Romeo"));
        ck_assert(type_is(p, "unavailable")); /* §10.9 */
        const struct xnode *dx = kid(muc_x(p), "destroy", NULL);
        ck_assert_str_eq(attr_or(dx, "jid"), "tomb@" SERVICE);
        ck_assert_str_eq(child_text(dx, "reason"), "a plague");
        ck_assert_str_eq(attr_or(muc_item(p), "affiliation"), "none");
        ck_assert_str_eq(attr_or(muc_item(p), "role"), "none");
        ck_assert_uint_eq(count_to(&fx, conn, "presence"), 1); /* one each, no broadcast */
    }
    effects_clear(&fx);
    disco(d, 2, ROMEO, ROOM, NS_DISCO_INFO, &fx);
    ck_assert_str_eq(refusal(&fx, 2), "item-not-found");
    done(d, &fx);
}
END_TEST

START_TEST(cancelling_the_form_of_a_new_room_destroys_it)
{
    SETUP(fresh_three_online());
    join(d, 1, JULIET, AS("Juliet"), NULL);
    struct xnode *iq = stanza("iq", JULIET, ROOM, "set", "cancel1");
    xml_set_attr(xml_add(xml_add(iq, "query", NS_MUC_OWNER), "x", NS_XDATA), "type", "cancel");
    send(d, 1, iq, &fx);
    ck_assert(type_is(find(&fx, 1, "iq", ROOM), "result")); /* §10.1.3 */
    const struct xnode *p = find(&fx, 1, "presence", AS("Juliet")); /* destroyed: §10.9 */
    ck_assert(type_is(p, "unavailable"));
    ck_assert_ptr_nonnull(kid(muc_x(p), "destroy", NULL));
    effects_clear(&fx);
    join(d, 2, ROMEO, AS("Romeo"), &fx);
    ck_assert(has_status(find(&fx, 2, "presence", AS("Romeo")), 201));
    ck_assert_uint_eq(count_to(&fx, 2, "presence"), 1);
    effects_clear(&fx);
    /* §10.2: cancelling a later configuration leaves the room as it was */
    configure(d, 2, ROMEO, ROOM, NULL, NULL);
    iq = stanza("iq", ROMEO, ROOM, "set", "cancel2");
    xml_set_attr(xml_add(xml_add(iq, "query", NS_MUC_OWNER), "x", NS_XDATA), "type", "cancel");
    send(d, 2, iq, &fx);
    ck_assert(type_is(find(&fx, 2, "iq", ROOM), "result"));
    ck_assert_uint_eq(count_to(&fx, 2, "presence"), 0);
    effects_clear(&fx);
    join(d, 1, JULIET, AS("Juliet"), &fx);
    ck_assert_ptr_nonnull(find(&fx, 1, "presence", AS("Romeo")));
    ck_assert(!has_status(find(&fx, 1, "presence", AS("Juliet")), 201));
    done(d, &fx);
}
END_TEST

/* --- 9. entry limits -------------------------------------------------------------- */

START_TEST(a_password_room_refuses_a_missing_or_wrong_password)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM,
              (const char *[]){"muc#roomconfig_passwordprotectedroom", "1",
                               "muc#roomconfig_roomsecret", "capulet", NULL});
    join(d, 2, ROMEO, AS("Romeo"), &fx);
    ck_assert_str_eq(refusal(&fx, 2), "not-authorized"); /* §7.2.5 */
    send(d, 2, join_presence(ROMEO, AS("Romeo"), 1, "montague"), &fx);
    ck_assert_str_eq(refusal(&fx, 2), "not-authorized");
    send(d, 2, join_presence(ROMEO, AS("Romeo"), 1, "capulet"), &fx);
    ck_assert(type_is(find(&fx, 2, "presence", AS("Romeo")), NULL));
    done(d, &fx);
}
END_TEST

START_TEST(a_full_room_refuses_with_service_unavailable)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM, (const char *[]){"muc#roomconfig_maxusers", "2", NULL});
    join_quiet(d, 2, ROMEO, AS("Romeo"));
    join(d, 3, NURSE, AS("Nurse"), &fx);
    ck_assert_str_eq(refusal(&fx, 3), "service-unavailable"); /* §7.2.9 */
    send(d, 1, stanza("presence", JULIET, AS("Juliet"), "unavailable", NULL), NULL);
    join_quiet(d, 3, NURSE, AS("Nurse"));
    join_quiet(d, 1, JULIET, AS("Juliet")); /* full again, but owners MUST get in */
    done(d, &fx);
}
END_TEST

/* --- 10. discovery ------------------------------------------------------------------ */

START_TEST(the_service_and_its_rooms_describe_themselves)
{
    SETUP(fresh_three_online());
    disco(d, 2, ROMEO, SERVICE, NS_DISCO_INFO, &fx);
    const struct xnode *r = nth_to(&fx, 2, 0);
    ck_assert(type_is(r, "result")); /* §6.1 */
    const struct xnode *id = kid(kid(r, "query", NS_DISCO_INFO), "identity", NULL);
    ck_assert_str_eq(attr_or(id, "category"), "conference");
    ck_assert_str_eq(attr_or(id, "type"), "text");
    ck_assert(has_feature(r, NS_MUC));
    effects_clear(&fx);
    make_room(d, "zeta@" SERVICE, NULL);
    make_room(d, "alpha@" SERVICE, (const char *[]){"muc#roomconfig_membersonly", "1", NULL});
    make_room(d, "hidden@" SERVICE, (const char *[]){"muc#roomconfig_publicroom", "0", NULL});
    join(d, 1, JULIET, "locked@" SERVICE "/Juliet", NULL);
    disco(d, 2, ROMEO, SERVICE, NS_DISCO_ITEMS, &fx);
    const struct xnode *q = kid(nth_to(&fx, 2, 0), "query", NS_DISCO_ITEMS);
    const struct xnode *it = xml_first_elem(q); /* §6.3: public, unlocked, sorted */
    ck_assert_str_eq(attr_or(it, "jid"), "alpha@" SERVICE);
    ck_assert_str_eq(attr_or(xml_next_elem(it), "jid"), "zeta@" SERVICE);
    ck_assert_ptr_null(xml_next_elem(xml_next_elem(it)));
    effects_clear(&fx);
    disco(d, 2, ROMEO, "alpha@" SERVICE, NS_DISCO_INFO, &fx);
    r = nth_to(&fx, 2, 0); /* §6.4 */
    id = kid(kid(r, "query", NS_DISCO_INFO), "identity", NULL);
    ck_assert_str_eq(attr_or(id, "category"), "conference");
    ck_assert_str_eq(attr_or(id, "type"), "text");
    ck_assert(has_feature(r, NS_MUC));
    ck_assert(has_feature(r, "muc_membersonly"));
    ck_assert(!has_feature(r, "muc_open"));
    ck_assert(has_feature(r, "muc_public"));
    ck_assert(has_feature(r, "muc_temporary"));
    ck_assert(has_feature(r, "muc_semianonymous"));
    ck_assert(has_feature(r, "muc_unsecured"));
    ck_assert(has_feature(r, "muc_unmoderated"));
    effects_clear(&fx);
    disco(d, 2, ROMEO, "localhost", NS_DISCO_ITEMS, &fx);
    q = kid(nth_to(&fx, 2, 0), "query", NS_DISCO_ITEMS);
    int listed = 0;
    for (it = xml_first_elem(q); it; it = xml_next_elem(it))
        listed |= strcmp(attr_or(it, "jid"), SERVICE) == 0;
    ck_assert(listed); /* §6.1: found through the server's items */
    done(d, &fx);
}
END_TEST

/* --- 11. IQs to occupants -------------------------------------------------------------- */

START_TEST(self_ping_and_iq_between_occupants)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM, NULL);
    join_quiet(d, 2, ROMEO, AS("Romeo"));
    struct xnode *ping = stanza("iq", ROMEO, AS("Romeo"), "get", "p1");
    xml_add(ping, "ping", "urn:xmpp:ping");
    send(d, 2, ping, &fx);
    ck_assert_uint_eq(count_to(&fx, 1, NULL), 0);
    ck_assert(type_is(find(&fx, 2, "iq", AS("Romeo")), "result")); /* XEP-0410 §3 */
    ck_assert_str_eq(attr_or(find(&fx, 2, "iq", AS("Romeo")), "id"), "p1");
    effects_clear(&fx);
    ping = stanza("iq", NURSE, AS("Nurse"), "get", "p2");
    xml_add(ping, "ping", "urn:xmpp:ping");
    send(d, 3, ping, &fx);
    ck_assert_str_eq(refusal(&fx, 3), "not-acceptable");
    struct xnode *v = stanza("iq", ROMEO, AS("Juliet"), "get", "v1");
    xml_add(v, "query", "jabber:iq:version");
    send(d, 2, v, &fx);
    const struct xnode *fwd = find(&fx, 1, "iq", AS("Romeo"));
    ck_assert_ptr_nonnull(fwd); /* §17.4: forwarded, the real JID hidden */
    ck_assert_str_eq(attr_or(fwd, "to"), JULIET);
    ck_assert_ptr_nonnull(kid(fwd, "query", "jabber:iq:version"));
    done(d, &fx);
}
END_TEST

/* --- 12. snapshots and restarts ----------------------------------------------------------- */

START_TEST(a_snapshot_round_trips_and_a_restart_keeps_persistent_rooms_only)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM,
              (const char *[]){"muc#roomconfig_persistentroom", "1", "muc#roomconfig_roomname",
                               "The Coven", NULL});
    make_room(d, "brief@" SERVICE, NULL);
    set_affil(d, 1, JULIET, "nurse@localhost", "member", NULL);
    send(d, 1, subject(JULIET, "fate"), NULL);
    send(d, 1, groupchat(JULIET, "remember me"), NULL);
    struct dispatch *d2 = snapshot_round_trip(d, NULL);
    dispatch_free(d);

    next_seq = dispatch_last_seq(d2);
    apply_quiet(d2, started(1, 1));
    bind_online(d2, 1, JULIET);
    bind_online(d2, 2, ROMEO);
    ck_assert_str_eq(affil_list(d2, "member"), "nurse@localhost");
    ck_assert_str_eq(affil_list(d2, "owner"), "juliet@localhost");
    join(d2, 2, ROMEO, AS("Romeo"), &fx);
    ck_assert_uint_eq(count_to(&fx, 2, "presence"), 1); /* nobody in: the restart emptied it */
    ck_assert(!has_status(find(&fx, 2, "presence", AS("Romeo")), 201));
    ck_assert_uint_eq(count_to(&fx, 2, "message"), 1); /* no history, the subject */
    const struct xnode *s = find(&fx, 2, "message", AS("Juliet"));
    ck_assert_str_eq(child_text(s, "subject"), "fate");
    effects_clear(&fx);
    disco(d2, 2, ROMEO, ROOM, NS_DISCO_INFO, &fx);
    const struct xnode *r = nth_to(&fx, 2, 0);
    ck_assert(has_feature(r, "muc_persistent"));
    ck_assert_str_eq(attr_or(kid(kid(r, "query", NS_DISCO_INFO), "identity", NULL),
                             "name"),
                     "The Coven");
    effects_clear(&fx);
    join(d2, 2, ROMEO, "brief@" SERVICE "/Romeo", &fx); /* temporary: gone, made anew */
    ck_assert(has_status(find(&fx, 2, "presence", "brief@" SERVICE "/Romeo"), 201));
    effects_clear(&fx);
    dispatch_free(d2);
}
END_TEST

#define JULIET2 "juliet@localhost/tomb" /* conn 4: Juliet's second client */

/* One user, two clients, one nick: one occupant (doc/muc.md). */
START_TEST(two_clients_of_one_user_share_a_nick_as_one_occupant)
{
    SETUP(fresh_three_online());
    bind_online(d, 4, JULIET2);
    make_room(d, ROOM, NULL);
    join_quiet(d, 2, ROMEO, AS("Romeo"));
    join(d, 4, JULIET2, AS("Juliet"), &fx);
    ck_assert_ptr_nonnull(find(&fx, 4, "presence", AS("Romeo")));
    const struct xnode *self = find(&fx, 4, "presence", AS("Juliet"));
    ck_assert(has_status(self, 110));
    ck_assert_str_eq(attr_or(muc_item(self), "affiliation"), "owner");
    ck_assert_uint_eq(count_to(&fx, 4, "message"), 1); /* the subject */
    ck_assert_uint_eq(count_to(&fx, 2, "presence"), 1); /* Romeo: one update, no second Juliet */
    ck_assert(type_is(find(&fx, 2, "presence", AS("Juliet")), NULL));
    effects_clear(&fx);

    /* both clients are in the snapshot (sessions, volatile, are not: go on with d) */
    dispatch_free(snapshot_round_trip(d, NULL));
    send(d, 2, groupchat(ROMEO, "to both"), &fx);
    ck_assert_uint_eq(count_to(&fx, 1, "message"), 1);
    ck_assert_uint_eq(count_to(&fx, 4, "message"), 1);
    effects_clear(&fx);

    send(d, 4, stanza("presence", JULIET2, AS("Juliet"), "unavailable", NULL), &fx);
    const struct xnode *gone = find(&fx, 4, "presence", AS("Juliet"));
    ck_assert(type_is(gone, "unavailable") && has_status(gone, 110));
    ck_assert_uint_eq(count_to(&fx, 1, "presence"), 1); /* the phone: Juliet's presence, still in */
    ck_assert(type_is(find(&fx, 1, "presence", AS("Juliet")), NULL));
    ck_assert(type_is(find(&fx, 2, "presence", AS("Juliet")), NULL));
    effects_clear(&fx);

    apply(d, sessions_ev_closed(1, JULIET), &fx);
    ck_assert(type_is(find(&fx, 2, "presence", AS("Juliet")), "unavailable"));
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

/* An IQ from one of a user's clients to another occupant: the answer goes
 * back to that client, not to the user's newest one. */
START_TEST(an_answer_goes_to_the_client_that_asked)
{
    SETUP(fresh_three_online());
    bind_online(d, 4, JULIET2);
    make_room(d, ROOM, NULL);
    join_quiet(d, 2, ROMEO, AS("Romeo"));
    join_quiet(d, 4, JULIET2, AS("Juliet")); /* newest client of the occupant */
    struct xnode *iq = stanza("iq", JULIET, AS("Romeo"), "get", "v1");
    xml_add(iq, "vCard", "vcard-temp");
    send(d, 1, iq, &fx);
    const struct xnode *fwd = find(&fx, 2, "iq", AS("Juliet"));
    ck_assert_ptr_nonnull(fwd);
    ck_assert_str_eq(attr_or(fwd, "id"), "v1");
    effects_clear(&fx);
    send(d, 2, stanza("iq", ROMEO, AS("Juliet"), "result", "v1"), &fx);
    ck_assert_uint_eq(count_to(&fx, 1, "iq"), 1); /* the phone asked */
    ck_assert_uint_eq(count_to(&fx, 4, "iq"), 0);
    ck_assert_str_eq(attr_or(find(&fx, 1, "iq", AS("Romeo")), "type"), "result");
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

/* The service's domain in another case is the same JID (RFC 7622
 * nameprep); the handler's quick test of 'to' must not miss it. A
 * nickname that resourceprep changes comes back with 210. */
START_TEST(the_service_answers_its_domain_in_any_case)
{
    SETUP(fresh_three_online());
    make_room(d, ROOM, NULL);
    join(d, 2, ROMEO, "coven@CHAT.LocalHost/Romeo", &fx);
    const struct xnode *self = find(&fx, 2, "presence", AS("Romeo"));
    ck_assert(has_status(self, 110));
    ck_assert(!has_status(self, 210)); /* the nickname is as asked */
    effects_clear(&fx);
    /* U+FF2E (fullwidth N) is N after resourceprep's NFKC: 210 (§7.2.10) */
    join(d, 3, NURSE, AS("\xef\xbc\xaeurse"), &fx);
    self = find(&fx, 3, "presence", AS("Nurse"));
    ck_assert(has_status(self, 110) && has_status(self, 210));
    effects_clear(&fx);
    send(d, 2, stanza("message", ROMEO, "elsewhere@chat.localhost.example", "chat", "m1"), &fx);
    ck_assert_str_eq(error_cond(nth_to(&fx, 2, 0)), "remote-server-not-found");
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("muc");
    TCase *tc = tcase_create("muc");
    tcase_add_test(tc, a_new_room_is_locked_until_the_owner_configures_it);
    tcase_add_test(tc, a_join_without_the_muc_extension_makes_an_instant_room);
    tcase_add_test(tc, a_newcomer_gets_occupants_then_itself_then_history_then_subject);
    tcase_add_test(tc, a_non_anonymous_room_shows_real_jids_to_all_with_status_100);
    tcase_add_test(tc, nick_change_announces_303_then_the_new_presence_and_refuses_taken_nicks);
    tcase_add_test(tc, leaving_tells_everyone_and_an_empty_temporary_room_ends);
    tcase_add_test(tc, a_session_that_ends_leaves_its_rooms);
    tcase_add_test(tc, groupchat_goes_to_every_occupant_and_only_occupants_may_send);
    tcase_add_test(tc, a_visitor_in_a_moderated_room_may_not_speak);
    tcase_add_test(tc, a_participant_changes_the_subject_only_when_the_room_allows_it);
    tcase_add_test(tc, history_is_cut_to_what_the_newcomer_asks);
    tcase_add_test(tc, help_is_answered_to_the_sender_alone_and_not_kept);
    tcase_add_test(tc, private_messages_come_from_the_senders_occupant_jid);
    tcase_add_test(tc, an_owners_invitation_makes_a_member_of_a_members_only_room);
    tcase_add_test(tc, a_foreign_user_cannot_create_a_room);
    tcase_add_test(tc, a_foreign_user_enters_an_open_room_only_when_invited);
    tcase_add_test(tc, an_owner_may_invite_a_foreign_user_where_occupants_may_not);
    tcase_add_test(tc, the_policy_switches_let_foreign_users_in_and_create);
    tcase_add_test(tc, a_kicked_occupant_and_everyone_get_307);
    tcase_add_test(tc, a_kick_tells_the_kicked_then_the_moderator_then_the_others);
    tcase_add_test(tc, a_banned_user_gets_301_and_cannot_come_back);
    tcase_add_test(tc, an_admin_cannot_ban_an_owner_or_itself);
    tcase_add_test(tc, the_last_owner_cannot_step_down);
    tcase_add_test(tc, an_admin_set_with_one_bad_item_changes_nothing);
    tcase_add_test(tc, an_item_with_both_role_and_affiliation_is_a_bad_request);
    tcase_add_test(tc, the_configuration_form_is_a_roomconfig_form);
    tcase_add_test(tc, going_members_only_expels_non_members_with_322_and_tells_104);
    tcase_add_test(tc, destroying_a_room_tells_the_occupants_and_it_is_gone);
    tcase_add_test(tc, cancelling_the_form_of_a_new_room_destroys_it);
    tcase_add_test(tc, a_password_room_refuses_a_missing_or_wrong_password);
    tcase_add_test(tc, a_full_room_refuses_with_service_unavailable);
    tcase_add_test(tc, the_service_and_its_rooms_describe_themselves);
    tcase_add_test(tc, self_ping_and_iq_between_occupants);
    tcase_add_test(tc, a_snapshot_round_trips_and_a_restart_keeps_persistent_rooms_only);
    tcase_add_test(tc, two_clients_of_one_user_share_a_nick_as_one_occupant);
    tcase_add_test(tc, the_service_answers_its_domain_in_any_case);
    tcase_add_test(tc, an_answer_goes_to_the_client_that_asked);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
