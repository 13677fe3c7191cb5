/* test_muc_form: the MUC data forms (XEP-0045 §10.2, §6.4, §16.5 over
 * XEP-0004): the configuration form carries every field with its type
 * and current value, a client's edited copy submits back to the same
 * configuration, malformed values and values past the service's limits
 * get the named errors, omitted fields keep their values, and the room
 * information form says what the room is. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/muc/form.h"
#include "kernel/mem.h"
#include "kernel/xml.h"
#include "fixture.h"

static struct muc_policy policy(uint32_t max_users, uint32_t history_max)
{
    struct muc_policy p;
    memset(&p, 0, sizeof p);
    p.max_users = max_users;
    p.history_max = history_max;
    return p;
}

static void cfg_init(struct room_config *c, const char *name, const char *desc, const char *pw)
{
    memset(c, 0, sizeof *c);
    c->name = xstrdup(name);
    c->desc = xstrdup(desc);
    c->password = xstrdup(pw);
}

static void cfg_free(struct room_config *c)
{
    free(c->name);
    free(c->desc);
    free(c->password);
    memset(c, 0, sizeof *c);
}

/* A configuration with every member set away from zero where it can be. */
static void cfg_sample(struct room_config *c)
{
    cfg_init(c, "Coven", "The place for all good witches", "");
    c->persistent = 1;
    c->public_ = 0;
    c->members_only = 1;
    c->moderated = 0;
    c->password_protected = 0;
    c->allow_invites = 1;
    c->change_subject = 0;
    c->whois = WHOIS_ANYONE;
    c->allow_pm = PM_PARTICIPANTS;
    c->max_users = 30;
    c->history_max = 15;
}

static void cfg_assert_eq(const struct room_config *a, const struct room_config *b)
{
    ck_assert_str_eq(a->name, b->name);
    ck_assert_str_eq(a->desc, b->desc);
    ck_assert_str_eq(a->password, b->password);
    ck_assert_int_eq(a->persistent, b->persistent);
    ck_assert_int_eq(a->public_, b->public_);
    ck_assert_int_eq(a->members_only, b->members_only);
    ck_assert_int_eq(a->moderated, b->moderated);
    ck_assert_int_eq(a->password_protected, b->password_protected);
    ck_assert_int_eq(a->allow_invites, b->allow_invites);
    ck_assert_int_eq(a->change_subject, b->change_subject);
    ck_assert_int_eq(a->whois, b->whois);
    ck_assert_int_eq(a->allow_pm, b->allow_pm);
    ck_assert_uint_eq(a->max_users, b->max_users);
    ck_assert_uint_eq(a->history_max, b->history_max);
}

static struct xnode *field(const struct xnode *x, const char *var)
{
    for (struct xnode *f = xml_first_elem(x); f; f = xml_next_elem(f)) {
        const char *v = xml_attr(f, "var");
        if (strcmp(f->name, "field") == 0 && v && strcmp(v, var) == 0)
            return f;
    }
    return NULL;
}

static size_t count_children(const struct xnode *n, const char *name)
{
    size_t k = 0;
    for (struct xnode *c = xml_first_elem(n); c; c = xml_next_elem(c))
        k += strcmp(c->name, name) == 0;
    return k;
}

/* Asserts field var has this type and this one value. */
static void assert_field(const struct xnode *x, const char *var, const char *type, const char *value)
{
    struct xnode *f = field(x, var);
    ck_assert_msg(f != NULL, "field %s missing", var);
    ck_assert_str_eq(xml_attr(f, "type"), type);
    ck_assert_uint_eq(count_children(f, "value"), 1);
    ck_assert_str_eq(xml_text(xml_child(f, "value", NS_XDATA)), value);
    ck_assert_str_eq(xdata_value(x, var), value);
}

/* The options of a list field, joined with ",". */
static void options_of(const struct xnode *x, const char *var, char *out, size_t n)
{
    out[0] = '\0';
    struct xnode *f = field(x, var);
    ck_assert_ptr_nonnull(f);
    for (struct xnode *o = xml_first_elem(f); o; o = xml_next_elem(o)) {
        if (strcmp(o->name, "option") != 0)
            continue;
        if (out[0])
            strncat(out, ",", n - strlen(out) - 1);
        strncat(out, xml_text(xml_child(o, "value", NS_XDATA)), n - strlen(out) - 1);
    }
}

/* What a client does: copy the form, answer it with type='submit'. */
static struct xnode *as_submit(const struct xnode *form)
{
    struct xnode *x = xml_copy(form);
    xml_set_attr(x, "type", "submit");
    return x;
}

/* Replaces field var's values with one value (adds the field if absent). */
static void set_value(struct xnode *x, const char *var, const char *value)
{
    struct xnode *f = field(x, var);
    if (!f) {
        f = xml_add(x, "field", NULL);
        xml_set_attr(f, "var", var);
    }
    struct xnode *v;
    while ((v = xml_child(f, "value", NS_XDATA)) != NULL)
        xml_remove(f, v);
    xml_add_text(xml_add(f, "value", NULL), value);
}

static void drop_field(struct xnode *x, const char *var)
{
    struct xnode *f = field(x, var);
    ck_assert_ptr_nonnull(f);
    xml_remove(x, f);
}

/* A bare submit form with only FORM_TYPE, as a terse client sends. */
static struct xnode *bare_submit(void)
{
    struct xnode *x = xml_new("x", NS_XDATA);
    xml_set_attr(x, "type", "submit");
    set_value(x, "FORM_TYPE", NS_MUC_ROOMCONFIG);
    return x;
}

START_TEST(config_form_fields)
{
    struct room_config c;
    cfg_sample(&c);
    struct muc_policy pol = policy(100, 20);
    struct xnode *x = muc_config_form(&c, &pol);
    ck_assert_str_eq(x->name, "x");
    ck_assert_str_eq(x->ns, NS_XDATA);
    ck_assert(xdata_type_is(x, "form"));
    ck_assert(!xdata_type_is(x, "submit"));
    ck_assert_ptr_nonnull(xml_child(x, "title", NS_XDATA));
    ck_assert_ptr_nonnull(xml_child(x, "instructions", NS_XDATA));
    assert_field(x, "FORM_TYPE", "hidden", NS_MUC_ROOMCONFIG);
    assert_field(x, "muc#roomconfig_roomname", "text-single", "Coven");
    assert_field(x, "muc#roomconfig_roomdesc", "text-single", "The place for all good witches");
    assert_field(x, "muc#roomconfig_persistentroom", "boolean", "1");
    assert_field(x, "muc#roomconfig_publicroom", "boolean", "0");
    assert_field(x, "muc#roomconfig_membersonly", "boolean", "1");
    assert_field(x, "muc#roomconfig_moderatedroom", "boolean", "0");
    assert_field(x, "muc#roomconfig_passwordprotectedroom", "boolean", "0");
    assert_field(x, "muc#roomconfig_allowinvites", "boolean", "1");
    assert_field(x, "muc#roomconfig_changesubject", "boolean", "0");
    assert_field(x, "muc#roomconfig_whois", "list-single", "anyone");
    assert_field(x, "muc#roomconfig_allowpm", "list-single", "participants");
    assert_field(x, "muc#roomconfig_maxusers", "list-single", "30");
    assert_field(x, "muc#maxhistoryfetch", "text-single", "15");
    /* An empty secret is a field with an empty value, never none. */
    struct xnode *secret = field(x, "muc#roomconfig_roomsecret");
    ck_assert_ptr_nonnull(secret);
    ck_assert_str_eq(xml_attr(secret, "type"), "text-private");
    ck_assert_str_eq(xdata_value(x, "muc#roomconfig_roomsecret"), "");
    /* The service never logs: no logging field at all. */
    ck_assert_ptr_null(field(x, "muc#roomconfig_enablelogging"));
    ck_assert_uint_eq(count_children(x, "field"), 15);
    for (struct xnode *f = xml_first_elem(x); f; f = xml_next_elem(f))
        if (strcmp(f->name, "field") == 0 && strcmp(xml_attr(f, "var"), "FORM_TYPE") != 0)
            ck_assert_msg(xml_attr(f, "label") && *xml_attr(f, "label"), "%s has no label",
                          xml_attr(f, "var"));
    char opts[256];
    options_of(x, "muc#roomconfig_whois", opts, sizeof opts);
    ck_assert_str_eq(opts, "moderators,anyone");
    options_of(x, "muc#roomconfig_allowpm", opts, sizeof opts);
    ck_assert_str_eq(opts, "anyone,participants,moderators,none");
    options_of(x, "muc#roomconfig_maxusers", opts, sizeof opts);
    ck_assert_str_eq(opts, "10,20,30,50,100");
    xml_free(x);

    c.password_protected = 1;
    x = muc_config_form(&c, &pol);
    ck_assert_str_eq(xdata_value(x, "muc#roomconfig_passwordprotectedroom"), "1");
    xml_free(x);
    cfg_free(&c);
}
END_TEST

START_TEST(config_form_maxusers_options)
{
    struct room_config c;
    cfg_sample(&c);
    char opts[256];
    struct muc_policy pol = policy(75, 20);
    c.max_users = 25; /* between steps: gets its own option */
    struct xnode *x = muc_config_form(&c, &pol);
    ck_assert_str_eq(xdata_value(x, "muc#roomconfig_maxusers"), "25");
    options_of(x, "muc#roomconfig_maxusers", opts, sizeof opts);
    ck_assert_str_eq(opts, "10,20,25,30,50,75");
    xml_free(x);

    c.max_users = 0; /* the service's limit */
    x = muc_config_form(&c, &pol);
    ck_assert_str_eq(xdata_value(x, "muc#roomconfig_maxusers"), "75");
    options_of(x, "muc#roomconfig_maxusers", opts, sizeof opts);
    ck_assert_str_eq(opts, "10,20,30,50,75");
    xml_free(x);

    c.max_users = 500; /* the limit was lowered since */
    x = muc_config_form(&c, &pol);
    ck_assert_str_eq(xdata_value(x, "muc#roomconfig_maxusers"), "75");
    xml_free(x);

    pol = policy(1000, 20);
    c.max_users = 5;
    x = muc_config_form(&c, &pol);
    options_of(x, "muc#roomconfig_maxusers", opts, sizeof opts);
    ck_assert_str_eq(opts, "5,10,20,30,50,100,200,500,1000");
    xml_free(x);
    cfg_free(&c);
}
END_TEST

START_TEST(submit_round_trip)
{
    struct muc_policy pol = policy(100, 20);
    struct room_config a, b, out;
    cfg_sample(&a);
    cfg_init(&b, "Heath", "Where the witches meet", "cauldronburn");
    b.persistent = 0;
    b.public_ = 1;
    b.members_only = 0;
    b.moderated = 1;
    b.password_protected = 1;
    b.allow_invites = 0;
    b.change_subject = 1;
    b.whois = WHOIS_MODERATORS;
    b.allow_pm = PM_NONE;
    b.max_users = 50;
    b.history_max = 7;

    /* Unchanged, the form gives back what made it. */
    struct xnode *form = muc_config_form(&a, &pol);
    struct xnode *x = as_submit(form);
    const char *why = "stale";
    ck_assert_int_eq(muc_config_submit(x, &a, &pol, &out, &why), 0);
    ck_assert_ptr_null(why);
    cfg_assert_eq(&out, &a);
    cfg_free(&out);
    xml_free(x);

    /* Every field edited: the result is b. */
    x = as_submit(form);
    set_value(x, "muc#roomconfig_roomname", "Heath");
    set_value(x, "muc#roomconfig_roomdesc", "Where the witches meet");
    set_value(x, "muc#roomconfig_persistentroom", "0");
    set_value(x, "muc#roomconfig_publicroom", "1");
    set_value(x, "muc#roomconfig_membersonly", "false");
    set_value(x, "muc#roomconfig_moderatedroom", "true");
    set_value(x, "muc#roomconfig_passwordprotectedroom", "1");
    set_value(x, "muc#roomconfig_roomsecret", "cauldronburn");
    set_value(x, "muc#roomconfig_allowinvites", "0");
    set_value(x, "muc#roomconfig_changesubject", "1");
    set_value(x, "muc#roomconfig_whois", "moderators");
    set_value(x, "muc#roomconfig_allowpm", "none");
    set_value(x, "muc#roomconfig_maxusers", "50");
    set_value(x, "muc#maxhistoryfetch", "7");
    ck_assert_int_eq(muc_config_submit(x, &a, &pol, &out, &why), 0);
    cfg_assert_eq(&out, &b);
    cfg_free(&out);
    xml_free(x);
    xml_free(form);

    /* max_users 0 ("the service's limit") survives an unchanged submit. */
    a.max_users = 0;
    form = muc_config_form(&a, &pol);
    x = as_submit(form);
    ck_assert_int_eq(muc_config_submit(x, &a, &pol, &out, NULL), 0);
    ck_assert_uint_eq(out.max_users, 0);
    cfg_free(&out);
    /* ... and an explicit other choice replaces it. */
    set_value(x, "muc#roomconfig_maxusers", "20");
    ck_assert_int_eq(muc_config_submit(x, &a, &pol, &out, NULL), 0);
    ck_assert_uint_eq(out.max_users, 20);
    cfg_free(&out);
    xml_free(x);
    xml_free(form);
    cfg_free(&a);
    cfg_free(&b);
}
END_TEST

/* Submits cur's form with var set to value; returns the code. */
static int submit_one(const char *var, const char *value, const char **why)
{
    struct muc_policy pol = policy(100, 20);
    struct room_config cur, out;
    cfg_sample(&cur);
    struct xnode *x = bare_submit();
    set_value(x, var, value);
    *why = NULL;
    int rc = muc_config_submit(x, &cur, &pol, &out, why);
    if (rc == 0)
        cfg_free(&out);
    xml_free(x);
    cfg_free(&cur);
    return rc;
}

static const char *const bool_vars[] = {
    "muc#roomconfig_persistentroom", "muc#roomconfig_publicroom",
    "muc#roomconfig_membersonly",    "muc#roomconfig_moderatedroom",
    "muc#roomconfig_passwordprotectedroom", "muc#roomconfig_allowinvites",
    "muc#roomconfig_changesubject",
};

START_TEST(submit_malformed_values)
{
    const char *why;
    static const char *const bad_bools[] = {"yes", "2", "TRUE", "", " 1"};
    for (size_t i = 0; i < sizeof bool_vars / sizeof bool_vars[0]; i++)
        for (size_t j = 0; j < sizeof bad_bools / sizeof bad_bools[0]; j++) {
            ck_assert_msg(submit_one(bool_vars[i], bad_bools[j], &why) ==
                              stanza_err(STANZA_BAD_REQUEST),
                          "%s=%s accepted", bool_vars[i], bad_bools[j]);
            ck_assert_ptr_nonnull(why);
        }
    static const struct {
        const char *var, *value;
    } bad[] = {
        {"muc#roomconfig_whois", "everyone"},  {"muc#roomconfig_whois", ""},
        {"muc#roomconfig_allowpm", "visitors"}, {"muc#roomconfig_allowpm", "Anyone"},
        {"muc#roomconfig_maxusers", "abc"},    {"muc#roomconfig_maxusers", "-5"},
        {"muc#roomconfig_maxusers", "0"},      {"muc#roomconfig_maxusers", ""},
        {"muc#roomconfig_maxusers", "1e2"},    {"muc#maxhistoryfetch", "ten"},
        {"muc#maxhistoryfetch", "+3"},         {"muc#maxhistoryfetch", ""},
        {"FORM_TYPE", "http://jabber.org/protocol/muc#roominfo"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(submit_one(bad[i].var, bad[i].value, &why) == stanza_err(STANZA_BAD_REQUEST),
                      "%s='%s' accepted", bad[i].var, bad[i].value);
        ck_assert_ptr_nonnull(why);
    }
    /* Good values pass the same path, so the refusals above are real. */
    ck_assert_int_eq(submit_one("muc#roomconfig_whois", "moderators", &why), 0);
    ck_assert_int_eq(submit_one("muc#roomconfig_maxusers", "100", &why), 0);
    ck_assert_int_eq(submit_one("muc#maxhistoryfetch", "0", &why), 0);
    ck_assert_int_eq(submit_one("muc#roomconfig_moderatedroom", "true", &why), 0);
}
END_TEST

START_TEST(submit_not_a_submission)
{
    struct muc_policy pol = policy(100, 20);
    struct room_config cur, out;
    cfg_sample(&cur);
    const char *why;
    struct xnode *x = muc_config_form(&cur, &pol); /* type='form' */
    ck_assert_int_eq(muc_config_submit(x, &cur, &pol, &out, &why), stanza_err(STANZA_BAD_REQUEST));
    xml_set_attr(x, "type", "cancel");
    ck_assert(xdata_type_is(x, "cancel"));
    ck_assert_int_eq(muc_config_submit(x, &cur, &pol, &out, &why), stanza_err(STANZA_BAD_REQUEST));
    xml_set_attr(x, "type", NULL);
    ck_assert_int_eq(muc_config_submit(x, &cur, &pol, &out, &why), stanza_err(STANZA_BAD_REQUEST));
    xml_free(x);
    x = xml_new("x", "jabber:x:oob"); /* the wrong namespace */
    xml_set_attr(x, "type", "submit");
    ck_assert(!xdata_type_is(x, "submit"));
    ck_assert_int_eq(muc_config_submit(x, &cur, &pol, &out, &why), stanza_err(STANZA_BAD_REQUEST));
    xml_free(x);
    /* No FORM_TYPE at all is fine. */
    x = xml_new("x", NS_XDATA);
    xml_set_attr(x, "type", "submit");
    set_value(x, "muc#roomconfig_roomname", "Bare");
    ck_assert_int_eq(muc_config_submit(x, &cur, &pol, &out, &why), 0);
    ck_assert_str_eq(out.name, "Bare");
    cfg_free(&out);
    xml_free(x);
    cfg_free(&cur);
}
END_TEST

START_TEST(submit_omitted_fields_keep_values)
{
    struct muc_policy pol = policy(100, 20);
    struct room_config cur, out;
    cfg_sample(&cur);
    free(cur.password);
    cur.password = xstrdup("secret");
    cur.password_protected = 1;
    struct xnode *x = bare_submit();
    ck_assert_int_eq(muc_config_submit(x, &cur, &pol, &out, NULL), 0);
    cfg_assert_eq(&out, &cur);
    cfg_free(&out);
    set_value(x, "muc#roomconfig_roomname", "Renamed");
    ck_assert_int_eq(muc_config_submit(x, &cur, &pol, &out, NULL), 0);
    ck_assert_str_eq(out.name, "Renamed");
    free(out.name);
    out.name = xstrdup(cur.name);
    cfg_assert_eq(&out, &cur); /* everything else as it was, the secret too */
    cfg_free(&out);
    xml_free(x);

    /* The full form minus a few fields: those keep theirs. */
    struct xnode *form = muc_config_form(&cur, &pol);
    x = as_submit(form);
    drop_field(x, "muc#roomconfig_whois");
    drop_field(x, "muc#maxhistoryfetch");
    set_value(x, "muc#roomconfig_moderatedroom", "1");
    ck_assert_int_eq(muc_config_submit(x, &cur, &pol, &out, NULL), 0);
    ck_assert_int_eq(out.whois, WHOIS_ANYONE);
    ck_assert_uint_eq(out.history_max, 15);
    ck_assert_int_eq(out.moderated, 1);
    cfg_free(&out);
    xml_free(x);
    xml_free(form);
    cfg_free(&cur);
}
END_TEST

START_TEST(submit_unknown_fields_ignored)
{
    struct muc_policy pol = policy(100, 20);
    struct room_config cur, out;
    cfg_sample(&cur);
    struct xnode *x = bare_submit();
    set_value(x, "muc#roomconfig_enablelogging", "1");
    set_value(x, "x-custom#anything", "not a boolean");
    set_value(x, "muc#roomconfig_lang", "en");
    xml_add(x, "title", NULL); /* non-field children too */
    ck_assert_int_eq(muc_config_submit(x, &cur, &pol, &out, NULL), 0);
    cfg_assert_eq(&out, &cur);
    cfg_free(&out);
    xml_free(x);
    cfg_free(&cur);
}
END_TEST

START_TEST(submit_limits)
{
    struct muc_policy pol = policy(100, 20);
    struct room_config cur, out;
    cfg_sample(&cur);
    const char *why;
    ck_assert_int_eq(submit_one("muc#roomconfig_maxusers", "101", &why),
                     stanza_err(STANZA_NOT_ACCEPTABLE));
    ck_assert_ptr_nonnull(why);
    ck_assert_int_eq(submit_one("muc#roomconfig_maxusers", "99999999999999999999", &why),
                     stanza_err(STANZA_NOT_ACCEPTABLE));
    /* Within the limit, any number (the options are suggestions). */
    struct xnode *x = bare_submit();
    set_value(x, "muc#roomconfig_maxusers", "77");
    ck_assert_int_eq(muc_config_submit(x, &cur, &pol, &out, NULL), 0);
    ck_assert_uint_eq(out.max_users, 77);
    cfg_free(&out);
    /* History past the service's is capped, not refused. */
    set_value(x, "muc#maxhistoryfetch", "50");
    ck_assert_int_eq(muc_config_submit(x, &cur, &pol, &out, NULL), 0);
    ck_assert_uint_eq(out.history_max, 20);
    cfg_free(&out);
    set_value(x, "muc#maxhistoryfetch", "99999999999999999999");
    ck_assert_int_eq(muc_config_submit(x, &cur, &pol, &out, NULL), 0);
    ck_assert_uint_eq(out.history_max, 20);
    cfg_free(&out);
    set_value(x, "muc#maxhistoryfetch", "19");
    ck_assert_int_eq(muc_config_submit(x, &cur, &pol, &out, NULL), 0);
    ck_assert_uint_eq(out.history_max, 19);
    cfg_free(&out);
    xml_free(x);
    cfg_free(&cur);
}
END_TEST

START_TEST(submit_password_rules)
{
    struct muc_policy pol = policy(100, 20);
    struct room_config cur, out;
    cfg_sample(&cur);
    const char *why = NULL;
    /* On without a secret: not acceptable. */
    struct xnode *x = bare_submit();
    set_value(x, "muc#roomconfig_passwordprotectedroom", "1");
    ck_assert_int_eq(muc_config_submit(x, &cur, &pol, &out, &why),
                     stanza_err(STANZA_NOT_ACCEPTABLE));
    ck_assert_ptr_nonnull(why);
    set_value(x, "muc#roomconfig_roomsecret", "");
    ck_assert_int_eq(muc_config_submit(x, &cur, &pol, &out, &why),
                     stanza_err(STANZA_NOT_ACCEPTABLE));
    /* On with one: fine. */
    set_value(x, "muc#roomconfig_roomsecret", "cauldronburn");
    ck_assert_int_eq(muc_config_submit(x, &cur, &pol, &out, &why), 0);
    ck_assert_int_eq(out.password_protected, 1);
    ck_assert_str_eq(out.password, "cauldronburn");
    xml_free(x);

    /* Off again clears the secret, even when one is submitted. */
    struct room_config prot = out;
    x = bare_submit();
    set_value(x, "muc#roomconfig_passwordprotectedroom", "0");
    ck_assert_int_eq(muc_config_submit(x, &prot, &pol, &out, &why), 0);
    ck_assert_int_eq(out.password_protected, 0);
    ck_assert_str_eq(out.password, "");
    cfg_free(&out);
    set_value(x, "muc#roomconfig_roomsecret", "ignored");
    ck_assert_int_eq(muc_config_submit(x, &prot, &pol, &out, &why), 0);
    ck_assert_str_eq(out.password, "");
    cfg_free(&out);
    /* A protected room's form shows its secret to the owner. */
    struct xnode *form = muc_config_form(&prot, &pol);
    ck_assert_str_eq(xdata_value(form, "muc#roomconfig_roomsecret"), "cauldronburn");
    xml_free(form);
    xml_free(x);
    cfg_free(&prot);
    cfg_free(&cur);
}
END_TEST

START_TEST(roominfo_form)
{
    struct room r;
    memset(&r, 0, sizeof r);
    cfg_sample(&r.cfg);
    r.cfg.change_subject = 1;
    r.cfg.allow_invites = 0;
    r.cfg.allow_pm = PM_MODERATORS;
    r.subject = xstrdup("Spells");
    struct xnode *x = muc_roominfo_form(&r, 3);
    ck_assert(xdata_type_is(x, "result"));
    assert_field(x, "FORM_TYPE", "hidden", NS_MUC_ROOMINFO);
    assert_field(x, "muc#roominfo_description", "text-single", "The place for all good witches");
    assert_field(x, "muc#roominfo_subject", "text-single", "Spells");
    assert_field(x, "muc#roominfo_occupants", "text-single", "3");
    assert_field(x, "muc#maxhistoryfetch", "text-single", "15");
    assert_field(x, "muc#roominfo_subjectmod", "boolean", "1");
    assert_field(x, "muc#roomconfig_allowinvites", "boolean", "0");
    assert_field(x, "muc#roomconfig_allowpm", "list-single", "moderators");
    ck_assert_uint_eq(count_children(x, "field"), 8);
    /* Never the secret, whatever the room. */
    ck_assert_ptr_null(field(x, "muc#roomconfig_roomsecret"));
    xml_free(x);

    r.cfg.change_subject = 0;
    free(r.subject);
    r.subject = xstrdup("");
    x = muc_roominfo_form(&r, 0);
    ck_assert_str_eq(xdata_value(x, "muc#roominfo_subject"), "");
    ck_assert_str_eq(xdata_value(x, "muc#roominfo_occupants"), "0");
    ck_assert_str_eq(xdata_value(x, "muc#roominfo_subjectmod"), "0");
    xml_free(x);
    free(r.subject);
    cfg_free(&r.cfg);
}
END_TEST

START_TEST(xdata_readers)
{
    struct xnode *x = xml_new("x", NS_XDATA);
    xml_set_attr(x, "type", "submit");
    struct xnode *f = xml_add(x, "field", NULL);
    xml_set_attr(f, "var", "novalue");
    f = xml_add(x, "field", NULL);
    xml_set_attr(f, "var", "multi");
    xml_add_text(xml_add(f, "value", NULL), "first");
    xml_add_text(xml_add(f, "value", NULL), "second");
    ck_assert_ptr_null(xdata_value(x, "novalue"));
    ck_assert_ptr_null(xdata_value(x, "absent"));
    ck_assert_str_eq(xdata_value(x, "multi"), "first");
    ck_assert_ptr_null(xdata_value(NULL, "multi"));
    ck_assert(xdata_type_is(x, "submit"));
    ck_assert(!xdata_type_is(x, "form"));
    ck_assert(!xdata_type_is(NULL, "submit"));
    xml_free(x);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("muc_form");
    TCase *t = tcase_create("form");
    tcase_add_test(t, config_form_fields);
    tcase_add_test(t, config_form_maxusers_options);
    tcase_add_test(t, submit_round_trip);
    tcase_add_test(t, submit_malformed_values);
    tcase_add_test(t, submit_not_a_submission);
    tcase_add_test(t, submit_omitted_fields_keep_values);
    tcase_add_test(t, submit_unknown_fields_ignored);
    tcase_add_test(t, submit_limits);
    tcase_add_test(t, submit_password_rules);
    tcase_add_test(t, roominfo_form);
    tcase_add_test(t, xdata_readers);
    suite_add_tcase(s, t);
    return run_suite(s);
}
