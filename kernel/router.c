/* router: carries out effects on the connections they name. An effect
 * for a connection that has gone away is dropped: the handler decided
 * when the connection still existed, and the event stays in the journal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/handler.h"
#include "handlers/sessions/sessions.h"
#include "kernel/c2s.h"
#include "kernel/ctl.h"
#include "kernel/ctlproto.h"
#include "kernel/log.h"
#include "kernel/mem.h"
#include "kernel/server.h"

uint64_t server_endpoint_add(struct server *s, enum endpoint_kind kind, void *conn)
{
    struct endpoint *ep = xmalloc(sizeof *ep);
    ep->kind = kind;
    ep->conn = conn;
    uint64_t id = ++s->next_conn_id;
    map_uput(&s->endpoints, id, ep);
    return id;
}

void server_endpoint_del(struct server *s, uint64_t id) { free(map_udel(&s->endpoints, id)); }

struct endpoint *server_endpoint(struct server *s, uint64_t id) { return map_uget(&s->endpoints, id); }

static void exec_one(struct server *s, struct effect *e)
{
    if (e->kind == FX_EVENT) { /* a handler's decision: journal it like any input */
        bus_submit(s->bus, e->event);
        e->event = NULL;
        return;
    }
    struct endpoint *ep = server_endpoint(s, e->to);
    if (!ep)
        return;
    if (ep->kind == EP_CTL) {
        if (e->kind == FX_CTL)
            ctl_reply(ep->conn, e->status, e->text);
        return;
    }
    struct c2s *c = ep->conn;
    switch (e->kind) {
    case FX_STANZA: c2s_send_stanza(c, e->stanza); break;
    case FX_CLOSE: c2s_close(c, e->cond, NULL); break;
    case FX_BIND: c2s_bound(c, e->text); break;
    case FX_CTL:
    case FX_ROUTE: /* consumed by dispatch */
    case FX_EVENT: break;
    }
}

void router_exec(void *server, const struct event *ev, struct effects *fx)
{
    (void)ev;
    for (size_t i = 0; i < fx->n; i++)
        exec_one(server, &fx->v[i]);
}

/* The journal could not take ev: tell whoever asked, in their terms. */
void router_refuse(void *server, const struct event *ev, int err)
{
    struct server *s = server;
    struct endpoint *ep = server_endpoint(s, ev->origin);
    if (!ep || ev->origin_kind == ORIGIN_SERVER)
        return;
    if (ep->kind == EP_CTL) {
        char text[160];
        snprintf(text, sizeof text, "refused: %s", err_str(err));
        ctl_reply(ep->conn, CTL_REFUSED, text); /* reachable, but it cannot store anything */
        return;
    }
    struct c2s *c = ep->conn;
    if (ev->type == EV_STANZA) {
        c2s_stanza_error(c, ev->body, STANZA_RESOURCE_CONSTRAINT, "the server cannot store anything now");
        return;
    }
    /* Account and bind requests: an IQ error for the request's id. */
    struct xnode *iq = xml_new("iq", NS_CLIENT);
    const char *req = xml_attr(ev->body, "req");
    if (req)
        xml_set_attr(iq, "id", req);
    xml_set_attr(iq, "type", "get");
    enum stanza_err cond = err == -ERR_INVAL    ? STANZA_NOT_ACCEPTABLE /* e.g. a password SASLprep refuses */
                           : err == -ERR_CRYPTO ? STANZA_INTERNAL_SERVER_ERROR
                                                : STANZA_RESOURCE_CONSTRAINT;
    struct xnode *r = stanza_error_reply(iq, cond, NULL);
    c2s_send_stanza(c, r);
    xml_free(r);
    xml_free(iq);
    if (ev->type == EV_SESSION_BOUND)
        c2s_bound(c, NULL);
}
