/* config: the server's settings, from one INI file and the command line.
 *
 * Every key is one row of CONFIG_TABLE with its type, default and a one
 * line description; doc/configuration.md lists the same keys and must be
 * kept in step (tests/unit/test_config.c checks that every key is there).
 * The file is parsed with inih (Debian libinih): `key = value` lines,
 * `#` or `;` comments, no sections needed (a [server] section is accepted
 * and ignored). `--set key=value` on the command line overrides the file. */
#ifndef STANZAD_CONFIG_H
#define STANZAD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

enum cfg_type { CFG_STR, CFG_UINT, CFG_ENUM, CFG_BOOL };

/* X(field, type, default, allowed values (CFG_ENUM: "a|b|c", CFG_UINT: "min..max"), doc) */
#define CONFIG_TABLE(X)                                                                     \
    X(domain, CFG_STR, "localhost", "", "the XMPP domain this server hosts")                \
    X(data_dir, CFG_STR, "./var", "", "directory for journal, snapshots, keys, lock, ctl socket") \
    X(listen_addr, CFG_STR, "0.0.0.0", "", "address the listeners bind to (e.g. 127.0.0.1, ::)") \
    X(c2s_port, CFG_UINT, "5222", "0..65535", "client port with STARTTLS (0: off)")       \
    X(c2s_tls_port, CFG_UINT, "5223", "0..65535", "client port with direct TLS, XEP-0368 (0: off)") \
    X(s2s_port, CFG_UINT, "5269", "0..65535", "server-to-server port (0: off; federation is not built yet)") \
    X(tls_cert, CFG_STR, "", "", "PEM certificate chain; empty: <data_dir>/tls/cert.pem, made on first run") \
    X(tls_key, CFG_STR, "", "", "PEM private key; empty: <data_dir>/tls/key.pem, made on first run") \
    X(tls_ticket_lifetime_s, CFG_UINT, "3600", "0..86400", "session-ticket key rotation period (0: no tickets)") \
    X(tls_signer, CFG_ENUM, "libcrypto", "libcrypto|mbedtls", "who makes the handshake signatures of an EC key (doc/performance.md)") \
    X(registration, CFG_ENUM, "loopback", "open|closed|loopback", "in-band registration (XEP-0077) policy") \
    X(registration_per_ip_per_hour, CFG_UINT, "10", "0..1000000", "in-band registrations one IP may make per hour (0: no limit)") \
    X(scram_iterations, CFG_UINT, "4096", "4096..10000000", "PBKDF2 iterations for new SCRAM credentials") \
    X(auth_failures_per_ip, CFG_UINT, "5", "1..1000", "failed logins per IP before it is throttled") \
    X(auth_throttle_s, CFG_UINT, "60", "1..86400", "how long a throttled IP must wait")         \
    X(stanza_bytes_max, CFG_UINT, "262144", "1024..16777216", "largest stanza accepted (policy-violation past it)") \
    X(xml_depth_max, CFG_UINT, "32", "4..60", "deepest element nesting in a stanza (events nest it 4 deeper)")          \
    X(xml_attrs_max, CFG_UINT, "64", "4..1024", "most attributes on one element")              \
    X(sessions_max, CFG_UINT, "100000", "1..10000000", "most client connections at once")      \
    X(login_timeout_s, CFG_UINT, "60", "5..3600", "time a connection has to authenticate and bind") \
    X(journal_sync, CFG_ENUM, "batch", "always|batch|none", "when the journal calls fsync (doc/operations.md)") \
    X(journal_segment_bytes, CFG_UINT, "67108864", "65536..4294967295", "size at which a new journal segment starts") \
    X(journal_key_command, CFG_STR, "", "", "shell command printing the journal master key (64 hex digits) at start; empty: journal.key") \
    X(snapshot_every_events, CFG_UINT, "100000", "0..4294967295", "take a snapshot after this many events (0: never by count)") \
    X(snapshot_every_s, CFG_UINT, "3600", "0..31536000", "take a snapshot after this many seconds if anything changed (0: never by time)") \
    X(snapshots_keep, CFG_UINT, "2", "1..1000", "snapshots kept; the journal is kept back to the oldest of them") \
    X(offline_quota, CFG_UINT, "1000", "0..1000000", "messages kept for one offline account; past it senders get service-unavailable") \
    X(vcard_bytes_max, CFG_UINT, "65536", "1024..1048576", "largest vCard or private-storage item one account may store, in bytes") \
    X(muc_domain, CFG_STR, "", "", "domain of the group chat service (XEP-0045); empty: chat.<domain>; \"off\": no service") \
    X(muc_local_create_only, CFG_BOOL, "yes", "", "only users of this server's domain may create rooms") \
    X(muc_foreign_need_invite, CFG_BOOL, "yes", "", "users of other servers enter a room only when invited or affiliated") \
    X(muc_history_max, CFG_UINT, "20", "0..1000", "most messages a room keeps in memory for newcomers (never on disk)") \
    X(muc_max_users, CFG_UINT, "1000", "1..100000", "most occupants one room may have") \
    X(muc_rooms_max, CFG_UINT, "10000", "1..10000000", "most rooms the service holds") \
    X(audit_retention_days, CFG_UINT, "365", "0..36500", "audit entries older than this many days are dropped (0: kept forever)") \
    X(backup_dir, CFG_STR, "", "", "directory for encrypted backups; empty: <data_dir>/backups") \
    X(backup_recipient, CFG_STR, "", "", "OpenPGP key fingerprint backups are encrypted to (empty: no backups)") \
    X(backup_interval_s, CFG_UINT, "86400", "0..31536000", "seconds between scheduled backups (0: only on request)") \
    X(backup_retention_days, CFG_UINT, "90", "1..36500", "backups older than this many days are deleted") \
    X(backup_command, CFG_STR, "", "", "run with the backup file as its argument to ship it elsewhere (empty: none)") \
    X(log_level, CFG_ENUM, "info", "debug|info|warn|error", "least severe log line written")

struct config {
#define X(field, type, def, allowed, doc) CFG_FIELD_##type(field)
#define CFG_FIELD_CFG_STR(f) char *f;
#define CFG_FIELD_CFG_UINT(f) uint64_t f;
#define CFG_FIELD_CFG_ENUM(f) int f; /* index into the allowed list */
#define CFG_FIELD_CFG_BOOL(f) int f;
    CONFIG_TABLE(X)
#undef X
};

/* Indices of the CFG_ENUM values, in the order of their allowed lists. */
enum { REG_OPEN = 0, REG_CLOSED = 1, REG_LOOPBACK = 2 };
enum { SYNC_ALWAYS = 0, SYNC_BATCH = 1, SYNC_NONE = 2 };
enum { SIGNER_LIBCRYPTO = 0, SIGNER_MBEDTLS = 1 };
enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Fills c with the defaults. */
void config_defaults(struct config *c);
/* Reads a file over c. Returns 0, or -ERR_CONFIG with "FILE:LINE: reason"
 * in errbuf (unknown key, bad value, unreadable file). */
int config_load_file(struct config *c, const char *path, char *errbuf, size_t errlen);
/* Applies one "key=value". Returns 0 or -ERR_CONFIG with the reason. */
int config_set(struct config *c, const char *assignment, char *errbuf, size_t errlen);
/* Checks cross-key rules (e.g. domain is a valid JID domain, ports
 * distinct) and fills derived defaults (tls paths under data_dir).
 * Returns 0 or -ERR_CONFIG with the reason. */
int config_finish(struct config *c, char *errbuf, size_t errlen);
void config_free(struct config *c);
/* Reads a CFG_BOOL word: yes/no, true/false, on/off, 1/0 (case ignored).
 * Returns 0 and sets *value to 1 or 0, or -ERR_CONFIG. */
int config_parse_bool(const char *text, int *value /* OUT */);

/* Parses the options every stanzad program shares, from argv:
 *   --config FILE     (read first, wherever it appears)
 *   --set key=value   (repeatable, applied in order after the file)
 * Other arguments are left in place, compacted to the front of argv;
 * returns their count in *rest, or -ERR_CONFIG with the reason.
 * *rest includes argv[0], so (*rest, argv) is a shorter argc/argv. */
int config_from_args(struct config *c, int argc, char **argv, int *rest /* OUT */, char *errbuf,
                     size_t errlen);

/* Writes every key with its current value and description (for
 * `stanzad --print-config` and doc/configuration.md). */
void config_print(const struct config *c, void *file /* FILE * */);

#endif
