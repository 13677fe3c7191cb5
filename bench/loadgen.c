/* loadgen: the benchmark load generator (issue 6): options, set-up and
 * main. See bench/README.md for how to run each scenario and what its
 * figure line means, and bench/loadgen.h for how the files divide the work.
 *
 * It drives any XMPP server on loopback (stanzad, Prosody, ejabberd), so it
 * relies only on RFC 6120/6121 behaviour and the XEPs named in the files,
 * never on stanzad specifics. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <mbedtls/error.h>
#include <mbedtls/sha256.h>

#include "bench/loadgen.h"
#include "kernel/err.h"
#include "kernel/mem.h"

/* How often the deadline sweep runs; also the longest the loop sleeps. */
#define LG_SWEEP_MS 100
/* Upper bounds on options, so a typo cannot ask for the impossible. */
#define LG_CONNS_MAX 1000000u
#define LG_ACCOUNTS_MAX 10000000u

static const char usage_text[] =
    "usage: loadgen SCENARIO [options]\n"
    "scenarios: login, tls-ceiling, register, idle, curve, msg, offline, muc (bench/README.md)\n"
    "  --host A            server address (127.0.0.1)\n"
    "  --port P            STARTTLS client port (5222)\n"
    "  --tls-port P        direct TLS port, XEP-0368 (5223)\n"
    "  --direct            log in over direct TLS instead of STARTTLS\n"
    "  --domain D          XMPP domain (localhost)\n"
    "  --prefix S          account names are S<number> (u)\n"
    "  --first K           number of the first account (1)\n"
    "  --accounts A        accounts that exist (default: what the scenario needs)\n"
    "  --password PW       every account's password (pw)\n"
    "  -n N                logins / handshakes / idle sessions (100)\n"
    "  -c C                connections in flight at once (10)\n"
    "  --mech M            sha1 or sha256 (default: best offered)\n"
    "  --resume            resume TLS with saved session tickets\n"
    "  --verify-ske        check the server's ServerKeyExchange signature\n"
    "  --no-warmup         time the accounts' first logins too\n"
    "  --presence, --no-presence   send initial presence once bound (default:\n"
    "                      on, but off in login)\n"
    "  --src A --src-count K   spread connections over K source addresses\n"
    "                      from A up (127.1.0.1, 8)\n"
    "  --server-pid PID    read the server's RSS and CPU time\n"
    "  --pairs M --window W --duration S --count N --body-bytes B   (msg)\n"
    "  --count X --senders S --window W --ping-every N --body-bytes B   (offline)\n"
    "  --occupants K --senders S --window W --duration S --body-bytes B   (muc)\n"
    "  --muc-domain D      group chat service (chat.<domain>)\n"
    "  --room NAME         room local part (default: a new random one per run)\n"
    "  --settle S --hold S --probes K   (idle)\n"
    "  --steps N1,N2,... --procs W --settle S --probes K   (curve)\n"
    "  --curves LIST       x25519,p256,p384 (x25519,p256)\n"
    "  --key-cache FILE    keep SCRAM SaltedPasswords across runs in FILE\n"
    "  --login-timeout S   per connection (30)   --timeout S  whole run (300)\n"
    "  -v                  explain every failure, not only the first five\n";

static void usage_exit(const char *why)
{
    if (why)
        fprintf(stderr, "loadgen: %s\n", why);
    fputs(usage_text, stderr);
    exit(2);
}

static double num_arg(const char *s, double lo, double hi, const char *name)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "loadgen: %s must be a number in [%g, %g]\n", name, lo, hi);
        exit(2);
    }
    return v;
}

enum {
    OPT_HOST = 256, OPT_PORT, OPT_TLS_PORT, OPT_DIRECT, OPT_DOMAIN, OPT_PREFIX, OPT_FIRST,
    OPT_ACCOUNTS, OPT_PASSWORD, OPT_MECH, OPT_RESUME, OPT_VERIFY_SKE, OPT_NO_WARMUP,
    OPT_PRESENCE, OPT_NO_PRESENCE, OPT_SRC, OPT_SRC_COUNT, OPT_SERVER_PID, OPT_PAIRS,
    OPT_WINDOW, OPT_DURATION, OPT_COUNT, OPT_BODY, OPT_SETTLE, OPT_HOLD, OPT_PROBES,
    OPT_CURVES, OPT_KEY_CACHE, OPT_LOGIN_TIMEOUT, OPT_TIMEOUT, OPT_SENDERS, OPT_PING_EVERY,
    OPT_OCCUPANTS, OPT_MUC_DOMAIN, OPT_ROOM, OPT_STEPS, OPT_PROCS,
};

static const struct option long_opts[] = {
    {"host", 1, 0, OPT_HOST}, {"port", 1, 0, OPT_PORT}, {"tls-port", 1, 0, OPT_TLS_PORT},
    {"direct", 0, 0, OPT_DIRECT}, {"domain", 1, 0, OPT_DOMAIN}, {"prefix", 1, 0, OPT_PREFIX},
    {"first", 1, 0, OPT_FIRST}, {"accounts", 1, 0, OPT_ACCOUNTS}, {"password", 1, 0, OPT_PASSWORD},
    {"mech", 1, 0, OPT_MECH}, {"resume", 0, 0, OPT_RESUME},
    {"verify-ske", 0, 0, OPT_VERIFY_SKE}, {"no-warmup", 0, 0, OPT_NO_WARMUP},
    {"presence", 0, 0, OPT_PRESENCE}, {"no-presence", 0, 0, OPT_NO_PRESENCE},
    {"src", 1, 0, OPT_SRC}, {"src-count", 1, 0, OPT_SRC_COUNT},
    {"server-pid", 1, 0, OPT_SERVER_PID}, {"pairs", 1, 0, OPT_PAIRS}, {"window", 1, 0, OPT_WINDOW},
    {"duration", 1, 0, OPT_DURATION}, {"count", 1, 0, OPT_COUNT}, {"body-bytes", 1, 0, OPT_BODY},
    {"settle", 1, 0, OPT_SETTLE}, {"hold", 1, 0, OPT_HOLD}, {"probes", 1, 0, OPT_PROBES},
    {"senders", 1, 0, OPT_SENDERS}, {"ping-every", 1, 0, OPT_PING_EVERY},
    {"occupants", 1, 0, OPT_OCCUPANTS}, {"muc-domain", 1, 0, OPT_MUC_DOMAIN},
    {"room", 1, 0, OPT_ROOM}, {"steps", 1, 0, OPT_STEPS}, {"procs", 1, 0, OPT_PROCS},
    {"curves", 1, 0, OPT_CURVES}, {"key-cache", 1, 0, OPT_KEY_CACHE},
    {"login-timeout", 1, 0, OPT_LOGIN_TIMEOUT},
    {"timeout", 1, 0, OPT_TIMEOUT}, {"verbose", 0, 0, 'v'}, {"help", 0, 0, 'h'},
    {0, 0, 0, 0},
};

struct raw_opts {
    const char *host, *src;
    unsigned port, tls_port;
};

static void parse_one(struct lg_opts *o, struct raw_opts *r, int ch, const char *a)
{
    switch (ch) {
    case OPT_HOST: r->host = a; break;
    case OPT_PORT: r->port = (unsigned)num_arg(a, 1, 65535, "--port"); break;
    case OPT_TLS_PORT: r->tls_port = (unsigned)num_arg(a, 1, 65535, "--tls-port"); break;
    case OPT_DIRECT: o->tls = LG_DIRECT_TLS; break;
    case OPT_DOMAIN: o->domain = a; break;
    case OPT_PREFIX: o->prefix = a; break;
    case OPT_FIRST: o->first = (uint32_t)num_arg(a, 0, 1e9, "--first"); break;
    case OPT_ACCOUNTS: o->accounts = (uint32_t)num_arg(a, 1, LG_ACCOUNTS_MAX, "--accounts"); break;
    case OPT_PASSWORD: o->password = a; break;
    case 'n': o->n = (uint32_t)num_arg(a, 1, LG_CONNS_MAX, "-n"); break;
    case 'c': o->conc = (uint32_t)num_arg(a, 1, LG_CONNS_MAX, "-c"); break;
    case OPT_MECH:
        if (strcmp(a, "sha1") == 0)
            o->mech = SCRAM_SHA1;
        else if (strcmp(a, "sha256") == 0)
            o->mech = SCRAM_SHA256;
        else
            usage_exit("--mech is sha1 or sha256");
        break;
    case OPT_RESUME: o->resume = true; break;
    case OPT_VERIFY_SKE: o->verify_ske = true; break;
    case OPT_NO_WARMUP: o->warmup = false; break;
    case OPT_PRESENCE: o->presence = true; break;
    case OPT_NO_PRESENCE: o->presence = false; break;
    case OPT_SRC: r->src = a; break;
    case OPT_SRC_COUNT: o->src_count = (uint32_t)num_arg(a, 1, LG_SRC_MAX, "--src-count"); break;
    case OPT_SERVER_PID: o->server_pid = (pid_t)num_arg(a, 1, 1 << 30, "--server-pid"); break;
    case OPT_PAIRS: o->pairs = (uint32_t)num_arg(a, 1, LG_CONNS_MAX / 2, "--pairs"); break;
    case OPT_WINDOW: o->window = (uint32_t)num_arg(a, 1, 10000, "--window"); break;
    case OPT_DURATION: o->duration_s = num_arg(a, 0.1, 86400, "--duration"); break;
    case OPT_COUNT: o->count = (uint64_t)num_arg(a, 1, 1e12, "--count"); break;
    case OPT_BODY: o->body_bytes = (uint32_t)num_arg(a, 1, 65536, "--body-bytes"); break;
    case OPT_SETTLE: o->settle_s = num_arg(a, 0, 3600, "--settle"); break;
    case OPT_HOLD: o->hold_s = num_arg(a, 0, 86400, "--hold"); break;
    case OPT_SENDERS: o->senders = (uint32_t)num_arg(a, 1, LG_CONNS_MAX, "--senders"); break;
    case OPT_OCCUPANTS: o->occupants = (uint32_t)num_arg(a, 1, LG_CONNS_MAX, "--occupants"); break;
    case OPT_MUC_DOMAIN: o->muc_domain = a; break;
    case OPT_ROOM: o->room = a; break;
    case OPT_STEPS: o->steps = a; break;
    case OPT_PROCS: o->procs = (uint32_t)num_arg(a, 1, 16, "--procs"); break;
    case OPT_PING_EVERY: o->ping_every = (uint32_t)num_arg(a, 1, 1e6, "--ping-every"); break;
    case OPT_PROBES: o->probes = (uint32_t)num_arg(a, 0, 1e6, "--probes"); break;
    case OPT_CURVES: o->curves = a; break;
    case OPT_KEY_CACHE: o->key_cache = a; break;
    case OPT_LOGIN_TIMEOUT: o->login_timeout_s = num_arg(a, 1, 3600, "--login-timeout"); break;
    case OPT_TIMEOUT: o->timeout_s = num_arg(a, 1, 86400, "--timeout"); break;
    case 'v': o->verbose++; break;
    case 'h': usage_exit(NULL); break;
    default: usage_exit(NULL);
    }
}

/* Text the generator puts into XML unescaped must not need escaping, and
 * user names must need no SCRAM saslname escaping (RFC 5802 §5.1). */
static bool plain_text(const char *s)
{
    return strpbrk(s, "<>&'\",= ") == NULL && *s != '\0' && strlen(s) <= LG_TEXT_MAX;
}

static void parse_args(struct lg_opts *o, int argc, char **argv)
{
    struct raw_opts r = {"127.0.0.1", "127.1.0.1", 5222, 5223};
    *o = (struct lg_opts){
        .domain = "localhost", .prefix = "u", .password = "pw", .first = 1, .n = 100,
        .conc = 10, .mech = -1, .warmup = true, .src_count = 8, .pairs = 10,
        .window = 0, .duration_s = 10, .count = UINT64_MAX, .body_bytes = 64, .settle_s = 1, .senders = 1,
        .ping_every = 64, .occupants = 10, .procs = 4,
        .login_timeout_s = 30, .timeout_s = 300, .curves = "x25519,p256",
    };
    if (argc < 2 || argv[1][0] == '-')
        usage_exit("which scenario?");
    o->scenario = argv[1];
    /* A login ends at bind; presence is the idle and msg scenarios' part. */
    o->presence = strcmp(o->scenario, "login") != 0;
    int ch;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "n:c:vh", long_opts, NULL)) != -1)
        parse_one(o, &r, ch, optarg);
    if (optind != argc)
        usage_exit("unexpected argument");
    static const char *const known[] = {"login", "tls-ceiling", "register", "idle",
                                        "curve", "msg",         "offline",  "muc"};
    bool ok = false;
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        ok = ok || strcmp(o->scenario, known[i]) == 0;
    if (!ok)
        usage_exit("unknown scenario");
    bool tls_only = strcmp(o->scenario, "tls-ceiling") == 0;
    if (tls_only)
        o->tls = LG_DIRECT_TLS;
    o->server.sin_family = AF_INET;
    o->server.sin_port = htons((uint16_t)(o->tls == LG_DIRECT_TLS ? r.tls_port : r.port));
    struct in_addr src;
    if (inet_pton(AF_INET, r.host, &o->server.sin_addr) != 1 ||
        inet_pton(AF_INET, r.src, &src) != 1)
        usage_exit("--host and --src take IPv4 addresses");
    o->src_base = ntohl(src.s_addr);
    bool muc = strcmp(o->scenario, "muc") == 0;
    static char muc_domain[LG_TEXT_MAX + 8];
    if (o->muc_domain == NULL) {
        snprintf(muc_domain, sizeof muc_domain, "chat.%s", o->domain);
        o->muc_domain = muc_domain;
    }
    if (!plain_text(o->prefix) || !plain_text(o->password) || !plain_text(o->domain) ||
        !plain_text(o->muc_domain) || (o->room && (!plain_text(o->room) || strchr(o->room, '@') ||
                                                   strchr(o->room, '/'))))
        usage_exit("--prefix, --password, --domain, --muc-domain and --room: at most 200 bytes, "
                   "none of <>&'\",= or space (nor @ / in --room)");
    bool offline = strcmp(o->scenario, "offline") == 0;
    if (offline) {
        /* Stored messages go out on initial presence, and senders are
         * "logged in" the way the scenario describes. */
        o->presence = true;
        if (o->count == UINT64_MAX)
            o->count = 1000;
        if (o->count > LG_OFFLINE_MAX)
            usage_exit("offline takes at most 10000000 messages (--count)");
    }
    if (strcmp(o->scenario, "curve") == 0) {
        /* Sessions outnumber accounts: several resources per account, so
         * no presence (it would fan out among them), and RSS needs the pid. */
        o->presence = false;
        if (o->accounts == 0)
            o->accounts = 1000;
        if (o->server_pid == 0)
            usage_exit("curve needs --server-pid");
    }
    if (o->window == 0) /* unset: one in flight for msg, a pipeline for offline */
        o->window = offline ? 256 : 1;
    if (o->accounts == 0) {
        uint32_t need = strcmp(o->scenario, "msg") == 0 ? 2 * o->pairs
                        : offline                       ? o->senders + 1
                        : muc                           ? o->occupants
                                                        : o->n;
        o->accounts = tls_only ? o->conc : need;
    }
    if (strcmp(o->scenario, "register") == 0)
        o->n = o->accounts;
    if (strcmp(o->scenario, "msg") == 0 && o->accounts < 2 * o->pairs)
        usage_exit("msg needs --accounts of at least 2 x --pairs");
    if (offline && o->accounts < o->senders + 1)
        usage_exit("offline needs --accounts of at least --senders + 1");
    /* One account per occupant: several resources of one account would
     * share presence and make joins unlike real ones. */
    if (muc && (o->accounts < o->occupants || o->senders > o->occupants))
        usage_exit("muc needs --accounts >= --occupants >= --senders");
    if (strcmp(o->scenario, "idle") == 0 && o->accounts < o->n)
        fprintf(stderr, "loadgen: warning: %u sessions on %u accounts: several resources per "
                        "account make presence fan-out grow with their square\n",
                o->n, o->accounts);
}

/* ---- set-up ---- */

static int parse_curves(struct lg_ctx *x, const char *list)
{
    size_t n = 0;
    char *copy = xstrdup(list), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        mbedtls_ecp_group_id id = strcmp(t, "x25519") == 0 ? MBEDTLS_ECP_DP_CURVE25519
                                  : strcmp(t, "p256") == 0 ? MBEDTLS_ECP_DP_SECP256R1
                                  : strcmp(t, "p384") == 0 ? MBEDTLS_ECP_DP_SECP384R1
                                                           : MBEDTLS_ECP_DP_NONE;
        if (id == MBEDTLS_ECP_DP_NONE || n + 1 >= sizeof x->curves / sizeof *x->curves) {
            free(copy);
            return -ERR_INVAL;
        }
        x->curves[n++] = id;
    }
    free(copy);
    x->curves[n] = MBEDTLS_ECP_DP_NONE;
    return n ? 0 : -ERR_INVAL;
}

/* A TLS 1.2 client like most XMPP clients: no certificate check (loopback
 * benchmark with a self-signed certificate), tickets on, ALPN on direct
 * TLS (XEP-0368). */
static int tls_setup(struct lg_ctx *x)
{
    static const char *alpn[] = {"xmpp-client", NULL};
    static const char personal[] = "stanzad loadgen";
    mbedtls_ssl_config *conf = &x->tls;
    int rc = mbedtls_ctr_drbg_seed(&x->drbg, mbedtls_entropy_func, &x->entropy,
                                   (const unsigned char *)personal, sizeof personal - 1);
    if (rc == 0)
        rc = mbedtls_ssl_config_defaults(conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                         MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc == 0 && x->opts->tls == LG_DIRECT_TLS)
        rc = mbedtls_ssl_conf_alpn_protocols(conf, alpn);
    if (rc != 0) {
        char msg[128];
        mbedtls_strerror(rc, msg, sizeof msg);
        fprintf(stderr, "loadgen: TLS set-up: %s\n", msg);
        return -ERR_TLS;
    }
    mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_NONE);
    mbedtls_ssl_conf_rng(conf, mbedtls_ctr_drbg_random, &x->drbg);
    mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_curves(conf, x->curves);
    mbedtls_ssl_conf_session_tickets(conf, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
    return 0;
}

/* ---- the SaltedPassword cache file ----
 *
 * One line per cached key, as a client keeps it between sessions:
 *   <user> <hash 0|1> <iterations> <salt hex> <SaltedPassword hex> <pw tag>
 * where the tag is the first 8 bytes of SHA-256(password) in hex, so a run
 * with another --password ignores the line. Lines that do not parse or
 * name no account of this run are skipped. */

static void hex(char *out, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

static size_t unhex(uint8_t *out, size_t cap, const char *s)
{
    size_t n = strlen(s) / 2;
    if (n > cap || strlen(s) % 2)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return 0;
        out[i] = (uint8_t)v;
    }
    return n;
}

static void pw_tag(const char *password, char out[17])
{
    uint8_t h[32];
    mbedtls_sha256_ret((const unsigned char *)password, strlen(password), h, 0);
    hex(out, h, 8);
}

static struct lg_account *account_named(struct lg_ctx *x, const char *user)
{
    size_t pl = strlen(x->opts->prefix);
    char *end;
    if (strncmp(user, x->opts->prefix, pl) != 0 || user[pl] < '0' || user[pl] > '9')
        return NULL;
    unsigned long k = strtoul(user + pl, &end, 10);
    if (*end || k < x->opts->first || k - x->opts->first >= x->opts->accounts)
        return NULL;
    return &x->acct[k - x->opts->first];
}

static void key_cache_load(struct lg_ctx *x)
{
    FILE *f = x->opts->key_cache ? fopen(x->opts->key_cache, "r") : NULL;
    char line[1024], user[256], salt[2 * LG_SALT_MAX + 1], key[2 * SCRAM_KEY_MAX + 1];
    char tag[17], mine[17];
    unsigned h, iter;
    if (f == NULL)
        return;
    pw_tag(x->opts->password, mine);
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%255s %u %u %256s %64s %16s", user, &h, &iter, salt, key, tag) != 6 ||
            h >= SCRAM_HASH_COUNT_ || strcmp(tag, mine) != 0)
            continue;
        struct lg_account *a = account_named(x, user);
        if (a == NULL)
            continue;
        struct lg_salted *s = &a->salted[h];
        s->salt_len = unhex(s->salt, sizeof s->salt, salt);
        s->iter = iter;
        s->valid = s->salt_len > 0 &&
                   unhex(s->key, sizeof s->key, key) == scram_hash_len((enum scram_hash)h);
    }
    fclose(f);
}

/* Written to FILE.tmp and renamed, so an interrupted run leaves the old
 * file whole. Mode 0600: the keys log in as the accounts. */
static void key_cache_save(const struct lg_ctx *x)
{
    const struct lg_opts *o = x->opts;
    char tmp[4096], salt[2 * LG_SALT_MAX + 1], key[2 * SCRAM_KEY_MAX + 1], tag[17];
    if (o->key_cache == NULL || x->pbkdf2 == 0)
        return;
    snprintf(tmp, sizeof tmp, "%s.tmp", o->key_cache);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL) {
        fprintf(stderr, "loadgen: cannot write %s: %s\n", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    pw_tag(o->password, tag);
    for (uint32_t i = 0; i < o->accounts; i++) {
        for (int h = 0; h < SCRAM_HASH_COUNT_; h++) {
            const struct lg_salted *s = &x->acct[i].salted[h];
            if (!s->valid)
                continue;
            hex(salt, s->salt, s->salt_len);
            hex(key, s->key, scram_hash_len((enum scram_hash)h));
            fprintf(f, "%s %d %u %s %s %s\n", x->acct[i].user, h, s->iter, salt, key, tag);
        }
    }
    if (fclose(f) != 0 || rename(tmp, o->key_cache) != 0)
        fprintf(stderr, "loadgen: cannot write %s: %s\n", o->key_cache, strerror(errno));
}

static void on_sweep(uv_timer_t *t) { lg_conn_sweep(t->data); }

/* Raises the open-file soft limit to the hard one: every connection is a
 * descriptor. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int lg_ctx_init(struct lg_ctx *x, uv_loop_t *loop, const struct lg_opts *o)
{
    memset(x, 0, sizeof *x);
    x->loop = loop;
    x->opts = o;
    x->t_end = lg_now_s() + o->timeout_s;
    mbedtls_entropy_init(&x->entropy);
    mbedtls_ctr_drbg_init(&x->drbg);
    mbedtls_ssl_config_init(&x->tls);
    if (parse_curves(x, o->curves) != 0) {
        fprintf(stderr, "loadgen: --curves takes x25519, p256, p384\n");
        return -ERR_INVAL;
    }
    int rc = tls_setup(x);
    if (rc != 0)
        return rc;
    x->src_count = o->src_count;
    for (uint32_t i = 0; i < x->src_count; i++) {
        x->src[i].sin_family = AF_INET;
        x->src[i].sin_addr.s_addr = htonl(o->src_base + i);
    }
    x->acct = xcalloc(o->accounts, sizeof *x->acct);
    for (uint32_t i = 0; i < o->accounts; i++) {
        char name[256];
        snprintf(name, sizeof name, "%s%u", o->prefix, o->first + i);
        x->acct[i].user = xstrdup(name);
    }
    key_cache_load(x);
    raise_nofile();
    uv_timer_init(loop, &x->sweep);
    x->sweep.data = x;
    uv_timer_start(&x->sweep, on_sweep, LG_SWEEP_MS, LG_SWEEP_MS);
    return 0;
}

void lg_ctx_free(struct lg_ctx *x)
{
    key_cache_save(x);
    for (uint32_t i = 0; x->acct && i < x->opts->accounts; i++) {
        free(x->acct[i].user);
        if (x->acct[i].ticket) {
            mbedtls_ssl_session_free(x->acct[i].ticket);
            free(x->acct[i].ticket);
        }
    }
    free(x->acct);
    uv_close((uv_handle_t *)&x->sweep, NULL);
    uv_run(x->loop, UV_RUN_NOWAIT);
    mbedtls_ssl_config_free(&x->tls);
    mbedtls_ctr_drbg_free(&x->drbg);
    mbedtls_entropy_free(&x->entropy);
}

int main(int argc, char **argv)
{
    struct lg_opts o;
    struct lg_ctx x;
    parse_args(&o, argc, argv);
    /* A peer's reset must come back as an error code, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    uv_loop_t *loop = uv_default_loop();
    if (lg_ctx_init(&x, loop, &o) != 0)
        return 2;
    int rc = lg_scenario_run(&x);
    lg_ctx_free(&x);
    uv_loop_close(loop);
    return rc;
}
