/* ctlproto: the framing between stanzactl and the server's control
 * socket (<data_dir>/ctl.sock, mode 0600). Binary-safe and small:
 *
 *   request  = decimal-length LF args      args = arg *(NUL arg)
 *   reply    = decimal-status SP decimal-length LF text
 *
 * e.g. "20\nuser\0add\0a@localhost" and "0 15\naccount created".
 * One request, one reply, in order; a connection may send several. */
#ifndef STANZAD_CTLPROTO_H
#define STANZAD_CTLPROTO_H

#include <stddef.h>
#include <stdint.h>

#include "kernel/buf.h"

#define CTL_FRAME_MAX (64 * 1024)   /* request bigger than this: bad request, connection closed */
#define CTL_REPLY_MAX (64u << 20)   /* a reply (user list) bigger than this is refused by the tool */
#define CTL_ARGS_MAX 16

/* Exit statuses a reply carries; stanzactl exits with them. */
enum { CTL_OK = 0, CTL_REFUSED = 1, CTL_USAGE = 2, CTL_UNAVAILABLE = 3 };

void ctlproto_write_request(struct buf *out, int argc, char *const argv[]);
/* Parses one request from p[0..n). Returns 1 and fills argv (malloc'd
 * strings, freed with ctlproto_free_args) and *used; 0 when more bytes are
 * needed; -ERR_PARSE for a bad or oversized frame. */
int ctlproto_parse_request(const uint8_t *p, size_t n, size_t *used /* OUT */,
                           char *argv[CTL_ARGS_MAX] /* OUT */, int *argc /* OUT */);
void ctlproto_free_args(char *argv[], int argc);

void ctlproto_write_reply(struct buf *out, int status, const char *text);
/* Parses one reply. Returns 1 with *status and *text (malloc'd, the
 * caller frees it), 0 when more is needed, -ERR_PARSE when malformed. */
int ctlproto_parse_reply(const uint8_t *p, size_t n, size_t *used /* OUT */, int *status /* OUT */,
                         char **text /* OUT */);

#endif
