/* creds: see creds.h. */
#include "kernel/creds.h"

#include <stdlib.h>
#include <string.h>

#include "handlers/accounts/accounts.h"
#include "kernel/log.h"
#include "kernel/mem.h"

struct creds_work {
    uv_work_t req;
    struct server *srv;
    enum ev_type type;
    enum ev_origin kind;
    uint64_t origin;
    char *bare;
    char *req_id;
    char *password;
    uint32_t iter;
    struct scram_creds creds;
    int rc;
};

static void derive_cb(uv_work_t *req)
{
    struct creds_work *w = req->data;
    uint8_t salt[SCRAM_SALT_LEN];
    rng_bytes(salt, sizeof salt);
    w->rc = scram_creds_make(&w->creds, w->password, salt, w->iter);
    explicit_bzero(w->password, strlen(w->password));
}

static void derived_cb(uv_work_t *req, int status)
{
    struct creds_work *w = req->data;
    struct event *ev;
    if (w->type == EV_ACCOUNT_REGISTER)
        ev = accounts_ev_register(w->kind, w->origin, w->bare, w->req_id, &w->creds);
    else
        ev = accounts_ev_passwd(w->kind, w->origin, w->bare, w->req_id, &w->creds);
    if (status || w->rc) {
        log_error("creds: deriving SCRAM keys for %s failed: %s", w->bare,
                  err_str(w->rc ? w->rc : -ERR_CRYPTO));
        router_refuse(w->srv, ev, w->rc ? w->rc : -ERR_CRYPTO); /* -ERR_INVAL: SASLprep refused it */
        event_free(ev);
    } else if (w->srv->stopping) {
        router_refuse(w->srv, ev, -ERR_CLOSED);
        event_free(ev);
    } else {
        bus_submit(w->srv->bus, ev);
    }
    explicit_bzero(&w->creds, sizeof w->creds);
    free(w->bare);
    free(w->req_id);
    free(w->password);
    free(w);
}

void creds_derive_and_submit(struct server *s, enum ev_type type, enum ev_origin kind,
                             uint64_t origin, const char *bare, const char *req_id,
                             const char *password)
{
    struct creds_work *w = xcalloc(1, sizeof *w);
    w->req.data = w;
    w->srv = s;
    w->type = type;
    w->kind = kind;
    w->origin = origin;
    w->bare = xstrdup(bare);
    w->req_id = req_id ? xstrdup(req_id) : NULL;
    w->password = xstrdup(password);
    w->iter = (uint32_t)s->cfg.scram_iterations;
    if (uv_queue_work(s->loop, &w->req, derive_cb, derived_cb)) {
        derive_cb(&w->req);
        derived_cb(&w->req, 0);
    }
}
