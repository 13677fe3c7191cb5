/* ctl: see ctl.h. */
#include "kernel/ctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handlers/accounts/accounts.h"
#include "handlers/audit/audit.h"
#include "handlers/sessions/sessions.h"
#include "kernel/backup.h"
#include "kernel/creds.h"
#include "kernel/ctlproto.h"
#include "kernel/c2s.h"
#include "kernel/jid.h"
#include "kernel/log.h"
#include "kernel/snapshotter.h"
#include "kernel/mem.h"

struct ctl_conn {
    uv_pipe_t pipe;
    struct server *srv;
    uint64_t id;
    struct buf in;
    int closing;
};

static char ctl_read_buf[8192];

static void ctl_closed_cb(uv_handle_t *h)
{
    struct ctl_conn *cc = h->data;
    buf_free(&cc->in);
    free(cc);
}

static void ctl_conn_close(struct ctl_conn *cc)
{
    if (cc->closing)
        return;
    cc->closing = 1;
    server_endpoint_del(cc->srv, cc->id);
    uv_close((uv_handle_t *)&cc->pipe, ctl_closed_cb);
}

struct ctl_write {
    uv_write_t req;
    char data[];
};

static void ctl_write_cb(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

void ctl_reply(void *conn, int status, const char *text)
{
    struct ctl_conn *cc = conn;
    struct buf b;
    buf_init(&b);
    ctlproto_write_reply(&b, status, text);
    struct ctl_write *w = xmalloc(sizeof *w + b.len);
    memcpy(w->data, b.p, b.len);
    uv_buf_t ub = uv_buf_init(w->data, (unsigned)b.len);
    if (uv_write(&w->req, (uv_stream_t *)&cc->pipe, &ub, 1, ctl_write_cb))
        free(w);
    buf_free(&b);
}

/* A user JID as the operator may give it: local@our-domain, no resource. */
static int parse_user(struct ctl_conn *cc, const char *arg, char bare[JID_MAX])
{
    struct jid j;
    if (jid_parse(&j, arg) || !*j.local || *j.resource ||
        strcmp(j.domain, cc->srv->cfg.domain) != 0) {
        char msg[JID_MAX + 96];
        snprintf(msg, sizeof msg, "bad JID '%s': expected user@%s", arg, cc->srv->cfg.domain);
        ctl_reply(cc, CTL_USAGE, msg);
        return -1;
    }
    jid_bare(&j, bare);
    return 0;
}

static void ctl_status(struct ctl_conn *cc)
{
    struct server *s = cc->srv;
    uint64_t events, batches;
    bus_stats(s->bus, &events, &batches);
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "stanzad %s\ndomain: %s\nuptime_s: %lld\n", STANZAD_VERSION, s->cfg.domain,
               (long long)((c2s_now_us() - s->started_us) / 1000000));
    buf_printf(&b, "connections: %llu\nsessions: %zu\naccounts: %zu\n",
               (unsigned long long)s->c2s_count,
               sessions_count(dispatch_state(s->dispatch, "sessions")),
               accounts_count(dispatch_state(s->dispatch, "accounts")));
    buf_printf(&b, "journal_seq: %llu\nevents_applied: %llu\nbatches_committed: %llu\n",
               (unsigned long long)bus_applied_seq(s->bus), (unsigned long long)events,
               (unsigned long long)batches);
    buf_printf(&b, "journal: %s\n", bus_readonly(s->bus) ? "READ-ONLY after a write error" : "ok");
    backup_status(s, &b);
    ctl_reply(cc, CTL_OK, buf_cstr(&b));
    buf_free(&b);
}

static void ctl_user(struct ctl_conn *cc, int argc, char **argv)
{
    char bare[JID_MAX];
    struct server *s = cc->srv;
    if (argc == 2 && strcmp(argv[1], "list") == 0) {
        bus_submit(s->bus, accounts_ev_list(ORIGIN_CTL, cc->id));
    } else if (argc == 4 && (strcmp(argv[1], "add") == 0 || strcmp(argv[1], "passwd") == 0)) {
        if (parse_user(cc, argv[2], bare))
            return;
        if (!*argv[3]) {
            ctl_reply(cc, CTL_USAGE, "empty password");
            return;
        }
        enum ev_type t = argv[1][0] == 'a' ? EV_ACCOUNT_REGISTER : EV_ACCOUNT_PASSWD;
        creds_derive_and_submit(s, t, ORIGIN_CTL, cc->id, bare, NULL, argv[3]);
    } else if (argc == 3 && strcmp(argv[1], "del") == 0) {
        if (parse_user(cc, argv[2], bare))
            return;
        bus_submit(s->bus, accounts_ev_delete(ORIGIN_CTL, cc->id, bare, NULL));
    } else {
        ctl_reply(cc, CTL_USAGE, "usage: user add|passwd JID PASSWORD, user del JID, user list");
    }
}

/* `audit` or `audit --since US`: stanzactl has turned the operator's time
 * into microseconds since 1970. The query is an event, so the answer
 * comes from the audit handler's state (and the query is journaled). */
static void ctl_audit(struct ctl_conn *cc, int argc, char **argv)
{
    long long since = 0;
    char *end = NULL;
    if (argc == 3 && strcmp(argv[1], "--since") == 0) {
        errno = 0;
        since = strtoll(argv[2], &end, 10);
        if (!*argv[2] || *end || errno) {
            ctl_reply(cc, CTL_USAGE, "audit --since: expected microseconds since 1970");
            return;
        }
    } else if (argc != 1) {
        ctl_reply(cc, CTL_USAGE, "usage: audit [--since MICROSECONDS]");
        return;
    }
    bus_submit(cc->srv->bus,
               audit_ev_query(cc->id, (int64_t)since, cc->srv->cfg.audit_retention_days));
}

static void ctl_request(struct ctl_conn *cc, int argc, char **argv)
{
    if (argc == 1 && strcmp(argv[0], "status") == 0)
        ctl_status(cc);
    else if (argc == 1 && strcmp(argv[0], "snapshot") == 0)
        snapshotter_take(cc->srv, cc->id);
    else if (argc == 1 && strcmp(argv[0], "backup") == 0)
        backup_take(cc->srv, cc->id);
    else if (argc >= 2 && strcmp(argv[0], "user") == 0)
        ctl_user(cc, argc, argv);
    else if (argc >= 1 && strcmp(argv[0], "audit") == 0)
        ctl_audit(cc, argc, argv);
    else
        ctl_reply(cc, CTL_USAGE, argc ? "unknown command" : "empty request");
}

static void ctl_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)h;
    (void)hint;
    *b = uv_buf_init(ctl_read_buf, sizeof ctl_read_buf);
}

static void ctl_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    struct ctl_conn *cc = st->data;
    if (nread < 0) {
        ctl_conn_close(cc);
        return;
    }
    buf_put(&cc->in, b->base, (size_t)nread);
    for (;;) {
        char *argv[CTL_ARGS_MAX];
        int argc = 0;
        size_t used = 0;
        int rc = ctlproto_parse_request(cc->in.p, cc->in.len, &used, argv, &argc);
        if (rc == 0)
            return;
        if (rc < 0) {
            ctl_reply(cc, CTL_USAGE, "malformed request");
            ctl_conn_close(cc);
            return;
        }
        memmove(cc->in.p, cc->in.p + used, cc->in.len - used);
        cc->in.len -= used;
        ctl_request(cc, argc, argv);
        for (int i = 0; i < argc; i++)
            explicit_bzero(argv[i], strlen(argv[i])); /* passwords */
        ctlproto_free_args(argv, argc);
    }
}

static void ctl_on_connection(uv_stream_t *l, int status)
{
    struct server *s = l->data;
    if (status)
        return;
    struct ctl_conn *cc = xcalloc(1, sizeof *cc);
    cc->srv = s;
    buf_init(&cc->in);
    uv_pipe_init(s->loop, &cc->pipe, 0);
    cc->pipe.data = cc;
    if (uv_accept(l, (uv_stream_t *)&cc->pipe) || s->stopping) {
        cc->closing = 1;
        uv_close((uv_handle_t *)&cc->pipe, ctl_closed_cb);
        return;
    }
    cc->id = server_endpoint_add(s, EP_CTL, cc);
    uv_read_start((uv_stream_t *)&cc->pipe, ctl_alloc_cb, ctl_read_cb);
}

int ctl_listen(struct server *s)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/ctl.sock", s->cfg.data_dir);
    unlink(path); /* a leftover of a crash: we hold the data directory's lock */
    uv_pipe_init(s->loop, &s->ctl_listener, 0);
    s->ctl_listener.data = s;
    mode_t old = umask(0077); /* the socket is born owner-only */
    int rc = uv_pipe_bind(&s->ctl_listener, path);
    umask(old);
    if (!rc)
        rc = chmod(path, 0600) ? -errno : 0;
    if (!rc)
        rc = uv_listen((uv_stream_t *)&s->ctl_listener, 16, ctl_on_connection);
    if (rc) {
        log_error("ctl: %s: %s", path, uv_strerror(rc));
        return rc;
    }
    return 0;
}

void ctl_close_all(struct server *s)
{
    const struct map_slot *slot;
    for (size_t i = 0; map_next(&s->endpoints, &i, &slot);) {
        struct endpoint *ep = slot->val;
        if (ep->kind == EP_CTL)
            ctl_conn_close(ep->conn);
    }
}
