/* xml_bin: the binary form of a tree, as journal events and snapshots
 * carry it. Grammar, worked example and validity rule:
 * doc/formats/event.md ("tree").
 *
 * Why not store XML text: decoding text means running expat again on
 * every replay, and text needs escaping; this form is read with a few
 * bounds-checked varint reads per node. It stays simple (no string table)
 * because journal blocks are LZ4-compressed, which already removes the
 * repeated names and namespaces.
 *
 * The decoder trusts nothing: every count is checked against the bytes
 * left before anything is allocated, nesting is bounded by
 * XML_BIN_DEPTH_MAX, and any damage gives NULL with r->err set.
 *
 * Pure: no I/O, no clock; handlers link this file (tests/purity.sh). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/mem.h"
#include "kernel/xml.h"

/* Node tags, the first byte of every node. Part of the journal format:
 * never renumber. */
enum {
    TAG_TEXT = 0,      /* str text */
    TAG_ELEM_SAME = 1, /* str name, attrs, kids; namespace = the parent's */
    TAG_ELEM_NS = 2,   /* str name, str ns, attrs, kids */
};

/* Attribute counts at or below this are checked for duplicates pairwise;
 * above it by sorting, so a damaged count cannot make the check
 * quadratic. */
#define XML_BIN_DUP_PAIRWISE_MAX 8

/* --- encoding ------------------------------------------------------- */

static void encode_node(const struct xnode *n, const char *parent_ns, unsigned depth,
                        struct buf *out)
{
    if (n->text) {
        buf_put_u8(out, TAG_TEXT);
        buf_put_str(out, n->text);
        return;
    }
    /* Trees come from the stream parser, whose depth limit is clamped
     * below this, or from handlers: a deeper one could never be decoded
     * again, so writing it would lose the event on replay. */
    assert(depth <= XML_BIN_DEPTH_MAX);
    int same = parent_ns && strcmp(parent_ns, n->ns) == 0;
    buf_put_u8(out, same ? TAG_ELEM_SAME : TAG_ELEM_NS);
    buf_put_str(out, n->name);
    if (!same)
        buf_put_str(out, n->ns);
    buf_put_varint(out, n->nattrs);
    for (uint32_t i = 0; i < n->nattrs; i++) {
        buf_put_str(out, n->attrs[i].name);
        buf_put_str(out, n->attrs[i].value);
    }
    uint64_t nkids = 0;
    for (const struct xnode *c = n->kids; c; c = c->next)
        nkids++;
    buf_put_varint(out, nkids);
    for (const struct xnode *c = n->kids; c; c = c->next)
        encode_node(c, n->ns, depth + 1, out);
}

void xml_encode_bin(const struct xnode *n, struct buf *out) { encode_node(n, NULL, 1, out); }

/* --- decoding ------------------------------------------------------- */

static int cmp_attr_name(const void *a, const void *b)
{
    return strcmp(((const struct xattr *)a)->name, ((const struct xattr *)b)->name);
}

/* Returns 1 when no two of the attributes share a name. */
static int attrs_unique(const struct xattr *a, uint32_t n)
{
    if (n <= XML_BIN_DUP_PAIRWISE_MAX) {
        for (uint32_t i = 0; i < n; i++)
            for (uint32_t j = i + 1; j < n; j++)
                if (strcmp(a[i].name, a[j].name) == 0)
                    return 0;
        return 1;
    }
    struct xattr *s = xmalloc(n * sizeof *s);
    memcpy(s, a, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_attr_name);
    int ok = 1;
    for (uint32_t i = 1; i < n && ok; i++)
        ok = strcmp(s[i - 1].name, s[i].name) != 0;
    free(s);
    return ok;
}

/* Reads a non-empty string (names must not be empty). */
static char *rd_name(struct rd *r)
{
    char *s = rd_strdup(r);
    if (s && !*s) {
        free(s);
        s = NULL;
        r->err = -ERR_CORRUPT;
    }
    return s;
}

/* Reads the attribute list into n. Returns 0 or r->err. */
static int decode_attrs(struct rd *r, struct xnode *n)
{
    uint64_t count = rd_varint(r);
    /* each attribute takes at least 2 bytes: a name of 1, two lengths */
    if (r->err || count > rd_left(r) / 2) {
        r->err = -ERR_CORRUPT;
        return r->err;
    }
    if (count == 0)
        return 0;
    n->attrs = xcalloc((size_t)count, sizeof *n->attrs);
    for (uint64_t i = 0; i < count; i++) {
        char *name = rd_name(r);
        char *value = name ? rd_strdup(r) : NULL;
        if (!value) {
            free(name);
            return r->err;
        }
        n->attrs[i].name = name;
        n->attrs[i].value = value;
        n->nattrs++; /* counted as filled, so xml_free frees exactly these */
    }
    if (!attrs_unique(n->attrs, n->nattrs))
        r->err = -ERR_CORRUPT;
    return r->err;
}

static struct xnode *decode_node(struct rd *r, const char *parent_ns, unsigned depth);

/* Reads the children into n. Returns 0 or r->err. */
static int decode_kids(struct rd *r, struct xnode *n, unsigned depth)
{
    uint64_t count = rd_varint(r);
    /* each node takes at least 2 bytes: a tag and a length */
    if (r->err || count > rd_left(r) / 2) {
        r->err = -ERR_CORRUPT;
        return r->err;
    }
    for (uint64_t i = 0; i < count; i++) {
        struct xnode *c = decode_node(r, n->ns, depth + 1);
        if (!c)
            return r->err;
        xml_append(n, c);
    }
    return 0;
}

static struct xnode *decode_elem(struct rd *r, int tag, const char *parent_ns, unsigned depth)
{
    if (depth > XML_BIN_DEPTH_MAX || (tag == TAG_ELEM_SAME && !parent_ns)) {
        r->err = -ERR_CORRUPT; /* too deep, or "same namespace" at the root */
        return NULL;
    }
    struct xnode *n = xcalloc(1, sizeof *n);
    n->name = rd_name(r);
    if (n->name)
        n->ns = tag == TAG_ELEM_SAME ? xstrdup(parent_ns) : rd_strdup(r);
    if (!n->ns || decode_attrs(r, n) || decode_kids(r, n, depth)) {
        if (!r->err)
            r->err = -ERR_CORRUPT;
        xml_free(n);
        return NULL;
    }
    return n;
}

static struct xnode *decode_node(struct rd *r, const char *parent_ns, unsigned depth)
{
    uint8_t tag = rd_u8(r);
    if (r->err)
        return NULL;
    if (tag == TAG_ELEM_SAME || tag == TAG_ELEM_NS)
        return decode_elem(r, tag, parent_ns, depth);
    if (tag != TAG_TEXT) {
        r->err = -ERR_CORRUPT;
        return NULL;
    }
    char *text = rd_strdup(r);
    if (!text)
        return NULL;
    struct xnode *n = xcalloc(1, sizeof *n);
    n->text = text;
    return n;
}

struct xnode *xml_decode_bin(struct rd *r)
{
    if (r->err)
        return NULL;
    struct xnode *n = decode_node(r, NULL, 1);
    assert((n == NULL) == (r->err != 0));
    return n;
}
