/* perm: who may do what in a room, XEP-0045 §5 (roles and affiliations)
 * with the refusals of §8 (moderator), §9 (admin) and §10 (owner).
 *
 * Pure functions of their arguments: no room, no JIDs. What needs
 * identities stays with the caller: kicking or banning oneself (§8.2 MAY
 * conflict, §9.1 MUST conflict), the last owner stepping down (§10.4
 * conflict), a nick that is not in the room. Checks return 0 when allowed
 * or a negative stanza_err(STANZA_*); the rule throughout is the XEP's:
 * an actor without the privilege gets forbidden, an actor with it whose
 * target is protected gets not-allowed. */
#ifndef STANZAD_MUC_PERM_H
#define STANZAD_MUC_PERM_H

#include "handlers/muc/muc_int.h"

/* The rows of XEP-0045 §5.1.1 "Privileges Associated With Roles". */
enum muc_priv {
    PRIV_PRESENT,             /* Present in Room */
    PRIV_RECEIVE_MESSAGES,    /* Receive Messages */
    PRIV_RECEIVE_PRESENCE,    /* Receive Occupant Presence */
    PRIV_BROADCAST_PRESENCE,  /* Broadcast Presence to All Occupants */
    PRIV_CHANGE_AVAILABILITY, /* Change Availability Status */
    PRIV_CHANGE_NICK,         /* Change Room Nickname */
    PRIV_SEND_PM,             /* Send Private Messages (muc#roomconfig_allowpm) */
    PRIV_INVITE,              /* Invite Other Users (muc#roomconfig_allowinvites) */
    PRIV_SEND_MESSAGES,       /* Send Messages to All */
    PRIV_MODIFY_SUBJECT,      /* Modify Subject (muc#roomconfig_changesubject) */
    PRIV_KICK,                /* Kick Participants and Visitors */
    PRIV_GRANT_VOICE,         /* Grant Voice */
    PRIV_REVOKE_VOICE,        /* Revoke Voice (not from admins/owners: muc_may_set_role) */
    PRIV_COUNT_
};

/* The room settings that the table's starred cells depend on (copied
 * from struct room_config by the caller). */
struct muc_room_flags {
    int allow_invites;    /* muc#roomconfig_allowinvites */
    int change_subject;   /* muc#roomconfig_changesubject */
    int members_only;     /* muc#roomconfig_membersonly (invitations, §7.8.2) */
    enum muc_pm allow_pm; /* muc#roomconfig_allowpm */
};

/* §5.1.1: 1 when role r has privilege p. f resolves the cells marked
 * "configuration settings MAY modify" (invite, subject, private
 * messages); f NULL gives the table's printed defaults. */
int muc_role_may(enum muc_role r, enum muc_priv p, const struct muc_room_flags *f);

/* §7.8.2 with §9.5: may an occupant send a mediated invitation? In a
 * members-only room without allowinvites only admins and owners may
 * (forbidden otherwise); elsewhere the §5.1.1 row decides. 0 or
 * stanza_err(STANZA_FORBIDDEN). */
int muc_may_invite(enum muc_affil a, enum muc_role r, const struct muc_room_flags *f);

/* The rows of XEP-0045 §5.2.1 "Privileges Associated With Affiliations". */
enum muc_apriv {
    APRIV_ENTER_OPEN,           /* Enter Open Room */
    APRIV_REGISTER_OPEN,        /* Register with Open Room */
    APRIV_RETRIEVE_MEMBER_LIST, /* Retrieve Member List (see muc_may_read_affil_list) */
    APRIV_ENTER_MEMBERS_ONLY,   /* Enter Members-Only Room */
    APRIV_BAN,                  /* Ban Members and Unaffiliated Users */
    APRIV_EDIT_MEMBER_LIST,     /* Edit Member List */
    APRIV_ASSIGN_MODERATOR,     /* Assign and Remove Moderator Role */
    APRIV_EDIT_ADMIN_LIST,      /* Edit Admin List */
    APRIV_EDIT_OWNER_LIST,      /* Edit Owner List */
    APRIV_CHANGE_CONFIG,        /* Change Room Configuration */
    APRIV_DESTROY,              /* Destroy Room */
    APRIV_COUNT_
};

/* §5.2.1: 1 when affiliation a has privilege p ("N/A" cells are 0). */
int muc_affil_may(enum muc_affil a, enum muc_apriv p);

/* §5.1.2 "Initial Role Based on Affiliation": owner and admin enter as
 * moderators, members as participants, the unaffiliated as visitors in
 * a moderated room and participants otherwise; outcasts do not enter
 * (ROLE_NONE). Members-only entry is muc_affil_may's. */
enum muc_role muc_entry_role(enum muc_affil a, int moderated);

/* §8.2-8.5 and §9.6-9.8 (role state chart §5.1.3): may the actor set an
 * occupant's role to new_role by muc#admin <item nick role/>? Kick is
 * ROLE_NONE, revoke voice VISITOR, grant voice PARTICIPANT (from
 * visitor), revoke moderator PARTICIPANT (from moderator), grant
 * moderator MODERATOR. actor_role is ROLE_NONE when the actor is not in
 * the room; target_role ROLE_NONE means no such occupant (item-not-found).
 * Returns 0 or stanza_err(FORBIDDEN / NOT_ALLOWED / ITEM_NOT_FOUND). */
int muc_may_set_role(enum muc_affil actor_affil, enum muc_role actor_role,
                     enum muc_affil target_affil, enum muc_role target_role,
                     enum muc_role new_role);

/* §9.1-9.5 and §10.3-10.8 (affiliation state chart §5.2.2): may the
 * actor change a user's affiliation from target_old to target_new by
 * muc#admin <item jid affiliation/>? Returns 0 or
 * stanza_err(FORBIDDEN / NOT_ALLOWED). */
int muc_may_set_affil(enum muc_affil actor, enum muc_affil target_old,
                      enum muc_affil target_new);

/* §9.2, §9.5, §10.5, §10.8: may the actor get the list of users with
 * affiliation `list` (muc#admin get <item affiliation/>)? non_anonymous:
 * the room shows real JIDs to everyone (whois anyone), which lets
 * members read the member list (§5.2.1 ***, §9.5 note). AFFIL_NONE is
 * no list (§5.2): bad-request. */
int muc_may_read_affil_list(enum muc_affil actor, enum muc_affil list, int non_anonymous);

/* §8.5 (voice list: participant, and visitor likewise) needs a
 * moderator, §9.8 (moderator list) an admin or owner. ROLE_NONE is no
 * list: bad-request. */
int muc_may_read_role_list(enum muc_affil actor_affil, enum muc_role actor_role,
                           enum muc_role list);

#endif
