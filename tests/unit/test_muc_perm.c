/* test_muc_perm: XEP-0045's permission tables, cell for cell, in the
 * XEP's own words (§5.1.1, §5.1.2, §5.1.3, §5.2.1, §5.2.2), and the
 * refusals of §8-§10 with the exact error condition each names. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "handlers/muc/perm.h"
#include "kernel/err.h"
#include "fixture.h"

#define OK 0
#define FORBIDDEN stanza_err(STANZA_FORBIDDEN)
#define NOT_ALLOWED stanza_err(STANZA_NOT_ALLOWED)
#define NOT_FOUND stanza_err(STANZA_ITEM_NOT_FOUND)
#define BAD_REQUEST stanza_err(STANZA_BAD_REQUEST)

/* "Yes", "Yes*", "Yes***" are yes; "No", "No*", "No**", "N/A" are no. */
static int cell_yes(const char *cell)
{
    return strncmp(cell, "Yes", 3) == 0;
}

static const char *rc_name(int rc)
{
    return rc == 0 ? "allowed" : is_stanza_err(rc) ? stanza_err_name(stanza_err_cond(rc)) : "?";
}

static const char *affil_word[] = {"none", "outcast", "member", "admin", "owner"};
static const char *role_word[] = {"none", "visitor", "participant", "moderator"};

/* --- §5.1.1 Privileges Associated With Roles ---------------------------- */

static const struct {
    const char *privilege;
    enum muc_priv p;
    const char *cell[4]; /* None, Visitor, Participant, Moderator */
} table_5_1_1[] = {
    {"Present in Room", PRIV_PRESENT, {"No", "Yes", "Yes", "Yes"}},
    {"Receive Messages", PRIV_RECEIVE_MESSAGES, {"No", "Yes", "Yes", "Yes"}},
    {"Receive Occupant Presence", PRIV_RECEIVE_PRESENCE, {"No", "Yes", "Yes", "Yes"}},
    {"Broadcast Presence to All Occupants", PRIV_BROADCAST_PRESENCE, {"No", "Yes*", "Yes", "Yes"}},
    {"Change Availability Status", PRIV_CHANGE_AVAILABILITY, {"No", "Yes*", "Yes", "Yes"}},
    {"Change Room Nickname", PRIV_CHANGE_NICK, {"No", "Yes*", "Yes", "Yes"}},
    {"Send Private Messages", PRIV_SEND_PM, {"No", "Yes*", "Yes", "Yes"}},
    {"Invite Other Users", PRIV_INVITE, {"No", "Yes*", "Yes*", "Yes"}},
    {"Send Messages to All", PRIV_SEND_MESSAGES, {"No", "No**", "Yes", "Yes"}},
    {"Modify Subject", PRIV_MODIFY_SUBJECT, {"No", "No*", "Yes*", "Yes"}},
    {"Kick Participants and Visitors", PRIV_KICK, {"No", "No", "No", "Yes"}},
    {"Grant Voice", PRIV_GRANT_VOICE, {"No", "No", "No", "Yes"}},
    {"Revoke Voice", PRIV_REVOKE_VOICE, {"No", "No", "No", "Yes***"}},
};

START_TEST(role_privileges_match_5_1_1_in_every_cell)
{
    size_t n = sizeof table_5_1_1 / sizeof table_5_1_1[0];
    ck_assert_uint_eq(n, PRIV_COUNT_); /* every row of the table is here */
    for (size_t i = 0; i < n; i++)
        for (int r = ROLE_NONE; r <= ROLE_MODERATOR; r++) {
            int want = cell_yes(table_5_1_1[i].cell[r]);
            int got = muc_role_may((enum muc_role)r, table_5_1_1[i].p, NULL);
            ck_assert_msg(got == want, "§5.1.1 \"%s\" for %s: XEP says %s, got %d",
                          table_5_1_1[i].privilege, role_word[r], table_5_1_1[i].cell[r], got);
        }
}
END_TEST

/* The starred cells under the room settings that modify them. */
static const struct muc_room_flags open_room = {1, 1, 0, PM_ANYONE};
static const struct muc_room_flags closed_room = {0, 0, 0, PM_NONE};
static const struct muc_room_flags pm_voice = {0, 0, 0, PM_PARTICIPANTS};
static const struct muc_room_flags pm_mods = {0, 0, 0, PM_MODERATORS};

static const struct {
    const char *why;
    const struct muc_room_flags *f;
    enum muc_priv p;
    int cell[4]; /* None, Visitor, Participant, Moderator */
} starred[] = {
    {"allowpm anyone", &open_room, PRIV_SEND_PM, {0, 1, 1, 1}},
    {"allowpm participants (\"Anyone with Voice\")", &pm_voice, PRIV_SEND_PM, {0, 0, 1, 1}},
    {"allowpm moderators (\"Moderators Only\")", &pm_mods, PRIV_SEND_PM, {0, 0, 0, 1}},
    {"allowpm none (\"Nobody\")", &closed_room, PRIV_SEND_PM, {0, 0, 0, 0}},
    {"allowinvites 1", &open_room, PRIV_INVITE, {0, 1, 1, 1}},
    {"allowinvites 0: moderators' cell is unstarred", &closed_room, PRIV_INVITE, {0, 0, 0, 1}},
    {"changesubject 1: occupants (visitors have no voice)", &open_room, PRIV_MODIFY_SUBJECT, {0, 0, 1, 1}},
    {"changesubject 0: moderators only (§8.1)", &closed_room, PRIV_MODIFY_SUBJECT, {0, 0, 0, 1}},
    {"no setting for presence broadcast", &closed_room, PRIV_BROADCAST_PRESENCE, {0, 1, 1, 1}},
    {"no setting for nick changes", &closed_room, PRIV_CHANGE_NICK, {0, 1, 1, 1}},
    {"unstarred cells ignore settings", &open_room, PRIV_SEND_MESSAGES, {0, 0, 1, 1}},
    {"unstarred cells ignore settings", &open_room, PRIV_KICK, {0, 0, 0, 1}},
};

START_TEST(starred_role_cells_follow_room_configuration)
{
    for (size_t i = 0; i < sizeof starred / sizeof starred[0]; i++)
        for (int r = ROLE_NONE; r <= ROLE_MODERATOR; r++)
            ck_assert_msg(muc_role_may((enum muc_role)r, starred[i].p, starred[i].f) == starred[i].cell[r],
                          "%s: %s", starred[i].why, role_word[r]);
}
END_TEST

/* §7.8.2: mediated invitations in members-only rooms. */
static const struct muc_room_flags mo_closed = {0, 0, 1, PM_ANYONE};
static const struct muc_room_flags mo_open = {1, 0, 1, PM_ANYONE};

static const struct {
    const char *why;
    const struct muc_room_flags *f;
    enum muc_affil a;
    enum muc_role r;
    int want;
} invites[] = {
    {"members-only, a mere member: forbidden (§9.5)", &mo_closed, AFFIL_MEMBER, ROLE_PARTICIPANT, FORBIDDEN},
    {"members-only, a moderator who is a member", &mo_closed, AFFIL_MEMBER, ROLE_MODERATOR, FORBIDDEN},
    {"members-only, an admin", &mo_closed, AFFIL_ADMIN, ROLE_MODERATOR, OK},
    {"members-only, an owner", &mo_closed, AFFIL_OWNER, ROLE_MODERATOR, OK},
    {"members-only with allowinvites, a member", &mo_open, AFFIL_MEMBER, ROLE_PARTICIPANT, OK},
    {"open room with allowinvites, unaffiliated visitor", &open_room, AFFIL_NONE, ROLE_VISITOR, OK},
    {"open room without allowinvites, participant", &closed_room, AFFIL_NONE, ROLE_PARTICIPANT, FORBIDDEN},
    {"open room without allowinvites, moderator", &closed_room, AFFIL_NONE, ROLE_MODERATOR, OK},
};

START_TEST(invitations_in_members_only_rooms_are_the_admins)
{
    for (size_t i = 0; i < sizeof invites / sizeof invites[0]; i++) {
        int got = muc_may_invite(invites[i].a, invites[i].r, invites[i].f);
        ck_assert_msg(got == invites[i].want, "%s: want %s, got %s", invites[i].why,
                      rc_name(invites[i].want), rc_name(got));
    }
}
END_TEST

/* --- §5.2.1 Privileges Associated With Affiliations --------------------- */

/* The XEP's column order. */
static const enum muc_affil affil_col[5] = {AFFIL_OUTCAST, AFFIL_NONE, AFFIL_MEMBER, AFFIL_ADMIN, AFFIL_OWNER};

static const struct {
    const char *privilege;
    enum muc_apriv p;
    const char *cell[5]; /* Outcast, None, Member, Admin, Owner */
} table_5_2_1[] = {
    {"Enter Open Room", APRIV_ENTER_OPEN, {"No", "Yes*", "Yes", "Yes", "Yes"}},
    {"Register with Open Room", APRIV_REGISTER_OPEN, {"No", "Yes", "N/A", "N/A", "N/A"}},
    {"Retrieve Member List***", APRIV_RETRIEVE_MEMBER_LIST, {"No", "No", "Yes", "Yes", "Yes"}},
    {"Enter Members-Only Room", APRIV_ENTER_MEMBERS_ONLY, {"No", "No", "Yes*", "Yes", "Yes"}},
    {"Ban Members and Unaffiliated Users", APRIV_BAN, {"No", "No", "No", "Yes", "Yes"}},
    {"Edit Member List", APRIV_EDIT_MEMBER_LIST, {"No", "No", "No", "Yes", "Yes"}},
    {"Assign and Remove Moderator Role", APRIV_ASSIGN_MODERATOR, {"No", "No", "No", "Yes**", "Yes**"}},
    {"Edit Admin List", APRIV_EDIT_ADMIN_LIST, {"No", "No", "No", "No", "Yes"}},
    {"Edit Owner List", APRIV_EDIT_OWNER_LIST, {"No", "No", "No", "No", "Yes"}},
    {"Change Room Configuration", APRIV_CHANGE_CONFIG, {"No", "No", "No", "No", "Yes"}},
    {"Destroy Room", APRIV_DESTROY, {"No", "No", "No", "No", "Yes"}},
};

START_TEST(affiliation_privileges_match_5_2_1_in_every_cell)
{
    size_t n = sizeof table_5_2_1 / sizeof table_5_2_1[0];
    ck_assert_uint_eq(n, APRIV_COUNT_);
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < 5; c++) {
            int want = cell_yes(table_5_2_1[i].cell[c]);
            int got = muc_affil_may(affil_col[c], table_5_2_1[i].p);
            ck_assert_msg(got == want, "§5.2.1 \"%s\" for %s: XEP says %s, got %d",
                          table_5_2_1[i].privilege, affil_word[affil_col[c]], table_5_2_1[i].cell[c], got);
        }
}
END_TEST

/* --- §5.1.2 Initial Role Based on Affiliation --------------------------- */

static const struct {
    const char *room_type;
    int moderated, members_only;
    const char *cell[4]; /* None, Member, Admin, Owner */
} table_5_1_2[] = {
    {"Moderated", 1, 0, {"Visitor", "Participant", "Moderator", "Moderator"}},
    {"Unmoderated", 0, 0, {"Participant", "Participant", "Moderator", "Moderator"}},
    {"Members-Only", 0, 1, {"N/A *", "Participant", "Moderator", "Moderator"}},
    {"Open", 0, 0, {"Participant", "Participant", "Moderator", "Moderator"}},
};

START_TEST(entry_roles_match_5_1_2_in_every_cell)
{
    static const enum muc_affil col[4] = {AFFIL_NONE, AFFIL_MEMBER, AFFIL_ADMIN, AFFIL_OWNER};
    for (size_t i = 0; i < sizeof table_5_1_2 / sizeof table_5_1_2[0]; i++)
        for (int c = 0; c < 4; c++) {
            const char *cell = table_5_1_2[i].cell[c];
            if (strcmp(cell, "N/A *") == 0) { /* "* Entry is not permitted." */
                ck_assert(!muc_affil_may(col[c], APRIV_ENTER_MEMBERS_ONLY));
                continue;
            }
            if (table_5_1_2[i].members_only)
                ck_assert(muc_affil_may(col[c], APRIV_ENTER_MEMBERS_ONLY));
            enum muc_role got = muc_entry_role(col[c], table_5_1_2[i].moderated);
            ck_assert_msg(strcasecmp(role_word[got], cell) == 0, "§5.1.2 %s room, %s: XEP says %s, got %s",
                          table_5_1_2[i].room_type, affil_word[col[c]], cell, role_word[got]);
        }
    /* "there is no role associated with the outcast affiliation" */
    ck_assert_int_eq(muc_entry_role(AFFIL_OUTCAST, 0), ROLE_NONE);
    ck_assert_int_eq(muc_entry_role(AFFIL_OUTCAST, 1), ROLE_NONE);
}
END_TEST

/* --- role changes: §5.1.3 chart, §8.2-8.5, §9.6-9.8 ---------------------- */

#define A_NONE AFFIL_NONE
#define A_MEM AFFIL_MEMBER
#define A_ADM AFFIL_ADMIN
#define A_OWN AFFIL_OWNER
#define R_NONE ROLE_NONE
#define R_VIS ROLE_VISITOR
#define R_PAR ROLE_PARTICIPANT
#define R_MOD ROLE_MODERATOR

static const struct {
    const char *xep;
    enum muc_affil actor_affil;
    enum muc_role actor_role;
    enum muc_affil target_affil;
    enum muc_role target_role, new_role;
    int want;
} role_rows[] = {
    /* §5.1.3 chart, Visitor row */
    {"Visitor>None: be kicked by a moderator", A_NONE, R_MOD, A_NONE, R_VIS, R_NONE, OK},
    {"Visitor>Participant: Moderator grants voice", A_NONE, R_MOD, A_NONE, R_VIS, R_PAR, OK},
    {"Visitor>Moderator: Admin or owner grants moderator status", A_ADM, R_MOD, A_NONE, R_VIS, R_MOD, OK},
    {"Visitor>Moderator: Admin or owner grants moderator status", A_OWN, R_MOD, A_NONE, R_VIS, R_MOD, OK},
    /* Participant row */
    {"Participant>None: be kicked by a moderator", A_NONE, R_MOD, A_NONE, R_PAR, R_NONE, OK},
    {"Participant>Visitor: Moderator revokes voice", A_NONE, R_MOD, A_NONE, R_PAR, R_VIS, OK},
    {"Participant>Moderator: Admin or owner grants moderator status", A_ADM, R_MOD, A_MEM, R_PAR, R_MOD, OK},
    {"Participant>Moderator: Admin or owner grants moderator status", A_OWN, R_MOD, A_NONE, R_PAR, R_MOD, OK},
    /* Moderator row */
    {"Moderator>None: be kicked by an admin or owner", A_ADM, R_MOD, A_MEM, R_MOD, R_NONE, OK},
    {"Moderator>None: be kicked by an admin or owner", A_OWN, R_MOD, A_ADM, R_MOD, R_NONE, OK},
    {"Moderator>Visitor: Admin or owner changes role to visitor", A_ADM, R_MOD, A_NONE, R_MOD, R_VIS, OK},
    {"Moderator>Visitor: Admin or owner changes role to visitor", A_OWN, R_MOD, A_MEM, R_MOD, R_VIS, OK},
    {"Moderator>Participant: Admin or owner revokes moderator status", A_ADM, R_MOD, A_MEM, R_MOD, R_PAR, OK},
    {"Moderator>Participant: Admin or owner revokes moderator status", A_OWN, R_MOD, A_NONE, R_MOD, R_PAR, OK},
    {"§9.6 an admin need not be in the room to grant moderator", A_ADM, R_NONE, A_NONE, R_PAR, R_MOD, OK},
    {"§8.3 voice to a member visitor", A_NONE, R_MOD, A_MEM, R_VIS, R_PAR, OK},
    {"§8.2 an admin kicks another admin (not lower)", A_ADM, R_MOD, A_ADM, R_MOD, R_NONE, OK},
    {"§8.2 an owner kicks another owner", A_OWN, R_MOD, A_OWN, R_MOD, R_NONE, OK},
    {"§8.4 revoke voice, same affiliation (§8.5: not higher)", A_MEM, R_MOD, A_MEM, R_PAR, R_VIS, OK},
    {"no change is no refusal", A_NONE, R_MOD, A_NONE, R_PAR, R_PAR, OK},
    /* §8 intro: not a moderator: forbidden */
    {"§8.2 a participant may not kick", A_NONE, R_PAR, A_NONE, R_VIS, R_NONE, FORBIDDEN},
    {"§8.2 a visitor may not kick", A_MEM, R_VIS, A_NONE, R_PAR, R_NONE, FORBIDDEN},
    {"§8.3 a participant may not grant voice", A_MEM, R_PAR, A_NONE, R_VIS, R_PAR, FORBIDDEN},
    {"§8.4 a participant may not revoke voice", A_MEM, R_PAR, A_NONE, R_PAR, R_VIS, FORBIDDEN},
    {"§8 an owner out of the room is no moderator", A_OWN, R_NONE, A_NONE, R_PAR, R_NONE, FORBIDDEN},
    /* §9 intro: granting/revoking moderator is the admins': forbidden */
    {"§9.6 a moderator who is a member may not grant moderator", A_MEM, R_MOD, A_NONE, R_PAR, R_MOD, FORBIDDEN},
    {"§9.6 an unaffiliated moderator may not grant moderator", A_NONE, R_MOD, A_NONE, R_VIS, R_MOD, FORBIDDEN},
    {"§9.7 a moderator who is a member may not revoke moderator", A_MEM, R_MOD, A_NONE, R_MOD, R_PAR, FORBIDDEN},
    {"§9.6 a participant may not grant moderator", A_NONE, R_PAR, A_NONE, R_PAR, R_MOD, FORBIDDEN},
    /* §8.2: "cannot be kicked by a moderator with a lower affiliation": not-allowed */
    {"§8.2 a moderator who is a member attempts to kick an admin", A_MEM, R_MOD, A_ADM, R_MOD, R_NONE, NOT_ALLOWED},
    {"§8.2 a moderator who is a member attempts to kick an owner", A_MEM, R_MOD, A_OWN, R_MOD, R_NONE, NOT_ALLOWED},
    {"§8.2 a moderator who is an admin attempts to kick an owner", A_ADM, R_MOD, A_OWN, R_MOD, R_NONE, NOT_ALLOWED},
    {"§8.2 an unaffiliated moderator kicks a member", A_NONE, R_MOD, A_MEM, R_PAR, R_NONE, NOT_ALLOWED},
    {"§5.1.3 a moderator is kicked only by an admin or owner", A_MEM, R_MOD, A_NONE, R_MOD, R_NONE, NOT_ALLOWED},
    /* §8.4/§8.5: voice of admins and owners is removed by nobody */
    {"§8.4 a moderator revokes voice from an admin", A_NONE, R_MOD, A_ADM, R_MOD, R_VIS, NOT_ALLOWED},
    {"§8.4 an admin revokes voice from an admin", A_ADM, R_MOD, A_ADM, R_MOD, R_VIS, NOT_ALLOWED},
    {"§8.4 an owner revokes voice from an owner", A_OWN, R_MOD, A_OWN, R_MOD, R_VIS, NOT_ALLOWED},
    {"§8.4 an owner revokes voice from an admin participant", A_OWN, R_MOD, A_ADM, R_PAR, R_VIS, NOT_ALLOWED},
    {"§8.5 voice from a higher affiliation", A_NONE, R_MOD, A_MEM, R_PAR, R_VIS, NOT_ALLOWED},
    {"§5.1.3 a member moderator makes a moderator visitor", A_MEM, R_MOD, A_NONE, R_MOD, R_VIS, NOT_ALLOWED},
    /* §9.7/§9.8: moderator status of admins and owners is never revoked */
    {"§9.7 an admin revokes moderator from an admin", A_ADM, R_MOD, A_ADM, R_MOD, R_PAR, NOT_ALLOWED},
    {"§9.7 an admin revokes moderator from an owner", A_ADM, R_MOD, A_OWN, R_MOD, R_PAR, NOT_ALLOWED},
    {"§9.8 an owner revokes moderator from an admin", A_OWN, R_MOD, A_ADM, R_MOD, R_PAR, NOT_ALLOWED},
    {"§9.8 an owner revokes moderator from an owner", A_OWN, R_MOD, A_OWN, R_MOD, R_PAR, NOT_ALLOWED},
    /* a nick that is not in the room */
    {"no such occupant", A_NONE, R_MOD, A_NONE, R_NONE, R_NONE, NOT_FOUND},
    {"no such occupant", A_ADM, R_MOD, A_NONE, R_NONE, R_MOD, NOT_FOUND},
};

START_TEST(role_changes_follow_5_1_3_and_sections_8_9)
{
    for (size_t i = 0; i < sizeof role_rows / sizeof role_rows[0]; i++) {
        int got = muc_may_set_role(role_rows[i].actor_affil, role_rows[i].actor_role, role_rows[i].target_affil,
                                   role_rows[i].target_role, role_rows[i].new_role);
        ck_assert_msg(got == role_rows[i].want, "row %zu \"%s\": want %s, got %s", i, role_rows[i].xep,
                      rc_name(role_rows[i].want), rc_name(got));
    }
}
END_TEST

/* --- affiliation changes: §5.2.2 chart, §9.1-9.5, §10.3-10.8 ------------ */

/* The Affiliation State Chart: row = from, column = to, XEP order. */
static const char *chart_5_2_2[5][5] = {
    /* Outcast */ {"--", "Admin or owner removes ban", "Admin or owner adds user to member list",
                   "Owner adds user to admin list", "Owner adds user to owner list"},
    /* None */ {"Admin or owner applies ban", "--",
                "Admin or owner adds user to member list, or user registers as member (if allowed)",
                "Owner adds user to admin list", "Owner adds user to owner list"},
    /* Member */ {"Admin or owner applies ban", "Admin or owner changes affiliation to \"none\"", "--",
                  "Owner adds user to admin list", "Owner adds user to owner list"},
    /* Admin */ {"Owner applies ban", "Owner changes affiliation to \"none\"",
                 "Owner changes affiliation to \"member\"", "--", "Owner adds user to owner list"},
    /* Owner */ {"Owner applies ban", "Owner changes affiliation to \"none\"",
                 "Owner changes affiliation to \"member\"", "Owner changes affiliation to \"admin\"", "--"},
};

START_TEST(affiliation_changes_follow_5_2_2_in_every_cell)
{
    for (int from = 0; from < 5; from++)
        for (int to = 0; to < 5; to++) {
            const char *cell = chart_5_2_2[from][to];
            if (strcmp(cell, "--") == 0)
                continue;
            int admin_may = strncmp(cell, "Admin or owner", 14) == 0;
            ck_assert(admin_may || strncmp(cell, "Owner", 5) == 0);
            enum muc_affil o = affil_col[from], n = affil_col[to];
            ck_assert_msg(muc_may_set_affil(AFFIL_OWNER, o, n) == OK, "owner, %s", cell);
            int got = muc_may_set_affil(AFFIL_ADMIN, o, n);
            ck_assert_msg(admin_may ? got == OK : got < 0, "admin, %s>%s \"%s\": got %s", affil_word[o],
                          affil_word[n], cell, rc_name(got));
            /* §9 intro: anyone else is not an admin: forbidden */
            for (int a = 0; a < 3; a++)
                ck_assert_int_eq(muc_may_set_affil(affil_col[a], o, n), FORBIDDEN);
        }
}
END_TEST

/* The exact refusal for each cell an admin may not change. */
static const struct {
    const char *xep;
    enum muc_affil actor, from, to;
    int want;
} affil_rows[] = {
    {"§9.1 an admin attempts to ban an owner", A_ADM, A_OWN, AFFIL_OUTCAST, NOT_ALLOWED},
    {"§9.1/§9.2 an admin attempts to ban an admin", A_ADM, A_ADM, AFFIL_OUTCAST, NOT_ALLOWED},
    {"§10.4 revoking owner status, not an owner", A_ADM, A_OWN, A_NONE, FORBIDDEN},
    {"§10.4 revoking owner status, not an owner", A_ADM, A_OWN, A_MEM, FORBIDDEN},
    {"§10.4/§10.6 owner to admin, not an owner", A_ADM, A_OWN, A_ADM, FORBIDDEN},
    {"§10.7 revoking admin status, not an owner", A_ADM, A_ADM, A_NONE, FORBIDDEN},
    {"§10.7 revoking admin status, not an owner", A_ADM, A_ADM, A_MEM, FORBIDDEN},
    {"§10.3 granting owner status, not an owner", A_ADM, A_ADM, A_OWN, FORBIDDEN},
    {"§10.6 granting admin status, not an owner", A_ADM, AFFIL_OUTCAST, A_ADM, FORBIDDEN},
    {"§10.6 granting admin status, not an owner", A_ADM, A_NONE, A_ADM, FORBIDDEN},
    {"§10.6 granting admin status, not an owner", A_ADM, A_MEM, A_ADM, FORBIDDEN},
    {"§10.3 granting owner status, not an owner", A_ADM, AFFIL_OUTCAST, A_OWN, FORBIDDEN},
    {"§10.3 granting owner status, not an owner", A_ADM, A_NONE, A_OWN, FORBIDDEN},
    {"§10.3 granting owner status, not an owner", A_ADM, A_MEM, A_OWN, FORBIDDEN},
    {"§9.1 a member may not ban", A_MEM, A_NONE, AFFIL_OUTCAST, FORBIDDEN},
    {"§9.3 an unaffiliated user may not grant membership", A_NONE, A_NONE, A_MEM, FORBIDDEN},
    {"§9.1 an admin bans a member", A_ADM, A_MEM, AFFIL_OUTCAST, OK},
    {"§9.2 an admin removes a ban", A_ADM, AFFIL_OUTCAST, A_NONE, OK},
    {"§9.3 an admin grants membership", A_ADM, A_NONE, A_MEM, OK},
    {"§9.4 an admin revokes membership", A_ADM, A_MEM, A_NONE, OK},
    {"§10.7 an owner revokes admin status", A_OWN, A_ADM, A_MEM, OK},
    {"§10.4 an owner revokes owner status (last owner: caller)", A_OWN, A_OWN, A_NONE, OK},
    {"§10.3 an owner grants owner status", A_OWN, A_MEM, A_OWN, OK},
    {"§9.1 an owner bans an admin", A_OWN, A_ADM, AFFIL_OUTCAST, OK},
};

START_TEST(affiliation_refusals_carry_the_xeps_error)
{
    for (size_t i = 0; i < sizeof affil_rows / sizeof affil_rows[0]; i++) {
        int got = muc_may_set_affil(affil_rows[i].actor, affil_rows[i].from, affil_rows[i].to);
        ck_assert_msg(got == affil_rows[i].want, "\"%s\": want %s, got %s", affil_rows[i].xep,
                      rc_name(affil_rows[i].want), rc_name(got));
    }
}
END_TEST

/* --- reading lists: §8.5, §9.2, §9.5, §9.8, §10.5, §10.8 ------------------ */

START_TEST(list_reads_belong_to_who_edits_them)
{
    static const struct {
        const char *xep;
        enum muc_affil actor, list;
        int non_anonymous, want;
    } arows[] = {
        {"§9.2 ban list, admin", A_ADM, AFFIL_OUTCAST, 0, OK},
        {"§9.2 ban list, owner", A_OWN, AFFIL_OUTCAST, 0, OK},
        {"§9.2 ban list, member", A_MEM, AFFIL_OUTCAST, 1, FORBIDDEN},
        {"§9.5 member list, admin", A_ADM, A_MEM, 0, OK},
        {"§5.2.1 *** member list, member, semi-anonymous", A_MEM, A_MEM, 0, FORBIDDEN},
        {"§9.5 note member list, member, non-anonymous", A_MEM, A_MEM, 1, OK},
        {"§5.2.1 member list, unaffiliated", A_NONE, A_MEM, 1, FORBIDDEN},
        {"§5.2.1 member list, outcast", AFFIL_OUTCAST, A_MEM, 1, FORBIDDEN},
        {"§10.8 admin list, owner", A_OWN, A_ADM, 0, OK},
        {"§10.8 admin list, admin", A_ADM, A_ADM, 0, FORBIDDEN},
        {"§10.5 owner list, owner", A_OWN, A_OWN, 0, OK},
        {"§10.5 owner list, admin", A_ADM, A_OWN, 0, FORBIDDEN},
        {"§5.2 there is no none list", A_OWN, A_NONE, 0, BAD_REQUEST},
    };
    for (size_t i = 0; i < sizeof arows / sizeof arows[0]; i++) {
        int got = muc_may_read_affil_list(arows[i].actor, arows[i].list, arows[i].non_anonymous);
        ck_assert_msg(got == arows[i].want, "\"%s\": want %s, got %s", arows[i].xep, rc_name(arows[i].want),
                      rc_name(got));
    }
    static const struct {
        const char *xep;
        enum muc_affil aa;
        enum muc_role ar, list;
        int want;
    } rrows[] = {
        {"§8.5 voice list, moderator", A_NONE, R_MOD, R_PAR, OK},
        {"§8.5 voice list, participant", A_MEM, R_PAR, R_PAR, FORBIDDEN},
        {"§8.5 visitor list, moderator", A_NONE, R_MOD, R_VIS, OK},
        {"§8.5 visitor list, visitor", A_NONE, R_VIS, R_VIS, FORBIDDEN},
        {"§9.8 moderator list, admin", A_ADM, R_MOD, R_MOD, OK},
        {"§9.8 moderator list, owner out of the room", A_OWN, R_NONE, R_MOD, OK},
        {"§9.8 moderator list, a moderator who is a member", A_MEM, R_MOD, R_MOD, FORBIDDEN},
        {"no role none list", A_OWN, R_MOD, R_NONE, BAD_REQUEST},
    };
    for (size_t i = 0; i < sizeof rrows / sizeof rrows[0]; i++) {
        int got = muc_may_read_role_list(rrows[i].aa, rrows[i].ar, rrows[i].list);
        ck_assert_msg(got == rrows[i].want, "\"%s\": want %s, got %s", rrows[i].xep, rc_name(rrows[i].want),
                      rc_name(got));
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("muc_perm");
    TCase *t = tcase_create("xep0045_tables");
    tcase_add_test(t, role_privileges_match_5_1_1_in_every_cell);
    tcase_add_test(t, starred_role_cells_follow_room_configuration);
    tcase_add_test(t, invitations_in_members_only_rooms_are_the_admins);
    tcase_add_test(t, affiliation_privileges_match_5_2_1_in_every_cell);
    tcase_add_test(t, entry_roles_match_5_1_2_in_every_cell);
    tcase_add_test(t, role_changes_follow_5_1_3_and_sections_8_9);
    tcase_add_test(t, affiliation_changes_follow_5_2_2_in_every_cell);
    tcase_add_test(t, affiliation_refusals_carry_the_xeps_error);
    tcase_add_test(t, list_reads_belong_to_who_edits_them);
    suite_add_tcase(s, t);
    return run_suite(s);
}
