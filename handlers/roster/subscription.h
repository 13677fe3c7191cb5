/* subscription: the presence subscription state machine of RFC 6121
 * Appendix A, as a pure table: A.2 (the user's server, outbound
 * subscription stanzas from the user) and A.3 (the contact's server,
 * inbound ones). Pre-approval (§3.4) is not in the appendix's tables;
 * roster.c layers it on top with sub_preapproval_allowed().
 * Pure: no state, no I/O. */
#ifndef STANZAD_SUBSCRIPTION_H
#define STANZAD_SUBSCRIPTION_H

/* The nine states of RFC 6121 Appendix A.1. Numbers are part of the
 * roster snapshot format: never renumber. */
enum sub_state {
    SUB_NONE = 0,
    SUB_NONE_PENDING_OUT = 1,
    SUB_NONE_PENDING_IN = 2,
    SUB_NONE_PENDING_OUT_IN = 3,
    SUB_TO = 4,
    SUB_TO_PENDING_IN = 5,
    SUB_FROM = 6,
    SUB_FROM_PENDING_OUT = 7,
    SUB_BOTH = 8,
    SUB_STATE_COUNT_
};

/* The four subscription presence types, in the appendix's order. */
enum sub_type {
    SUB_SUBSCRIBE = 0,
    SUB_UNSUBSCRIBE,
    SUB_SUBSCRIBED,
    SUB_UNSUBSCRIBED,
    SUB_TYPE_COUNT_
};

enum sub_dir {
    SUB_OUTBOUND = 0, /* A.2: from the user, at the user's server */
    SUB_INBOUND,      /* A.3: to the user, at the user's server */
    SUB_DIR_COUNT_
};

struct sub_step {
    enum sub_state next; /* equal to the old state: "no state change" */
    int forward;         /* outbound: route it to the contact; inbound: deliver it to the user */
};

/* The appendix's row for (dir, type, state). */
struct sub_step sub_transition(enum sub_dir dir, enum sub_type type, enum sub_state state);

/* "None + Pending Out" as the appendix spells it; "?" if out of range. */
const char *sub_state_name(enum sub_state s);
/* "subscribe", ...; returns -1 for any other presence type (or NULL). */
int sub_type_parse(const char *type);
const char *sub_type_name(enum sub_type t);

/* The roster item's attributes for a state (RFC 6121 §2.1.2.5):
 * subscription none/to/from/both, and ask='subscribe' when pending out. */
const char *sub_attr(enum sub_state s);
int sub_pending_out(enum sub_state s);
int sub_pending_in(enum sub_state s);
int sub_has_to(enum sub_state s);   /* the user receives the contact's presence */
int sub_has_from(enum sub_state s); /* the contact receives the user's presence */
/* §3.4.1: an outbound 'subscribed' pre-approves in None, None + Pending
 * Out and To (the states with neither From nor Pending In). */
int sub_preapproval_allowed(enum sub_state s);

#endif
