/* ctlproto: see ctlproto.h. */
#include "kernel/ctlproto.h"

#include <stdlib.h>
#include <string.h>

#include "kernel/err.h"
#include "kernel/mem.h"

void ctlproto_write_request(struct buf *out, int argc, char *const argv[])
{
    size_t len = 0;
    for (int i = 0; i < argc; i++)
        len += strlen(argv[i]) + (i > 0);
    buf_printf(out, "%zu\n", len);
    for (int i = 0; i < argc; i++) {
        if (i > 0)
            buf_put_u8(out, 0);
        buf_puts(out, argv[i]);
    }
}

/* Reads a decimal number ending at `stop`. Returns the index after the
 * stop byte, 0 when more is needed, -1 when malformed. */
static long read_num(const uint8_t *p, size_t n, char stop, uint64_t max, uint64_t *v)
{
    *v = 0;
    for (size_t i = 0; i < n && i < 12; i++) {
        if (p[i] == (uint8_t)stop)
            return i > 0 ? (long)i + 1 : -1;
        if (p[i] < '0' || p[i] > '9')
            return -1;
        *v = *v * 10 + (p[i] - '0');
        if (*v > max)
            return -1;
    }
    return n >= 12 ? -1 : 0;
}

int ctlproto_parse_request(const uint8_t *p, size_t n, size_t *used, char *argv[CTL_ARGS_MAX],
                           int *argc)
{
    uint64_t len;
    long h = read_num(p, n, '\n', CTL_FRAME_MAX, &len);
    if (h < 0)
        return -ERR_PARSE;
    if (h == 0 || n - (size_t)h < len)
        return 0;
    const uint8_t *a = p + h;
    int c = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && a[i] != 0)
            continue;
        if (c == CTL_ARGS_MAX) {
            ctlproto_free_args(argv, c);
            return -ERR_PARSE;
        }
        argv[c++] = xstrndup((const char *)a + start, i - start);
        start = i + 1;
    }
    *argc = c;
    *used = (size_t)h + len;
    return 1;
}

void ctlproto_free_args(char *argv[], int argc)
{
    for (int i = 0; i < argc; i++)
        free(argv[i]);
}

void ctlproto_write_reply(struct buf *out, int status, const char *text)
{
    buf_printf(out, "%d %zu\n", status, strlen(text));
    buf_puts(out, text);
}

int ctlproto_parse_reply(const uint8_t *p, size_t n, size_t *used, int *status, char **text)
{
    uint64_t st, len;
    long h1 = read_num(p, n, ' ', 255, &st);
    if (h1 <= 0)
        return h1 < 0 ? -ERR_PARSE : 0;
    long h2 = read_num(p + h1, n - (size_t)h1, '\n', CTL_REPLY_MAX, &len);
    if (h2 <= 0)
        return h2 < 0 ? -ERR_PARSE : 0;
    size_t h = (size_t)h1 + (size_t)h2;
    if (n - h < len)
        return 0;
    *status = (int)st;
    *text = xstrndup((const char *)p + h, len);
    *used = h + len;
    return 1;
}
