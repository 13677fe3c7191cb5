/* xml: building, reading, comparing and serialising stanza trees.
 *
 * The trees are deliberately plain (see xml.h): a node is an element or a
 * text node, children are a singly linked list with a tail pointer, and
 * every string field (name, ns, text, each attribute's name and value) is
 * its own heap allocation that xml_free() releases. Code that replaces a
 * field must therefore free the old string and store an xmalloc'd one.
 *
 * Attribute names. RFC 6120 §4.7.4 and most extensions use attributes in
 * no namespace, stored by their local name ("to", "type"). Attributes in
 * the XML namespace (xml:lang, RFC 6120 §4.7.4) are stored as "xml:lang",
 * because that prefix is bound by the XML spec and needs no declaration.
 * Any other namespaced attribute is stored as "URI local", the namespace
 * URI, one space, the local name: a space can appear in neither a
 * namespace name expat accepts nor an XML name, so the form is
 * unambiguous, and it is what a prefix-free comparison needs (two
 * documents that chose different prefixes give equal trees).
 * xml_serialize() writes such an attribute with a generated prefix
 * ("a0", "a1", ... one per attribute) declared on the same element, so a
 * parse -> serialize -> parse round trip gives an equal tree. An element's
 * own namespace is always written as a default declaration (xmlns='...'),
 * never with a prefix. The empty string is the ns of an element in no
 * namespace.
 *
 * Escaping: & < > always; in attribute values (quoted with ') also ' " and
 * tab/newline/CR as character references, so that attribute-value
 * normalisation gives the same value back. Quotes in text stay literal.
 *
 * Serialising never writes an attribute named "xmlns" or "xmlns:*":
 * namespace declarations are derived from the tree (an element's ns), and
 * writing a stored one too could duplicate it (the stream header handed to
 * open_cb carries one). Characters XML 1.0 forbids (C0 controls but tab,
 * newline and carriage return) are dropped so the output stays well
 * formed; trees from the parser never hold any.
 *
 * Pure: no I/O, no clock; handlers link this file (tests/purity.sh). */
#include "kernel/xml.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/mem.h"

/* --- building ------------------------------------------------------- */

struct xnode *xml_new(const char *name, const char *ns)
{
    assert(name != NULL);
    assert(ns != NULL);
    struct xnode *n = xcalloc(1, sizeof *n);
    n->name = xstrdup(name);
    n->ns = xstrdup(ns);
    return n;
}

void xml_append(struct xnode *parent, struct xnode *child)
{
    assert(parent->name != NULL); /* text nodes have no children */
    assert(child->next == NULL);  /* not in another list */
    if (parent->last)
        parent->last->next = child;
    else
        parent->kids = child;
    parent->last = child;
}

struct xnode *xml_add(struct xnode *parent, const char *name, const char *ns)
{
    assert(parent->name != NULL);
    struct xnode *c = xml_new(name, ns ? ns : parent->ns);
    xml_append(parent, c);
    return c;
}

void xml_add_text(struct xnode *parent, const char *text)
{
    assert(parent->name != NULL);
    size_t n = strlen(text);
    if (n == 0)
        return; /* an empty text node would only make equality fussier */
    struct xnode *last = parent->last;
    if (last && last->text) {
        size_t old = strlen(last->text);
        last->text = xrealloc(last->text, old + n + 1);
        memcpy(last->text + old, text, n + 1);
        return;
    }
    struct xnode *t = xcalloc(1, sizeof *t);
    t->text = xstrndup(text, n);
    xml_append(parent, t);
}

void xml_remove(struct xnode *parent, struct xnode *child)
{
    struct xnode *prev = NULL;
    struct xnode *c = parent->kids;
    while (c && c != child) {
        prev = c;
        c = c->next;
    }
    assert(c == child); /* removing a node that is not a child is a bug */
    if (prev)
        prev->next = child->next;
    else
        parent->kids = child->next;
    if (parent->last == child)
        parent->last = prev;
    child->next = NULL;
    xml_free(child);
}

void xml_free(struct xnode *n)
{
    if (!n)
        return;
    struct xnode *k = n->kids;
    while (k) {
        struct xnode *next = k->next;
        xml_free(k);
        k = next;
    }
    for (uint32_t i = 0; i < n->nattrs; i++) {
        free(n->attrs[i].name);
        free(n->attrs[i].value);
    }
    free(n->attrs);
    free(n->name);
    free(n->ns);
    free(n->text);
    free(n);
}

struct xnode *xml_copy(const struct xnode *n)
{
    struct xnode *c = xcalloc(1, sizeof *c);
    if (n->text) {
        c->text = xstrdup(n->text);
        return c;
    }
    c->name = xstrdup(n->name);
    c->ns = xstrdup(n->ns);
    if (n->nattrs) {
        c->attrs = xmalloc(n->nattrs * sizeof *c->attrs);
        for (uint32_t i = 0; i < n->nattrs; i++) {
            c->attrs[i].name = xstrdup(n->attrs[i].name);
            c->attrs[i].value = xstrdup(n->attrs[i].value);
        }
        c->nattrs = n->nattrs;
    }
    for (const struct xnode *k = n->kids; k; k = k->next)
        xml_append(c, xml_copy(k));
    return c;
}

/* --- attributes ----------------------------------------------------- */

static struct xattr *attr_find(const struct xnode *n, const char *name)
{
    for (uint32_t i = 0; i < n->nattrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}

const char *xml_attr(const struct xnode *n, const char *name)
{
    const struct xattr *a = attr_find(n, name);
    return a ? a->value : NULL;
}

void xml_set_attr(struct xnode *n, const char *name, const char *value)
{
    assert(n->name != NULL);
    struct xattr *a = attr_find(n, name);
    if (a && value) {
        char *v = xstrdup(value); /* before freeing: value may be a->value */
        free(a->value);
        a->value = v;
    } else if (a) {
        free(a->name);
        free(a->value);
        size_t i = (size_t)(a - n->attrs);
        memmove(a, a + 1, (n->nattrs - i - 1) * sizeof *a);
        n->nattrs--;
    } else if (value) {
        /* One realloc per new attribute: elements hold a handful, and
         * there is no capacity field to keep in step with the parser's
         * exact-size arrays. */
        n->attrs = xrealloc(n->attrs, (n->nattrs + 1) * sizeof *n->attrs);
        n->attrs[n->nattrs].name = xstrdup(name);
        n->attrs[n->nattrs].value = xstrdup(value);
        n->nattrs++;
    }
}

/* --- reading -------------------------------------------------------- */

struct xnode *xml_child(const struct xnode *n, const char *name, const char *ns)
{
    for (struct xnode *c = n->kids; c; c = c->next) {
        if (!c->name)
            continue;
        if (name && strcmp(c->name, name) != 0)
            continue;
        if (ns && strcmp(c->ns, ns) != 0)
            continue;
        return c;
    }
    return NULL;
}

static struct xnode *elem_from(struct xnode *c)
{
    while (c && !c->name)
        c = c->next;
    return c;
}

struct xnode *xml_first_elem(const struct xnode *n) { return elem_from(n->kids); }

struct xnode *xml_next_elem(const struct xnode *c) { return elem_from(c->next); }

const char *xml_text(const struct xnode *n)
{
    for (const struct xnode *c = n->kids; c; c = c->next)
        if (c->text)
            return c->text;
    return "";
}

void xml_text_all(const struct xnode *n, struct buf *out)
{
    if (n->text) {
        buf_puts(out, n->text);
        return;
    }
    for (const struct xnode *c = n->kids; c; c = c->next)
        xml_text_all(c, out);
}

/* Attribute sets are equal when they have the same size and every name
 * of a is in b with the same value; names are unique within an element. */
static int attrs_equal(const struct xnode *a, const struct xnode *b)
{
    if (a->nattrs != b->nattrs)
        return 0;
    for (uint32_t i = 0; i < a->nattrs; i++) {
        const char *v = xml_attr(b, a->attrs[i].name);
        if (!v || strcmp(v, a->attrs[i].value) != 0)
            return 0;
    }
    return 1;
}

int xml_equal(const struct xnode *a, const struct xnode *b)
{
    if (!a || !b)
        return a == b;
    if (a->text || b->text)
        return a->text && b->text && strcmp(a->text, b->text) == 0;
    if (strcmp(a->name, b->name) != 0 || strcmp(a->ns, b->ns) != 0)
        return 0;
    if (!attrs_equal(a, b))
        return 0;
    const struct xnode *x = a->kids;
    const struct xnode *y = b->kids;
    for (; x && y; x = x->next, y = y->next)
        if (!xml_equal(x, y))
            return 0;
    return x == NULL && y == NULL;
}

/* --- serialising ---------------------------------------------------- */

/* Appends s[0..n) escaped for text content (in_attr 0) or for an attribute
 * value quoted with ' (in_attr 1). In attributes, tab, newline and
 * carriage return become character references so that attribute-value
 * normalisation (XML 1.0 §3.3.3) gives back the same value; in text a
 * carriage return does, so that end-of-line handling (§2.11) keeps it. */
static void put_escaped(struct buf *out, const char *s, size_t n, int in_attr)
{
    const char *end = s + n;
    const char *run = s;
    for (; s < end; s++) {
        unsigned char c = (unsigned char)*s;
        if (c > '>')
            continue; /* every special character is at or below '>' */
        const char *rep;
        switch (c) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '\'': rep = in_attr ? "&apos;" : NULL; break;
        case '"': rep = in_attr ? "&quot;" : NULL; break;
        case '\t': rep = in_attr ? "&#9;" : NULL; break;
        case '\n': rep = in_attr ? "&#10;" : NULL; break;
        case '\r': rep = "&#13;"; break;
        default: rep = c < 0x20 ? "" : NULL; break; /* not an XML Char: drop */
        }
        if (!rep)
            continue;
        buf_put(out, run, (size_t)(s - run));
        buf_puts(out, rep);
        run = s + 1;
    }
    buf_put(out, run, (size_t)(s - run));
}

/* Appends " prefix:name='value'" (no prefix when NULL); value escaped. */
static void put_attr(struct buf *out, const char *prefix, const char *name, size_t name_len,
                     const char *value, size_t value_len)
{
    buf_put_u8(out, ' ');
    if (prefix) {
        buf_puts(out, prefix);
        buf_put_u8(out, ':');
    }
    buf_put(out, name, name_len);
    buf_puts(out, "='");
    put_escaped(out, value, value_len, 1);
    buf_put_u8(out, '\'');
}

static int is_xmlns(const char *name)
{
    return strncmp(name, "xmlns", 5) == 0 && (name[5] == '\0' || name[5] == ':');
}

/* Writes the attributes. Each one stored as "URI local" gets its own
 * prefix (a0, a1, ...) declared right before it: two prefixes bound to
 * one URI are legal (XML Namespaces §6.1), stored names are unique so no
 * two attributes can collide, and this keeps the work linear. */
static void put_attrs(const struct xnode *n, struct buf *out)
{
    unsigned k = 0;
    for (uint32_t i = 0; i < n->nattrs; i++) {
        const char *name = n->attrs[i].name;
        const char *sp = strchr(name, ' ');
        if (!sp) {
            if (!is_xmlns(name))
                put_attr(out, NULL, name, strlen(name), n->attrs[i].value,
                         strlen(n->attrs[i].value));
            continue;
        }
        size_t ulen = (size_t)(sp - name);
        const char *value = n->attrs[i].value;
        if (ulen == strlen(NS_XML) && memcmp(name, NS_XML, ulen) == 0) {
            /* only "xml" may be bound to the XML namespace */
            put_attr(out, "xml", sp + 1, strlen(sp + 1), value, strlen(value));
            continue;
        }
        char prefix[16];
        snprintf(prefix, sizeof prefix, "a%u", k++);
        put_attr(out, "xmlns", prefix, strlen(prefix), name, ulen);
        put_attr(out, prefix, sp + 1, strlen(sp + 1), value, strlen(value));
    }
}

void xml_serialize(const struct xnode *n, const char *ctx_ns, struct buf *out)
{
    if (n->text) {
        put_escaped(out, n->text, strlen(n->text), 0);
        return;
    }
    buf_put_u8(out, '<');
    buf_puts(out, n->name);
    if (!ctx_ns || strcmp(n->ns, ctx_ns) != 0)
        put_attr(out, NULL, "xmlns", 5, n->ns, strlen(n->ns));
    put_attrs(n, out);
    if (!n->kids) {
        buf_puts(out, "/>");
        return;
    }
    buf_put_u8(out, '>');
    for (const struct xnode *c = n->kids; c; c = c->next)
        xml_serialize(c, n->ns, out);
    buf_puts(out, "</");
    buf_puts(out, n->name);
    buf_put_u8(out, '>');
}
