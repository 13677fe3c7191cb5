/* xml_stream: the XMPP stream parser. Bytes in, one tree per top-level
 * child of <stream:stream> out (RFC 6120 §4), with the XML restrictions
 * of RFC 6120 §11 and hard limits on every stanza.
 *
 * expat runs with namespace processing: names arrive as "URI local"
 * (separator ' ', which expat refuses inside a namespace URI), so a tree's
 * ns is always the URI whatever prefix the peer chose. See xml.c for how
 * namespaced attributes are stored.
 *
 * Positions. Every limit on the wire is measured with expat's absolute
 * byte index of the current event (XML_GetCurrentByteIndex + ByteCount),
 * so it does not matter where the peer's writes or our reads split the
 * input, even in the middle of a UTF-8 character. Bytes expat holds in an
 * unfinished token fire no handler, so after each chunk the feed also
 * checks what is buffered: everything since the open stanza began must
 * stay within stanza_bytes_max, and everything since the last event (the
 * unfinished token) within XML_STREAM_TOKEN_BYTES_MAX.
 *
 * Latency. expat's "reparse deferral" (the CVE-2023-52425 fix, which
 * Debian backported to 2.5.0) may leave a complete stanza unparsed until
 * more bytes arrive; a server must answer what it has, so it is turned
 * off. What it protected against, rescanning a growing token on every
 * small read, is bounded here by the token limit instead.
 *
 * Reset and stop from a callback. A handler cannot replace the parser it
 * runs in, so xml_stream_reset() and xml_stream_stop() inside a callback
 * call XML_StopParser and set a flag that silences every later handler;
 * once XML_Parse returns, feed applies them: after a reset, the bytes
 * after the current event go to a fresh parser; after a stop they are
 * dropped. The same silencing follows an error and </stream:stream>.
 *
 * Trimming an idle stream. Most of an idle session's parser memory is
 * expat's own (about 12 KiB: its DTD and name hash tables, namespace
 * bindings and input buffer), so xml_stream_trim() frees the expat parser
 * between stanzas and the next feed makes a new one. expat cannot be
 * primed at depth 1 other than by parsing a stream header, so the new
 * parser first parses, with no handler but a check, a synthetic header
 * built when the peer's header was read: the same element name (prefix
 * included, since the peer's </stream:stream> must match it) and the same
 * namespace declarations, nothing else. That is everything a stanza's tree
 * takes from its header: expat resolves prefixes and the default
 * namespace from the declarations in scope, and nothing else (xml:lang
 * included) is inherited into a child's tree. Positions restart at the
 * synthetic header's length; every limit is a difference of positions or
 * a count kept here (stray), so the limits are unchanged.
 *
 * Expat's allocations go through xmalloc (out of memory aborts, as
 * everywhere in stanzad). */
#include <assert.h>
#include <expat.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kernel/mem.h"
#include "kernel/xml_heap.h"
#include "kernel/xml.h"

/* Input is handed to expat in pieces of at most this many bytes, so the
 * buffered-bytes checks run at least this often: an unfinished stanza or
 * token outgrows its limit by at most one chunk before it is refused. */
#define XML_STREAM_CHUNK_BYTES 16384
/* Largest unfinished token (in practice a start tag with its attributes;
 * text is reported as it arrives). expat rescans an unfinished token on
 * every feed, so a peer trickling one byte per read costs O(size^2):
 * measured here, 16 KiB costs 0.06 s of CPU in all, 256 KiB 15 s. XMPP
 * start tags are far smaller (a JID is at most 3071 bytes, RFC 7622 §3.1).
 * Past it (or past stanza_bytes_max if smaller): policy-violation. */
#define XML_STREAM_TOKEN_BYTES_MAX 16384
/* The text buffer keeps its memory between stanzas up to this size; a
 * larger one (after a big stanza) is freed so idle sessions stay small. */
#define XML_STREAM_TEXT_KEEP_BYTES 4096
/* Levels of nesting kept free below XML_BIN_DEPTH_MAX: depth_max is
 * clamped to XML_BIN_DEPTH_MAX minus this, so a stanza still fits the
 * journal's tree encoding when an event wraps it in elements of its own
 * (the encoder asserts on depth, and must never see a peer reach it). */
#define XML_STREAM_DEPTH_HEADROOM 4
/* Initial slots of the open-element stack; it grows to depth_max. */
#define XML_STREAM_STACK_INIT 8
/* Largest synthetic header kept for re-creating a trimmed parser; a
 * stream whose namespace declarations need more is never trimmed (a
 * normal one needs about 90 bytes). */
#define XML_STREAM_REPLAY_BYTES_MAX 1024

struct xml_stream {
    XML_Parser p;
    struct xml_limits lim;
    struct xml_stream_cbs cbs;
    void *arg;

    bool in_parse;      /* inside XML_Parse: reset and stop are deferred */
    bool halt;          /* handlers do nothing until the next restart */
    bool stopped;       /* stop or </stream:stream>: input dropped until reset */
    bool reset_pending; /* reset asked from a callback; resume_at is valid */
    bool failed;        /* error_cb ran during the current feed */
    bool trimmed;       /* p was freed while idle: the next feed replays the header */
    bool in_cdata;      /* inside a CDATA section: expat state a new parser lacks */
    int err;            /* 0, or what every feed returns after error_cb */

    uint64_t fed;          /* bytes given to this parser before the current chunk */
    uint64_t resume_at;    /* absolute index where a pending reset resumes */
    uint64_t last_end;     /* absolute index just past the last event */
    uint64_t stanza_start; /* absolute index of the open stanza's first byte */
    uint64_t stray;        /* non-whitespace text bytes at stream level since a stanza */

    unsigned depth;      /* open elements, <stream:stream> included */
    unsigned ns_decls;   /* namespace declarations on the element being opened */
    char *hdr_ns;        /* default namespace declared on the first element */
    struct buf hdr_decls; /* the first element's declarations, as attributes */
    char *replay;        /* synthetic header (see "Trimming"), NUL-terminated, or NULL */
    size_t replay_len;
    struct xnode **stack; /* stack[0] = stanza root, stack[depth - 2] = innermost */
    unsigned stack_cap;
    struct buf text;     /* character data not yet made a text node */
};

/* --- positions and errors ------------------------------------------- */

/* Absolute index just past the event expat is reporting. */
static uint64_t event_end(const struct xml_stream *s)
{
    XML_Index i = XML_GetCurrentByteIndex(s->p);
    int c = XML_GetCurrentByteCount(s->p);
    assert(i >= 0);
    return (uint64_t)i + (uint64_t)(c > 0 ? c : 0);
}

/* Silences the handlers; inside XML_Parse also makes it return soon. */
static void halt_parser(struct xml_stream *s)
{
    s->halt = true;
    if (s->in_parse)
        XML_StopParser(s->p, XML_FALSE);
}

/* Drops the unfinished stanza and pending text. */
static void drop_partial(struct xml_stream *s)
{
    if (s->depth >= 2) {
        xml_free(s->stack[0]); /* the stanza root owns the rest of the stack */
        s->stack[0] = NULL;
        s->depth = 1;
    }
    buf_free(&s->text);
    free(s->hdr_ns);
    s->hdr_ns = NULL;
    buf_free(&s->hdr_decls);
}

/* Forgets the stream's header: a new stream or an error follows. */
static void drop_replay(struct xml_stream *s)
{
    free(s->replay);
    s->replay = NULL;
    s->replay_len = 0;
    s->trimmed = false;
}

/* The input broke a rule: free what we hold, report once, go silent. */
static void fail(struct xml_stream *s, enum stream_err cond, const char *text)
{
    if (s->err)
        return;
    s->err = -ERR_PARSE;
    s->failed = true;
    halt_parser(s);
    drop_partial(s);
    drop_replay(s);
    if (s->cbs.error_cb)
        s->cbs.error_cb(s->arg, cond, text);
}

/* Checks the open stanza's size up to pos (absolute). Returns 0, or -1
 * after failing. */
static int check_stanza_size(struct xml_stream *s, uint64_t pos)
{
    if (pos - s->stanza_start <= s->lim.stanza_bytes_max)
        return 0;
    fail(s, STREAM_POLICY_VIOLATION, "stanza too large");
    return -1;
}

/* --- building trees -------------------------------------------------- */

/* Splits expat's "URI local" (or "local") into ns and local name. */
static void split_name(const char *full, char **ns /* OUT */, char **local /* OUT */)
{
    const char *sp = strrchr(full, ' ');
    *ns = sp ? xstrndup(full, (size_t)(sp - full)) : xstrdup("");
    *local = xstrdup(sp ? sp + 1 : full);
}

/* Stores an expat attribute name: plain, "xml:local", or "URI local". */
static char *attr_name(const char *full)
{
    const char *sp = strrchr(full, ' ');
    size_t xml_len = sizeof NS_XML - 1;
    if (sp && (size_t)(sp - full) == xml_len && memcmp(full, NS_XML, xml_len) == 0) {
        size_t n = strlen(sp + 1);
        char *a = xmalloc(4 + n + 1);
        memcpy(a, "xml:", 4);
        memcpy(a + 4, sp + 1, n + 1);
        return a;
    }
    return xstrdup(full);
}

/* A new element from expat's name and attribute pairs; nattrs pairs. */
static struct xnode *make_elem(const char *name, const char **atts, size_t nattrs,
                               size_t extra)
{
    struct xnode *n = xcalloc(1, sizeof *n);
    split_name(name, &n->ns, &n->name);
    if (nattrs + extra) {
        n->attrs = xmalloc((nattrs + extra) * sizeof *n->attrs);
        for (size_t i = 0; i < nattrs; i++) {
            n->attrs[i].name = attr_name(atts[2 * i]);
            n->attrs[i].value = xstrdup(atts[2 * i + 1]);
        }
    }
    n->nattrs = (uint32_t)nattrs;
    return n;
}

/* Turns pending character data into a text child of the open element. */
static void flush_text(struct xml_stream *s)
{
    if (s->text.len == 0)
        return;
    assert(s->depth >= 2);
    struct xnode *t = xcalloc(1, sizeof *t);
    t->text = xstrndup((const char *)s->text.p, s->text.len);
    xml_append(s->stack[s->depth - 2], t);
    buf_reset(&s->text);
}

static void push(struct xml_stream *s, struct xnode *n)
{
    unsigned i = s->depth - 1; /* stack slot of the new element */
    if (i >= s->stack_cap) {
        s->stack_cap = s->stack_cap ? s->stack_cap * 2 : XML_STREAM_STACK_INIT;
        s->stack = xrealloc(s->stack, s->stack_cap * sizeof *s->stack);
    }
    if (i > 0)
        xml_append(s->stack[i - 1], n);
    s->stack[i] = n;
    s->depth++;
}

/* --- expat handlers --------------------------------------------------- */

/* Appends v to out as an attribute value quoted with ', escaped so that
 * expat's attribute normalisation gives back exactly v. */
static void put_attr_value(struct buf *out, const char *v)
{
    buf_puts(out, "'");
    for (; *v; v++) {
        switch (*v) {
        case '&': buf_puts(out, "&amp;"); break;
        case '<': buf_puts(out, "&lt;"); break;
        case '\'': buf_puts(out, "&apos;"); break;
        case '\t': buf_puts(out, "&#9;"); break;
        case '\n': buf_puts(out, "&#10;"); break;
        case '\r': buf_puts(out, "&#13;"); break;
        default: buf_put(out, v, 1);
        }
    }
    buf_puts(out, "'");
}

/* Records the synthetic header used after a trim: the header's qualified
 * name as the peer wrote it (from expat's input context, which holds the
 * whole start tag while its handler runs) and its declarations. Without
 * the context, or when too large, the stream is simply never trimmed. */
static void record_replay(struct xml_stream *s)
{
    int off = 0, size = 0;
    const char *ctx = XML_GetInputContext(s->p, &off, &size);
    struct buf r;
    buf_init(&r);
    if (ctx && off >= 0 && off < size && ctx[off] == '<') {
        int end = off + 1;
        while (end < size && !strchr(" \t\r\n/>", ctx[end]))
            end++;
        buf_put(&r, ctx + off, (size_t)(end - off));
        buf_put(&r, s->hdr_decls.p, s->hdr_decls.len);
        buf_puts(&r, ">");
    }
    buf_free(&s->hdr_decls);
    if (r.len > 1 && r.len <= XML_STREAM_REPLAY_BYTES_MAX && !r.err) {
        buf_cstr(&r);
        s->replay = (char *)buf_take(&r, &s->replay_len);
    }
    buf_free(&r);
}

/* The first element must be <stream:stream> in NS_STREAMS (§4.9.3.10). */
static void open_stream(struct xml_stream *s, const char *name, const char **atts, size_t na)
{
    struct xnode *hdr = make_elem(name, atts, na, 1);
    if (strcmp(hdr->ns, NS_STREAMS) != 0 || strcmp(hdr->name, "stream") != 0) {
        xml_free(hdr);
        fail(s, STREAM_INVALID_NAMESPACE, "the stream element must be stream in namespace " NS_STREAMS);
        return;
    }
    if (s->hdr_ns) {
        hdr->attrs[hdr->nattrs].name = xstrdup("xmlns");
        hdr->attrs[hdr->nattrs].value = s->hdr_ns;
        hdr->nattrs++;
        s->hdr_ns = NULL;
    }
    s->depth = 1;
    record_replay(s);
    if (s->cbs.open_cb)
        s->cbs.open_cb(s->arg, hdr);
    xml_free(hdr);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct xml_stream *s = ud;
    if (s->halt)
        return;
    s->last_end = event_end(s);
    size_t na = 0;
    while (atts[2 * na])
        na++;
    unsigned decls = s->ns_decls;
    s->ns_decls = 0;
    /* namespace declarations are attributes on the wire and cost expat
     * memory too, so they count against the same limit */
    if (na + decls > s->lim.attrs_max) {
        fail(s, STREAM_POLICY_VIOLATION, "too many attributes");
        return;
    }
    if (s->depth == 0) {
        open_stream(s, name, atts, na);
        return;
    }
    if (s->depth == 1) {
        s->stanza_start = (uint64_t)XML_GetCurrentByteIndex(s->p);
        s->stray = 0;
    }
    if (check_stanza_size(s, s->last_end))
        return;
    if (s->depth > s->lim.depth_max) { /* the new element's depth in its stanza */
        fail(s, STREAM_POLICY_VIOLATION, "stanza nested too deep");
        return;
    }
    flush_text(s);
    push(s, make_elem(name, atts, na, 0));
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    (void)name; /* expat has already matched it with the start tag */
    struct xml_stream *s = ud;
    if (s->halt)
        return;
    s->last_end = event_end(s);
    if (s->depth == 1) {
        s->depth = 0;
        s->stopped = true; /* the stream is over: ignore what follows */
        halt_parser(s);
        if (s->cbs.close_cb)
            s->cbs.close_cb(s->arg);
        return;
    }
    if (check_stanza_size(s, s->last_end))
        return;
    flush_text(s);
    s->depth--;
    if (s->depth > 1)
        return;
    struct xnode *stanza = s->stack[0];
    s->stack[0] = NULL;
    if (s->text.cap > XML_STREAM_TEXT_KEEP_BYTES)
        buf_free(&s->text);
    if (s->cbs.stanza_cb)
        s->cbs.stanza_cb(s->arg, stanza);
    else
        xml_free(stanza);
}

static bool all_space(const char *p, int n)
{
    for (int i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
            return false;
    return true;
}

static void XMLCALL on_text(void *ud, const XML_Char *p, int n)
{
    struct xml_stream *s = ud;
    if (s->halt)
        return;
    s->last_end = event_end(s);
    if (s->depth >= 2) {
        if (check_stanza_size(s, s->last_end) == 0)
            buf_put(&s->text, p, (size_t)n); /* merged until the next tag */
        return;
    }
    /* Stream level: whitespace is a keepalive (RFC 6120 §4.6.1); other
     * text means nothing, but a peer must not stream it forever. */
    if (!all_space(p, n)) {
        s->stray += (uint64_t)n;
        if (s->stray > s->lim.stanza_bytes_max)
            fail(s, STREAM_POLICY_VIOLATION, "too much text between stanzas");
    }
}

/* A CDATA section is text (see on_text), but between its start and end
 * expat is in a state of its own, even at stream level; trimming there
 * would lose it. */
static void XMLCALL on_cdata_start(void *ud)
{
    struct xml_stream *s = ud;
    if (s->halt)
        return;
    s->last_end = event_end(s);
    s->in_cdata = true;
}

static void XMLCALL on_cdata_end(void *ud)
{
    struct xml_stream *s = ud;
    if (s->halt)
        return;
    s->last_end = event_end(s);
    s->in_cdata = false;
}

static void XMLCALL on_ns_decl(void *ud, const XML_Char *prefix, const XML_Char *uri)
{
    struct xml_stream *s = ud;
    if (s->halt)
        return;
    s->ns_decls++;
    if (s->depth != 0)
        return;
    if (!prefix) {
        free(s->hdr_ns);
        s->hdr_ns = xstrdup(uri ? uri : "");
    }
    buf_puts(&s->hdr_decls, prefix ? " xmlns:" : " xmlns");
    if (prefix)
        buf_puts(&s->hdr_decls, prefix);
    buf_puts(&s->hdr_decls, "=");
    put_attr_value(&s->hdr_decls, uri ? uri : "");
}

static void XMLCALL on_xml_decl(void *ud, const XML_Char *version, const XML_Char *encoding,
                                int standalone)
{
    (void)version;
    (void)standalone;
    struct xml_stream *s = ud;
    if (s->halt)
        return;
    s->last_end = event_end(s);
    if (encoding && strcasecmp(encoding, "UTF-8") != 0)
        fail(s, STREAM_UNSUPPORTED_ENCODING, "encoding other than UTF-8 declared");
}

/* RFC 6120 §11.1: no comments, processing instructions, DTDs or entity
 * declarations. Rejecting the DOCTYPE as it starts also means no entity
 * is ever declared, so no entity expansion can be abused. */
static void restricted(void *ud, const char *what)
{
    struct xml_stream *s = ud;
    if (!s->halt)
        fail(s, STREAM_RESTRICTED_XML, what);
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    restricted(ud, "DTD");
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int is_param,
                                   const XML_Char *value, int value_len, const XML_Char *base,
                                   const XML_Char *sysid, const XML_Char *pubid,
                                   const XML_Char *notation)
{
    (void)name, (void)is_param, (void)value, (void)value_len, (void)base;
    (void)sysid, (void)pubid, (void)notation;
    restricted(ud, "entity declaration");
}

static void XMLCALL on_comment(void *ud, const XML_Char *data)
{
    (void)data;
    restricted(ud, "comment");
}

static void XMLCALL on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
    (void)target, (void)data;
    restricted(ud, "processing instruction");
}

/* --- parser lifetime ---------------------------------------------------- */

static void setup_parser(struct xml_stream *s)
{
    XML_SetReparseDeferralEnabled(s->p, XML_FALSE); /* see "Latency" above */
    XML_SetUserData(s->p, s);
    XML_SetElementHandler(s->p, on_start, on_end);
    XML_SetCharacterDataHandler(s->p, on_text);
    XML_SetCdataSectionHandler(s->p, on_cdata_start, on_cdata_end);
    XML_SetStartNamespaceDeclHandler(s->p, on_ns_decl);
    XML_SetXmlDeclHandler(s->p, on_xml_decl);
    XML_SetStartDoctypeDeclHandler(s->p, on_doctype);
    XML_SetEntityDeclHandler(s->p, on_entity_decl);
    XML_SetCommentHandler(s->p, on_comment);
    XML_SetProcessingInstructionHandler(s->p, on_pi);
}

/* A fresh stream on the same parser memory (or, after a trim, on a parser
 * the next feed makes). Leaves `stopped` alone: the caller decides (a stop
 * asked after a reset in one callback holds). */
static void restart(struct xml_stream *s)
{
    assert(!s->in_parse);
    drop_partial(s);
    drop_replay(s);
    if (s->p) {
        XML_Bool ok = XML_ParserReset(s->p, "UTF-8");
        assert(ok);
        (void)ok;
        setup_parser(s);
    }
    s->halt = false;
    s->reset_pending = false;
    s->err = 0;
    s->fed = s->last_end = s->stanza_start = s->stray = 0;
    s->depth = 0;
    s->ns_decls = 0;
    s->in_cdata = false;
}

/* A new expat parser with no handlers yet. */
static XML_Parser new_expat(void)
{
    /* Parsers live in their own heap: see xml_heap.h for why. */
    static const XML_Memory_Handling_Suite mem = {xml_heap_malloc, xml_heap_realloc,
                                                  xml_heap_free};
    /* "UTF-8" as the protocol encoding: expat then ignores a declared
     * encoding, which on_xml_decl refuses instead (RFC 6120 §11.6). */
    XML_Parser p = XML_ParserCreate_MM("UTF-8", &mem, " ");
    assert(p != NULL);
    XML_SetReparseDeferralEnabled(p, XML_FALSE); /* see "Latency" above */
    return p;
}

static void create_parser(struct xml_stream *s)
{
    s->p = new_expat();
    setup_parser(s);
}

struct xml_stream *xml_stream_new(const struct xml_limits *lim, const struct xml_stream_cbs *cbs,
                                  void *arg)
{
    assert(lim->stanza_bytes_max > 0);
    assert(lim->depth_max > 0);
    struct xml_stream *s = xcalloc(1, sizeof *s);
    s->lim = *lim;
    if (s->lim.depth_max > XML_BIN_DEPTH_MAX - XML_STREAM_DEPTH_HEADROOM)
        s->lim.depth_max = XML_BIN_DEPTH_MAX - XML_STREAM_DEPTH_HEADROOM;
    s->cbs = *cbs;
    s->arg = arg;
    buf_init(&s->text);
    buf_init(&s->hdr_decls);
    create_parser(s);
    return s;
}

void xml_stream_free(struct xml_stream *s)
{
    if (!s)
        return;
    assert(!s->in_parse); /* not from a callback */
    drop_partial(s);
    drop_replay(s);
    if (s->p)
        XML_ParserFree(s->p);
    free(s->stack);
    free(s);
}

void xml_stream_reset(struct xml_stream *s)
{
    s->stopped = false;
    if (!s->in_parse) {
        restart(s);
        return;
    }
    if (!s->reset_pending)
        s->resume_at = event_end(s);
    s->reset_pending = true;
    halt_parser(s);
}

void xml_stream_stop(struct xml_stream *s)
{
    s->stopped = true;
    halt_parser(s);
}

/* --- trimming ------------------------------------------------------------ */

/* True between stanzas with nothing pending: inside the stream element,
 * every byte fed so far consumed into complete events (expat holds back
 * an unfinished tag, a split UTF-8 character, a trailing CR or ']', and
 * none of them has fired a handler yet, so last_end < fed), no stanza,
 * text or CDATA section open, and no error, stop or reset in the way. */
static bool idle(const struct xml_stream *s)
{
    if (!s->p || s->in_parse || s->halt || s->stopped || s->err || s->reset_pending)
        return false;
    if (s->depth != 1 || s->ns_decls || s->in_cdata || s->text.len || !s->replay ||
        s->last_end != s->fed)
        return false;
    XML_ParsingStatus st;
    XML_GetParsingStatus(s->p, &st);
    return st.parsing == XML_PARSING;
}

void xml_stream_trim(struct xml_stream *s)
{
    if (!idle(s))
        return;
    assert(s->stack == NULL || s->stack[0] == NULL); /* no stanza open at depth 1 */
    XML_ParserFree(s->p);
    s->p = NULL;
    s->trimmed = true;
    buf_free(&s->text);
    free(s->stack);
    s->stack = NULL;
    s->stack_cap = 0;
}

/* The one handler while the synthetic header is parsed: it must give
 * back the stream element it was made from. */
static void XMLCALL on_replay_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    (void)atts;
    bool *seen = ud;
    size_t n = sizeof NS_STREAMS - 1;
    *seen = strncmp(name, NS_STREAMS, n) == 0 && strcmp(name + n, " stream") == 0;
}

/* Makes the parser a feed needs: after a trim, a new one that has parsed
 * the synthetic header silently, so that it stands where the old one
 * stood; after a reset of a trimmed stream, a fresh one. Returns 0, or -1
 * after failing if the header does not parse again (it is built to: this
 * only keeps a mistake in it from ever becoming a crash). */
static int ensure_parser(struct xml_stream *s)
{
    if (s->p)
        return 0;
    if (!s->trimmed) {
        create_parser(s);
        return 0;
    }
    s->p = new_expat();
    bool seen = false;
    XML_SetUserData(s->p, &seen);
    XML_SetStartElementHandler(s->p, on_replay_start);
    enum XML_Status st = XML_Parse(s->p, s->replay, (int)s->replay_len, XML_FALSE);
    XML_SetStartElementHandler(s->p, NULL);
    setup_parser(s);
    s->trimmed = false;
    /* positions restart after the synthetic header; see "Trimming" */
    s->fed = s->last_end = s->replay_len;
    if (st == XML_STATUS_OK && seen)
        return 0;
    fail(s, STREAM_INTERNAL_SERVER_ERROR, "stream header does not parse after trimming");
    return -1;
}

/* --- feeding ------------------------------------------------------------ */

/* expat switches to UTF-16 on a byte order mark or a NUL in the first two
 * bytes whatever the protocol encoding says, so those are refused here. */
static bool utf16_start(const struct xml_stream *s, const char *p, size_t n)
{
    for (uint64_t at = s->fed; at < 2 && at - s->fed < n; at++) {
        unsigned char c = (unsigned char)p[at - s->fed];
        if (c == 0x00 || (at == 0 && (c == 0xFE || c == 0xFF)))
            return true;
    }
    return false;
}

static enum stream_err expat_cond(enum XML_Error e)
{
    switch (e) {
    case XML_ERROR_UNKNOWN_ENCODING:
    case XML_ERROR_INCORRECT_ENCODING:
        return STREAM_UNSUPPORTED_ENCODING;
    default:
        return STREAM_NOT_WELL_FORMED; /* XML 1.0 or XML Namespaces broken */
    }
}

/* Parses one chunk with the current parser. Returns how many bytes of it
 * were used: all of them, or fewer when a callback asked for a reset. */
static size_t parse_chunk(struct xml_stream *s, const char *p, size_t n)
{
    if (ensure_parser(s))
        return n;
    if (utf16_start(s, p, n)) {
        fail(s, STREAM_UNSUPPORTED_ENCODING, "UTF-16 input");
        return n;
    }
    s->in_parse = true;
    enum XML_Status st = XML_Parse(s->p, p, (int)n, XML_FALSE);
    s->in_parse = false;
    if (s->reset_pending) {
        /* Callbacks run at the end of a tag, whose last byte is in this
         * chunk; the clamp only matters for odd events (a held-back CR). */
        uint64_t used = s->resume_at > s->fed ? s->resume_at - s->fed : 0;
        assert(used <= n);
        restart(s);
        return (size_t)used;
    }
    if (s->halt)
        return n; /* error, stop or end of stream: the rest is dropped */
    if (st != XML_STATUS_OK) {
        fail(s, expat_cond(XML_GetErrorCode(s->p)), XML_ErrorString(XML_GetErrorCode(s->p)));
        return n;
    }
    s->fed += n;
    /* what expat holds in an unfinished token counts too */
    size_t token_max = s->lim.stanza_bytes_max < XML_STREAM_TOKEN_BYTES_MAX
                           ? s->lim.stanza_bytes_max
                           : XML_STREAM_TOKEN_BYTES_MAX;
    if (s->depth >= 2 && s->fed - s->stanza_start > s->lim.stanza_bytes_max)
        fail(s, STREAM_POLICY_VIOLATION, "stanza too large");
    else if (s->fed - s->last_end > token_max)
        fail(s, STREAM_POLICY_VIOLATION, "tag too large");
    return n;
}

int xml_stream_feed(struct xml_stream *s, const char *p, size_t n)
{
    assert(!s->in_parse); /* not from a callback */
    if (s->err)
        return s->err;
    s->failed = false;
    size_t off = 0;
    while (off < n && !s->stopped && !s->err) {
        size_t len = n - off < XML_STREAM_CHUNK_BYTES ? n - off : XML_STREAM_CHUNK_BYTES;
        off += parse_chunk(s, p + off, len);
        if (s->failed)
            break; /* bytes after the error mean nothing, even after a reset */
    }
    return s->failed ? -ERR_PARSE : 0;
}
