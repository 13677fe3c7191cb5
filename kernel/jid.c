/* jid: see jid.h. RFC 6122 §2: split a JID into its three parts, then run
 * each through its stringprep profile (GNU libidn) and check the result.
 *
 * Why stringprep and not PRECIS (RFC 7622), and the exact checks, are in
 * doc/jid.md. In short: identity must agree with Prosody and ejabberd,
 * which still compare JIDs with these profiles.
 *
 * libidn also rejects malformed UTF-8 (overlong forms, surrogates, code
 * points past U+10FFFF, cut sequences) before any profile runs, so every
 * prepared part is valid UTF-8; tests/unit/test_jid.c holds it to that. */
#include "kernel/jid.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idna.h>
#include <stringprep.h>

#include "kernel/err.h"

/* A part longer than this before preparation is refused without running
 * stringprep, which bounds its work. Preparation can shrink text
 * (characters mapped to nothing, NFKC), and RFC 7622 §3.1 counts the 1023
 * bytes after it, so four times the limit leaves room for honest input. */
#define JID_RAW_PART_MAX (4 * JID_PART_MAX)

/* RFC 1035 §2.3.4: a DNS label, here the ASCII (ToASCII) form, is at most
 * 63 octets. */
#define JID_LABEL_MAX 63

/* The common case, printable ASCII without spaces (0x21..0x7e), gives
 * the same result as the profiles without libidn, which every handler
 * would otherwise run on every address of every stanza: no character in
 * that range is mapped to nothing, NFKC leaves it alone, none is
 * bidirectional; Nodeprep and Nameprep fold A-Z to a-z (B.2), and
 * Nodeprep prohibits " & ' / : < > @ (RFC 6122 App. A.5). Resourceprep
 * changes nothing there. Spaces, controls and anything non-ASCII take
 * the full path; tests/unit/test_jid.c compares both on every such byte.
 * Returns 1 when it handled the part (0 or -ERR_JID in *rc). */
static int prep_ascii(const char *in, size_t n, const Stringprep_profile *profile,
                      char out[JID_PART_MAX + 1], int *rc)
{
    bool fold = profile != stringprep_xmpp_resourceprep;
    bool node = profile == stringprep_xmpp_nodeprep;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)in[i] < 0x21 || (unsigned char)in[i] > 0x7e)
            return 0;
    if (n > JID_PART_MAX) {
        *rc = -ERR_JID;
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (node && strchr("\"&'/:<>@", c)) {
            out[0] = '\0';
            *rc = -ERR_JID;
            return 1;
        }
        out[i] = (fold && c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out[n] = '\0';
    *rc = 0;
    return 1;
}

/* Runs one stringprep profile over in[0..n) into out. Query semantics
 * (unassigned code points allowed), as Prosody's jid.prep uses. */
static int prep_part(const char *in, size_t n, const Stringprep_profile *profile,
                     char out[JID_PART_MAX + 1])
{
    char tmp[JID_RAW_PART_MAX + 1];
    out[0] = '\0';
    if (n == 0 || n > JID_RAW_PART_MAX)
        return -ERR_JID;
    int rc;
    if (prep_ascii(in, n, profile, out, &rc))
        return rc;
    memcpy(tmp, in, n);
    tmp[n] = '\0';
    if (stringprep(tmp, sizeof tmp, 0, profile) != STRINGPREP_OK)
        return -ERR_JID;
    size_t len = strlen(tmp);
    if (len == 0 || len > JID_PART_MAX) /* all mapped to nothing, or too long */
        return -ERR_JID;
    memcpy(out, tmp, len + 1);
    return 0;
}

/* STD 3 host name rule (RFC 1123 §2.1): letters, digits, hyphen, not
 * starting or ending with a hyphen. Dotted IPv4 literals pass it too. */
static bool label_is_ldh(const char *p, size_t n)
{
    if (n == 0 || n > JID_LABEL_MAX || p[0] == '-' || p[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* An internationalised label must survive IDNA2003 ToASCII with the STD 3
 * rules on (RFC 6122 §2.2), which itself checks the LDH rule and that the
 * "xn--" form has 1 to 63 octets (RFC 3490 §4.1 steps 3 and 8). */
static bool label_is_valid(const char *p, size_t n)
{
    bool ascii = true;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] >= 0x80)
            ascii = false;
    if (ascii)
        return label_is_ldh(p, n);
    char label[JID_PART_MAX + 1];
    assert(n <= JID_PART_MAX);
    memcpy(label, p, n);
    label[n] = '\0';
    char *ace = NULL;
    int rc = idna_to_ascii_8z(label, &ace, IDNA_ALLOW_UNASSIGNED | IDNA_USE_STD3_ASCII_RULES);
    free(ace); /* libidn allocates with malloc */
    return rc == IDNA_SUCCESS;
}

/* RFC 6122 §2.2: "[" IPv6 "]" (RFC 3986 IP-literal without IPvFuture). */
static bool is_ipv6_literal(const char *d, size_t n)
{
    char addr[INET6_ADDRSTRLEN];
    struct in6_addr a;
    if (n < 3 || d[0] != '[' || d[n - 1] != ']' || n - 2 >= sizeof addr)
        return false;
    memcpy(addr, d + 1, n - 2);
    addr[n - 2] = '\0';
    return inet_pton(AF_INET6, addr, &a) == 1;
}

static bool domain_is_valid(const char *d)
{
    size_t n = strlen(d);
    if (d[0] == '[')
        return is_ipv6_literal(d, n);
    for (const char *p = d;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (!label_is_valid(p, len))
            return false; /* also catches empty labels: "a..b", ".a" */
        if (!dot)
            return true;
        p = dot + 1;
    }
}

/* IDNA2003 §3.1 counts U+3002, U+FF0E and U+FF61 as label separators;
 * RFC 6122 §2.2 wants the trailing one stripped before Nameprep, so they
 * become '.' first. Works in place: each is 3 bytes and becomes 1. */
static void map_dots(char *s)
{
    static const char *const dots[] = {"\xe3\x80\x82", "\xef\xbc\x8e", "\xef\xbd\xa1"};
    char *w = s;
    for (const char *r = s; *r;) {
        bool dot = false;
        for (size_t i = 0; i < sizeof dots / sizeof dots[0]; i++)
            if (strncmp(r, dots[i], 3) == 0)
                dot = true;
        *w++ = dot ? '.' : *r;
        r += dot ? 3 : 1;
    }
    *w = '\0';
}

static int prep_domain(const char *in, size_t n, char out[JID_PART_MAX + 1])
{
    char tmp[JID_RAW_PART_MAX + 1];
    out[0] = '\0';
    if (n == 0 || n > JID_RAW_PART_MAX)
        return -ERR_JID;
    memcpy(tmp, in, n);
    tmp[n] = '\0';
    map_dots(tmp);
    size_t len = strlen(tmp);
    if (len > 0 && tmp[len - 1] == '.')
        tmp[len - 1] = '\0'; /* one only: "example.com.." stays invalid */
    int rc = prep_part(tmp, strlen(tmp), stringprep_nameprep, out);
    if (rc == 0 && !domain_is_valid(out)) {
        out[0] = '\0';
        rc = -ERR_JID;
    }
    return rc;
}

int jid_nodeprep(const char *in, char *out)
{
    return prep_part(in, strlen(in), stringprep_xmpp_nodeprep, out);
}

int jid_nameprep(const char *in, char *out) { return prep_domain(in, strlen(in), out); }

int jid_resourceprep(const char *in, char *out)
{
    return prep_part(in, strlen(in), stringprep_xmpp_resourceprep, out);
}

/* RFC 6122 §2.1: the resource is everything after the first '/', so it may
 * hold '@' and '/'; the local part ends at the first '@' before that. */
int jid_parse(struct jid *out /* OUT */, const char *s)
{
    memset(out, 0, sizeof *out);
    size_t n = strlen(s);
    const char *slash = memchr(s, '/', n);
    size_t head = slash ? (size_t)(slash - s) : n;
    const char *at = memchr(s, '@', head);
    const char *dom = at ? at + 1 : s;
    int rc = 0;
    if (at)
        rc = prep_part(s, (size_t)(at - s), stringprep_xmpp_nodeprep, out->local);
    if (rc == 0)
        rc = prep_domain(dom, (size_t)(s + head - dom), out->domain);
    if (rc == 0 && slash)
        rc = prep_part(slash + 1, n - head - 1, stringprep_xmpp_resourceprep, out->resource);
    if (rc)
        memset(out, 0, sizeof *out);
    return rc;
}

void jid_bare(const struct jid *j, char out[JID_MAX])
{
    assert(j->domain[0] != '\0');
    if (j->local[0])
        snprintf(out, JID_MAX, "%s@%s", j->local, j->domain);
    else
        snprintf(out, JID_MAX, "%s", j->domain);
}

void jid_full(const struct jid *j, char out[JID_MAX])
{
    jid_bare(j, out);
    if (j->resource[0]) {
        size_t len = strlen(out);
        snprintf(out + len, JID_MAX - len, "/%s", j->resource);
    }
}

int jid_normalize(const char *s, char out[JID_MAX])
{
    struct jid j;
    int rc = jid_parse(&j, s);
    out[0] = '\0';
    if (rc == 0)
        jid_full(&j, out);
    return rc;
}
