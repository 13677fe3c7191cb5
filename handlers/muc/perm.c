/* perm: XEP-0045's permission tables (§5.1.1, §5.1.2, §5.2.1) as data,
 * and the refusals of §8-§10 for role and affiliation changes. Pure. */
#include "handlers/muc/perm.h"

#include "kernel/err.h"

#define OK 0
#define FORBIDDEN stanza_err(STANZA_FORBIDDEN)
#define NOT_ALLOWED stanza_err(STANZA_NOT_ALLOWED)

/* The enum's numbers are fixed by snapshots (NONE 0, OUTCAST 1); this is
 * the order of §5.2: outcast < none < member < admin < owner. */
static int affil_rank(enum muc_affil a)
{
    switch (a) {
    case AFFIL_OUTCAST: return 0;
    case AFFIL_NONE: return 1;
    case AFFIL_MEMBER: return 2;
    case AFFIL_ADMIN: return 3;
    case AFFIL_OWNER: return 4;
    }
    return 0;
}

static int is_admin_or_owner(enum muc_affil a)
{
    return a == AFFIL_ADMIN || a == AFFIL_OWNER;
}

/* --- §5.1.1 roles ------------------------------------------------------- */

enum cell { NO, YES, CONF }; /* CONF: the table's "*" cells */

/* Columns: None, Visitor, Participant, Moderator (enum muc_role order). */
static const unsigned char role_table[PRIV_COUNT_][4] = {
    [PRIV_PRESENT] = {NO, YES, YES, YES},
    [PRIV_RECEIVE_MESSAGES] = {NO, YES, YES, YES},
    [PRIV_RECEIVE_PRESENCE] = {NO, YES, YES, YES},
    [PRIV_BROADCAST_PRESENCE] = {NO, YES, YES, YES}, /* Yes*: no such setting here */
    [PRIV_CHANGE_AVAILABILITY] = {NO, YES, YES, YES}, /* Yes*: idem */
    [PRIV_CHANGE_NICK] = {NO, YES, YES, YES},         /* Yes*: idem */
    [PRIV_SEND_PM] = {NO, CONF, CONF, CONF},  /* allowpm governs every role (§7.5) */
    [PRIV_INVITE] = {NO, CONF, CONF, YES},
    [PRIV_SEND_MESSAGES] = {NO, NO, YES, YES}, /* No**: we never voice visitors */
    [PRIV_MODIFY_SUBJECT] = {NO, NO, CONF, YES}, /* No*: visitors have no voice */
    [PRIV_KICK] = {NO, NO, NO, YES},
    [PRIV_GRANT_VOICE] = {NO, NO, NO, YES},
    [PRIV_REVOKE_VOICE] = {NO, NO, NO, YES},
};

/* A starred cell under the room's settings; f NULL: the printed "Yes*". */
static int role_conf(enum muc_role r, enum muc_priv p, const struct muc_room_flags *f)
{
    if (!f)
        return 1;
    switch (p) {
    case PRIV_SEND_PM: /* anyone / participants ("with voice") / moderators / none */
        switch (f->allow_pm) {
        case PM_ANYONE: return 1;
        case PM_PARTICIPANTS: return r >= ROLE_PARTICIPANT;
        case PM_MODERATORS: return r == ROLE_MODERATOR;
        case PM_NONE: return 0;
        }
        return 0;
    case PRIV_INVITE: return f->allow_invites != 0;
    case PRIV_MODIFY_SUBJECT: return f->change_subject != 0;
    default: return 0;
    }
}

int muc_role_may(enum muc_role r, enum muc_priv p, const struct muc_room_flags *f)
{
    if ((unsigned)p >= PRIV_COUNT_ || (unsigned)r > ROLE_MODERATOR)
        return 0;
    switch (role_table[p][r]) {
    case YES: return 1;
    case CONF: return role_conf(r, p, f);
    default: return 0;
    }
}

int muc_may_invite(enum muc_affil a, enum muc_role r, const struct muc_room_flags *f)
{
    /* §7.8.2: in members-only rooms invitations SHOULD be the admins'
     * (who may edit the member list) unless allowinvites opens them;
     * 1.35.3: allowinvites never restricts owners. */
    if (f && f->members_only && !f->allow_invites)
        return muc_affil_may(a, APRIV_EDIT_MEMBER_LIST) ? OK : FORBIDDEN;
    return muc_role_may(r, PRIV_INVITE, f) ? OK : FORBIDDEN;
}

/* --- §5.2.1 affiliations ------------------------------------------------- */

#define AF(a) (1u << (a))
#define FROM_MEMBER (AF(AFFIL_MEMBER) | AF(AFFIL_ADMIN) | AF(AFFIL_OWNER))
#define FROM_ADMIN (AF(AFFIL_ADMIN) | AF(AFFIL_OWNER))
#define OWNER_ONLY AF(AFFIL_OWNER)

/* Which affiliations hold each privilege ("N/A" counts as no). */
static const unsigned affil_table[APRIV_COUNT_] = {
    [APRIV_ENTER_OPEN] = AF(AFFIL_NONE) | FROM_MEMBER,
    [APRIV_REGISTER_OPEN] = AF(AFFIL_NONE),
    [APRIV_RETRIEVE_MEMBER_LIST] = FROM_MEMBER,
    [APRIV_ENTER_MEMBERS_ONLY] = FROM_MEMBER,
    [APRIV_BAN] = FROM_ADMIN,
    [APRIV_EDIT_MEMBER_LIST] = FROM_ADMIN,
    [APRIV_ASSIGN_MODERATOR] = FROM_ADMIN,
    [APRIV_EDIT_ADMIN_LIST] = OWNER_ONLY,
    [APRIV_EDIT_OWNER_LIST] = OWNER_ONLY,
    [APRIV_CHANGE_CONFIG] = OWNER_ONLY,
    [APRIV_DESTROY] = OWNER_ONLY,
};

int muc_affil_may(enum muc_affil a, enum muc_apriv p)
{
    if ((unsigned)p >= APRIV_COUNT_ || (unsigned)a > AFFIL_OWNER)
        return 0;
    return (affil_table[p] & AF(a)) != 0;
}

/* --- §5.1.2 default roles ------------------------------------------------ */

enum muc_role muc_entry_role(enum muc_affil a, int moderated)
{
    switch (a) {
    case AFFIL_OWNER:
    case AFFIL_ADMIN: return ROLE_MODERATOR;
    case AFFIL_MEMBER: return ROLE_PARTICIPANT;
    case AFFIL_NONE: return moderated ? ROLE_VISITOR : ROLE_PARTICIPANT;
    case AFFIL_OUTCAST: return ROLE_NONE;
    }
    return ROLE_NONE;
}

/* --- role changes: §8.2-8.5, §9.6-9.8 ------------------------------------- */

int muc_may_set_role(enum muc_affil actor_affil, enum muc_role actor_role,
                     enum muc_affil target_affil, enum muc_role target_role,
                     enum muc_role new_role)
{
    int mod_change = new_role == ROLE_MODERATOR ||
                     (target_role == ROLE_MODERATOR && new_role == ROLE_PARTICIPANT);
    /* Granting and revoking moderator status are admin use cases (§9
     * intro: forbidden unless an admin); kick and voice are moderator
     * use cases (§8 intro: forbidden unless a moderator). */
    if (mod_change ? !muc_affil_may(actor_affil, APRIV_ASSIGN_MODERATOR)
                   : actor_role != ROLE_MODERATOR)
        return FORBIDDEN;
    if (target_role == ROLE_NONE)
        return stanza_err(STANZA_ITEM_NOT_FOUND); /* not an occupant */
    if (new_role == target_role)
        return OK;
    /* §8.2 and §8.4: nobody is kicked or silenced by a lower affiliation
     * (§8.5 says "higher" where §8.4 says "at or above": see report). */
    if ((new_role == ROLE_NONE || new_role == ROLE_VISITOR) &&
        affil_rank(target_affil) > affil_rank(actor_affil))
        return NOT_ALLOWED;
    /* §8.4: "MUST NOT allow the voice privileges of an admin or owner to
     * be removed by anyone"; §9.7/§9.8: nor their moderator status. */
    if (new_role != ROLE_NONE && target_role == ROLE_MODERATOR && is_admin_or_owner(target_affil))
        return NOT_ALLOWED;
    if (new_role == ROLE_VISITOR && is_admin_or_owner(target_affil))
        return NOT_ALLOWED;
    /* §5.1.3 chart: a moderator loses the role (kicked, made visitor)
     * only by an admin or owner; a moderator kicks "participants and
     * visitors" (§5.1.1), so this target is outside the privilege. */
    if (target_role == ROLE_MODERATOR && !muc_affil_may(actor_affil, APRIV_ASSIGN_MODERATOR))
        return NOT_ALLOWED;
    return OK;
}

/* --- affiliation changes: §9.1-9.5, §10.3-10.8 ---------------------------- */

int muc_may_set_affil(enum muc_affil actor, enum muc_affil target_old, enum muc_affil target_new)
{
    /* §9 intro: the admin use cases need an admin (or owner). */
    if (!muc_affil_may(actor, APRIV_BAN))
        return FORBIDDEN;
    if (actor == AFFIL_OWNER)
        return OK; /* every cell of §5.2.2; the last owner is the caller's */
    /* An admin from here. §10.3/§10.6: adding to the owner or admin list
     * needs an owner (forbidden). */
    if (is_admin_or_owner(target_new))
        return FORBIDDEN;
    if (is_admin_or_owner(target_old)) {
        /* §9.1: "a user cannot be banned by an admin with a lower
         * affiliation" (not-allowed), and §5.2.2 lets only owners ban
         * admins, which §9.2 refuses with not-allowed too. */
        if (target_new == AFFIL_OUTCAST)
            return NOT_ALLOWED;
        /* §10.4/§10.7: revoking owner or admin status by a non-owner is
         * forbidden. */
        return FORBIDDEN;
    }
    return OK; /* outcast, none, member among themselves: admin or owner */
}

/* --- reading lists: §8.5, §9.2, §9.5, §9.8, §10.5, §10.8 ------------------ */

int muc_may_read_affil_list(enum muc_affil actor, enum muc_affil list, int non_anonymous)
{
    switch (list) {
    case AFFIL_OUTCAST: /* §9.2: the ban list is the admins' */
        return muc_affil_may(actor, APRIV_BAN) ? OK : FORBIDDEN;
    case AFFIL_MEMBER: /* §9.5; §5.2.1 ***: members only where JIDs are public */
        if (muc_affil_may(actor, APRIV_EDIT_MEMBER_LIST))
            return OK;
        return non_anonymous && muc_affil_may(actor, APRIV_RETRIEVE_MEMBER_LIST) ? OK : FORBIDDEN;
    case AFFIL_ADMIN: /* §10.8 */
    case AFFIL_OWNER: /* §10.5; the "MAY in non-anonymous rooms" is not taken */
        return actor == AFFIL_OWNER ? OK : FORBIDDEN;
    case AFFIL_NONE:
        break;
    }
    return stanza_err(STANZA_BAD_REQUEST);
}

int muc_may_read_role_list(enum muc_affil actor_affil, enum muc_role actor_role,
                           enum muc_role list)
{
    switch (list) {
    case ROLE_VISITOR:
    case ROLE_PARTICIPANT: /* §8.5: the voice list is the moderators' */
        return actor_role == ROLE_MODERATOR ? OK : FORBIDDEN;
    case ROLE_MODERATOR: /* §9.8: the moderator list is the admins' */
        return muc_affil_may(actor_affil, APRIV_ASSIGN_MODERATOR) ? OK : FORBIDDEN;
    case ROLE_NONE:
        break;
    }
    return stanza_err(STANZA_BAD_REQUEST);
}
