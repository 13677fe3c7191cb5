/* xml: the small trees stanzas become, and the streaming parser that
 * makes them (expat). See RFC 6120 §4 (streams) and §11 (XML rules).
 *
 * The stream is never held as one document: the parser turns each
 * top-level child of <stream:stream> into its own tree and hands it over.
 * Hard limits (stanza bytes, depth, attributes) bound every tree.
 *
 * Memory: every node is malloc'd (xmalloc: out of memory aborts). A tree
 * is owned by whoever holds its root and freed with xml_free(). */
#ifndef STANZAD_XML_H
#define STANZAD_XML_H

#include <stddef.h>
#include <stdint.h>

#include "kernel/buf.h"
#include "kernel/err.h"

#define NS_CLIENT "jabber:client"
#define NS_SERVER "jabber:server"
#define NS_STREAMS "http://etherx.jabber.org/streams"
#define NS_XML "http://www.w3.org/XML/1998/namespace"

struct xattr {
    char *name;  /* "to", "xml:lang"; see xml.c for other namespaced attributes */
    char *value; /* unescaped */
};

/* An element or a text node. Children are kept in document order, so
 * mixed content (XHTML-IM) survives a round trip. */
struct xnode {
    struct xnode *next; /* next sibling */
    struct xnode *kids; /* first child */
    struct xnode *last; /* last child, for O(1) append */
    char *name;         /* element local name; NULL for a text node */
    char *ns;           /* element namespace URI (never NULL for an element) */
    char *text;         /* text node content, unescaped; NULL for an element */
    struct xattr *attrs;
    uint32_t nattrs;
};

/* --- building and reading trees -------------------------------------- */

/* Returns a new element the caller frees with xml_free(). */
struct xnode *xml_new(const char *name, const char *ns);
/* Appends a new child element; ns NULL means the parent's namespace.
 * Returns the child, owned by parent. */
struct xnode *xml_add(struct xnode *parent, const char *name, const char *ns);
/* Appends a text child (merged into a trailing text child if any). */
void xml_add_text(struct xnode *parent, const char *text);
/* Appends child (an owned tree) to parent; parent owns it afterwards. */
void xml_append(struct xnode *parent, struct xnode *child);
/* Unlinks child from parent and frees it. */
void xml_remove(struct xnode *parent, struct xnode *child);
/* Frees n and its subtree (not its siblings). NULL is fine. */
void xml_free(struct xnode *n);
/* Deep copy; the caller frees it with xml_free(). */
struct xnode *xml_copy(const struct xnode *n);

/* Returns the attribute's value (borrowed from n) or NULL. */
const char *xml_attr(const struct xnode *n, const char *name);
/* Sets, replaces, or (value NULL) removes an attribute. */
void xml_set_attr(struct xnode *n, const char *name, const char *value);
/* First child element matching name and ns (either NULL: any), or NULL. */
struct xnode *xml_child(const struct xnode *n, const char *name, const char *ns);
/* Element children, in order: first, then next after c. NULL at the end. */
struct xnode *xml_first_elem(const struct xnode *n);
struct xnode *xml_next_elem(const struct xnode *c);
/* The text content of an element: its text children joined. Borrowed
 * from n when there is one text child; "" when none. With several text
 * children (mixed content) returns the first; use xml_text_all then. */
const char *xml_text(const struct xnode *n);
/* All text of n's subtree, concatenated into out. */
void xml_text_all(const struct xnode *n, struct buf *out);
/* Structural equality (names, namespaces, attributes as sets, children). */
int xml_equal(const struct xnode *a, const struct xnode *b);

/* --- serialising ---------------------------------------------------- */

/* Appends n as XML text to out. An element whose namespace equals
 * ctx_ns (the enclosing default namespace, e.g. NS_CLIENT for a stanza
 * inside a client stream) gets no xmlns attribute; any other gets one.
 * Text and attribute values are escaped (& < > " '). */
void xml_serialize(const struct xnode *n, const char *ctx_ns, struct buf *out);

/* Binary form used inside journal events and snapshots: compact and
 * quick to decode. Grammar in doc/formats/event.md. */
void xml_encode_bin(const struct xnode *n, struct buf *out);
/* Decodes one tree; returns it (caller frees) or NULL with r->err set.
 * Bounded by XML_BIN_DEPTH_MAX. */
struct xnode *xml_decode_bin(struct rd *r);
#define XML_BIN_DEPTH_MAX 64

/* --- the streaming parser ------------------------------------------- */

struct xml_limits {
    size_t stanza_bytes_max; /* one stanza's bytes on the wire; past it: policy-violation */
    unsigned depth_max;      /* element depth inside a stanza; past it: policy-violation */
    unsigned attrs_max;      /* attributes on one element; past it: policy-violation */
};

struct xml_stream_cbs {
    /* <stream:stream ...> was read. hdr is borrowed for the call: an
     * element named "stream" in its namespace, with the header's
     * attributes, plus an "xmlns" attribute holding the declared default
     * namespace (the content namespace, e.g. jabber:client). */
    void (*open_cb)(void *arg, const struct xnode *hdr);
    /* A complete top-level child of the stream; the callee owns it. */
    void (*stanza_cb)(void *arg, struct xnode *stanza);
    /* </stream:stream> was read. */
    void (*close_cb)(void *arg);
    /* The input broke a rule: cond is the stream error to send
     * (not-well-formed, restricted-xml, policy-violation, ...), text a
     * short reason for the log. No callback follows until a reset. */
    void (*error_cb)(void *arg, enum stream_err cond, const char *text);
};

struct xml_stream;

/* Returns a parser the caller frees with xml_stream_free(). lim and cbs
 * are copied. */
struct xml_stream *xml_stream_new(const struct xml_limits *lim, const struct xml_stream_cbs *cbs,
                                  void *arg);
/* Parses n more bytes. Returns 0, or a negative code after error_cb ran
 * (every later feed returns the same code). Callbacks may call
 * xml_stream_reset() or xml_stream_stop(). */
int xml_stream_feed(struct xml_stream *s, const char *p, size_t n);
/* Starts a new stream (after STARTTLS or SASL success): the next bytes,
 * including any left over from the current feed, go to a fresh parser.
 * Safe to call from inside a callback. */
void xml_stream_reset(struct xml_stream *s);
/* Stops parsing: bytes after the current stanza are dropped and no more
 * callbacks run (used before switching to TLS, when the rest of the
 * input must not be read as plaintext). Safe inside a callback. */
void xml_stream_stop(struct xml_stream *s);
/* Frees what an idle stream holds (the expat parser, the text buffer and
 * the element stack) when it stands between stanzas with nothing pending:
 * inside <stream:stream>, every byte fed consumed, no error, stop or
 * reset. Otherwise does nothing. The next feed makes a new parser that
 * parses the rest exactly as the old one would have (same trees, limits,
 * errors and close_cb; open_cb does not run again). Not from a callback. */
void xml_stream_trim(struct xml_stream *s);
void xml_stream_free(struct xml_stream *s);

#endif
