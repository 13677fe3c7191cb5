/* loadgen_xml: the generator's XML reader, one small tree per top-level
 * child of the stream (RFC 6120 §4.8: stanzas and stream-level elements).
 *
 * Expat with namespace processing does the parsing; names are split into
 * local name and namespace so a server's choice of prefixes ("stream:" or
 * another) does not matter. The generator only looks at a handful of
 * elements, so a tree per element is simple and cheap next to TLS; each
 * tree is freed right after its callback. */
#include <assert.h>
#include <expat.h>
#include <stdlib.h>
#include <string.h>

#include "bench/loadgen.h"
#include "kernel/err.h"
#include "kernel/mem.h"

/* A top-level element with more bytes of names, attributes and text than
 * this ends the connection as a parse error: replies the generator waits
 * for are a few hundred bytes, messages a few KiB. */
#define LG_EL_BYTES_MAX (1u << 20)
/* Separator expat puts between namespace and local name. */
#define LG_NS_SEP '\x01'

struct lg_xml {
    XML_Parser p;
    void (*open_cb)(void *arg);
    void (*el_cb)(void *arg, struct lg_el *el);
    void *arg;
    struct lg_el *cur;  /* element being built, NULL at depth <= 1 */
    struct lg_el *root; /* top-level element being built */
    size_t bytes;       /* bytes in root so far */
    int depth;          /* 0 outside the stream, 1 inside the root */
    bool restart;
    bool closed;
    bool too_big;
};

static void el_free(struct lg_el *e)
{
    while (e) {
        struct lg_el *next = e->next;
        el_free(e->kids);
        free(e->name);
        free(e->ns);
        for (char **a = e->attrs; a && *a; a++)
            free(*a);
        free(e->attrs);
        free(e->text);
        free(e);
        e = next;
    }
}

/* Splits expat's "ns<SEP>local" into two strings. */
static void split_name(const char *qn, char **ns /* OUT */, char **local /* OUT */)
{
    const char *sep = strchr(qn, LG_NS_SEP);
    if (sep) {
        *ns = xstrndup(qn, (size_t)(sep - qn));
        *local = xstrdup(sep + 1);
    } else {
        *ns = xstrdup("");
        *local = xstrdup(qn);
    }
}

static struct lg_el *el_new(struct lg_xml *x, const char *qn, const char **atts)
{
    struct lg_el *e = xcalloc(1, sizeof *e);
    split_name(qn, &e->ns, &e->name);
    size_t n = 0;
    while (atts[n])
        n++;
    e->attrs = xcalloc(n + 1, sizeof *e->attrs);
    for (size_t i = 0; i < n; i++) {
        if (i % 2 == 0) {
            char *ns;
            split_name(atts[i], &ns, &e->attrs[i]);
            free(ns);
        } else {
            e->attrs[i] = xstrdup(atts[i]);
        }
        x->bytes += strlen(atts[i]);
    }
    x->bytes += strlen(qn);
    return e;
}

static void XMLCALL on_start(void *ud, const char *name, const char **atts)
{
    struct lg_xml *x = ud;
    x->depth++;
    if (x->depth == 1) {
        if (x->open_cb)
            x->open_cb(x->arg);
        return;
    }
    struct lg_el *e = el_new(x, name, atts);
    if (x->cur == NULL) {
        x->root = e;
    } else {
        /* Children are prepended; readers look them up by name. */
        e->parent = x->cur;
        e->next = x->cur->kids;
        x->cur->kids = e;
    }
    x->cur = e;
    if (x->bytes > LG_EL_BYTES_MAX) {
        x->too_big = true;
        XML_StopParser(x->p, XML_FALSE);
    }
}

static void XMLCALL on_end(void *ud, const char *name)
{
    struct lg_xml *x = ud;
    (void)name;
    x->depth--;
    if (x->depth == 0) {
        x->closed = true;
        XML_StopParser(x->p, XML_FALSE);
        return;
    }
    assert(x->cur != NULL);
    if (x->cur->parent) {
        x->cur = x->cur->parent;
        return;
    }
    struct lg_el *e = x->root;
    x->cur = NULL;
    x->root = NULL;
    x->bytes = 0;
    x->el_cb(x->arg, e);
    el_free(e);
}

static void XMLCALL on_text(void *ud, const char *s, int len)
{
    struct lg_xml *x = ud;
    struct lg_el *e = x->cur;
    if (e == NULL || len <= 0)
        return; /* whitespace between stanzas */
    x->bytes += (size_t)len;
    if (x->bytes > LG_EL_BYTES_MAX) {
        x->too_big = true;
        XML_StopParser(x->p, XML_FALSE);
        return;
    }
    e->text = xrealloc(e->text, e->text_len + (size_t)len + 1);
    memcpy(e->text + e->text_len, s, (size_t)len);
    e->text_len += (size_t)len;
    e->text[e->text_len] = '\0';
}

static void parser_setup(struct lg_xml *x)
{
    XML_SetUserData(x->p, x);
    XML_SetElementHandler(x->p, on_start, on_end);
    XML_SetCharacterDataHandler(x->p, on_text);
    x->depth = 0;
    x->restart = false;
    x->closed = false;
}

struct lg_xml *lg_xml_new(void (*open_cb)(void *arg), void (*el_cb)(void *arg, struct lg_el *el),
                          void *arg)
{
    struct lg_xml *x = xcalloc(1, sizeof *x);
    x->p = XML_ParserCreateNS(NULL, LG_NS_SEP);
    if (x->p == NULL)
        abort(); /* expat's only failure is out of memory */
    x->open_cb = open_cb;
    x->el_cb = el_cb;
    x->arg = arg;
    parser_setup(x);
    return x;
}

void lg_xml_free(struct lg_xml *x)
{
    if (x == NULL)
        return;
    el_free(x->root);
    XML_ParserFree(x->p);
    free(x);
}

void lg_xml_restart(struct lg_xml *x)
{
    x->restart = true;
    XML_StopParser(x->p, XML_FALSE);
}

int lg_xml_feed(struct lg_xml *x, const char *p, size_t n)
{
    if (x->closed)
        return -ERR_CLOSED;
    if (XML_Parse(x->p, p, (int)n, XML_FALSE) == XML_STATUS_OK)
        return 0;
    if (x->restart) {
        el_free(x->root);
        x->root = x->cur = NULL;
        x->bytes = 0;
        XML_ParserReset(x->p, NULL);
        parser_setup(x);
        return 0;
    }
    if (x->closed)
        return -ERR_CLOSED;
    return -ERR_PARSE; /* bad XML, or too_big */
}

const char *lg_el_attr(const struct lg_el *e, const char *name)
{
    for (char **a = e->attrs; a && a[0]; a += 2)
        if (strcmp(a[0], name) == 0)
            return a[1];
    return NULL;
}

const struct lg_el *lg_el_child(const struct lg_el *e, const char *name)
{
    for (const struct lg_el *k = e->kids; k; k = k->next)
        if (strcmp(k->name, name) == 0)
            return k;
    return NULL;
}
