/* journalbench snapshot: the size of a snapshot per account (issue 3's
 * "snapshot size per account"). Builds the state of N accounts in
 * process, through the real dispatcher: each account registered with
 * SCRAM credentials (salt and keys random bytes, as real ones are, so
 * that compression does not flatter them; no PBKDF2 needed), a roster of R contacts with a name and a
 * group, and a vCard of about V bytes; then encodes the state
 * (dispatch_encode) and seals it as a snapshot file would be
 * (snapshot_seal: LZ4 + AES-256-GCM). Prints bytes per account before
 * and after sealing and the time each took. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/journalbench.h"
#include "handlers/accounts/accounts.h"
#include "handlers/sessions/sessions.h"
#include "kernel/dispatch.h"
#include "kernel/mem.h"
#include "kernel/scram.h"
#include "snapshot/snapshot.h"

struct snapbuild {
    struct dispatch *d;
    uint64_t seq;
    uint64_t refused; /* events whose effects carried an error */
};

static void apply(struct snapbuild *b, struct event *ev)
{
    struct effects fx;
    effects_init(&fx);
    ev->seq = ++b->seq;
    ev->time_us = 1764115200000000LL + (int64_t)ev->seq;
    if (dispatch_event(b->d, ev, &fx))
        b->refused++;
    for (size_t i = 0; i < fx.n; i++) {
        const char *type = fx.v[i].stanza ? xml_attr(fx.v[i].stanza, "type") : NULL;
        if (type && strcmp(type, "error") == 0)
            b->refused++;
    }
    effects_clear(&fx);
    event_free(ev);
}

static uint64_t xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void fill_random(uint8_t *p, size_t n, uint64_t *x)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)xorshift(x);
}

static void user_jid(uint64_t i, char *out, size_t n)
{
    snprintf(out, n, "user%06" PRIu64 "@localhost", i);
}

static struct xnode *iq_set(const char *from, const char *ns, const char *child)
{
    struct xnode *iq = xml_new("iq", NS_CLIENT);
    xml_set_attr(iq, "from", from);
    xml_set_attr(iq, "type", "set");
    xml_set_attr(iq, "id", "s1");
    xml_add(iq, child, ns);
    return iq;
}

static void build_account(struct snapbuild *b, uint64_t *rng, uint64_t i, uint64_t accounts,
                          uint32_t contacts, uint32_t vcard_bytes)
{
    char bare[64], full[80];
    user_jid(i, bare, sizeof bare);
    snprintf(full, sizeof full, "%s/bench", bare);
    struct scram_creds c;
    memset(&c, 0, sizeof c);
    c.iter = 4096;
    fill_random(c.salt, sizeof c.salt, rng);
    for (int h = 0; h < SCRAM_HASH_COUNT_; h++) {
        size_t len = scram_hash_len((enum scram_hash)h);
        fill_random(c.key[h].stored, len, rng);
        fill_random(c.key[h].server, len, rng);
    }
    apply(b, accounts_ev_register(ORIGIN_CTL, 1, bare, NULL, &c));
    uint64_t conn = i + 1;
    apply(b, sessions_ev_bound(conn, full, "b1"));
    for (uint32_t k = 0; k < contacts; k++) { /* a roster set holds one item (RFC 6121 §2.3) */
        char contact[64], name[32];
        user_jid((i + 1 + k) % accounts, contact, sizeof contact);
        snprintf(name, sizeof name, "Contact %u", k);
        struct xnode *iq = iq_set(full, "jabber:iq:roster", "query");
        struct xnode *item = xml_add(xml_first_elem(iq), "item", NULL);
        xml_set_attr(item, "jid", contact);
        xml_set_attr(item, "name", name);
        xml_add_text(xml_add(item, "group", NULL), k % 2 ? "Friends" : "Work");
        apply(b, event_new(EV_STANZA, ORIGIN_C2S, conn, bare, iq));
    }
    if (vcard_bytes) {
        struct xnode *v = iq_set(full, "vcard-temp", "vCard");
        struct xnode *card = xml_first_elem(v);
        char fn[40];
        snprintf(fn, sizeof fn, "Bench User %" PRIu64, i);
        xml_add_text(xml_add(card, "FN", NULL), fn);
        char *desc = xmalloc(vcard_bytes + 1);
        for (uint32_t k = 0; k < vcard_bytes; k++) /* letters and spaces: about as dense as text */
            desc[k] = xorshift(rng) % 6 == 0 ? ' ' : (char)('a' + xorshift(rng) % 26);
        desc[vcard_bytes] = 0;
        xml_add_text(xml_add(card, "DESC", NULL), desc);
        free(desc);
        apply(b, event_new(EV_STANZA, ORIGIN_C2S, conn, bare, v));
    }
    apply(b, sessions_ev_closed(conn, full));
}

int jb_run_snapshot(const struct jb_opts *o)
{
    uint64_t accounts = o->snap_accounts;
    struct snapbuild b = {.d = dispatch_new()};
    struct event *started = event_server_started("localhost", "journalbench");
    event_set_limits(started, 1000, 65536);
    apply(&b, started);
    uint64_t rng = 0x9e3779b97f4a7c15ull, t0 = jb_now_ns();
    for (uint64_t i = 0; i < accounts; i++)
        build_account(&b, &rng, i, accounts, o->snap_contacts, o->snap_vcard_bytes);
    double build_s = (double)(jb_now_ns() - t0) / 1e9;
    struct buf state, file;
    buf_init(&state);
    buf_init(&file);
    t0 = jb_now_ns();
    dispatch_encode(b.d, &state);
    double encode_s = (double)(jb_now_ns() - t0) / 1e9;
    uint8_t key[JOURNAL_KEY_LEN], ssalt[SNAPSHOT_SALT_BYTES];
    memset(key, 0x42, sizeof key);
    memset(ssalt, 0x24, sizeof ssalt);
    t0 = jb_now_ns();
    int rc = snapshot_seal(key, b.seq, 0, ssalt, state.p, state.len, &file);
    double seal_s = (double)(jb_now_ns() - t0) / 1e9;
    if (rc || b.refused)
        fprintf(stderr, "journalbench: snapshot: %s, %" PRIu64 " requests refused\n",
                rc ? err_str(rc) : "sealed", b.refused);
    else
        printf("scenario=snapshot-size accounts=%" PRIu64 " contacts=%u vcard_bytes=%u"
               " state_bytes=%zu file_bytes=%zu state_per_account=%.0f file_per_account=%.0f"
               " build_s=%.2f encode_ms=%.1f seal_ms=%.1f\n",
               accounts, o->snap_contacts, o->snap_vcard_bytes, state.len, file.len,
               (double)state.len / accounts, (double)file.len / accounts, build_s,
               encode_s * 1e3, seal_s * 1e3);
    buf_free(&state);
    buf_free(&file);
    dispatch_free(b.d);
    return rc || b.refused ? -1 : 0;
}
