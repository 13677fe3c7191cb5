/* err: stanzad's error codes, in one table each.
 *
 * Functions return 0 (or a count) on success and a negative code on
 * failure: either -errno for a system error or one of the ERR_* codes
 * below, which start above every errno value. A function that returns an
 * error never also calls its callback.
 *
 * Two more tables name the XMPP conditions of RFC 6120: stanza errors
 * (§8.3.3) and stream errors (§4.9.3). Handlers return -STANZA_<cond>
 * encoded with stanza_err(); the kernel builds the error stanza. */
#ifndef STANZAD_ERR_H
#define STANZAD_ERR_H

#include <stddef.h>

/* X(name, text) */
#define ERR_TABLE(X)                                                       \
    X(ERR_NOMEM, "out of memory")                                          \
    X(ERR_LIMIT, "a configured limit was reached")                         \
    X(ERR_INVAL, "invalid argument")                                       \
    X(ERR_PARSE, "malformed input")                                        \
    X(ERR_JID, "malformed JID")                                            \
    X(ERR_CONFIG, "bad configuration")                                     \
    X(ERR_CRYPTO, "cryptographic failure")                                 \
    X(ERR_AUTH, "authentication failed")                                   \
    X(ERR_EXISTS, "already exists")                                        \
    X(ERR_NOTFOUND, "not found")                                           \
    X(ERR_CORRUPT, "data is damaged")                                      \
    X(ERR_SEQ, "sequence number out of order")                             \
    X(ERR_VERSION, "unsupported format version")                           \
    X(ERR_LOCKED, "held by another process")                               \
    X(ERR_CLOSED, "closed")                                                \
    X(ERR_TLS, "TLS failure")                                              \
    X(ERR_READONLY, "journal refuses writes after an I/O error")

enum err_code {
    ERR_BASE_ = 10000, /* above every errno */
#define X(name, text) name,
    ERR_TABLE(X)
#undef X
    ERR_END_
};

/* Returns the symbolic name ("ERR_NOMEM", "ENOENT") of a negative code. */
const char *err_name(int code);
/* Returns a one-line human text for a negative code (strerror for -errno). */
const char *err_str(int code);
/* Writes a formatted reason into errbuf (if any) and returns rc, so a
 * failing function can `return err_fail(errbuf, errlen, -ERR_X, ...)`. */
int err_fail(char *errbuf, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* RFC 6120 §8.3.3 stanza error conditions: X(enum, element name, type). */
#define STANZA_ERR_TABLE(X)                                                \
    X(STANZA_BAD_REQUEST, "bad-request", "modify")                         \
    X(STANZA_CONFLICT, "conflict", "cancel")                               \
    X(STANZA_FEATURE_NOT_IMPLEMENTED, "feature-not-implemented", "cancel") \
    X(STANZA_FORBIDDEN, "forbidden", "auth")                               \
    X(STANZA_GONE, "gone", "cancel")                                       \
    X(STANZA_INTERNAL_SERVER_ERROR, "internal-server-error", "cancel")     \
    X(STANZA_ITEM_NOT_FOUND, "item-not-found", "cancel")                   \
    X(STANZA_JID_MALFORMED, "jid-malformed", "modify")                     \
    X(STANZA_NOT_ACCEPTABLE, "not-acceptable", "modify")                   \
    X(STANZA_NOT_ALLOWED, "not-allowed", "cancel")                         \
    X(STANZA_NOT_AUTHORIZED, "not-authorized", "auth")                     \
    X(STANZA_POLICY_VIOLATION, "policy-violation", "modify")               \
    X(STANZA_RECIPIENT_UNAVAILABLE, "recipient-unavailable", "wait")       \
    X(STANZA_REDIRECT, "redirect", "modify")                               \
    X(STANZA_REGISTRATION_REQUIRED, "registration-required", "auth")       \
    X(STANZA_REMOTE_SERVER_NOT_FOUND, "remote-server-not-found", "cancel") \
    X(STANZA_REMOTE_SERVER_TIMEOUT, "remote-server-timeout", "wait")       \
    X(STANZA_RESOURCE_CONSTRAINT, "resource-constraint", "wait")           \
    X(STANZA_SERVICE_UNAVAILABLE, "service-unavailable", "cancel")         \
    X(STANZA_SUBSCRIPTION_REQUIRED, "subscription-required", "auth")       \
    X(STANZA_UNDEFINED_CONDITION, "undefined-condition", "cancel")         \
    X(STANZA_UNEXPECTED_REQUEST, "unexpected-request", "wait")

enum stanza_err {
    STANZA_OK_ = 0,
#define X(e, name, type) e,
    STANZA_ERR_TABLE(X)
#undef X
    STANZA_END_
};

/* Handlers return -(STANZA_ERR_BASE + cond) for a stanza error, so it can
 * never be mistaken for an errno or an ERR_* code. */
#define STANZA_ERR_BASE 20000
#define stanza_err(cond) (-(STANZA_ERR_BASE + (int)(cond)))
#define is_stanza_err(rc) ((rc) <= -STANZA_ERR_BASE - 1 && (rc) > -STANZA_ERR_BASE - (int)STANZA_END_)
#define stanza_err_cond(rc) ((enum stanza_err)(-(rc) - STANZA_ERR_BASE))

const char *stanza_err_name(enum stanza_err c); /* "item-not-found" */
const char *stanza_err_type(enum stanza_err c); /* "cancel" */

/* RFC 6120 §4.9.3 stream error conditions: X(enum, element name). */
#define STREAM_ERR_TABLE(X)                                            \
    X(STREAM_BAD_FORMAT, "bad-format")                                 \
    X(STREAM_BAD_NAMESPACE_PREFIX, "bad-namespace-prefix")             \
    X(STREAM_CONFLICT, "conflict")                                     \
    X(STREAM_CONNECTION_TIMEOUT, "connection-timeout")                 \
    X(STREAM_HOST_GONE, "host-gone")                                   \
    X(STREAM_HOST_UNKNOWN, "host-unknown")                             \
    X(STREAM_IMPROPER_ADDRESSING, "improper-addressing")               \
    X(STREAM_INTERNAL_SERVER_ERROR, "internal-server-error")           \
    X(STREAM_INVALID_FROM, "invalid-from")                             \
    X(STREAM_INVALID_NAMESPACE, "invalid-namespace")                   \
    X(STREAM_INVALID_XML, "invalid-xml")                               \
    X(STREAM_NOT_AUTHORIZED, "not-authorized")                         \
    X(STREAM_NOT_WELL_FORMED, "not-well-formed")                       \
    X(STREAM_POLICY_VIOLATION, "policy-violation")                     \
    X(STREAM_REMOTE_CONNECTION_FAILED, "remote-connection-failed")     \
    X(STREAM_RESET, "reset")                                           \
    X(STREAM_RESOURCE_CONSTRAINT, "resource-constraint")               \
    X(STREAM_RESTRICTED_XML, "restricted-xml")                         \
    X(STREAM_SEE_OTHER_HOST, "see-other-host")                         \
    X(STREAM_SYSTEM_SHUTDOWN, "system-shutdown")                       \
    X(STREAM_UNDEFINED_CONDITION, "undefined-condition")               \
    X(STREAM_UNSUPPORTED_ENCODING, "unsupported-encoding")             \
    X(STREAM_UNSUPPORTED_FEATURE, "unsupported-feature")               \
    X(STREAM_UNSUPPORTED_STANZA_TYPE, "unsupported-stanza-type")       \
    X(STREAM_UNSUPPORTED_VERSION, "unsupported-version")

enum stream_err {
    STREAM_OK_ = 0,
#define X(e, name) e,
    STREAM_ERR_TABLE(X)
#undef X
    STREAM_END_
};

const char *stream_err_name(enum stream_err c); /* "not-well-formed" */

#endif
