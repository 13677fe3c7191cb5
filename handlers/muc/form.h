/* form: the XEP-0004 data forms of MUC (XEP-0045): the owner's room
 * configuration form (muc#roomconfig, §10.2, registry §16.5.3), its
 * submission, and the extended room information of disco#info
 * (muc#roominfo, §6.4, registry §16.5.4). Pure: trees in, trees out.
 *
 * Booleans are written "1"/"0" (as in §10.2's example) and read as
 * "0"/"1"/"false"/"true" (XEP-0004 §3.3). The service never logs rooms,
 * so muc#roomconfig_enablelogging is not offered and is ignored. */
#ifndef STANZAD_MUC_FORM_H
#define STANZAD_MUC_FORM_H

#include "handlers/muc/muc_int.h"

#define NS_MUC_ROOMCONFIG "http://jabber.org/protocol/muc#roomconfig"
#define NS_MUC_ROOMINFO "http://jabber.org/protocol/muc#roominfo"

/* The owner's configuration form, <x xmlns='jabber:x:data' type='form'>,
 * holding c's current values; maxusers offers 10, 20, 30, 50, 100, 200,
 * 500, 1000, ... below pol->max_users, the limit itself and the current
 * value; it shows pol->max_users when c->max_users is 0 or above it.
 * pol->max_users is at least 1 (config.h: 1..100000).
 * The caller frees the tree. */
struct xnode *muc_config_form(const struct room_config *c, const struct muc_policy *pol);

/* Reads a submitted configuration form x (<x type='submit'/>; a
 * FORM_TYPE field, if any, must be muc#roomconfig) into out, starting
 * from a copy of cur: fields not present keep their value, unknown
 * fields are ignored. Returns 0, and out's strings are the caller's
 * (free them as room_config_free would); or a stanza error with nothing
 * in out to free and *why (OUT, static text) saying what was wrong:
 *   bad-request     x is not a submitted data form (a cancel form too:
 *                   check xdata_type_is(x, "cancel") first, §10.1.3),
 *                   another FORM_TYPE, a boolean not 0/1/false/true, a
 *                   number not decimal, maxusers 0, a whois or allowpm
 *                   value not an option;
 *   not-acceptable  maxusers above pol->max_users, or password
 *                   protection on with an empty secret.
 * maxusers takes any number from 1 to pol->max_users: its options are
 * suggestions, the limit is what the service enforces.
 * History above pol->history_max is capped to it, not refused (the
 * value only bounds what the room keeps). maxusers equal to what the
 * form showed for cur keeps cur's value (so 0, "the service's limit",
 * survives a round trip). Protection off clears the secret. */
int muc_config_submit(const struct xnode *x, const struct room_config *cur,
                      const struct muc_policy *pol, struct room_config *out, const char **why);

/* Extended room information for disco#info (§6.4), <x type='result'>
 * with FORM_TYPE muc#roominfo and the registered fields we know:
 * muc#maxhistoryfetch, muc#roominfo_description, muc#roominfo_occupants,
 * muc#roominfo_subject, muc#roominfo_subjectmod,
 * muc#roomconfig_allowinvites, muc#roomconfig_allowpm. The room's name
 * is the disco identity's, not a field here. The caller frees it. */
struct xnode *muc_roominfo_form(const struct room *r, size_t occupants);

/* Readers for any data form. The text of the first <value/> of the
 * field named var (borrowed from x; "" for an empty <value/>), or NULL
 * when x has no such field or the field no <value/>. */
const char *xdata_value(const struct xnode *x, const char *var);
/* 1 when x is a jabber:x:data <x/> whose type is `type`, else 0. */
int xdata_type_is(const struct xnode *x, const char *type);

#endif
