/* err: names and texts for the tables in err.h. */
#include "kernel/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const err_names[] = {
#define X(name, text) #name,
    ERR_TABLE(X)
#undef X
};
static const char *const err_texts[] = {
#define X(name, text) text,
    ERR_TABLE(X)
#undef X
};

static int err_index(int code)
{
    int c = -code;
    if (c <= ERR_BASE_ || c >= ERR_END_)
        return -1;
    return c - ERR_BASE_ - 1;
}

const char *err_name(int code)
{
    int i = err_index(code);
    if (i >= 0)
        return err_names[i];
    if (is_stanza_err(code))
        return stanza_err_name(stanza_err_cond(code));
    if (code < 0 && -code < ERR_BASE_) {
        const char *n = strerrorname_np(-code);
        return n ? n : "E?";
    }
    return "ERR_UNKNOWN";
}

const char *err_str(int code)
{
    int i = err_index(code);
    if (i >= 0)
        return err_texts[i];
    if (is_stanza_err(code))
        return stanza_err_name(stanza_err_cond(code));
    if (code < 0 && -code < ERR_BASE_)
        return strerror(-code);
    return "unknown error";
}

static const char *const stanza_names[] = {
    "",
#define X(e, name, type) name,
    STANZA_ERR_TABLE(X)
#undef X
};
static const char *const stanza_types[] = {
    "",
#define X(e, name, type) type,
    STANZA_ERR_TABLE(X)
#undef X
};

const char *stanza_err_name(enum stanza_err c)
{
    return (c > STANZA_OK_ && c < STANZA_END_) ? stanza_names[c] : "undefined-condition";
}

const char *stanza_err_type(enum stanza_err c)
{
    return (c > STANZA_OK_ && c < STANZA_END_) ? stanza_types[c] : "cancel";
}

static const char *const stream_names[] = {
    "",
#define X(e, name) name,
    STREAM_ERR_TABLE(X)
#undef X
};

const char *stream_err_name(enum stream_err c)
{
    return (c > STREAM_OK_ && c < STREAM_END_) ? stream_names[c] : "undefined-condition";
}

int err_fail(char *errbuf, size_t errlen, int rc, const char *fmt, ...)
{
    if (errbuf && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}
