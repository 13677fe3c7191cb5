/* test_xml: kernel/xml.c, xml_bin.c and xml_stream.c — building and
 * serialising trees (escaping, namespaces, mixed content), the stream
 * parser (RFC 6120 §4 framing, every §11 restriction and hard limit,
 * splitting the input anywhere, reset and stop from callbacks, trimming
 * an idle stream) and the binary codec, including damaged input
 * (xml_bin_corrupt cases). */
#include <check.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/xml.h"
#include "kernel/xml_heap.h"

/* RFC 6120 §9.1.1 step 1, the client's initial stream header. */
#define HDR "<?xml version='1.0'?>" HDR_TAG
#define HDR_TAG                                                                          \
    "<stream:stream from='juliet@im.example.com' to='im.example.com' version='1.0' "     \
    "xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
#define HDR_OPEN_LOG                                                                     \
    "open(from=juliet@im.example.com to=im.example.com version=1.0 xml:lang=en "         \
    "xmlns=jabber:client)\n"
/* RFC 6121 §5.1 example message; RFC 6120 §7.2 bind request. */
#define MSG                                                                              \
    "<message from='juliet@example.com/balcony' id='ktx72v49' to='romeo@example.net' "   \
    "type='chat' xml:lang='en'><body>Art thou not Romeo, and a Montague?</body></message>"
#define BIND "<iq id='tn281v37' type='set'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"

static const struct xml_limits LIM = {.stanza_bytes_max = 1024, .depth_max = 8, .attrs_max = 8};

/* --- helpers ------------------------------------------------------------- */

static char *ser(const struct xnode *n, const char *ctx)
{
    struct buf b;
    buf_init(&b);
    xml_serialize(n, ctx, &b);
    buf_cstr(&b);
    return (char *)buf_take(&b, NULL);
}

#define ck_ser(n, ctx, want)                   \
    do {                                       \
        char *got_ = ser((n), (ctx));          \
        ck_assert_str_eq(got_, (want));        \
        free(got_);                            \
    } while (0)

/* Records every callback as a line of text, and acts on request. */
struct rec {
    struct xml_stream *s;
    struct buf log;
    struct xnode *first;  /* first stanza, kept for inspection */
    int nerr;
    enum stream_err cond;
    const char *reset_on; /* stanza name whose callback calls reset */
    const char *stop_on;  /* ... calls stop */
    int stop_then_reset;  /* on stop_on: stop, then reset */
    int reset_then_stop;  /* on reset_on: reset, then stop */
};

static void rec_open(void *arg, const struct xnode *hdr)
{
    struct rec *r = arg;
    ck_assert_str_eq(hdr->name, "stream");
    ck_assert_str_eq(hdr->ns, NS_STREAMS);
    buf_puts(&r->log, "open(");
    for (uint32_t i = 0; i < hdr->nattrs; i++)
        buf_printf(&r->log, "%s%s=%s", i ? " " : "", hdr->attrs[i].name, hdr->attrs[i].value);
    buf_puts(&r->log, ")\n");
}

static void rec_stanza(void *arg, struct xnode *st)
{
    struct rec *r = arg;
    xml_serialize(st, NS_CLIENT, &r->log);
    buf_puts(&r->log, "\n");
    int reset = r->reset_on && strcmp(st->name, r->reset_on) == 0;
    int stop = r->stop_on && strcmp(st->name, r->stop_on) == 0;
    if (!r->first)
        r->first = st;
    else
        xml_free(st);
    if (stop)
        xml_stream_stop(r->s);
    if (stop && r->stop_then_reset)
        xml_stream_reset(r->s);
    if (reset)
        xml_stream_reset(r->s);
    if (reset && r->reset_then_stop)
        xml_stream_stop(r->s);
}

static void rec_close(void *arg)
{
    struct rec *r = arg;
    buf_puts(&r->log, "close\n");
}

static void rec_error(void *arg, enum stream_err cond, const char *text)
{
    struct rec *r = arg;
    ck_assert_ptr_nonnull(text);
    r->nerr++;
    r->cond = cond;
    buf_printf(&r->log, "error(%s)\n", stream_err_name(cond));
}

static const struct xml_stream_cbs CBS = {rec_open, rec_stanza, rec_close, rec_error};

static void rec_init(struct rec *r, const struct xml_limits *lim)
{
    memset(r, 0, sizeof *r);
    buf_init(&r->log);
    r->s = xml_stream_new(lim ? lim : &LIM, &CBS, r);
}

static void rec_done(struct rec *r)
{
    xml_stream_free(r->s);
    xml_free(r->first);
    buf_free(&r->log);
}

/* Feeds in in pieces of step bytes (0: all at once). Returns the first
 * negative result, else 0. */
static int feed_step(struct rec *r, const char *in, size_t n, size_t step)
{
    int first = 0;
    if (step == 0)
        step = n ? n : 1;
    for (size_t off = 0; off < n; off += step) {
        size_t len = n - off < step ? n - off : step;
        int rc = xml_stream_feed(r->s, in + off, len);
        if (rc < 0 && first == 0)
            first = rc;
    }
    return first;
}

/* Runs in through a fresh parser in pieces of step; returns the log
 * (caller frees) and the feed result in *rc. */
static char *run(const char *in, size_t step, const struct xml_limits *lim, int *rc)
{
    struct rec r;
    rec_init(&r, lim);
    int got = feed_step(&r, in, strlen(in), step);
    if (rc)
        *rc = got;
    buf_cstr(&r.log);
    char *log = (char *)buf_take(&r.log, NULL);
    rec_done(&r);
    return log;
}

/* Parses one stanza inside HDR; the caller frees the tree. */
static struct xnode *parse1(const char *stanza)
{
    struct rec r;
    rec_init(&r, NULL);
    ck_assert_int_eq(xml_stream_feed(r.s, HDR, strlen(HDR)), 0);
    ck_assert_int_eq(xml_stream_feed(r.s, stanza, strlen(stanza)), 0);
    ck_assert_int_eq(r.nerr, 0);
    ck_assert_ptr_nonnull(r.first);
    struct xnode *n = r.first;
    r.first = NULL;
    rec_done(&r);
    return n;
}

/* Expects in to end in exactly one error cond, with no callback after
 * it, whether fed at once or byte by byte; later feeds keep failing. */
static void expect_error(const char *in, enum stream_err cond, const struct xml_limits *lim)
{
    static const size_t steps[] = {0, 1, 7};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        struct rec r;
        rec_init(&r, lim);
        int rc = feed_step(&r, in, strlen(in), steps[i]);
        ck_assert_msg(rc < 0, "no error for step %zu: %s", steps[i], in);
        ck_assert_int_eq(r.nerr, 1);
        ck_assert_msg(r.cond == cond, "step %zu: got %s, want %s", steps[i],
                      stream_err_name(r.cond), stream_err_name(cond));
        size_t len = r.log.len;
        ck_assert_int_eq(xml_stream_feed(r.s, MSG, strlen(MSG)), rc);
        ck_assert_int_eq(r.log.len, len); /* silent after the error */
        ck_assert_int_eq(r.nerr, 1);
        rec_done(&r);
    }
}

/* A fixed-seed generator so failures reproduce. */
static uint32_t rng_state = 2463534242u;
static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* --- building and serialising ------------------------------------------- */

START_TEST(built_tree_serialises_exactly)
{
    struct xnode *m = xml_new("message", NS_CLIENT);
    xml_set_attr(m, "to", "romeo@example.net");
    xml_set_attr(m, "type", "chat");
    struct xnode *b = xml_add(m, "body", NULL);
    ck_assert_str_eq(b->ns, NS_CLIENT);
    xml_add_text(b, "Wherefore art thou?");
    xml_add(m, "active", "http://jabber.org/protocol/chatstates");
    ck_ser(m, NS_CLIENT,
           "<message to='romeo@example.net' type='chat'><body>Wherefore art thou?</body>"
           "<active xmlns='http://jabber.org/protocol/chatstates'/></message>");
    xml_free(m);
}
END_TEST

START_TEST(xmlns_is_declared_only_where_the_namespace_changes)
{
    struct xnode *iq = xml_new("iq", NS_CLIENT);
    struct xnode *q = xml_add(iq, "query", "jabber:iq:roster");
    xml_add(q, "item", NULL);
    xml_add(xml_add(q, "x", NS_CLIENT), "y", "");
    ck_ser(iq, NS_CLIENT,
           "<iq><query xmlns='jabber:iq:roster'><item/><x xmlns='jabber:client'>"
           "<y xmlns=''/></x></query></iq>");
    /* another context, or none, declares the top element's namespace */
    ck_ser(q, NULL, "<query xmlns='jabber:iq:roster'><item/><x xmlns='jabber:client'>"
                    "<y xmlns=''/></x></query>");
    ck_ser(iq, NS_SERVER, "<iq xmlns='jabber:client'><query xmlns='jabber:iq:roster'><item/>"
                          "<x xmlns='jabber:client'><y xmlns=''/></x></query></iq>");
    xml_free(iq);
}
END_TEST

START_TEST(text_and_attributes_are_escaped)
{
    struct xnode *m = xml_new("m", "urn:t");
    xml_set_attr(m, "a", "<&>'\"\t\n\r");
    xml_add_text(m, "a<b && c>d 'q' \"dq\" ]]> \r\n");
    ck_ser(m, "urn:t",
           "<m a='&lt;&amp;&gt;&apos;&quot;&#9;&#10;&#13;'>"
           "a&lt;b &amp;&amp; c&gt;d 'q' \"dq\" ]]&gt; &#13;\n</m>");
    /* and the parser reads back exactly what was built */
    char *xml = ser(m, NS_CLIENT);
    struct xnode *back = parse1(xml);
    ck_assert(xml_equal(m, back));
    free(xml);
    xml_free(back);
    xml_free(m);
}
END_TEST

START_TEST(characters_xml_forbids_are_dropped)
{
    struct xnode *m = xml_new("m", NS_CLIENT);
    xml_set_attr(m, "a", "x\x01y");
    xml_add_text(m, "\x02p\x1fq\x7f");
    ck_ser(m, NS_CLIENT, "<m a='xy'>pq\x7f</m>");
    xml_free(m);
}
END_TEST

START_TEST(stored_xmlns_attributes_are_never_written)
{
    struct xnode *m = xml_new("m", NS_CLIENT);
    xml_set_attr(m, "xmlns", "urn:other");
    xml_set_attr(m, "xmlns:p", "urn:p");
    xml_set_attr(m, "xmlnsx", "kept");
    ck_ser(m, NULL, "<m xmlns='jabber:client' xmlnsx='kept'/>");
    xml_free(m);
}
END_TEST

START_TEST(add_text_merges_with_a_trailing_text_child)
{
    struct xnode *m = xml_new("m", NS_CLIENT);
    xml_add_text(m, "ab");
    xml_add_text(m, "");
    xml_add_text(m, "cd");
    ck_assert_ptr_eq(m->kids, m->last);
    ck_assert_str_eq(xml_text(m), "abcd");
    xml_add(m, "x", NULL);
    xml_add_text(m, "ef");
    ck_assert_ptr_ne(m->kids->next, m->last);
    ck_assert_str_eq(m->last->text, "ef");
    xml_free(m);
}
END_TEST

START_TEST(remove_keeps_the_list_and_tail_consistent)
{
    struct xnode *m = xml_new("m", NS_CLIENT);
    struct xnode *a = xml_add(m, "a", NULL);
    struct xnode *b = xml_add(m, "b", NULL);
    struct xnode *c = xml_add(m, "c", NULL);
    xml_remove(m, b);
    ck_assert_ptr_eq(m->kids, a);
    ck_assert_ptr_eq(a->next, c);
    xml_remove(m, c);
    ck_assert_ptr_eq(m->last, a);
    struct xnode *d = xml_add(m, "d", NULL);
    ck_assert_ptr_eq(a->next, d);
    xml_remove(m, a);
    ck_assert_ptr_eq(m->kids, d);
    xml_remove(m, d);
    ck_assert_ptr_null(m->kids);
    ck_assert_ptr_null(m->last);
    xml_append(m, xml_new("e", "urn:e"));
    ck_assert_str_eq(m->kids->name, "e");
    xml_free(m);
    xml_free(NULL);
}
END_TEST

START_TEST(copy_is_deep_and_equal)
{
    struct xnode *m = parse1(MSG);
    struct xnode *c = xml_copy(m);
    ck_assert(xml_equal(m, c));
    xml_set_attr(xml_child(c, "body", NULL), "x", "1");
    ck_assert(!xml_equal(m, c));
    ck_assert_ptr_null(xml_attr(xml_child(m, "body", NULL), "x"));
    xml_free(m);
    xml_free(c);
}
END_TEST

START_TEST(set_attr_adds_replaces_and_removes)
{
    struct xnode *m = xml_new("m", NS_CLIENT);
    ck_assert_ptr_null(xml_attr(m, "id"));
    xml_set_attr(m, "id", "1");
    xml_set_attr(m, "to", "a@b");
    xml_set_attr(m, "type", "get");
    xml_set_attr(m, "id", "2");
    ck_assert_str_eq(xml_attr(m, "id"), "2");
    xml_set_attr(m, "id", xml_attr(m, "id")); /* value borrowed from n itself */
    ck_assert_str_eq(xml_attr(m, "id"), "2");
    xml_set_attr(m, "to", NULL);
    xml_set_attr(m, "nothere", NULL);
    ck_assert_uint_eq(m->nattrs, 2);
    ck_assert_ptr_null(xml_attr(m, "to"));
    ck_assert_str_eq(xml_attr(m, "type"), "get");
    ck_ser(m, NS_CLIENT, "<m id='2' type='get'/>");
    xml_free(m);
}
END_TEST

START_TEST(child_lookup_and_element_iteration_skip_text)
{
    struct xnode *m = parse1("<message>t1<a xmlns='urn:1'/>t2<b/><a/></message>");
    ck_assert_str_eq(xml_child(m, "a", NULL)->ns, "urn:1");
    ck_assert_str_eq(xml_child(m, "a", NS_CLIENT)->ns, NS_CLIENT);
    ck_assert_str_eq(xml_child(m, NULL, NS_CLIENT)->name, "b");
    ck_assert_ptr_null(xml_child(m, "c", NULL));
    const char *names[3];
    int n = 0;
    for (struct xnode *c = xml_first_elem(m); c; c = xml_next_elem(c))
        names[n++] = c->name;
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(names[0], "a");
    ck_assert_str_eq(names[1], "b");
    ck_assert_str_eq(names[2], "a");
    ck_assert_str_eq(xml_text(xml_child(m, "b", NULL)), "");
    xml_free(m);
}
END_TEST

START_TEST(mixed_content_keeps_document_order)
{
    const char *p = "<message><html xmlns='http://jabber.org/protocol/xhtml-im'>"
                    "<body xmlns='http://www.w3.org/1999/xhtml'><p>Hello <em>dear</em> "
                    "<strong>world</strong>!</p></body></html></message>";
    struct xnode *m = parse1(p);
    struct xnode *para = xml_first_elem(xml_first_elem(xml_first_elem(m)));
    ck_assert_str_eq(para->name, "p");
    ck_assert_str_eq(xml_text(para), "Hello "); /* several text children: the first */
    struct buf all;
    buf_init(&all);
    xml_text_all(para, &all);
    ck_assert_str_eq(buf_cstr(&all), "Hello dear world!");
    buf_free(&all);
    ck_ser(m, NS_CLIENT, p);
    xml_free(m);
}
END_TEST

START_TEST(equality_treats_attributes_as_a_set_and_children_as_a_list)
{
    struct xnode *a = parse1("<m x='1' y='2'><a/><b/></m>");
    struct xnode *b = parse1("<m y='2' x='1'><a/><b/></m>");
    struct xnode *c = parse1("<m x='1' y='2'><b/><a/></m>");
    struct xnode *d = parse1("<m x='1' y='3'><a/><b/></m>");
    struct xnode *e = parse1("<m x='1' y='2'><a/><b/>t</m>");
    struct xnode *f = parse1("<m x='1' y='2' xmlns='urn:f'><a/><b/></m>");
    ck_assert(xml_equal(a, b));
    ck_assert(!xml_equal(a, c));
    ck_assert(!xml_equal(a, d));
    ck_assert(!xml_equal(a, e));
    ck_assert(!xml_equal(e, a));
    ck_assert(!xml_equal(a, f));
    ck_assert(!xml_equal(a, NULL));
    ck_assert(xml_equal(NULL, NULL));
    xml_free(a), xml_free(b), xml_free(c), xml_free(d), xml_free(e), xml_free(f);
}
END_TEST

/* --- parsing ------------------------------------------------------------- */

START_TEST(stanza_gets_namespace_uris_and_attribute_forms)
{
    struct xnode *m = parse1("<message xmlns:x='urn:x' x:flag='1' xml:lang='fr' to='a@b'>"
                             "<x:data xmlns:y='urn:y' y:k='v'/></message>");
    ck_assert_str_eq(m->ns, NS_CLIENT);
    ck_assert_str_eq(xml_attr(m, "xml:lang"), "fr");
    ck_assert_str_eq(xml_attr(m, "to"), "a@b");
    ck_assert_str_eq(xml_attr(m, "urn:x flag"), "1");
    struct xnode *d = xml_first_elem(m);
    ck_assert_str_eq(d->name, "data");
    ck_assert_str_eq(d->ns, "urn:x");
    ck_assert_str_eq(xml_attr(d, "urn:y k"), "v");
    ck_assert_uint_eq(m->nattrs, 3); /* declarations are not attributes */
    xml_free(m);
}
END_TEST

START_TEST(namespaced_attributes_survive_a_round_trip)
{
    struct xnode *m = parse1("<message xmlns:x='urn:x' xmlns:z='urn:x' x:a='1' z:b='2' "
                             "xml:lang='en' xmlns:q='urn:q' q:a='3'/>");
    char *out = ser(m, NS_CLIENT);
    ck_assert_str_eq(out, "<message xmlns:a0='urn:x' a0:a='1' xmlns:a1='urn:x' a1:b='2' "
                          "xml:lang='en' xmlns:a2='urn:q' a2:a='3'/>");
    struct xnode *back = parse1(out);
    ck_assert(xml_equal(m, back));
    free(out);
    xml_free(back);
    /* a built tree may spell the XML namespace out; only xml: may bind it */
    struct xnode *b = xml_new("m", NS_CLIENT);
    xml_set_attr(b, NS_XML " lang", "de");
    ck_ser(b, NS_CLIENT, "<m xml:lang='de'/>");
    xml_free(b);
    xml_free(m);
}
END_TEST

START_TEST(parse_serialize_parse_gives_equal_trees)
{
    static const char *const corpus[] = {
        MSG,
        BIND,
        "<presence/>",
        "<message><body>caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 &amp; &lt;&gt; &#x41;&#66;"
        "<![CDATA[<raw & cdata>]]></body></message>",
        "<iq type='result' id='a&apos;b&quot;c'><query xmlns='jabber:iq:roster'>"
        "<item jid='romeo@example.net' name='R&amp;J'><group>Friends</group></item>"
        "</query></iq>",
        "<message>\n  <body>pretty\r\nprinted</body>\n</message>",
        "<a xmlns='urn:a'><b xmlns=''><c xmlns='urn:c'/></b>text<d/></a>",
        "<x:y xmlns:x='urn:x' a='&#9;&#10;&#13;'>\t</x:y>",
    };
    for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
        struct xnode *t1 = parse1(corpus[i]);
        char *s1 = ser(t1, NS_CLIENT);
        struct xnode *t2 = parse1(s1);
        ck_assert_msg(xml_equal(t1, t2), "round trip %zu: %s", i, s1);
        char *s2 = ser(t2, NS_CLIENT);
        ck_assert_str_eq(s1, s2); /* serialising is a fixed point */
        free(s1), free(s2);
        xml_free(t1), xml_free(t2);
    }
    struct xnode *t = parse1("<message><body>a &amp; b<![CDATA[ c ]]>d</body></message>");
    ck_assert_ptr_eq(xml_first_elem(t)->kids, xml_first_elem(t)->last); /* pieces merged */
    ck_assert_str_eq(xml_text(xml_first_elem(t)), "a & b c d");
    xml_free(t);
}
END_TEST

START_TEST(header_reaches_open_cb_with_its_default_namespace)
{
    int rc;
    char *log = run(HDR, 0, NULL, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(log, HDR_OPEN_LOG);
    free(log);
    /* no default namespace declared: no xmlns attribute */
    log = run("<s:stream xmlns:s='http://etherx.jabber.org/streams' to='x'><a/>", 0, NULL, &rc);
    ck_assert_str_eq(log, "open(to=x)\n<a xmlns=''/>\n");
    free(log);
}
END_TEST

static const char TRANSCRIPT[] =
    "\xef\xbb\xbf" HDR " \n" MSG "\t" BIND
    "<message><body>caf\xc3\xa9 \xf0\x9f\x98\x80 &amp;&#x20AC;<![CDATA[<x>]]>tail</body>"
    "<html xmlns='http://jabber.org/protocol/xhtml-im'><body "
    "xmlns='http://www.w3.org/1999/xhtml'>a<b>b</b>c</body></html></message>"
    "  <r xmlns='urn:xmpp:sm:3'/>\r\n </stream:stream>  ";

START_TEST(byte_at_a_time_gives_the_same_result_as_all_at_once)
{
    int rc;
    char *whole = run(TRANSCRIPT, 0, NULL, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_nonnull(strstr(whole, "close\n"));
    ck_assert_ptr_nonnull(strstr(whole, "caf\xc3\xa9 \xf0\x9f\x98\x80 &amp;\xe2\x82\xac&lt;x&gt;tail"));
    for (size_t step = 1; step <= 17; step++) {
        char *pieces = run(TRANSCRIPT, step, NULL, &rc);
        ck_assert_int_eq(rc, 0);
        ck_assert_str_eq(pieces, whole);
        free(pieces);
    }
    /* random splits */
    size_t n = strlen(TRANSCRIPT);
    for (int round = 0; round < 200; round++) {
        struct rec r;
        rec_init(&r, NULL);
        for (size_t off = 0; off < n;) {
            size_t len = 1 + rng() % 40;
            if (len > n - off)
                len = n - off;
            ck_assert_int_eq(xml_stream_feed(r.s, TRANSCRIPT + off, len), 0);
            off += len;
        }
        ck_assert_str_eq(buf_cstr(&r.log), whole);
        rec_done(&r);
    }
    free(whole);
}
END_TEST

START_TEST(whitespace_between_stanzas_is_ignored)
{
    char *log = run(HDR "   \n\t\r\n " MSG "\n\n" BIND "    ", 1, NULL, NULL);
    ck_assert_str_eq(log, HDR_OPEN_LOG MSG "\n" BIND "\n");
    free(log);
}
END_TEST

START_TEST(stream_end_calls_close_and_the_rest_is_ignored)
{
    int rc;
    char *log = run(HDR MSG "</stream:stream><junk>", 0, NULL, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(log, HDR_OPEN_LOG MSG "\nclose\n");
    free(log);
}
END_TEST

/* Makes "<message><body>" + fill + "</body></message>" of exactly n bytes,
 * filling with 2-byte "é" where it can so that splits fall mid-character. */
static char *stanza_of(size_t n)
{
    const char *open = "<message><body>", *close = "</body></message>";
    size_t fixed = strlen(open) + strlen(close);
    ck_assert_uint_ge(n, fixed);
    char *s = malloc(n + 1);
    size_t k = strlen(open);
    memcpy(s, open, k);
    size_t fill = n - fixed;
    for (size_t i = 0; i + 1 < fill; i += 2) {
        s[k++] = '\xc3';
        s[k++] = '\xa9';
    }
    if (fill % 2)
        s[k++] = 'x';
    memcpy(s + k, close, strlen(close) + 1);
    ck_assert_uint_eq(strlen(s), n);
    return s;
}

START_TEST(stanza_size_limit_is_exact_wherever_the_input_splits)
{
    char *fits = stanza_of(LIM.stanza_bytes_max);
    char *over = stanza_of(LIM.stanza_bytes_max + 1);
    size_t n = strlen(fits);
    for (size_t cut = 0; cut <= n + 1; cut += 1) {
        for (int big = 0; big < 2; big++) {
            const char *st = big ? over : fits;
            size_t len = strlen(st);
            size_t c = cut < len ? cut : len;
            struct rec r;
            rec_init(&r, NULL);
            ck_assert_int_eq(xml_stream_feed(r.s, HDR, strlen(HDR)), 0);
            int rc1 = xml_stream_feed(r.s, st, c);
            int rc2 = xml_stream_feed(r.s, st + c, len - c);
            if (big) {
                ck_assert_msg(rc1 < 0 || rc2 < 0, "oversize accepted, cut %zu", cut);
                ck_assert_int_eq(r.cond, STREAM_POLICY_VIOLATION);
            } else {
                ck_assert_msg(rc1 == 0 && rc2 == 0, "limit-sized refused, cut %zu", cut);
                ck_assert_ptr_nonnull(r.first);
            }
            rec_done(&r);
        }
    }
    free(fits);
    free(over);
}
END_TEST

START_TEST(depth_and_attribute_limits_are_inclusive)
{
    /* depth_max 8: eight nested elements fit, nine do not */
    char *log = run(HDR "<a><b><c><d><e><f><g><h/></g></f></e></d></c></b></a>", 1, NULL, NULL);
    ck_assert_ptr_null(strstr(log, "error"));
    free(log);
    expect_error(HDR "<a><b><c><d><e><f><g><h><i/></h></g></f></e></d></c></b></a>",
                 STREAM_POLICY_VIOLATION, NULL);
    /* attrs_max 8, namespace declarations included */
    log = run(HDR "<a a='' b='' c='' d='' e='' f='' xmlns='urn:a' xmlns:p='urn:p'/>", 1, NULL,
              NULL);
    ck_assert_ptr_null(strstr(log, "error"));
    free(log);
    expect_error(HDR "<a a='' b='' c='' d='' e='' f='' g='' h='' i=''/>",
                 STREAM_POLICY_VIOLATION, NULL);
    expect_error(HDR "<a a='' b='' c='' d='' e='' f='' g='' xmlns='urn:a' xmlns:p='urn:p'/>",
                 STREAM_POLICY_VIOLATION, NULL);
}
END_TEST

/* "<a>" n times, inside HDR. */
static char *nested_open(int n)
{
    struct buf in;
    buf_init(&in);
    buf_puts(&in, HDR);
    for (int i = 0; i < n; i++)
        buf_puts(&in, "<a>");
    buf_cstr(&in);
    return (char *)buf_take(&in, NULL);
}

START_TEST(depth_limit_is_clamped_to_what_the_journal_can_decode)
{
    /* a configured depth past the binary codec's bound is clamped below
     * it, leaving room for event elements around a stanza */
    struct xml_limits lim = LIM;
    lim.depth_max = 1000;
    lim.stanza_bytes_max = 100000;
    int rc, deepest_ok = 0;
    for (int n = XML_BIN_DEPTH_MAX - 8; n <= XML_BIN_DEPTH_MAX + 1; n++) {
        char *in = nested_open(n);
        char *log = run(in, 0, &lim, &rc);
        if (rc == 0)
            deepest_ok = n;
        else
            ck_assert_ptr_nonnull(strstr(log, "error(policy-violation)"));
        free(log);
        free(in);
    }
    ck_assert_int_lt(deepest_ok, XML_BIN_DEPTH_MAX);
    ck_assert_int_ge(deepest_ok, XML_BIN_DEPTH_MAX - 4);
}
END_TEST

/* --- stream errors -------------------------------------------------------- */

START_TEST(doctype_is_restricted_xml)
{
    expect_error("<?xml version='1.0'?><!DOCTYPE stream:stream>" HDR, STREAM_RESTRICTED_XML, NULL);
    expect_error("<!DOCTYPE s SYSTEM 'http://example.com/x.dtd'>", STREAM_RESTRICTED_XML, NULL);
}
END_TEST

START_TEST(entity_declaration_is_restricted_xml)
{
    /* the billion-laughs shape never gets to declare anything */
    expect_error("<!DOCTYPE s [<!ENTITY a 'aaaaaaaa'><!ENTITY b '&a;&a;&a;&a;'>]><s>&b;</s>",
                 STREAM_RESTRICTED_XML, NULL);
}
END_TEST

START_TEST(comment_is_restricted_xml)
{
    expect_error("<!-- hi -->" HDR, STREAM_RESTRICTED_XML, NULL);
    expect_error(HDR "<!-- between stanzas -->", STREAM_RESTRICTED_XML, NULL);
    expect_error(HDR "<message><!-- inside --></message>", STREAM_RESTRICTED_XML, NULL);
}
END_TEST

START_TEST(processing_instruction_is_restricted_xml)
{
    expect_error("<?foo?>" HDR, STREAM_RESTRICTED_XML, NULL);
    expect_error(HDR "<message><?foo bar?></message>", STREAM_RESTRICTED_XML, NULL);
}
END_TEST

START_TEST(broken_xml_is_not_well_formed)
{
    expect_error(HDR "<a></b>", STREAM_NOT_WELL_FORMED, NULL);
    expect_error(HDR "<a x='1' x='2'/>", STREAM_NOT_WELL_FORMED, NULL);
    expect_error(HDR "<a>&undefined;</a>", STREAM_NOT_WELL_FORMED, NULL);
    expect_error(HDR "<p:a/>", STREAM_NOT_WELL_FORMED, NULL); /* unbound prefix */
    expect_error(HDR "<a>\xff</a>", STREAM_NOT_WELL_FORMED, NULL);
    expect_error(HDR "<a>&#0;</a>", STREAM_NOT_WELL_FORMED, NULL);
    expect_error(" <?xml version='1.0'?>" HDR, STREAM_NOT_WELL_FORMED, NULL);
    expect_error(HDR "<a xmlns:p='urn:a b'/>", STREAM_NOT_WELL_FORMED, NULL);
}
END_TEST

START_TEST(first_element_other_than_stream_is_invalid_namespace)
{
    expect_error("<stream:stream xmlns:stream='jabber:client'>", STREAM_INVALID_NAMESPACE, NULL);
    expect_error("<stream xmlns='jabber:client'>", STREAM_INVALID_NAMESPACE, NULL);
    expect_error("<s:features xmlns:s='http://etherx.jabber.org/streams'>",
                 STREAM_INVALID_NAMESPACE, NULL);
}
END_TEST

START_TEST(oversized_stanza_is_policy_violation)
{
    char *big = stanza_of(5000);
    size_t n = strlen(HDR) + strlen(big) + 1;
    char *in = malloc(n);
    snprintf(in, n, "%s%s", HDR, big);
    expect_error(in, STREAM_POLICY_VIOLATION, NULL);
    free(in);
    free(big);
}
END_TEST

START_TEST(unfinished_giant_token_is_refused_before_it_ends)
{
    /* a start tag that never ends fires no handler; the buffered bytes
     * are what is counted */
    struct rec r;
    rec_init(&r, NULL);
    ck_assert_int_eq(xml_stream_feed(r.s, HDR, strlen(HDR)), 0);
    ck_assert_int_eq(xml_stream_feed(r.s, "<message to='", 13), 0);
    char junk[256];
    memset(junk, 'a', sizeof junk);
    int rc = 0;
    size_t sent = 0;
    while (rc == 0 && sent < 100000) {
        rc = xml_stream_feed(r.s, junk, sizeof junk);
        sent += sizeof junk;
    }
    ck_assert_int_lt(rc, 0);
    ck_assert_uint_le(sent, LIM.stanza_bytes_max + sizeof junk);
    ck_assert_int_eq(r.cond, STREAM_POLICY_VIOLATION);
    rec_done(&r);
    /* the same at stream level before any header */
    rec_init(&r, NULL);
    rc = xml_stream_feed(r.s, "<stream:stream a='", 18);
    for (sent = 0; rc == 0 && sent < 100000; sent += sizeof junk)
        rc = xml_stream_feed(r.s, junk, sizeof junk);
    ck_assert_int_lt(rc, 0);
    ck_assert_int_eq(r.cond, STREAM_POLICY_VIOLATION);
    rec_done(&r);
}
END_TEST

START_TEST(big_text_streams_in_but_a_giant_tag_is_refused)
{
    /* with room for big stanzas, 100 KB of text fed byte by byte is fine
     * (text is reported as it comes), but one start tag cannot grow that
     * large: expat would rescan it on every read */
    struct xml_limits lim = LIM;
    lim.stanza_bytes_max = 200000;
    struct buf in;
    buf_init(&in);
    buf_puts(&in, HDR "<message><body>");
    for (int i = 0; i < 100000; i++)
        buf_put_u8(&in, (uint8_t)('a' + i % 26));
    buf_puts(&in, "</body></message>");
    int rc;
    char *log = run(buf_cstr(&in), 1, &lim, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_gt(strlen(log), 100000);
    free(log);
    buf_reset(&in);
    buf_puts(&in, HDR "<message a='");
    for (int i = 0; i < 40000; i++)
        buf_put_u8(&in, 'a');
    buf_puts(&in, "'/>");
    expect_error(buf_cstr(&in), STREAM_POLICY_VIOLATION, &lim);
    buf_free(&in);
}
END_TEST

START_TEST(text_between_stanzas_is_bounded)
{
    struct rec r;
    rec_init(&r, NULL);
    ck_assert_int_eq(xml_stream_feed(r.s, HDR, strlen(HDR)), 0);
    char junk[100];
    memset(junk, 'x', sizeof junk);
    int rc = 0;
    size_t sent = 0;
    for (; rc == 0 && sent < 100000; sent += sizeof junk)
        rc = xml_stream_feed(r.s, junk, sizeof junk);
    ck_assert_int_lt(rc, 0);
    ck_assert_uint_le(sent, LIM.stanza_bytes_max + 2 * sizeof junk);
    ck_assert_int_eq(r.cond, STREAM_POLICY_VIOLATION);
    rec_done(&r);
    /* whereas whitespace keepalives never add up */
    rec_init(&r, NULL);
    ck_assert_int_eq(xml_stream_feed(r.s, HDR, strlen(HDR)), 0);
    for (int i = 0; i < 5000; i++)
        ck_assert_int_eq(xml_stream_feed(r.s, " ", 1), 0);
    rec_done(&r);
}
END_TEST

START_TEST(encodings_other_than_utf8_are_unsupported)
{
    expect_error("<?xml version='1.0' encoding='ISO-8859-1'?>" HDR_TAG,
                 STREAM_UNSUPPORTED_ENCODING, NULL);
    expect_error("<?xml version='1.0' encoding='UTF-16'?>" HDR_TAG, STREAM_UNSUPPORTED_ENCODING,
                 NULL);
    expect_error("\xff\xfe<\0s\0", STREAM_UNSUPPORTED_ENCODING, NULL);
    expect_error("\xfe\xff\0<", STREAM_UNSUPPORTED_ENCODING, NULL);
    /* "<" then NUL: UTF-16LE without a byte order mark (length given by hand) */
    struct rec r;
    rec_init(&r, NULL);
    ck_assert_int_lt(xml_stream_feed(r.s, "<\0s\0", 4), 0);
    ck_assert_int_eq(r.cond, STREAM_UNSUPPORTED_ENCODING);
    rec_done(&r);
    /* UTF-8 declared in any case is fine */
    char *log = run("<?xml version='1.0' encoding='utf-8'?>" HDR_TAG, 1, NULL, NULL);
    ck_assert_str_eq(log, HDR_OPEN_LOG);
    free(log);
}
END_TEST

/* --- reset and stop ------------------------------------------------------- */

#define HDR2                                                                         \
    "<?xml version='1.0'?><stream:stream to='im.example.com' version='1.0' "         \
    "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
#define AUTH "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"

START_TEST(reset_inside_stanza_cb_hands_the_rest_to_a_fresh_parser)
{
    const char *in = HDR AUTH HDR2 BIND;
    const char *want = HDR_OPEN_LOG AUTH "\n"
                       "open(to=im.example.com version=1.0 xmlns=jabber:client)\n" BIND "\n";
    for (size_t step = 0; step <= 5; step++) {
        struct rec r;
        rec_init(&r, NULL);
        r.reset_on = "success";
        ck_assert_int_eq(feed_step(&r, in, strlen(in), step), 0);
        ck_assert_str_eq(buf_cstr(&r.log), want);
        rec_done(&r);
    }
}
END_TEST

START_TEST(stop_inside_stanza_cb_drops_the_rest_until_reset)
{
    const char *in = HDR "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\x16\x03\x01\x02";
    struct rec r;
    rec_init(&r, NULL);
    r.stop_on = "starttls";
    ck_assert_int_eq(xml_stream_feed(r.s, in, strlen(in)), 0);
    ck_assert_int_eq(xml_stream_feed(r.s, "\x16\x03garbage<", 10), 0);
    ck_assert_str_eq(buf_cstr(&r.log),
                     HDR_OPEN_LOG "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\n");
    buf_reset(&r.log);
    r.stop_on = NULL;
    xml_stream_reset(r.s);
    ck_assert_int_eq(xml_stream_feed(r.s, HDR2 BIND, strlen(HDR2 BIND)), 0);
    ck_assert_str_eq(buf_cstr(&r.log),
                     "open(to=im.example.com version=1.0 xmlns=jabber:client)\n" BIND "\n");
    rec_done(&r);
}
END_TEST

START_TEST(the_later_of_stop_and_reset_in_one_callback_wins)
{
    const char *in = HDR AUTH HDR2 BIND;
    struct rec r;
    rec_init(&r, NULL);
    r.stop_on = "success";
    r.stop_then_reset = 1;
    ck_assert_int_eq(xml_stream_feed(r.s, in, strlen(in)), 0);
    ck_assert_ptr_nonnull(strstr(buf_cstr(&r.log), BIND));
    rec_done(&r);

    rec_init(&r, NULL);
    r.reset_on = "success";
    r.reset_then_stop = 1;
    ck_assert_int_eq(xml_stream_feed(r.s, in, strlen(in)), 0);
    ck_assert_str_eq(buf_cstr(&r.log), HDR_OPEN_LOG AUTH "\n");
    xml_stream_reset(r.s); /* reset clears stop */
    ck_assert_int_eq(xml_stream_feed(r.s, HDR2 BIND, strlen(HDR2 BIND)), 0);
    ck_assert_ptr_nonnull(strstr(buf_cstr(&r.log), BIND));
    rec_done(&r);
}
END_TEST

START_TEST(reset_after_an_error_starts_a_clean_stream)
{
    struct rec r;
    rec_init(&r, NULL);
    const char *bad = HDR "<message><body>half a stanza</b>";
    int rc = xml_stream_feed(r.s, bad, strlen(bad));
    ck_assert_int_lt(rc, 0);
    ck_assert_int_eq(xml_stream_feed(r.s, "x", 1), rc);
    xml_stream_reset(r.s);
    buf_reset(&r.log);
    ck_assert_int_eq(xml_stream_feed(r.s, HDR MSG, strlen(HDR MSG)), 0);
    ck_assert_str_eq(buf_cstr(&r.log), HDR_OPEN_LOG MSG "\n");
    rec_done(&r);
}
END_TEST

static void reset_in_error_cb(void *arg, enum stream_err cond, const char *text)
{
    rec_error(arg, cond, text);
    xml_stream_reset(((struct rec *)arg)->s);
}

START_TEST(reset_inside_error_cb_drops_the_rest_of_that_feed)
{
    struct xml_stream_cbs cbs = CBS;
    cbs.error_cb = reset_in_error_cb;
    struct rec r;
    memset(&r, 0, sizeof r);
    buf_init(&r.log);
    r.s = xml_stream_new(&LIM, &cbs, &r);
    const char *in = HDR "<!-- no -->" HDR MSG;
    ck_assert_int_lt(xml_stream_feed(r.s, in, strlen(in)), 0);
    ck_assert_str_eq(buf_cstr(&r.log), HDR_OPEN_LOG "error(restricted-xml)\n");
    ck_assert_int_eq(xml_stream_feed(r.s, HDR MSG, strlen(HDR MSG)), 0);
    ck_assert_str_eq(buf_cstr(&r.log),
                     HDR_OPEN_LOG "error(restricted-xml)\n" HDR_OPEN_LOG MSG "\n");
    rec_done(&r);
}
END_TEST

/* --- trimming an idle stream ---------------------------------------------- */

/* Bytes of malloc's heap in use (0 when malloc cannot say: under ASan)
 * plus what kernel/xml_heap.c has mapped, where the parsers live. */
static size_t heap_used(void)
{
    static int works = -1;
    if (works < 0) {
        size_t a = mallinfo2().uordblks;
        char *volatile x = malloc(10000); /* volatile: kept although unused */
        size_t b = mallinfo2().uordblks;
        free(x);
        works = b >= a + 10000;
    }
    struct xml_heap_stats xs;
    xml_heap_stats(&xs);
    return (works ? mallinfo2().uordblks : 0) + xs.bytes_mapped;
}

/* Like feed_step, but calls xml_stream_trim after every piece: it trims
 * whenever the stream is idle and must change nothing else. */
static int feed_step_trim(struct rec *r, const char *in, size_t n, size_t step)
{
    int first = 0;
    if (step == 0)
        step = n ? n : 1;
    for (size_t off = 0; off < n; off += step) {
        size_t len = n - off < step ? n - off : step;
        int rc = xml_stream_feed(r->s, in + off, len);
        if (rc < 0 && first == 0)
            first = rc;
        xml_stream_trim(r->s);
    }
    return first;
}

/* The log of in fed in pieces of step with a trim after each piece must
 * equal the log of in fed at once without any trim (result codes too). */
static void expect_trim_changes_nothing(const char *in, const struct xml_limits *lim)
{
    int want_rc;
    char *want = run(in, 0, lim, &want_rc);
    static const size_t steps[] = {0, 1, 2, 3, 5, 7, 13, 64};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        struct rec r;
        rec_init(&r, lim);
        int rc = feed_step_trim(&r, in, strlen(in), steps[i]);
        ck_assert_msg(rc == want_rc, "step %zu: rc %d, want %d", steps[i], rc, want_rc);
        ck_assert_str_eq(buf_cstr(&r.log), want);
        rec_done(&r);
    }
    free(want);
}

/* A header with its own prefix for the streams namespace, no default
 * namespace, and prefixes stanzas use, one of them a URI that needs
 * escaping (tab, apostrophe, <, &) to be declared again. */
#define PHDR                                                                                   \
    "<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns:foo='urn:foo' "              \
    "xmlns:q=\"urn:q&#9;'&lt;&amp;\" to='example.com' xml:lang='fr' version='1.0'>"
#define PSTANZAS                                                                               \
    "<foo:x foo:a='1' q:b='2' xml:lang='de'><q:y>t</q:y><z xmlns='jabber:client'/></foo:x>" \
    "\n<message xmlns='jabber:client'><foo:ext/></message> "

START_TEST(trim_is_invisible_in_the_trees_of_later_stanzas)
{
    expect_trim_changes_nothing(TRANSCRIPT, NULL);
    expect_trim_changes_nothing(HDR MSG "\r\n" MSG "]" BIND, NULL);
    /* a CDATA section at stream level is expat state: no trim inside it */
    expect_trim_changes_nothing(HDR MSG "<![CDATA[x<a/>y]]>" BIND "<![CDATA[<b/>", NULL);
    expect_trim_changes_nothing(PHDR PSTANZAS PSTANZAS "</s:stream>", NULL);
    /* what the header declared is what the trees get after a trim */
    int rc;
    char *log = run(PHDR PSTANZAS, 1, NULL, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_nonnull(strstr(log, "<x xmlns='urn:foo' xmlns:a0='urn:foo' a0:a='1' "
                                      "xmlns:a1='urn:q&#9;&apos;&lt;&amp;' a1:b='2' "
                                      "xml:lang='de'>"));
    ck_assert_ptr_nonnull(strstr(log, "<y xmlns='urn:q&#9;&apos;&lt;&amp;'>t</y>"));
    free(log);
    /* a default namespace of its own on the header */
    expect_trim_changes_nothing("<stream xmlns='http://etherx.jabber.org/streams'><a/><b/>"
                                "</stream>", NULL);
}
END_TEST

START_TEST(trim_leaves_byte_at_a_time_equal_to_all_at_once)
{
    char *whole = run(TRANSCRIPT, 0, NULL, NULL);
    size_t n = strlen(TRANSCRIPT);
    for (int round = 0; round < 100; round++) {
        struct rec r;
        rec_init(&r, NULL);
        for (size_t off = 0; off < n;) {
            size_t len = round == 0 ? 1 : 1 + rng() % 40;
            if (len > n - off)
                len = n - off;
            ck_assert_int_eq(xml_stream_feed(r.s, TRANSCRIPT + off, len), 0);
            off += len;
            xml_stream_trim(r.s);
            xml_stream_trim(r.s); /* a second trim of a trimmed stream is harmless */
        }
        ck_assert_str_eq(buf_cstr(&r.log), whole);
        rec_done(&r);
    }
    free(whole);
}
END_TEST

START_TEST(trim_frees_an_idle_parser_and_leaves_a_busy_one)
{
    struct rec r;
    rec_init(&r, NULL);
    const char *in = HDR MSG "<message><bo";
    size_t first = strlen(HDR MSG);
    ck_assert_int_eq(xml_stream_feed(r.s, in, first), 0);
    size_t before = heap_used();
    xml_stream_trim(r.s);
    size_t after = heap_used();
    if (before) /* expat's tables and buffer: several KiB */
        ck_assert_uint_gt(before, after + 4096);
    /* mid-stanza (and mid-tag) trim does nothing at all */
    ck_assert_int_eq(xml_stream_feed(r.s, in + first, strlen(in) - first), 0);
    before = heap_used();
    xml_stream_trim(r.s);
    ck_assert_uint_eq(heap_used(), before);
    ck_assert_int_eq(xml_stream_feed(r.s, "dy>x</body></message>", 21), 0);
    ck_assert_str_eq(buf_cstr(&r.log),
                     HDR_OPEN_LOG MSG "\n<message><body>x</body></message>\n");
    rec_done(&r);
    /* before the header is complete, trim does nothing either */
    expect_trim_changes_nothing(HDR MSG, NULL);
}
END_TEST

START_TEST(stream_end_after_trim_calls_close)
{
    expect_trim_changes_nothing(HDR MSG "</stream:stream><junk>", NULL);
    struct rec r;
    rec_init(&r, NULL);
    ck_assert_int_eq(xml_stream_feed(r.s, PHDR, strlen(PHDR)), 0);
    xml_stream_trim(r.s);
    ck_assert_int_eq(xml_stream_feed(r.s, "</s:stream>", 11), 0);
    ck_assert_ptr_nonnull(strstr(buf_cstr(&r.log), ")\nclose\n"));
    rec_done(&r);
    /* a close tag with another prefix still does not match the header */
    rec_init(&r, NULL);
    ck_assert_int_eq(xml_stream_feed(r.s, PHDR, strlen(PHDR)), 0);
    xml_stream_trim(r.s);
    ck_assert_int_lt(xml_stream_feed(r.s, "</stream:stream>", 16), 0);
    ck_assert_int_eq(r.cond, STREAM_NOT_WELL_FORMED);
    rec_done(&r);
}
END_TEST

START_TEST(errors_after_trim_are_reported_the_same)
{
    static const char *const bad[] = {
        "<a></b>", "</x>", "<a><!-- c --></a>", "<?pi x?>", "<foo:a/>", "<a x='1' x='2'/>",
        "<a>&undefined;</a>", "<a b='<'/>", "<a\x01/>", "<a>\xff</a>",
        "<a a='' b='' c='' d='' e='' f='' g='' h='' i=''/>",
        "<a><b><c><d><e><f><g><h><i/></h></g></f></e></d></c></b></a>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct buf in;
        buf_init(&in);
        buf_puts(&in, HDR MSG " ");
        buf_puts(&in, bad[i]);
        expect_trim_changes_nothing(buf_cstr(&in), NULL);
        buf_free(&in);
    }
    /* limits: a stanza of exactly stanza_bytes_max fits after a trim, one
     * byte more does not; stray text keeps counting across a trim */
    char *fits = stanza_of(LIM.stanza_bytes_max);
    char *over = stanza_of(LIM.stanza_bytes_max + 1);
    struct buf in;
    buf_init(&in);
    buf_printf(&in, "%s%s %s%s", HDR, MSG, fits, over);
    expect_trim_changes_nothing(buf_cstr(&in), NULL);
    buf_reset(&in);
    buf_puts(&in, HDR MSG);
    for (size_t k = 0; k < LIM.stanza_bytes_max / 2 + 1; k++)
        buf_puts(&in, "x<a/>y");
    expect_trim_changes_nothing(buf_cstr(&in), NULL);
    buf_free(&in);
    free(fits);
    free(over);
}
END_TEST

START_TEST(reset_and_stop_after_trim_behave_as_without)
{
    /* reset: a new header with another namespace, open_cb again */
    struct rec r;
    rec_init(&r, NULL);
    ck_assert_int_eq(xml_stream_feed(r.s, PHDR, strlen(PHDR)), 0);
    xml_stream_trim(r.s);
    xml_stream_reset(r.s);
    ck_assert_int_eq(xml_stream_feed(r.s, HDR2 BIND, strlen(HDR2 BIND)), 0);
    ck_assert_ptr_nonnull(
        strstr(buf_cstr(&r.log), ")\nopen(to=im.example.com version=1.0 xmlns=jabber:client)\n" BIND
                                 "\n"));
    xml_stream_trim(r.s);
    ck_assert_int_eq(xml_stream_feed(r.s, MSG, strlen(MSG)), 0);
    ck_assert_ptr_nonnull(strstr(buf_cstr(&r.log), BIND "\n" MSG "\n"));
    /* stop: everything dropped until a reset */
    xml_stream_trim(r.s);
    xml_stream_stop(r.s);
    size_t len = r.log.len;
    ck_assert_int_eq(xml_stream_feed(r.s, MSG, strlen(MSG)), 0);
    ck_assert_uint_eq(r.log.len, len);
    xml_stream_reset(r.s);
    ck_assert_int_eq(xml_stream_feed(r.s, HDR MSG, strlen(HDR MSG)), 0);
    ck_assert_ptr_nonnull(strstr(buf_cstr(&r.log) + len, HDR_OPEN_LOG MSG "\n"));
    rec_done(&r);
    /* a reset asked in a callback on a stream trimmed before that feed */
    rec_init(&r, NULL);
    r.reset_on = "success";
    ck_assert_int_eq(xml_stream_feed(r.s, HDR, strlen(HDR)), 0);
    xml_stream_trim(r.s);
    ck_assert_int_eq(xml_stream_feed(r.s, AUTH HDR2 BIND, strlen(AUTH HDR2 BIND)), 0);
    ck_assert_str_eq(buf_cstr(&r.log),
                     HDR_OPEN_LOG AUTH "\nopen(to=im.example.com version=1.0 "
                                       "xmlns=jabber:client)\n" BIND "\n");
    rec_done(&r);
}
END_TEST

/* Not a check: heap held per idle parser (after the header and two
 * stanzas) before and after a trim, and once a stanza came after it. */
START_TEST(trim_measurement_printout)
{
    enum { N = 1000 };
    if (!heap_used())
        return; /* no figures under ASan */
    static struct rec r[N];
    size_t h0 = heap_used();
    for (int i = 0; i < N; i++) {
        rec_init(&r[i], NULL);
        r[i].first = xml_new("x", "y"); /* so that rec_stanza frees every stanza */
        ck_assert_int_eq(xml_stream_feed(r[i].s, HDR MSG BIND, strlen(HDR MSG BIND)), 0);
        buf_free(&r[i].log);
    }
    size_t h1 = heap_used();
    for (int i = 0; i < N; i++)
        xml_stream_trim(r[i].s);
    size_t h2 = heap_used();
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(xml_stream_feed(r[i].s, MSG, strlen(MSG)), 0);
        buf_free(&r[i].log);
    }
    size_t h3 = heap_used();
    printf("xml_stream heap per idle parser: %.2f KiB untrimmed, %.2f KiB trimmed, "
           "%.2f KiB after the next stanza\n",
           (double)(h1 - h0) / N / 1024, (double)(h2 - h0) / N / 1024,
           (double)(h3 - h0) / N / 1024);
    for (int i = 0; i < N; i++)
        rec_done(&r[i]);
}
END_TEST

/* --- binary codec ---------------------------------------------------------- */

static struct xnode *bin_round(const struct xnode *n, struct buf *enc)
{
    buf_reset(enc);
    xml_encode_bin(n, enc);
    struct rd r;
    rd_init(&r, enc->p, enc->len);
    struct xnode *back = xml_decode_bin(&r);
    ck_assert_int_eq(r.err, 0);
    ck_assert_uint_eq(rd_left(&r), 0);
    return back;
}

START_TEST(bin_round_trip_gives_equal_trees)
{
    static const char *const corpus[] = {
        MSG, BIND, "<presence/>",
        "<message xmlns:x='urn:x' x:a='1' xml:lang='en'><body>caf\xc3\xa9</body>"
        "<html xmlns='http://jabber.org/protocol/xhtml-im'><body>a<b>b</b>c</body></html>"
        "<y xmlns=''/></message>",
    };
    struct buf enc;
    buf_init(&enc);
    for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
        struct xnode *t = parse1(corpus[i]);
        struct xnode *back = bin_round(t, &enc);
        ck_assert_msg(xml_equal(t, back), "corpus %zu", i);
        xml_free(back);
        xml_free(t);
    }
    /* a lone text node is a tree too */
    struct xnode *m = parse1("<m>just text</m>");
    struct xnode *back = bin_round(m->kids, &enc);
    ck_assert_str_eq(back->text, "just text");
    xml_free(back);
    xml_free(m);
    buf_free(&enc);
}
END_TEST

/* The bytes doc/formats/event.md shows for its example body. */
START_TEST(bin_encoding_matches_the_documented_bytes)
{
    struct xnode *m = xml_new("message", NS_CLIENT);
    xml_set_attr(m, "to", "juliet@example.com");
    xml_add_text(xml_add(m, "body", NULL), "hi");
    static const uint8_t want[] = {
        0x02, 0x07, 'm', 'e', 's', 's', 'a', 'g', 'e', 0x0d, 'j', 'a', 'b', 'b', 'e', 'r', ':',
        'c', 'l', 'i', 'e', 'n', 't', 0x01, 0x02, 't', 'o', 0x12, 'j', 'u', 'l', 'i', 'e', 't',
        '@', 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm', 0x01, 0x01, 0x04, 'b', 'o',
        'd', 'y', 0x00, 0x01, 0x00, 0x02, 'h', 'i',
    };
    struct buf enc;
    buf_init(&enc);
    xml_encode_bin(m, &enc);
    ck_assert_uint_eq(enc.len, sizeof want);
    ck_assert_mem_eq(enc.p, want, sizeof want);
    buf_free(&enc);
    xml_free(m);
}
END_TEST

static struct xnode *decode_bytes(const void *p, size_t n, int *err)
{
    struct rd r;
    rd_init(&r, p, n);
    struct xnode *t = xml_decode_bin(&r);
    *err = r.err;
    return t;
}

START_TEST(bin_corrupt_every_truncation_fails_cleanly)
{
    struct xnode *t = parse1(MSG);
    struct buf enc;
    buf_init(&enc);
    xml_encode_bin(t, &enc);
    for (size_t cut = 0; cut < enc.len; cut++) {
        int err;
        struct xnode *d = decode_bytes(enc.p, cut, &err);
        ck_assert_msg(d == NULL, "cut at %zu decoded", cut);
        ck_assert_int_eq(err, -ERR_CORRUPT);
    }
    buf_free(&enc);
    xml_free(t);
}
END_TEST

START_TEST(bin_corrupt_byte_flips_never_crash)
{
    struct xnode *t = parse1("<message to='a' xmlns:x='urn:x' x:y='z'><body>hello</body>"
                             "<thread>t1</thread><x xmlns='urn:x'><y/></x></message>");
    /* more attributes than the pairwise duplicate check takes */
    struct xnode *y = xml_first_elem(xml_child(t, "x", "urn:x"));
    for (int i = 0; i < 10; i++) {
        char name[2] = {(char)('a' + i), 0};
        xml_set_attr(y, name, "v");
    }
    struct buf enc;
    buf_init(&enc);
    xml_encode_bin(t, &enc);
    uint8_t *copy = malloc(enc.len);
    int ok = 0, bad = 0;
    for (int round = 0; round < 20000; round++) {
        memcpy(copy, enc.p, enc.len);
        int flips = 1 + (int)(rng() % 3);
        for (int f = 0; f < flips; f++)
            copy[rng() % enc.len] ^= (uint8_t)(1u << (rng() % 8));
        int err;
        struct xnode *d = decode_bytes(copy, enc.len, &err);
        if (!d) {
            ck_assert_int_lt(err, 0);
            bad++;
            continue;
        }
        /* whatever decodes is a sound tree that encodes and decodes again */
        ok++;
        struct buf again;
        buf_init(&again);
        struct xnode *d2 = bin_round(d, &again);
        ck_assert(xml_equal(d, d2));
        buf_free(&again);
        xml_free(d2);
        xml_free(d);
    }
    ck_assert_int_gt(bad, 0);
    ck_assert_int_gt(ok, 0); /* flips inside text still decode */
    free(copy);
    buf_free(&enc);
    xml_free(t);
}
END_TEST

START_TEST(bin_corrupt_structure_is_refused)
{
    int err;
    /* unknown tag */
    ck_assert_ptr_null(decode_bytes("\x03\x01" "a\x00\x00", 5, &err));
    ck_assert_int_eq(err, -ERR_CORRUPT);
    /* "same namespace" at the root has no parent to copy from */
    ck_assert_ptr_null(decode_bytes("\x01\x01" "a\x00\x00", 5, &err));
    /* empty element name */
    ck_assert_ptr_null(decode_bytes("\x02\x00\x00\x00\x00", 5, &err));
    /* a count far beyond the bytes left, refused before any allocation */
    ck_assert_ptr_null(decode_bytes("\x02\x01" "a\x00\xff\xff\xff\xff\x0f", 9, &err));
    ck_assert_ptr_null(decode_bytes("\x02\x01" "a\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
                                    15, &err));
    /* NUL inside a string */
    ck_assert_ptr_null(decode_bytes("\x02\x02" "a\0\x00\x00\x00", 6, &err));
    /* duplicate attribute names, few (pairwise) and many (sorted) */
    ck_assert_ptr_null(decode_bytes("\x02\x01" "a\x00\x02\x01x\x00\x01x\x00\x00", 12, &err));
    struct buf b;
    buf_init(&b);
    buf_put(&b, "\x02\x01" "a\x00", 4);
    buf_put_varint(&b, 12);
    for (int i = 0; i < 12; i++) {
        char name[2] = {(char)('a' + (i == 11 ? 3 : i)), 0};
        buf_put_str(&b, name);
        buf_put_str(&b, "v");
    }
    buf_put_u8(&b, 0);
    ck_assert_ptr_null(decode_bytes(b.p, b.len, &err));
    ck_assert_int_eq(err, -ERR_CORRUPT);
    b.p[4 + 1 + 11 * 4 + 1] = 'z'; /* make the last name unique: now it decodes */
    struct xnode *t = decode_bytes(b.p, b.len, &err);
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(t->nattrs, 12);
    xml_free(t);
    buf_free(&b);
    /* a reader already in error decodes nothing */
    struct rd r;
    rd_init(&r, "\x00\x00", 2);
    r.err = -ERR_CORRUPT;
    ck_assert_ptr_null(xml_decode_bin(&r));
}
END_TEST

/* n nested elements, encoded by hand (the encoder refuses too deep). */
static void nested_bytes(struct buf *b, int n)
{
    buf_reset(b);
    buf_put(b, "\x02\x01" "a\x01" "b\x00\x01", 7);
    for (int i = 1; i < n; i++)
        buf_put(b, "\x01\x01" "a\x00\x01", 5);
    b->p[b->len - 1] = 0; /* the innermost has no children */
}

START_TEST(bin_depth_is_bounded)
{
    struct buf b;
    buf_init(&b);
    int err;
    nested_bytes(&b, XML_BIN_DEPTH_MAX);
    struct xnode *t = decode_bytes(b.p, b.len, &err);
    ck_assert_ptr_nonnull(t);
    xml_free(t);
    nested_bytes(&b, XML_BIN_DEPTH_MAX + 1);
    ck_assert_ptr_null(decode_bytes(b.p, b.len, &err));
    ck_assert_int_eq(err, -ERR_CORRUPT);
    buf_free(&b);
}
END_TEST

/* --- runner ---------------------------------------------------------------- */

static Suite *xml_suite(void)
{
    Suite *s = suite_create("xml");
    TCase *t = tcase_create("tree");
    tcase_add_test(t, built_tree_serialises_exactly);
    tcase_add_test(t, xmlns_is_declared_only_where_the_namespace_changes);
    tcase_add_test(t, text_and_attributes_are_escaped);
    tcase_add_test(t, characters_xml_forbids_are_dropped);
    tcase_add_test(t, stored_xmlns_attributes_are_never_written);
    tcase_add_test(t, add_text_merges_with_a_trailing_text_child);
    tcase_add_test(t, remove_keeps_the_list_and_tail_consistent);
    tcase_add_test(t, copy_is_deep_and_equal);
    tcase_add_test(t, set_attr_adds_replaces_and_removes);
    tcase_add_test(t, child_lookup_and_element_iteration_skip_text);
    tcase_add_test(t, mixed_content_keeps_document_order);
    tcase_add_test(t, equality_treats_attributes_as_a_set_and_children_as_a_list);
    suite_add_tcase(s, t);

    t = tcase_create("parse");
    tcase_add_test(t, stanza_gets_namespace_uris_and_attribute_forms);
    tcase_add_test(t, namespaced_attributes_survive_a_round_trip);
    tcase_add_test(t, parse_serialize_parse_gives_equal_trees);
    tcase_add_test(t, header_reaches_open_cb_with_its_default_namespace);
    tcase_add_test(t, byte_at_a_time_gives_the_same_result_as_all_at_once);
    tcase_add_test(t, whitespace_between_stanzas_is_ignored);
    tcase_add_test(t, stream_end_calls_close_and_the_rest_is_ignored);
    tcase_add_test(t, stanza_size_limit_is_exact_wherever_the_input_splits);
    tcase_add_test(t, depth_and_attribute_limits_are_inclusive);
    tcase_add_test(t, depth_limit_is_clamped_to_what_the_journal_can_decode);
    suite_add_tcase(s, t);

    t = tcase_create("stream_errors");
    tcase_add_test(t, doctype_is_restricted_xml);
    tcase_add_test(t, entity_declaration_is_restricted_xml);
    tcase_add_test(t, comment_is_restricted_xml);
    tcase_add_test(t, processing_instruction_is_restricted_xml);
    tcase_add_test(t, broken_xml_is_not_well_formed);
    tcase_add_test(t, first_element_other_than_stream_is_invalid_namespace);
    tcase_add_test(t, oversized_stanza_is_policy_violation);
    tcase_add_test(t, unfinished_giant_token_is_refused_before_it_ends);
    tcase_add_test(t, big_text_streams_in_but_a_giant_tag_is_refused);
    tcase_add_test(t, text_between_stanzas_is_bounded);
    tcase_add_test(t, encodings_other_than_utf8_are_unsupported);
    suite_add_tcase(s, t);

    t = tcase_create("reset_stop");
    tcase_add_test(t, reset_inside_stanza_cb_hands_the_rest_to_a_fresh_parser);
    tcase_add_test(t, stop_inside_stanza_cb_drops_the_rest_until_reset);
    tcase_add_test(t, the_later_of_stop_and_reset_in_one_callback_wins);
    tcase_add_test(t, reset_after_an_error_starts_a_clean_stream);
    tcase_add_test(t, reset_inside_error_cb_drops_the_rest_of_that_feed);
    suite_add_tcase(s, t);

    t = tcase_create("trim");
    tcase_add_test(t, trim_is_invisible_in_the_trees_of_later_stanzas);
    tcase_add_test(t, trim_leaves_byte_at_a_time_equal_to_all_at_once);
    tcase_add_test(t, trim_frees_an_idle_parser_and_leaves_a_busy_one);
    tcase_add_test(t, stream_end_after_trim_calls_close);
    tcase_add_test(t, errors_after_trim_are_reported_the_same);
    tcase_add_test(t, reset_and_stop_after_trim_behave_as_without);
    tcase_add_test(t, trim_measurement_printout);
    suite_add_tcase(s, t);

    t = tcase_create("bin");
    tcase_add_test(t, bin_round_trip_gives_equal_trees);
    tcase_add_test(t, bin_encoding_matches_the_documented_bytes);
    tcase_add_test(t, bin_corrupt_every_truncation_fails_cleanly);
    tcase_add_test(t, bin_corrupt_byte_flips_never_crash);
    tcase_add_test(t, bin_corrupt_structure_is_refused);
    tcase_add_test(t, bin_depth_is_bounded);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(xml_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
