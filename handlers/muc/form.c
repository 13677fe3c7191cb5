/* form: MUC's data forms (XEP-0004) -- the owner's configuration form
 * and its submission (XEP-0045 §10.2, registry §16.5.3) and the
 * extended room information (§6.4, registry §16.5.4). See form.h.
 *
 * One table, config_fields, lists the configuration fields: the form is
 * written from it and a submission read with it, so the two cannot
 * drift apart. Pure: no clock, no I/O. */
#include "handlers/muc/form.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/err.h"
#include "kernel/mem.h"
#include "kernel/xml.h"

enum field_kind { K_TEXT, K_SECRET, K_BOOL, K_WHOIS, K_PM, K_MAXUSERS, K_HISTORY };

struct field_spec {
    const char *var;
    enum field_kind kind;
    const char *label;
    size_t off; /* of the member in struct room_config */
};

#define CFG(m) offsetof(struct room_config, m)

/* In the order the owner sees them. */
static const struct field_spec config_fields[] = {
    {"muc#roomconfig_roomname", K_TEXT, "Natural-Language Room Name", CFG(name)},
    {"muc#roomconfig_roomdesc", K_TEXT, "Short Description of Room", CFG(desc)},
    {"muc#roomconfig_persistentroom", K_BOOL, "Make Room Persistent", CFG(persistent)},
    {"muc#roomconfig_publicroom", K_BOOL, "Make Room Publicly Searchable", CFG(public_)},
    {"muc#roomconfig_membersonly", K_BOOL, "Make Room Members-Only", CFG(members_only)},
    {"muc#roomconfig_moderatedroom", K_BOOL, "Make Room Moderated", CFG(moderated)},
    {"muc#roomconfig_passwordprotectedroom", K_BOOL, "Password Required to Enter",
     CFG(password_protected)},
    {"muc#roomconfig_roomsecret", K_SECRET, "Password", CFG(password)},
    {"muc#roomconfig_whois", K_WHOIS, "Who May Discover Real JIDs", CFG(whois)},
    {"muc#roomconfig_allowinvites", K_BOOL, "Allow Occupants to Invite Others", CFG(allow_invites)},
    {"muc#roomconfig_changesubject", K_BOOL, "Allow Occupants to Change Subject",
     CFG(change_subject)},
    {"muc#roomconfig_allowpm", K_PM, "Roles that May Send Private Messages", CFG(allow_pm)},
    {"muc#roomconfig_maxusers", K_MAXUSERS, "Maximum Number of Occupants", CFG(max_users)},
    {"muc#maxhistoryfetch", K_HISTORY,
     "Maximum Number of History Messages Returned by Room (kept in memory only)", CFG(history_max)},
};
#define N_CONFIG_FIELDS (sizeof config_fields / sizeof config_fields[0])

struct choice {
    const char *value;
    const char *label;
};

/* Indexed by enum muc_whois and enum muc_pm. */
static const struct choice whois_choices[] = {
    {"moderators", "Moderators Only"},
    {"anyone", "Anyone"},
};
static const struct choice pm_choices[] = {
    {"anyone", "Anyone"},
    {"participants", "Anyone with Voice"},
    {"moderators", "Moderators Only"},
    {"none", "Nobody"},
};

/* maxusers suggestions; the service's limit is at most 100000 (config.h). */
static const uint32_t maxusers_steps[] = {10, 20, 30, 50, 100, 200, 500, 1000,
                                          2000, 5000, 10000, 20000, 50000, 100000};

#define FIELD_PTR(T, c, spec) ((T *)((char *)(c) + (spec)->off))
#define FIELD_CPTR(T, c, spec) ((const T *)((const char *)(c) + (spec)->off))

/* --- writing ---------------------------------------------------------- */

static struct xnode *field_add(struct xnode *x, const char *var, const char *type,
                               const char *label, const char *value)
{
    struct xnode *f = xml_add(x, "field", NULL);
    xml_set_attr(f, "var", var);
    if (type)
        xml_set_attr(f, "type", type);
    if (label)
        xml_set_attr(f, "label", label);
    if (value)
        xml_add_text(xml_add(f, "value", NULL), value);
    return f;
}

static void option_add(struct xnode *f, const char *label, const char *value)
{
    struct xnode *o = xml_add(f, "option", NULL);
    if (label)
        xml_set_attr(o, "label", label);
    xml_add_text(xml_add(o, "value", NULL), value);
}

static void choices_add(struct xnode *f, const struct choice *ch, size_t n)
{
    for (size_t i = 0; i < n; i++)
        option_add(f, ch[i].label, ch[i].value);
}

static void u32_str(uint32_t v, char *out, size_t n)
{
    snprintf(out, n, "%lu", (unsigned long)v);
}

/* What the form shows as maxusers: 0 stands for the service's limit, and
 * a value above a since-lowered limit shows as the limit. */
static uint32_t maxusers_shown(const struct room_config *c, const struct muc_policy *pol)
{
    return c->max_users && c->max_users < pol->max_users ? c->max_users : pol->max_users;
}

/* Options: the steps below the limit, the limit, and the shown value. */
static void maxusers_add(struct xnode *x, const struct field_spec *fs, const struct room_config *c,
                         const struct muc_policy *pol)
{
    enum { NSTEPS = sizeof maxusers_steps / sizeof maxusers_steps[0] };
    uint32_t opts[NSTEPS + 2];
    size_t n = 0;
    uint32_t shown = maxusers_shown(c, pol);
    for (size_t i = 0; i < NSTEPS && maxusers_steps[i] < pol->max_users; i++)
        opts[n++] = maxusers_steps[i];
    opts[n++] = pol->max_users;
    size_t at = 0;
    while (at < n && opts[at] < shown)
        at++;
    if (opts[at] != shown) { /* at < n: shown <= the limit, the last option */
        memmove(&opts[at + 1], &opts[at], (n - at) * sizeof opts[0]);
        opts[at] = shown;
        n++;
    }
    char buf[16];
    u32_str(shown, buf, sizeof buf);
    struct xnode *f = field_add(x, fs->var, "list-single", fs->label, buf);
    for (size_t i = 0; i < n; i++) {
        u32_str(opts[i], buf, sizeof buf);
        option_add(f, NULL, buf);
    }
}

static void config_field_add(struct xnode *x, const struct field_spec *fs,
                             const struct room_config *c, const struct muc_policy *pol)
{
    char buf[16];
    struct xnode *f;
    switch (fs->kind) {
    case K_TEXT:
        field_add(x, fs->var, "text-single", fs->label, *FIELD_CPTR(char *, c, fs));
        break;
    case K_SECRET:
        field_add(x, fs->var, "text-private", fs->label, *FIELD_CPTR(char *, c, fs));
        break;
    case K_BOOL:
        field_add(x, fs->var, "boolean", fs->label, *FIELD_CPTR(int, c, fs) ? "1" : "0");
        break;
    case K_WHOIS:
        f = field_add(x, fs->var, "list-single", fs->label, whois_choices[c->whois].value);
        choices_add(f, whois_choices, sizeof whois_choices / sizeof whois_choices[0]);
        break;
    case K_PM:
        f = field_add(x, fs->var, "list-single", fs->label, pm_choices[c->allow_pm].value);
        choices_add(f, pm_choices, sizeof pm_choices / sizeof pm_choices[0]);
        break;
    case K_MAXUSERS:
        maxusers_add(x, fs, c, pol);
        break;
    case K_HISTORY:
        u32_str(c->history_max, buf, sizeof buf);
        field_add(x, fs->var, "text-single", fs->label, buf);
        break;
    }
}

struct xnode *muc_config_form(const struct room_config *c, const struct muc_policy *pol)
{
    struct xnode *x = xml_new("x", NS_XDATA);
    xml_set_attr(x, "type", "form");
    xml_add_text(xml_add(x, "title", NULL), "Room configuration");
    xml_add_text(xml_add(x, "instructions", NULL),
                 "Complete this form to change the room's configuration.");
    field_add(x, "FORM_TYPE", "hidden", NULL, NS_MUC_ROOMCONFIG);
    for (size_t i = 0; i < N_CONFIG_FIELDS; i++)
        config_field_add(x, &config_fields[i], c, pol);
    return x;
}

struct xnode *muc_roominfo_form(const struct room *r, size_t occupants)
{
    char buf[24];
    struct xnode *x = xml_new("x", NS_XDATA);
    xml_set_attr(x, "type", "result");
    field_add(x, "FORM_TYPE", "hidden", NULL, NS_MUC_ROOMINFO);
    u32_str(r->cfg.history_max, buf, sizeof buf);
    field_add(x, "muc#maxhistoryfetch", "text-single",
              "Maximum Number of History Messages Returned by Room", buf);
    field_add(x, "muc#roominfo_description", "text-single", "Short Description of Room",
              r->cfg.desc);
    snprintf(buf, sizeof buf, "%zu", occupants);
    field_add(x, "muc#roominfo_occupants", "text-single", "Current Number of Occupants in Room",
              buf);
    field_add(x, "muc#roominfo_subject", "text-single", "Current Discussion Topic", r->subject);
    field_add(x, "muc#roominfo_subjectmod", "boolean",
              "The room subject can be modified by participants", r->cfg.change_subject ? "1" : "0");
    field_add(x, "muc#roomconfig_allowinvites", "boolean", "Occupants are allowed to invite others",
              r->cfg.allow_invites ? "1" : "0");
    field_add(x, "muc#roomconfig_allowpm", "list-single", "Roles that May Send Private Messages",
              pm_choices[r->cfg.allow_pm].value);
    return x;
}

/* --- reading ---------------------------------------------------------- */

static const struct xnode *field_find(const struct xnode *x, const char *var)
{
    for (const struct xnode *f = xml_first_elem(x); f; f = xml_next_elem(f)) {
        const char *v = strcmp(f->name, "field") == 0 ? xml_attr(f, "var") : NULL;
        if (v && strcmp(v, var) == 0)
            return f;
    }
    return NULL;
}

static const char *field_value(const struct xnode *f)
{
    const struct xnode *v = xml_child(f, "value", NS_XDATA);
    return v ? xml_text(v) : NULL;
}

const char *xdata_value(const struct xnode *x, const char *var)
{
    const struct xnode *f = x ? field_find(x, var) : NULL;
    return f ? field_value(f) : NULL;
}

int xdata_type_is(const struct xnode *x, const char *type)
{
    if (!x || !x->name || strcmp(x->name, "x") != 0 || strcmp(x->ns, NS_XDATA) != 0)
        return 0;
    const char *t = xml_attr(x, "type");
    return t && strcmp(t, type) == 0;
}

/* XEP-0004 §3.3: "0"/"false" and "1"/"true"; no value is false. */
static int parse_bool(const char *s, int *out)
{
    if (!s || strcmp(s, "0") == 0 || strcmp(s, "false") == 0)
        *out = 0;
    else if (strcmp(s, "1") == 0 || strcmp(s, "true") == 0)
        *out = 1;
    else
        return -1;
    return 0;
}

/* Decimal digits only; values past UINT32_MAX saturate (they are above
 * every limit anyway, so the caller refuses or caps them). */
static int parse_u32(const char *s, uint32_t *out)
{
    if (!s || !*s)
        return -1;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > UINT32_MAX)
            v = (uint64_t)UINT32_MAX + 1; /* stays bounded, still "too big" */
    }
    *out = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
    return 0;
}

static int parse_choice(const char *s, const struct choice *ch, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(s, ch[i].value) == 0)
            return (int)i;
    return -1;
}

static int fail(const char **why, const char *text, enum stanza_err cond)
{
    *why = text;
    return stanza_err(cond);
}

static void config_strings_free(struct room_config *c)
{
    free(c->name);
    free(c->desc);
    free(c->password);
    c->name = c->desc = c->password = NULL;
}

static void set_string(char **dst, const char *s)
{
    free(*dst);
    *dst = xstrdup(s ? s : "");
}

/* Applies one submitted field to out. Returns 0 or a stanza error. */
static int config_field_read(const struct field_spec *fs, const struct xnode *f,
                             const struct room_config *cur, const struct muc_policy *pol,
                             struct room_config *out, const char **why)
{
    const char *s = field_value(f);
    uint32_t n;
    int b, i;
    switch (fs->kind) {
    case K_TEXT:
    case K_SECRET:
        set_string(FIELD_PTR(char *, out, fs), s);
        return 0;
    case K_BOOL:
        if (parse_bool(s, &b) < 0)
            return fail(why, "a boolean field takes 0, 1, false or true", STANZA_BAD_REQUEST);
        *FIELD_PTR(int, out, fs) = b;
        return 0;
    case K_WHOIS:
        if ((i = parse_choice(s, whois_choices, 2)) < 0)
            return fail(why, "muc#roomconfig_whois takes moderators or anyone", STANZA_BAD_REQUEST);
        out->whois = (enum muc_whois)i;
        return 0;
    case K_PM:
        if ((i = parse_choice(s, pm_choices, 4)) < 0)
            return fail(why, "muc#roomconfig_allowpm takes anyone, participants, moderators or none", STANZA_BAD_REQUEST);
        out->allow_pm = (enum muc_pm)i;
        return 0;
    case K_MAXUSERS:
        if (parse_u32(s, &n) < 0 || n == 0)
            return fail(why, "muc#roomconfig_maxusers takes a positive number", STANZA_BAD_REQUEST);
        if (n > pol->max_users)
            return fail(why, "muc#roomconfig_maxusers is above the service's limit", STANZA_NOT_ACCEPTABLE);
        /* Unchanged keeps cur's own value (0: follow the service). */
        out->max_users = n == maxusers_shown(cur, pol) ? cur->max_users : n;
        return 0;
    case K_HISTORY:
        if (parse_u32(s, &n) < 0)
            return fail(why, "muc#maxhistoryfetch takes a number", STANZA_BAD_REQUEST);
        out->history_max = n > pol->history_max ? pol->history_max : n;
        return 0;
    }
    return 0;
}

static const struct field_spec *config_spec(const char *var)
{
    for (size_t i = 0; var && i < N_CONFIG_FIELDS; i++)
        if (strcmp(config_fields[i].var, var) == 0)
            return &config_fields[i];
    return NULL;
}

int muc_config_submit(const struct xnode *x, const struct room_config *cur,
                      const struct muc_policy *pol, struct room_config *out, const char **why)
{
    static const char *unused;
    if (!why)
        why = &unused;
    *why = NULL;
    if (!xdata_type_is(x, "submit"))
        return fail(why, "expected a data form of type submit", STANZA_BAD_REQUEST);
    const char *ft = xdata_value(x, "FORM_TYPE");
    if (ft && strcmp(ft, NS_MUC_ROOMCONFIG) != 0)
        return fail(why, "FORM_TYPE is not muc#roomconfig", STANZA_BAD_REQUEST);

    *out = *cur;
    out->name = xstrdup(cur->name);
    out->desc = xstrdup(cur->desc);
    out->password = xstrdup(cur->password);
    int rc = 0;
    for (const struct xnode *f = xml_first_elem(x); f && rc == 0; f = xml_next_elem(f)) {
        if (strcmp(f->name, "field") != 0)
            continue;
        const struct field_spec *fs = config_spec(xml_attr(f, "var"));
        if (fs) /* unknown fields (enablelogging too) are ignored */
            rc = config_field_read(fs, f, cur, pol, out, why);
    }
    if (rc == 0 && out->password_protected && out->password[0] == '\0') {
        *why = "a password-protected room needs a password";
        rc = stanza_err(STANZA_NOT_ACCEPTABLE);
    }
    if (rc != 0) {
        config_strings_free(out);
        return rc;
    }
    if (!out->password_protected)
        set_string(&out->password, "");
    return 0;
}
