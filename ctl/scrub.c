/* scrub: see scrub.h. */
#include "ctl/scrub.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kernel/buf.h"

#define NS_REGISTER "jabber:iq:register"

/* Namespaces of encrypted message payloads: an entry ending in ':' is a
 * prefix (OMEMO's versions), any other must match whole. */
static const char *const encrypted_ns[] = {
    "eu.siacs.conversations.axolotl", /* OMEMO before namespace bump (XEP-0384 0.3) */
    "urn:xmpp:omemo:",                /* OMEMO (XEP-0384) */
    "jabber:x:encrypted",             /* legacy OpenPGP (XEP-0027) */
    "urn:xmpp:openpgp:0",             /* OpenPGP for XMPP (XEP-0373) */
};

static int is_content(const struct xnode *n)
{
    if (strcmp(n->name, "body") == 0 || strcmp(n->name, "subject") == 0 ||
        strcmp(n->name, "thread") == 0)
        return 1;
    for (size_t i = 0; i < sizeof encrypted_ns / sizeof *encrypted_ns; i++) {
        const char *p = encrypted_ns[i];
        size_t len = strlen(p);
        if (p[len - 1] == ':' ? strncmp(n->ns, p, len) == 0 : strcmp(n->ns, p) == 0)
            return 1;
    }
    return 0;
}

/* A password is never journaled (kernel/c2s.c turns it into SCRAM keys);
 * hidden anyway, should one ever reach an event. */
static int is_secret_elem(const struct xnode *n)
{
    return strcmp(n->name, "password") == 0 && strcmp(n->ns, NS_REGISTER) == 0;
}

/* SCRAM credentials as accounts events carry them: salt, <hash>-stored,
 * <hash>-server (handlers/accounts). Namespaced names end in the local. */
static int is_secret_attr(const char *name)
{
    const char *sp = strrchr(name, ' ');
    const char *local = sp ? sp + 1 : name;
    size_t n = strlen(local);
    return strcmp(local, "salt") == 0 || (n > 7 && strcmp(local + n - 7, "-stored") == 0) ||
           (n > 7 && strcmp(local + n - 7, "-server") == 0);
}

/* Replaces everything inside n with "[hidden N bytes]", N its text bytes. */
static void hide_kids(struct xnode *n)
{
    struct buf text;
    char note[64];
    if (!n->kids)
        return;
    buf_init(&text);
    xml_text_all(n, &text);
    snprintf(note, sizeof note, "[hidden %zu bytes]", text.len);
    explicit_bzero(text.p, text.len);
    buf_free(&text);
    while (n->kids)
        xml_remove(n, n->kids);
    xml_add_text(n, note);
}

void scrub_tree(struct xnode *n, int bodies)
{
    if (n->text)
        return;
    for (uint32_t i = 0; i < n->nattrs; i++)
        if (is_secret_attr(n->attrs[i].name))
            xml_set_attr(n, n->attrs[i].name, "[hidden]"); /* replaces in place */
    if (is_secret_elem(n) || (!bodies && is_content(n))) {
        hide_kids(n);
        return;
    }
    for (struct xnode *c = n->kids; c; c = c->next)
        scrub_tree(c, bodies);
}

void dump_time(int64_t us, char out[DUMP_TIME_BYTES])
{
    int64_t s = us / 1000000, frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        s--;
    }
    time_t tt = (time_t)s;
    struct tm tm;
    size_t n = gmtime_r(&tt, &tm) ? strftime(out, DUMP_TIME_BYTES, "%Y-%m-%dT%H:%M:%S", &tm) : 0;
    if (n == 0) {
        snprintf(out, DUMP_TIME_BYTES, "@%" PRId64 "us", us);
        return;
    }
    snprintf(out + n, DUMP_TIME_BYTES - n, ".%06" PRId64 "Z", frac);
}

void dump_line(const struct buf *b)
{
    for (size_t i = 0; i < b->len; i++) {
        uint8_t ch = b->p[i];
        if (ch == '\n')
            fputs("&#10;", stdout);
        else if (ch == '\r')
            fputs("&#13;", stdout);
        else
            putchar(ch);
    }
    putchar('\n');
}
