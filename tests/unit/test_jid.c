/* test_jid: kernel/jid.c — the valid and invalid examples of RFC 7622
 * §3.5 judged under the RFC 6122 stringprep profiles we implement (where
 * the two RFCs differ the test says so), the RFC 6122 §2.1 split rules,
 * case folding and other mappings, domain label and IP literal rules, the
 * 1023-byte limits counted after preparation, and malformed UTF-8. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stringprep.h>

#include "kernel/err.h"
#include "kernel/jid.h"
#include "fixture.h"

/* Normalises s and checks the full form. */
static void expect_norm(const char *s, const char *want)
{
    char out[JID_MAX];
    int rc = jid_normalize(s, out);
    ck_assert_msg(rc == 0, "'%s' rejected (%d)", s, rc);
    ck_assert_str_eq(out, want);
}

static void expect_bad(const char *s)
{
    char out[JID_MAX];
    int rc = jid_normalize(s, out);
    ck_assert_msg(rc == -ERR_JID, "'%s' accepted as '%s'", s, rc == 0 ? out : "");
    ck_assert_str_eq(out, "");
}

/* Returns a malloc'd string of n copies of c. */
static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* Writes "x@" and n distinct CJK ideographs (U+4E00 + 900 i, 3 octets
 * each in UTF-8) then ".example" to out; returns out. */
static char *cjk_label(char out[128], int n)
{
    char *w = out + 2;
    ck_assert_int_le(n, 30);
    memcpy(out, "x@", 2);
    for (int i = 0; i < n; i++) {
        unsigned cp = 0x4E00 + 900u * (unsigned)i;
        *w++ = (char)(0xE0 | (cp >> 12));
        *w++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *w++ = (char)(0x80 | (cp & 0x3F));
    }
    strcpy(w, ".example");
    return out;
}

START_TEST(rfc7622_valid_examples_are_accepted)
{
    expect_norm("juliet@example.com", "juliet@example.com");
    expect_norm("juliet@example.com/foo", "juliet@example.com/foo");
    expect_norm("juliet@example.com/foo bar", "juliet@example.com/foo bar");
    expect_norm("juliet@example.com/foo@bar", "juliet@example.com/foo@bar");
    expect_norm("foo\\20bar@example.com", "foo\\20bar@example.com");
    expect_norm("fussball@example.com", "fussball@example.com");
    expect_norm("\xcf\x80@example.com", "\xcf\x80@example.com");             /* π */
    expect_norm("king@example.com/\xe2\x99\x9a", "king@example.com/\xe2\x99\x9a"); /* ♚ */
    expect_norm("example.com", "example.com");
    expect_norm("example.com/foobar", "example.com/foobar");
    expect_norm("a.example.com/b@example.net", "a.example.com/b@example.net");
}
END_TEST

/* Nodeprep case-folds with table B.2, which maps ß to "ss" and every sigma
 * to σ; RFC 7622 keeps ß and the three sigmas apart. We follow 6122. */
START_TEST(nodeprep_folds_eszett_and_sigmas)
{
    expect_norm("fu\xc3\x9f" "ball@example.com", "fussball@example.com");
    expect_norm("\xce\xa3@example.com/foo", "\xcf\x83@example.com/foo"); /* Σ */
    expect_norm("\xcf\x83@example.com/foo", "\xcf\x83@example.com/foo"); /* σ */
    expect_norm("\xcf\x82@example.com/foo", "\xcf\x83@example.com/foo"); /* ς */
}
END_TEST

START_TEST(local_and_domain_fold_case_resource_keeps_it)
{
    expect_norm("Juliet@Example.COM/Balcony", "juliet@example.com/Balcony");
    struct jid j;
    ck_assert_int_eq(jid_parse(&j, "Juliet@Example.COM/Balcony"), 0);
    ck_assert_str_eq(j.local, "juliet");
    ck_assert_str_eq(j.domain, "example.com");
    ck_assert_str_eq(j.resource, "Balcony");
}
END_TEST

/* RFC 7622 §3.5.2 lists these as invalid. Under RFC 6122 two of them are
 * valid and stay so here, for agreement with Prosody and ejabberd. */
START_TEST(rfc7622_invalid_examples)
{
    expect_bad("\"juliet\"@example.com");
    expect_bad("foo bar@example.com");
    expect_bad("@example.com/");
    expect_bad("juliet@");
    expect_bad("/foobar");
    /* Valid under 6122: Resourceprep allows a leading space, and NFKC maps
     * the Roman numeral Ⅳ to "IV", which Nodeprep then folds. */
    expect_norm("juliet@example.com/ foo", "juliet@example.com/ foo");
    expect_norm("henry\xe2\x85\xa3@example.com", "henryiv@example.com");
}
END_TEST

START_TEST(nodeprep_prohibited_characters_are_refused)
{
    static const char *const bad[] = {
        "foo bar@example.com", "a<b@example.com", "a>b@example.com", "a&b@example.com",
        "a'b@example.com",     "a:b@example.com", "a\"b@example.com",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_bad(bad[i]);
}
END_TEST

START_TEST(empty_parts_are_refused)
{
    expect_bad("");
    expect_bad("@example.com");
    expect_bad("juliet@");
    expect_bad("example.com/");
    expect_bad("juliet@example.com/");
    expect_bad("@");
    expect_bad("/");
    expect_bad("@/");
    /* Soft hyphen is mapped to nothing: a local part of only that is empty
     * after preparation. */
    expect_bad("\xc2\xad@example.com");
}
END_TEST

/* RFC 6122 §2.1: local part = before the first '@' of what precedes the
 * first '/'; so a second '@' lands in the domain and fails there. */
START_TEST(split_follows_first_slash_then_first_at)
{
    expect_bad("juliet@@example.com");
    expect_bad("a@b@example.com");
    struct jid j;
    ck_assert_int_eq(jid_parse(&j, "example.com/a@b/c"), 0);
    ck_assert_str_eq(j.local, "");
    ck_assert_str_eq(j.domain, "example.com");
    ck_assert_str_eq(j.resource, "a@b/c");
    ck_assert_int_eq(jid_parse(&j, "x@example.com//"), 0);
    ck_assert_str_eq(j.resource, "/");
}
END_TEST

START_TEST(domain_labels_are_checked)
{
    expect_bad("juliet@exa_mple.com");
    expect_bad("juliet@-example.com");
    expect_bad("juliet@example-.com");
    expect_bad("juliet@example..com");
    expect_bad("juliet@.example.com");
    expect_bad("juliet@exa mple.com");
    expect_bad("juliet@example.com..");
    expect_bad("juliet@.");
    char *label = repeat('a', 63);
    char jid[128];
    snprintf(jid, sizeof jid, "x@%s.com", label);
    expect_norm(jid, jid);
    free(label);
    label = repeat('a', 64);
    snprintf(jid, sizeof jid, "x@%s.com", label);
    expect_bad(jid);
    free(label);
}
END_TEST

START_TEST(domain_trailing_dot_is_stripped)
{
    expect_norm("juliet@example.com./r", "juliet@example.com/r");
    expect_norm("example.com.", "example.com");
    /* U+3002 IDEOGRAPHIC FULL STOP separates labels too (IDNA2003 §3.1). */
    expect_norm("juliet@example\xe3\x80\x82" "com\xe3\x80\x82", "juliet@example.com");
}
END_TEST

START_TEST(internationalised_domains_pass_toascii)
{
    expect_norm("juliet@B\xc3\xbc" "cher.example", "juliet@b\xc3\xbc" "cher.example");
    expect_norm("juliet@xn--bcher-kva.example", "juliet@xn--bcher-kva.example");
    /* IDNA2003 allows symbols (IDNA2008 would not): ♚ is "xn--r8h". */
    expect_norm("juliet@\xe2\x99\x9a.example", "juliet@\xe2\x99\x9a.example");
    /* STD 3 rules still apply to the ASCII characters of such a label. */
    expect_bad("juliet@b\xc3\xbc_cher.example");
    /* Nameprep's bidi rule: a label mixing Hebrew and Latin letters. */
    expect_bad("juliet@\xd7\x90" "a.example");
    /* n CJK ideographs are 3n octets here and longer after ToASCII: 10 fit
     * in a label, 21 (63 octets) give a 67-octet ASCII form. */
    char dom[128];
    expect_norm(cjk_label(dom, 10), dom); /* Nameprep leaves these alone */
    expect_bad(cjk_label(dom, 21));
}
END_TEST

START_TEST(ip_literals_are_accepted)
{
    expect_norm("juliet@192.0.2.1/r", "juliet@192.0.2.1/r");
    expect_norm("juliet@[::1]/r", "juliet@[::1]/r");
    expect_norm("juliet@[2001:DB8::1]", "juliet@[2001:db8::1]");
    expect_bad("juliet@[::1");
    expect_bad("juliet@::1");
    expect_bad("juliet@[example.com]");
    expect_bad("juliet@[]");
    expect_bad("juliet@[::1]x");
}
END_TEST

START_TEST(parts_are_limited_to_1023_bytes)
{
    char *ok = repeat('a', JID_PART_MAX);
    char *big = repeat('a', JID_PART_MAX + 1);
    char *s = malloc(2 * JID_MAX);
    char out[JID_MAX];
    ck_assert_ptr_nonnull(s);

    strcpy(s, ok);
    strcat(s, "@example.com/");
    strcat(s, ok);
    expect_norm(s, s);
    strcpy(s, big);
    strcat(s, "@example.com");
    expect_bad(s);
    strcpy(s, "juliet@example.com/");
    strcat(s, big);
    expect_bad(s);

    /* 16 labels of 63 octets and 15 dots: exactly 1023; one more is too much. */
    char *label = repeat('b', 63);
    strcpy(s, label);
    for (int i = 1; i < 16; i++) {
        strcat(s, ".");
        strcat(s, label);
    }
    ck_assert_uint_eq(strlen(s), JID_PART_MAX);
    ck_assert_int_eq(jid_normalize(s, out), 0);
    strcat(s, ".c");
    expect_bad(s);

    free(label);
    free(s);
    free(ok);
    free(big);
}
END_TEST

/* The limit applies after preparation: mapped-to-nothing characters do
 * not count, but input far past any honest size is refused outright. */
START_TEST(limit_counts_prepared_bytes)
{
    char *s = malloc(4096 * 2 + 32);
    ck_assert_ptr_nonnull(s);
    strcpy(s, "a");
    for (int i = 0; i < 600; i++)
        strcat(s, "\xc2\xad"); /* 1201 bytes raw */
    strcat(s, "@example.com");
    expect_norm(s, "a@example.com");

    strcpy(s, "a");
    for (int i = 0; i < 2100; i++)
        strcat(s, "\xc2\xad"); /* 4201 bytes raw: refused before preparation */
    strcat(s, "@example.com");
    expect_bad(s);
    free(s);
}
END_TEST

START_TEST(invalid_utf8_is_refused)
{
    static const char *const bad[] = {
        "\xc3@example.com",                    /* cut sequence */
        "\x80@example.com",                    /* lone continuation byte */
        "\xc0\xaf@example.com",                /* overlong '/' */
        "\xed\xa0\x80@example.com",            /* UTF-16 surrogate */
        "\xf4\x90\x80\x80@example.com",        /* past U+10FFFF */
        "juliet@exam\xffple.com",              /* 0xFF never occurs */
        "juliet@example.com/\xe2\x82",         /* cut in the resource */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_bad(bad[i]);
}
END_TEST

START_TEST(control_characters_are_refused)
{
    expect_bad("a\x01" "b@example.com");
    expect_bad("juliet@example.com/a\x7f");
    expect_bad("juliet@exa\x01mple.com");
}
END_TEST

START_TEST(bare_and_full_forms)
{
    struct jid j;
    char out[JID_MAX];
    ck_assert_int_eq(jid_parse(&j, "Juliet@Example.com/Balcony"), 0);
    jid_bare(&j, out);
    ck_assert_str_eq(out, "juliet@example.com");
    jid_full(&j, out);
    ck_assert_str_eq(out, "juliet@example.com/Balcony");
    ck_assert_int_eq(jid_parse(&j, "Example.com"), 0);
    jid_bare(&j, out);
    ck_assert_str_eq(out, "example.com");
    jid_full(&j, out);
    ck_assert_str_eq(out, "example.com");
    ck_assert_int_eq(jid_parse(&j, "example.com/r"), 0);
    jid_bare(&j, out);
    ck_assert_str_eq(out, "example.com");
}
END_TEST

START_TEST(failed_parse_leaves_empty_jid)
{
    struct jid j;
    memset(&j, 'x', sizeof j);
    ck_assert_int_eq(jid_parse(&j, "juliet@example.com/"), -ERR_JID);
    ck_assert_str_eq(j.local, "");
    ck_assert_str_eq(j.domain, "");
    ck_assert_str_eq(j.resource, "");
}
END_TEST

START_TEST(single_part_preparation)
{
    char out[JID_PART_MAX + 1];
    ck_assert_int_eq(jid_nodeprep("JuLiEt", out), 0);
    ck_assert_str_eq(out, "juliet");
    ck_assert_int_eq(jid_nodeprep("ju@liet", out), -ERR_JID);
    ck_assert_int_eq(jid_nodeprep("", out), -ERR_JID);
    ck_assert_int_eq(jid_nameprep("Example.COM.", out), 0);
    ck_assert_str_eq(out, "example.com");
    ck_assert_int_eq(jid_nameprep("example..com", out), -ERR_JID);
    ck_assert_int_eq(jid_resourceprep("Foo Bar", out), 0);
    ck_assert_str_eq(out, "Foo Bar");
    ck_assert_int_eq(jid_resourceprep("", out), -ERR_JID);
    ck_assert_int_eq(jid_resourceprep("\x01", out), -ERR_JID);
}
END_TEST

/* A JID already normalised normalises to itself. */
START_TEST(normalize_is_idempotent)
{
    static const char *const in[] = {
        "Juliet@Example.COM/Balcony", "fu\xc3\x9f" "ball@example.com", "henry\xe2\x85\xa3@example.com",
        "juliet@B\xc3\xbc" "cher.example.", "example.com/a@b/c",
    };
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        char once[JID_MAX], twice[JID_MAX];
        ck_assert_int_eq(jid_normalize(in[i], once), 0);
        ck_assert_int_eq(jid_normalize(once, twice), 0);
        ck_assert_str_eq(once, twice);
    }
}
END_TEST

/* What libidn itself makes of s with a profile: 0 and the result, or -1. */
static int libidn_prep(const char *s, const Stringprep_profile *profile, char *out, size_t cap)
{
    snprintf(out, cap, "%s", s);
    return stringprep(out, cap, 0, profile) == STRINGPREP_OK ? 0 : -1;
}

/* jid.c prepares printable ASCII itself, without libidn: it must agree
 * with libidn on every such byte in every position, and on random runs. */
static void agree(const char *s)
{
    char ours[JID_PART_MAX + 1], theirs[4 * JID_PART_MAX + 1];
    int rc = jid_nodeprep(s, ours);
    int ref = libidn_prep(s, stringprep_xmpp_nodeprep, theirs, sizeof theirs);
    ck_assert_msg((rc == 0) == (ref == 0) && (rc || strcmp(ours, theirs) == 0),
                  "nodeprep of '%s': ours %d '%s', libidn %d '%s'", s, rc, ours, ref, theirs);
    rc = jid_resourceprep(s, ours);
    ref = libidn_prep(s, stringprep_xmpp_resourceprep, theirs, sizeof theirs);
    ck_assert_msg((rc == 0) == (ref == 0) && (rc || strcmp(ours, theirs) == 0),
                  "resourceprep of '%s': ours %d '%s', libidn %d '%s'", s, rc, ours, ref, theirs);
    char dom[32]; /* RFC 6122 §2.2: jid.c strips one trailing dot first */
    snprintf(dom, sizeof dom, "%s", s);
    if (*dom && dom[strlen(dom) - 1] == '.')
        dom[strlen(dom) - 1] = '\0';
    ref = libidn_prep(dom, stringprep_nameprep, theirs, sizeof theirs);
    rc = jid_nameprep(s, ours);
    if (rc == 0) /* the domain also passes the STD 3 rules, which may refuse libidn's output */
        ck_assert_msg(ref == 0 && strcmp(ours, theirs) == 0,
                      "nameprep of '%s': ours '%s', libidn %d '%s'", s, ours, ref, theirs);
}

START_TEST(ascii_fast_path_agrees_with_libidn)
{
    char s[8];
    for (int c = 0x21; c <= 0x7e; c++) {
        snprintf(s, sizeof s, "%c", c);
        agree(s);
        snprintf(s, sizeof s, "aB%cz", c);
        agree(s);
        snprintf(s, sizeof s, "%cQ", c);
        agree(s);
    }
    unsigned seed = 12345;
    char r[24];
    for (int k = 0; k < 5000; k++) {
        size_t n = 1 + (seed = seed * 1103515245u + 12345u) % 20;
        for (size_t i = 0; i < n; i++)
            r[i] = (char)(0x21 + (seed = seed * 1103515245u + 12345u) % 94);
        r[n] = '\0';
        agree(r);
    }
}
END_TEST

static Suite *jid_suite(void)
{
    Suite *s = suite_create("jid");
    TCase *t = tcase_create("core");
    tcase_add_test(t, rfc7622_valid_examples_are_accepted);
    tcase_add_test(t, nodeprep_folds_eszett_and_sigmas);
    tcase_add_test(t, local_and_domain_fold_case_resource_keeps_it);
    tcase_add_test(t, rfc7622_invalid_examples);
    tcase_add_test(t, nodeprep_prohibited_characters_are_refused);
    tcase_add_test(t, empty_parts_are_refused);
    tcase_add_test(t, split_follows_first_slash_then_first_at);
    tcase_add_test(t, domain_labels_are_checked);
    tcase_add_test(t, domain_trailing_dot_is_stripped);
    tcase_add_test(t, internationalised_domains_pass_toascii);
    tcase_add_test(t, ip_literals_are_accepted);
    tcase_add_test(t, parts_are_limited_to_1023_bytes);
    tcase_add_test(t, limit_counts_prepared_bytes);
    tcase_add_test(t, invalid_utf8_is_refused);
    tcase_add_test(t, control_characters_are_refused);
    tcase_add_test(t, bare_and_full_forms);
    tcase_add_test(t, failed_parse_leaves_empty_jid);
    tcase_add_test(t, single_part_preparation);
    tcase_add_test(t, normalize_is_idempotent);
    tcase_add_test(t, ascii_fast_path_agrees_with_libidn);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(jid_suite());
}
