/* fuzz_xml_stream: the XML front end (kernel/xml_stream.c) on hostile
 * input. Whatever the bytes, the parser must report a stream error or
 * hand over trees that serialise and round-trip through the binary event
 * form, and never crash, leak or read out of bounds. The first input
 * byte picks how the rest is split into feeds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "kernel/xml.h"

static void open_cb(void *arg, const struct xnode *hdr)
{
    (void)arg;
    (void)hdr;
}

static void stanza_cb(void *arg, struct xnode *st)
{
    struct buf b;
    buf_init(&b);
    xml_serialize(st, NS_CLIENT, &b);
    buf_reset(&b);
    xml_encode_bin(st, &b);
    struct rd r;
    rd_init(&r, b.p, b.len);
    struct xnode *back = xml_decode_bin(&r);
    if (!back || !xml_equal(back, st))
        abort(); /* the binary form must carry every tree the parser makes */
    xml_free(back);
    buf_free(&b);
    xml_free(st);
    ++*(int *)arg;
}

static void close_cb(void *arg) { (void)arg; }

static void error_cb(void *arg, enum stream_err cond, const char *text)
{
    (void)arg;
    (void)cond;
    (void)text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct xml_limits lim = {.stanza_bytes_max = 4096, .depth_max = 16, .attrs_max = 16};
    struct xml_stream_cbs cbs = {open_cb, stanza_cb, close_cb, error_cb};
    int count = 0;
    struct xml_stream *s = xml_stream_new(&lim, &cbs, &count);
    size_t chunk = (size_t)data[0] % 17 + 1;
    for (size_t off = 1; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        if (xml_stream_feed(s, (const char *)data + off, n) < 0)
            break;
    }
    xml_stream_free(s);
    return 0;
}
