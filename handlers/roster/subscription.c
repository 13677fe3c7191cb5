/* subscription: see subscription.h. The tables below are RFC 6121
 * Appendix A.2 and A.3 row for row; tests/unit/test_roster.c checks every
 * cell against the appendix's own wording. */
#include "handlers/roster/subscription.h"

#include <string.h>

#define N SUB_NONE
#define NPO SUB_NONE_PENDING_OUT
#define NPI SUB_NONE_PENDING_IN
#define NPOI SUB_NONE_PENDING_OUT_IN
#define T SUB_TO
#define TPI SUB_TO_PENDING_IN
#define F SUB_FROM
#define FPO SUB_FROM_PENDING_OUT
#define B SUB_BOTH

/* [dir][type][state]; columns in enum sub_state order:
 * None, None+PO, None+PI, None+PO+PI, To, To+PI, From, From+PO, Both. */
static const struct sub_step table[SUB_DIR_COUNT_][SUB_TYPE_COUNT_][SUB_STATE_COUNT_] = {
    [SUB_OUTBOUND] = {
        /* A.2.1 subscribe: always routed */
        [SUB_SUBSCRIBE] = {{NPO, 1}, {NPO, 1}, {NPOI, 1}, {NPOI, 1}, {T, 1}, {TPI, 1},
                           {FPO, 1}, {FPO, 1}, {B, 1}},
        /* A.2.2 unsubscribe: always routed */
        [SUB_UNSUBSCRIBE] = {{N, 1}, {N, 1}, {NPI, 1}, {NPI, 1}, {N, 1}, {NPI, 1},
                             {F, 1}, {F, 1}, {F, 1}},
        /* A.2.3 subscribed: routed only when it approves a pending request */
        [SUB_SUBSCRIBED] = {{N, 0}, {NPO, 0}, {F, 1}, {FPO, 1}, {T, 0}, {B, 1},
                            {F, 0}, {FPO, 0}, {B, 0}},
        /* A.2.4 unsubscribed: routed only when it cancels or denies */
        [SUB_UNSUBSCRIBED] = {{N, 0}, {NPO, 0}, {N, 1}, {NPO, 1}, {T, 0}, {T, 1},
                              {N, 1}, {NPO, 1}, {T, 1}},
    },
    [SUB_INBOUND] = {
        /* A.3.1 subscribe: delivered only when it is news */
        [SUB_SUBSCRIBE] = {{NPI, 1}, {NPOI, 1}, {NPI, 0}, {NPOI, 0}, {TPI, 1}, {TPI, 0},
                           {F, 0}, {FPO, 0}, {B, 0}},
        /* A.3.2 unsubscribe */
        [SUB_UNSUBSCRIBE] = {{N, 0}, {NPO, 0}, {N, 1}, {NPO, 1}, {T, 0}, {T, 1},
                             {N, 1}, {NPO, 1}, {T, 1}},
        /* A.3.3 subscribed */
        [SUB_SUBSCRIBED] = {{N, 0}, {T, 1}, {NPI, 0}, {TPI, 1}, {T, 0}, {TPI, 0},
                            {F, 0}, {B, 1}, {B, 0}},
        /* A.3.4 unsubscribed */
        [SUB_UNSUBSCRIBED] = {{N, 0}, {N, 1}, {NPI, 0}, {NPI, 1}, {N, 1}, {NPI, 1},
                              {F, 0}, {F, 1}, {F, 1}},
    },
};

struct sub_step sub_transition(enum sub_dir dir, enum sub_type type, enum sub_state state)
{
    struct sub_step none = {state, 0};
    if ((unsigned)dir >= SUB_DIR_COUNT_ || (unsigned)type >= SUB_TYPE_COUNT_ ||
        (unsigned)state >= SUB_STATE_COUNT_)
        return none;
    return table[dir][type][state];
}

static const char *const state_names[SUB_STATE_COUNT_] = {
    "None", "None + Pending Out", "None + Pending In", "None + Pending Out+In",
    "To", "To + Pending In", "From", "From + Pending Out", "Both",
};

const char *sub_state_name(enum sub_state s)
{
    return (unsigned)s < SUB_STATE_COUNT_ ? state_names[s] : "?";
}

static const char *const type_names[SUB_TYPE_COUNT_] = {
    "subscribe", "unsubscribe", "subscribed", "unsubscribed",
};

int sub_type_parse(const char *type)
{
    for (int t = 0; type && t < SUB_TYPE_COUNT_; t++)
        if (strcmp(type, type_names[t]) == 0)
            return t;
    return -1;
}

const char *sub_type_name(enum sub_type t)
{
    return (unsigned)t < SUB_TYPE_COUNT_ ? type_names[t] : "?";
}

int sub_has_to(enum sub_state s) { return s == T || s == TPI || s == B; }
int sub_has_from(enum sub_state s) { return s == F || s == FPO || s == B; }
int sub_pending_out(enum sub_state s) { return s == NPO || s == NPOI || s == FPO; }
int sub_pending_in(enum sub_state s) { return s == NPI || s == NPOI || s == TPI; }
int sub_preapproval_allowed(enum sub_state s) { return s == N || s == NPO || s == T; }

const char *sub_attr(enum sub_state s)
{
    if (sub_has_to(s) && sub_has_from(s))
        return "both";
    if (sub_has_to(s))
        return "to";
    if (sub_has_from(s))
        return "from";
    return "none";
}
