/* replay: see replay.h. */
#include "replay/replay.h"

#include <stdio.h>

struct replay_ctx {
    struct dispatch *d;
    replay_effects_cb cb;
    void *arg;
    int64_t count;
    char *errbuf;
    size_t errlen;
};

static int replay_one(void *arg, const struct jrec *r)
{
    struct replay_ctx *x = arg;
    int err = 0;
    struct event *ev = event_decode(r->seq, r->time_us, (enum ev_type)r->type, r->payload, r->len, &err);
    if (!ev) {
        snprintf(x->errbuf, x->errlen, "journal record %llu does not decode as an event: %s",
                 (unsigned long long)r->seq, err_str(err));
        return err;
    }
    struct effects fx;
    effects_init(&fx);
    int rc = dispatch_event(x->d, ev, &fx);
    if (rc) {
        snprintf(x->errbuf, x->errlen, "journal record %llu: %s", (unsigned long long)r->seq,
                 err_str(rc));
    } else {
        if (x->cb)
            x->cb(x->arg, ev, &fx);
        x->count++;
    }
    effects_clear(&fx);
    event_free(ev);
    return rc;
}

int64_t replay_journal(struct journal *j, struct dispatch *d, uint64_t from, replay_effects_cb cb,
                       void *arg, char *errbuf, size_t errlen)
{
    struct replay_ctx x = {.d = d, .cb = cb, .arg = arg, .errbuf = errbuf, .errlen = errlen};
    char jerr[512] = "";
    if (errlen)
        errbuf[0] = 0;
    int rc = journal_read(j, from, replay_one, &x, jerr, sizeof jerr);
    if (rc) {
        if (!errbuf[0] && jerr[0]) /* our own reason, if the callback stopped it, wins */
            snprintf(errbuf, errlen, "%s", jerr);
        return rc;
    }
    return x.count;
}
