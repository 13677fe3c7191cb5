/* config: the settings table, the INI file, --set and --config.
 *
 * Everything here is driven by CONFIG_TABLE in kernel/config.h: one row per
 * key gives the field, its type, its default, its allowed values and its
 * doc line, so a new setting is one row (plus its line in
 * doc/configuration.md). A value is checked against its row before the
 * field changes, so a rejected value leaves the old one in place.
 *
 * The file is read with inih (Debian libinih 55). Two of that build's
 * habits would hide mistakes, so the line reader below wraps fgets:
 *  - INI_ALLOW_MULTILINE: an indented line continues the previous value,
 *    so "  c2s_port = 1" under "domain = a" silently sets domain to
 *    "c2s_port = 1". We drop indentation before inih sees the line.
 *  - INI_MAX_LINE 200: a longer line is cut in two and the first half
 *    applied. We refuse such a line instead.
 * The reader also counts lines, which gives the handler the line number
 * that this build (INI_HANDLER_LINENO 0) does not pass. */
#include "kernel/config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "kernel/err.h"
#include "kernel/mem.h"

/* Longest string value; a longer one is refused (no path or name we use
 * comes near it, and it keeps error messages and --print-config sane). */
#define CONFIG_STR_BYTES_MAX 4096
/* Longest domain, RFC 7622 §3.2: a longer one is refused. */
#define CONFIG_DOMAIN_BYTES_MAX 1023
/* Room for one reason before "FILE:LINE: " is put in front of it. */
#define CONFIG_REASON_BYTES 256
/* How much of a bad value an error message quotes. */
#define CONFIG_QUOTE_MAX 80

struct cfg_key {
    const char *name;
    enum cfg_type type;
    const char *def;
    const char *allowed;
    const char *doc;
    size_t offset; /* of the field in struct config */
};

static const struct cfg_key keys[] = {
#define X(field, type, def, allowed, doc) {#field, type, def, allowed, doc, offsetof(struct config, field)},
    CONFIG_TABLE(X)
#undef X
};

enum { KEYS_N = sizeof keys / sizeof keys[0] };

static const char *const bool_words[] = {"yes", "no", "true", "false", "on", "off", "1", "0"};

__attribute__((format(printf, 3, 4))) static int fail(char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (errbuf && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, errlen, fmt, ap);
        va_end(ap);
    }
    return -ERR_CONFIG;
}

static const struct cfg_key *key_find(const char *name)
{
    for (size_t i = 0; i < KEYS_N; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

static void *field_of(const struct config *c, const struct cfg_key *k)
{
    return (char *)c + k->offset;
}

/* Decimal digits only, from s to end: no sign, space or base prefix, so
 * "-1" and "0x10" are refused rather than wrapped or misread. Returns 0,
 * -EINVAL (not a number) or -ERANGE (does not fit in 64 bits). */
static int parse_u64(const char *s, const char *end, uint64_t *out /* OUT */)
{
    uint64_t v = 0;
    if (s == end)
        return -EINVAL;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* The table's "min..max"; a malformed one is a bug in config.h. */
static void uint_range(const struct cfg_key *k, uint64_t *min /* OUT */, uint64_t *max /* OUT */)
{
    const char *dots = strstr(k->allowed, "..");
    assert(dots != NULL);
    int rc = parse_u64(k->allowed, dots, min);
    assert(rc == 0);
    rc = parse_u64(dots + 2, dots + strlen(dots), max);
    assert(rc == 0);
    assert(*min <= *max);
    (void)rc;
}

/* Index of v in "a|b|c" (ASCII case ignored), or -1. */
static int enum_index(const char *allowed, const char *v)
{
    size_t vlen = strlen(v);
    int i = 0;
    for (const char *p = allowed;; i++) {
        size_t n = strcspn(p, "|");
        if (n == vlen && n > 0 && strncasecmp(p, v, n) == 0)
            return i;
        if (p[n] == '\0')
            return -1;
        p += n + 1;
    }
}

/* The i-th name of "a|b|c"; sets *len. */
static const char *enum_name(const char *allowed, int i, int *len /* OUT */)
{
    assert(i >= 0);
    const char *p = allowed;
    for (; i > 0; i--) {
        p = strchr(p, '|');
        assert(p != NULL);
        p++;
    }
    *len = (int)strcspn(p, "|");
    return p;
}

int config_parse_bool(const char *text, int *value /* OUT */)
{
    for (size_t i = 0; i < sizeof bool_words / sizeof bool_words[0]; i++) {
        if (strcasecmp(text, bool_words[i]) == 0) {
            *value = (i % 2 == 0); /* the words come in (true, false) pairs */
            return 0;
        }
    }
    return -ERR_CONFIG;
}

static int apply_str(struct config *c, const struct cfg_key *k, const char *v, char *errbuf, size_t errlen)
{
    size_t n = strlen(v);
    if (n > CONFIG_STR_BYTES_MAX)
        return fail(errbuf, errlen, "%s: value longer than %d bytes", k->name, CONFIG_STR_BYTES_MAX);
    for (size_t i = 0; i < n; i++)
        if (iscntrl((unsigned char)v[i]))
            return fail(errbuf, errlen, "%s: value contains a control character", k->name);
    char **f = field_of(c, k);
    free(*f);
    *f = xstrdup(v);
    return 0;
}

static int apply_uint(struct config *c, const struct cfg_key *k, const char *v, char *errbuf, size_t errlen)
{
    uint64_t min = 0, max = 0, n = 0;
    uint_range(k, &min, &max);
    int rc = parse_u64(v, v + strlen(v), &n);
    if (rc == -EINVAL)
        return fail(errbuf, errlen, "%s: \"%.*s\" is not a decimal number", k->name, CONFIG_QUOTE_MAX, v);
    if (rc == -ERANGE || n < min || n > max)
        return fail(errbuf, errlen, "%s: %.*s is out of range %s", k->name, CONFIG_QUOTE_MAX, v, k->allowed);
    *(uint64_t *)field_of(c, k) = n;
    return 0;
}

static int apply_enum(struct config *c, const struct cfg_key *k, const char *v, char *errbuf, size_t errlen)
{
    int i = enum_index(k->allowed, v);
    if (i < 0)
        return fail(errbuf, errlen, "%s: \"%.*s\" is not one of %s", k->name, CONFIG_QUOTE_MAX, v, k->allowed);
    *(int *)field_of(c, k) = i;
    return 0;
}

static int apply_bool(struct config *c, const struct cfg_key *k, const char *v, char *errbuf, size_t errlen)
{
    int b;
    if (config_parse_bool(v, &b) < 0)
        return fail(errbuf, errlen, "%s: \"%.*s\" is not one of yes|no|true|false|on|off|1|0", k->name,
                    CONFIG_QUOTE_MAX, v);
    *(int *)field_of(c, k) = b;
    return 0;
}

/* Checks v against k's row and only then stores it. v is trimmed. */
static int apply(struct config *c, const struct cfg_key *k, const char *v, char *errbuf, size_t errlen)
{
    switch (k->type) {
    case CFG_STR:
        return apply_str(c, k, v, errbuf, errlen);
    case CFG_UINT:
        return apply_uint(c, k, v, errbuf, errlen);
    case CFG_ENUM:
        return apply_enum(c, k, v, errbuf, errlen);
    case CFG_BOOL:
        return apply_bool(c, k, v, errbuf, errlen);
    }
    assert(!"unknown cfg_type");
    return -ERR_CONFIG;
}

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < KEYS_N; i++) {
        char why[CONFIG_REASON_BYTES];
        int rc = apply(c, &keys[i], keys[i].def, why, sizeof why);
        /* A default its own row refuses is a bug in CONFIG_TABLE. */
        if (rc < 0)
            fprintf(stderr, "config: bad default in CONFIG_TABLE: %s\n", why);
        assert(rc == 0);
    }
}

void config_free(struct config *c)
{
    for (size_t i = 0; i < KEYS_N; i++) {
        if (keys[i].type != CFG_STR)
            continue;
        char **f = field_of(c, &keys[i]);
        free(*f);
        *f = NULL;
    }
}

/* --- the file ----------------------------------------------------------- */

struct file_parse {
    struct config *c;
    FILE *f;
    int lineno;   /* lines handed to inih so far: the one being parsed */
    int err_line; /* first line with an error found here (0: none) */
    char err[CONFIG_REASON_BYTES];
    int seen[KEYS_N]; /* line that set each key, to refuse a repeat */
};

__attribute__((format(printf, 2, 3))) static int file_error(struct file_parse *p, const char *fmt, ...)
{
    if (p->err_line == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err, sizeof p->err, fmt, ap);
        va_end(ap);
        p->err_line = p->lineno;
    }
    return 0; /* what inih wants from a handler that failed */
}

/* fgets for inih; see the file header for why it is more than fgets. */
static char *file_read_line(char *str, int num, void *stream)
{
    struct file_parse *p = stream;
    if (!fgets(str, num, p->f))
        return NULL;
    p->lineno++;
    size_t n = strlen(str);
    if (n > 0 && str[n - 1] != '\n') {
        int ch = getc(p->f);
        if (ch != EOF) {
            while (ch != EOF && ch != '\n')
                ch = getc(p->f);
            file_error(p, "line longer than %d bytes", num - 2);
            str[0] = '\0'; /* inih sees a blank line, applies nothing */
            return str;
        }
    }
    size_t skip = 0;
    while (isspace((unsigned char)str[skip]))
        skip++;
    memmove(str, str + skip, n - skip + 1);
    return str;
}

static int file_on_pair(void *user, const char *section, const char *name, const char *value)
{
    struct file_parse *p = user;
    /* This inih build reports no empty section, so an unknown [x] with
     * no keys under it passes; it sets nothing, so that is harmless. */
    if (section[0] != '\0' && strcasecmp(section, "server") != 0)
        return file_error(p, "unknown section [%s] (only [server] is allowed)", section);
    const struct cfg_key *k = key_find(name);
    if (!k)
        return file_error(p, "unknown key \"%s\"", name);
    size_t i = (size_t)(k - keys);
    if (p->seen[i])
        return file_error(p, "%s is set twice (first on line %d)", name, p->seen[i]);
    char why[CONFIG_REASON_BYTES];
    if (apply(p->c, k, value, why, sizeof why) < 0)
        return file_error(p, "%s", why);
    p->seen[i] = p->lineno;
    return 1;
}

int config_load_file(struct config *c, const char *path, char *errbuf, size_t errlen)
{
    struct file_parse p = {.c = c};
    p.f = fopen(path, "r");
    if (!p.f)
        return fail(errbuf, errlen, "%s: %s", path, strerror(errno));
    int rc = ini_parse_stream(file_read_line, &p, file_on_pair, &p);
    int read_errno = ferror(p.f) ? errno : 0;
    fclose(p.f);
    if (read_errno)
        return fail(errbuf, errlen, "%s: %s", path, strerror(read_errno));
    if (rc < 0)
        return fail(errbuf, errlen, "%s: inih failed (%d)", path, rc);
    /* inih gives the first line where our handler failed or where it found
     * no "key = value"; an earlier line of ours was a too-long line. */
    if (rc > 0 && (p.err_line == 0 || rc < p.err_line))
        return fail(errbuf, errlen, "%s:%d: expected \"key = value\" or \"[server]\"", path, rc);
    if (p.err_line)
        return fail(errbuf, errlen, "%s:%d: %s", path, p.err_line, p.err);
    return 0;
}

/* --- the command line --------------------------------------------------- */

static const char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

int config_set(struct config *c, const char *assignment, char *errbuf, size_t errlen)
{
    const char *eq = strchr(assignment, '=');
    if (!eq)
        return fail(errbuf, errlen, "\"%.*s\" is not key=value", CONFIG_QUOTE_MAX, assignment);
    char *copy = xstrdup(assignment);
    copy[eq - assignment] = '\0';
    const char *name = trim(copy);
    const char *value = trim(copy + (eq - assignment) + 1);
    const struct cfg_key *k = key_find(name);
    int rc;
    if (!k)
        rc = fail(errbuf, errlen, "unknown key \"%.*s\"", CONFIG_QUOTE_MAX, name);
    else
        rc = apply(c, k, value, errbuf, errlen);
    free(copy);
    return rc;
}

/* What one pass over argv found; the pointers borrow argv's strings. */
struct arg_scan {
    const char *file;
    const char **sets;
    int nsets;
    char **keep; /* argv minus our options, argv[0] first */
    int nkeep;
};

/* If argv[*i] is `--NAME VALUE` or `--NAME=VALUE`, returns VALUE (and
 * moves *i past it), or "" when VALUE is missing; else NULL. */
static const char *arg_value(const char *name, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0')
        return NULL; /* --settings is not ours */
    if (*i + 1 >= argc)
        return "";
    *i += 1;
    return argv[*i];
}

static int scan_args(struct arg_scan *s, int argc, char **argv, char *errbuf, size_t errlen)
{
    int i = 1;
    if (argc > 0)
        s->keep[s->nkeep++] = argv[0];
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        const char *v;
        if ((v = arg_value("--config", argc, argv, &i))) {
            if (v[0] == '\0')
                return fail(errbuf, errlen, "--config needs a FILE");
            if (s->file)
                return fail(errbuf, errlen, "--config given twice (%s and %s)", s->file, v);
            s->file = v;
        } else if ((v = arg_value("--set", argc, argv, &i))) {
            if (v[0] == '\0')
                return fail(errbuf, errlen, "--set needs key=value");
            s->sets[s->nsets++] = v;
        } else {
            s->keep[s->nkeep++] = argv[i];
        }
    }
    /* After "--" nothing is ours; keep "--" so the caller's parser stops too. */
    for (; i < argc; i++)
        s->keep[s->nkeep++] = argv[i];
    return 0;
}

static int apply_args(struct config *c, const struct arg_scan *s, char *errbuf, size_t errlen)
{
    if (s->file) {
        int rc = config_load_file(c, s->file, errbuf, errlen);
        if (rc < 0)
            return rc;
    }
    for (int i = 0; i < s->nsets; i++) {
        char why[CONFIG_REASON_BYTES];
        if (config_set(c, s->sets[i], why, sizeof why) < 0)
            return fail(errbuf, errlen, "--set: %s", why);
    }
    return 0;
}

/* *rest counts argv[0] too, so (argc, argv) becomes (*rest, argv) for the
 * caller's own parser, and argv[*rest] is NULL when anything was removed.
 * On error argv and *rest are untouched; c holds what was applied before
 * the failure (callers exit). */
int config_from_args(struct config *c, int argc, char **argv, int *rest /* OUT */, char *errbuf,
                     size_t errlen)
{
    assert(argc >= 0);
    size_t slots = (size_t)argc + 1;
    struct arg_scan s = {.sets = xmalloc(slots * sizeof *s.sets), .keep = xmalloc(slots * sizeof *s.keep)};
    int rc = scan_args(&s, argc, argv, errbuf, errlen);
    if (rc == 0)
        rc = apply_args(c, &s, errbuf, errlen);
    if (rc == 0) {
        assert(s.nkeep <= argc);
        memcpy(argv, s.keep, (size_t)s.nkeep * sizeof *argv);
        if (s.nkeep < argc)
            argv[s.nkeep] = NULL;
        *rest = s.nkeep;
    }
    free(s.sets);
    free(s.keep);
    return rc;
}

/* --- cross-key rules ---------------------------------------------------- */

/* Enough to catch a JID or a URL pasted in place of a domain; the full
 * RFC 7622 domainpart check (IDNA, IP literals) is the JID code's. */
static int check_domain(const char *d, char *errbuf, size_t errlen)
{
    size_t n = strlen(d);
    if (n == 0)
        return fail(errbuf, errlen, "domain is empty");
    if (n > CONFIG_DOMAIN_BYTES_MAX)
        return fail(errbuf, errlen, "domain is longer than %d bytes", CONFIG_DOMAIN_BYTES_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)d[i];
        if (ch == '@' || ch == '/' || isspace(ch) || iscntrl(ch))
            return fail(errbuf, errlen, "domain \"%.*s\" may not contain '@', '/' or spaces", CONFIG_QUOTE_MAX,
                        d);
    }
    if (d[0] == '.' || d[n - 1] == '.' || strstr(d, ".."))
        return fail(errbuf, errlen, "domain \"%.*s\" has an empty label", CONFIG_QUOTE_MAX, d);
    return 0;
}

/* Two listeners on one port would fail at bind with a less clear error. */
static int check_ports(const struct config *c, char *errbuf, size_t errlen)
{
    const struct {
        const char *name;
        uint64_t port;
    } p[] = {{"c2s_port", c->c2s_port}, {"c2s_tls_port", c->c2s_tls_port}, {"s2s_port", c->s2s_port}};
    size_t n = sizeof p / sizeof p[0];
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (p[i].port != 0 && p[i].port == p[j].port)
                return fail(errbuf, errlen, "%s and %s are both %" PRIu64, p[i].name, p[j].name, p[i].port);
    return 0;
}

/* Replaces an empty *path with dir/name. */
static void derive_path(char **path, const char *dir, const char *name)
{
    if ((*path)[0] != '\0')
        return;
    size_t dn = strlen(dir);
    const char *sep = (dn > 0 && dir[dn - 1] == '/') ? "" : "/";
    size_t n = dn + strlen(sep) + strlen(name) + 1;
    char *p = xmalloc(n);
    snprintf(p, n, "%s%s%s", dir, sep, name);
    free(*path);
    *path = p;
}

/* The group chat service's domain: chat.<domain> unless set; "off"
 * turns the service off (an empty domain in server-started). */
static int finish_muc_domain(struct config *c, char *errbuf, size_t errlen)
{
    if (strcmp(c->muc_domain, "off") == 0) {
        c->muc_domain[0] = '\0';
        return 0;
    }
    if (c->muc_domain[0] == '\0') {
        size_t n = strlen(c->domain) + sizeof "chat.";
        free(c->muc_domain);
        c->muc_domain = xmalloc(n);
        snprintf(c->muc_domain, n, "chat.%s", c->domain);
    }
    for (char *p = c->muc_domain; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (strcmp(c->muc_domain, c->domain) == 0)
        return fail(errbuf, errlen, "muc_domain must differ from domain");
    return check_domain(c->muc_domain, errbuf, errlen);
}

int config_finish(struct config *c, char *errbuf, size_t errlen)
{
    assert(c->domain != NULL);
    assert(c->data_dir != NULL);
    assert(c->tls_cert != NULL);
    assert(c->tls_key != NULL);
    assert(c->backup_dir != NULL);
    int rc = check_domain(c->domain, errbuf, errlen);
    if (rc < 0)
        return rc;
    if (c->data_dir[0] == '\0')
        return fail(errbuf, errlen, "data_dir is empty");
    rc = check_ports(c, errbuf, errlen);
    if (rc < 0)
        return rc;
    /* Domains compare case-insensitively; keep one spelling (ASCII only:
     * the JID code maps the rest with IDNA). */
    for (char *p = c->domain; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    derive_path(&c->tls_cert, c->data_dir, "tls/cert.pem");
    derive_path(&c->tls_key, c->data_dir, "tls/key.pem");
    derive_path(&c->backup_dir, c->data_dir, "backups");
    return finish_muc_domain(c, errbuf, errlen);
}

/* --- printing ----------------------------------------------------------- */

static void print_value(const struct config *c, const struct cfg_key *k, FILE *f)
{
    const void *v = field_of(c, k);
    switch (k->type) {
    case CFG_STR:
        fputs(*(char *const *)v ? *(char *const *)v : "", f);
        break;
    case CFG_UINT:
        fprintf(f, "%" PRIu64, *(const uint64_t *)v);
        break;
    case CFG_ENUM: {
        int len;
        const char *name = enum_name(k->allowed, *(const int *)v, &len);
        fprintf(f, "%.*s", len, name);
        break;
    }
    case CFG_BOOL:
        fputs(*(const int *)v ? "yes" : "no", f);
        break;
    }
}

void config_print(const struct config *c, void *file)
{
    FILE *f = file;
    for (size_t i = 0; i < KEYS_N; i++) {
        fprintf(f, "%s = ", keys[i].name);
        print_value(c, &keys[i], f);
        fprintf(f, "  ; %s\n", keys[i].doc); /* inih strips " ;" comments: the output reads back */
    }
}
