/* test_config: kernel/config.c — defaults, the INI file (every type, every
 * kind of bad line and the line it is reported on), --set and --config,
 * the cross-key rules of config_finish, config_print, and that
 * doc/configuration.md lists every key of CONFIG_TABLE in table order. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernel/config.h"
#include "kernel/err.h"
#include "fixture.h"

#define ERRLEN 512

static const char *const table_keys[] = {
#define X(field, type, def, allowed, doc) #field,
    CONFIG_TABLE(X)
#undef X
};
enum { TABLE_KEYS_N = sizeof table_keys / sizeof table_keys[0] };

/* Writes text to a new temporary file; the caller unlinks `path`. */
static void write_temp(char path[64], const char *text)
{
    strcpy(path, "/tmp/test_config_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    size_t n = strlen(text);
    ck_assert_int_eq(write(fd, text, n), (ssize_t)n);
    close(fd);
}

/* Loads text as a config file over c; err gets the message. */
static int load_text(struct config *c, const char *text, char err[ERRLEN])
{
    char path[64];
    write_temp(path, text);
    err[0] = '\0';
    int rc = config_load_file(c, path, err, ERRLEN);
    unlink(path);
    if (rc < 0)
        ck_assert_msg(strncmp(err, path, strlen(path)) == 0, "error does not name the file: %s", err);
    return rc;
}

START_TEST(defaults_match_the_table)
{
    struct config c;
    config_defaults(&c);
    ck_assert_str_eq(c.domain, "localhost");
    ck_assert_str_eq(c.data_dir, "./var");
    ck_assert_str_eq(c.listen_addr, "0.0.0.0");
    ck_assert_uint_eq(c.c2s_port, 5222);
    ck_assert_uint_eq(c.c2s_tls_port, 5223);
    ck_assert_uint_eq(c.s2s_port, 5269);
    ck_assert_str_eq(c.tls_cert, "");
    ck_assert_str_eq(c.tls_key, "");
    ck_assert_uint_eq(c.scram_iterations, 4096);
    ck_assert_uint_eq(c.journal_segment_bytes, 67108864);
    ck_assert_str_eq(c.journal_key_command, "");
    ck_assert_int_eq(c.registration, REG_LOOPBACK);
    ck_assert_int_eq(c.journal_sync, SYNC_BATCH);
    ck_assert_int_eq(c.log_level, LOG_INFO);
    config_free(&c);
    ck_assert_ptr_null(c.domain);
}
END_TEST

START_TEST(enum_constants_follow_the_allowed_lists)
{
    static const struct {
        const char *set;
        int want;
        size_t off;
    } cases[] = {
        {"registration=open", REG_OPEN, offsetof(struct config, registration)},
        {"registration=closed", REG_CLOSED, offsetof(struct config, registration)},
        {"registration=loopback", REG_LOOPBACK, offsetof(struct config, registration)},
        {"journal_sync=always", SYNC_ALWAYS, offsetof(struct config, journal_sync)},
        {"journal_sync=batch", SYNC_BATCH, offsetof(struct config, journal_sync)},
        {"journal_sync=none", SYNC_NONE, offsetof(struct config, journal_sync)},
        {"log_level=debug", LOG_DEBUG, offsetof(struct config, log_level)},
        {"log_level=info", LOG_INFO, offsetof(struct config, log_level)},
        {"log_level=warn", LOG_WARN, offsetof(struct config, log_level)},
        {"log_level=error", LOG_ERROR, offsetof(struct config, log_level)},
    };
    struct config c;
    char err[ERRLEN];
    config_defaults(&c);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_int_eq(config_set(&c, cases[i].set, err, sizeof err), 0);
        ck_assert_int_eq(*(int *)((char *)&c + cases[i].off), cases[i].want);
    }
    config_free(&c);
}
END_TEST

START_TEST(file_sets_every_type_with_comments_and_section)
{
    struct config c;
    char err[ERRLEN];
    config_defaults(&c);
    const char *text = "\xEF\xBB\xBF# stanzad.conf\n"
                       "; another comment\n"
                       "\n"
                       "[server]\n"
                       "domain = Example.ORG\n"
                       "  data_dir=/srv/stanzad   ; inline comment\n"
                       "listen_addr = ::\n"
                       "c2s_port = 15222\n"
                       "tls_cert =\n"
                       "registration = open\n"
                       "journal_sync = ALWAYS\n"
                       "journal_segment_bytes = 4294967295\n"
                       "journal_key_command = cat /run/keys/stanzad ; a comment\n"
                       "log_level: debug\n";
    ck_assert_int_eq(load_text(&c, text, err), 0);
    ck_assert_str_eq(c.domain, "Example.ORG"); /* lower-cased by config_finish */
    ck_assert_str_eq(c.data_dir, "/srv/stanzad");
    ck_assert_str_eq(c.listen_addr, "::");
    ck_assert_uint_eq(c.c2s_port, 15222);
    ck_assert_uint_eq(c.c2s_tls_port, 5223);
    ck_assert_str_eq(c.tls_cert, "");
    ck_assert_int_eq(c.registration, REG_OPEN);
    ck_assert_int_eq(c.journal_sync, SYNC_ALWAYS);
    ck_assert_uint_eq(c.journal_segment_bytes, 4294967295u);
    ck_assert_str_eq(c.journal_key_command, "cat /run/keys/stanzad");
    ck_assert_int_eq(c.log_level, LOG_DEBUG);
    config_free(&c);
}
END_TEST

START_TEST(empty_file_changes_nothing)
{
    struct config c;
    char err[ERRLEN];
    config_defaults(&c);
    ck_assert_int_eq(load_text(&c, "", err), 0);
    ck_assert_int_eq(load_text(&c, "# only a comment\n\n", err), 0);
    ck_assert_str_eq(c.domain, "localhost");
    ck_assert_uint_eq(c.c2s_port, 5222);
    config_free(&c);
}
END_TEST

START_TEST(unknown_key_is_reported_with_its_line)
{
    struct config c;
    char err[ERRLEN];
    config_defaults(&c);
    ck_assert_int_eq(load_text(&c, "domain = a.example\n# comment\nc2s_prot = 1\n", err), -ERR_CONFIG);
    ck_assert_msg(strstr(err, ":3: ") != NULL, "%s", err);
    ck_assert_msg(strstr(err, "c2s_prot") != NULL, "%s", err);
    config_free(&c);
}
END_TEST

START_TEST(first_error_wins_whichever_kind_it_is)
{
    struct config c;
    char err[ERRLEN];
    config_defaults(&c);
    /* a bad value on line 2 before a line without '=' on line 4 */
    ck_assert_int_eq(load_text(&c, "\nc2s_port = x\n\nnonsense\n", err), -ERR_CONFIG);
    ck_assert_msg(strstr(err, ":2: c2s_port") != NULL, "%s", err);
    /* and the other way round */
    ck_assert_int_eq(load_text(&c, "\nnonsense\n\nc2s_port = x\n", err), -ERR_CONFIG);
    ck_assert_msg(strstr(err, ":2: expected") != NULL, "%s", err);
    /* a section header without its ']' */
    ck_assert_int_eq(load_text(&c, "domain = a\n[server\n", err), -ERR_CONFIG);
    ck_assert_msg(strstr(err, ":2: ") != NULL, "%s", err);
    config_free(&c);
}
END_TEST

START_TEST(bad_uint_is_refused_and_leaves_the_old_value)
{
    static const char *const bad[] = {"5x", "x", "-1", "+1", "0x10", "1 2", "1.0", "", "99999999999999999999999"};
    struct config c;
    char err[ERRLEN];
    config_defaults(&c);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "domain = b.example\nc2s_port = %s\n", bad[i]);
        ck_assert_msg(load_text(&c, text, err) == -ERR_CONFIG, "accepted \"%s\"", bad[i]);
        ck_assert_msg(strstr(err, ":2: c2s_port") != NULL, "%s", err);
        ck_assert_uint_eq(c.c2s_port, 5222);
    }
    ck_assert_str_eq(c.domain, "b.example"); /* lines before the error still apply */
    config_free(&c);
}
END_TEST

START_TEST(uint_range_is_inclusive_at_both_ends)
{
    struct config c;
    char err[ERRLEN];
    config_defaults(&c);
    ck_assert_int_eq(config_set(&c, "scram_iterations=4095", err, sizeof err), -ERR_CONFIG);
    ck_assert_msg(strstr(err, "4096..10000000") != NULL, "%s", err);
    ck_assert_int_eq(config_set(&c, "scram_iterations=10000001", err, sizeof err), -ERR_CONFIG);
    ck_assert_int_eq(config_set(&c, "c2s_port=65536", err, sizeof err), -ERR_CONFIG);
    ck_assert_uint_eq(c.c2s_port, 5222);
    ck_assert_int_eq(config_set(&c, "scram_iterations=10000000", err, sizeof err), 0);
    ck_assert_uint_eq(c.scram_iterations, 10000000);
    ck_assert_int_eq(config_set(&c, "c2s_port=65535", err, sizeof err), 0);
    ck_assert_uint_eq(c.c2s_port, 65535);
    ck_assert_int_eq(config_set(&c, "c2s_port=0", err, sizeof err), 0);
    ck_assert_uint_eq(c.c2s_port, 0);
    ck_assert_int_eq(config_set(&c, "c2s_port=007", err, sizeof err), 0);
    ck_assert_uint_eq(c.c2s_port, 7);
    config_free(&c);
}
END_TEST

START_TEST(out_of_range_in_file_names_the_range)
{
    struct config c;
    char err[ERRLEN];
    config_defaults(&c);
    ck_assert_int_eq(load_text(&c, "xml_depth_max = 3\n", err), -ERR_CONFIG);
    ck_assert_msg(strstr(err, ":1: xml_depth_max: 3 is out of range 4..60") != NULL, "%s", err);
    ck_assert_uint_eq(c.xml_depth_max, 32);
    config_free(&c);
}
END_TEST

START_TEST(bad_enum_lists_the_allowed_values)
{
    struct config c;
    char err[ERRLEN];
    config_defaults(&c);
    ck_assert_int_eq(load_text(&c, "registration = sometimes\n", err), -ERR_CONFIG);
    ck_assert_msg(strstr(err, ":1: registration") != NULL, "%s", err);
    ck_assert_msg(strstr(err, "open|closed|loopback") != NULL, "%s", err);
    ck_assert_int_eq(c.registration, REG_LOOPBACK);
    ck_assert_int_eq(config_set(&c, "registration=", err, sizeof err), -ERR_CONFIG);
    ck_assert_int_eq(config_set(&c, "registration=open|closed", err, sizeof err), -ERR_CONFIG);
    ck_assert_int_eq(config_set(&c, "registration=ope", err, sizeof err), -ERR_CONFIG);
    ck_assert_int_eq(c.registration, REG_LOOPBACK);
    config_free(&c);
}
END_TEST

/* No CFG_BOOL key exists yet, so the word list is checked directly. */
START_TEST(bool_words_and_bad_bools)
{
    static const char *const yes[] = {"yes", "true", "on", "1", "YES", "True"};
    static const char *const no[] = {"no", "false", "off", "0", "Off"};
    static const char *const bad[] = {"", "y", "n", "2", "yess", "enable", " yes", "01"};
    int v;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        v = -1;
        ck_assert_int_eq(config_parse_bool(yes[i], &v), 0);
        ck_assert_int_eq(v, 1);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        v = -1;
        ck_assert_int_eq(config_parse_bool(no[i], &v), 0);
        ck_assert_int_eq(v, 0);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = -1;
        ck_assert_msg(config_parse_bool(bad[i], &v) == -ERR_CONFIG, "accepted \"%s\"", bad[i]);
        ck_assert_int_eq(v, -1);
    }
}
END_TEST

START_TEST(only_the_server_section_is_accepted)
{
    struct config c;
    char err[ERRLEN];
    config_defaults(&c);
    ck_assert_int_eq(load_text(&c, "[Server]\nc2s_port = 1\n", err), 0);
    ck_assert_int_eq(load_text(&c, "c2s_port = 2\n[muc]\nc2s_port = 3\n", err), -ERR_CONFIG);
    ck_assert_msg(strstr(err, ":3: unknown section [muc]") != NULL, "%s", err);
    ck_assert_uint_eq(c.c2s_port, 2);
    config_free(&c);
}
END_TEST

START_TEST(key_set_twice_in_a_file_is_refused)
{
    struct config c;
    char err[ERRLEN];
    config_defaults(&c);
    ck_assert_int_eq(load_text(&c, "c2s_port = 1\n\nc2s_port = 2\n", err), -ERR_CONFIG);
    ck_assert_msg(strstr(err, ":3: c2s_port is set twice (first on line 1)") != NULL, "%s", err);
    config_free(&c);
}
END_TEST

/* inih (INI_ALLOW_MULTILINE) would take an indented line as more of the
 * previous value: domain would become "c2s_port = 1". */
START_TEST(indented_line_is_its_own_key_not_a_continuation)
{
    struct config c;
    char err[ERRLEN];
    config_defaults(&c);
    ck_assert_int_eq(load_text(&c, "domain = a.example\n  c2s_port = 1\n\tlog_level = warn\n", err), 0);
    ck_assert_str_eq(c.domain, "a.example");
    ck_assert_uint_eq(c.c2s_port, 1);
    ck_assert_int_eq(c.log_level, LOG_WARN);
    config_free(&c);
}
END_TEST

/* inih's 200-byte line buffer would apply the first part of the line. */
START_TEST(too_long_line_is_refused_not_cut)
{
    struct config c;
    char err[ERRLEN];
    char text[1024];
    char path[400];
    config_defaults(&c);
    memset(path, 'a', sizeof path - 1);
    path[sizeof path - 1] = '\0';
    snprintf(text, sizeof text, "domain = a.example\ntls_cert = /%s\nc2s_port = 1\n", path);
    ck_assert_int_eq(load_text(&c, text, err), -ERR_CONFIG);
    ck_assert_msg(strstr(err, ":2: line longer than") != NULL, "%s", err);
    ck_assert_str_eq(c.tls_cert, "");
    ck_assert_uint_eq(c.c2s_port, 1); /* and the count of lines stayed right */
    config_free(&c);
}
END_TEST

START_TEST(missing_file_is_an_error_naming_it)
{
    struct config c;
    char err[ERRLEN];
    config_defaults(&c);
    ck_assert_int_eq(config_load_file(&c, "/nonexistent/stanzad.conf", err, sizeof err), -ERR_CONFIG);
    ck_assert_msg(strstr(err, "/nonexistent/stanzad.conf") != NULL, "%s", err);
    ck_assert_int_eq(config_load_file(&c, "/tmp", err, sizeof err), -ERR_CONFIG);
    config_free(&c);
}
END_TEST

START_TEST(set_trims_and_checks_like_the_file)
{
    struct config c;
    char err[ERRLEN];
    config_defaults(&c);
    ck_assert_int_eq(config_set(&c, "  domain =  x.example  ", err, sizeof err), 0);
    ck_assert_str_eq(c.domain, "x.example");
    ck_assert_int_eq(config_set(&c, "listen_addr=a=b", err, sizeof err), 0);
    ck_assert_str_eq(c.listen_addr, "a=b");
    ck_assert_int_eq(config_set(&c, "domain", err, sizeof err), -ERR_CONFIG);
    ck_assert_msg(strstr(err, "key=value") != NULL, "%s", err);
    ck_assert_int_eq(config_set(&c, "nosuchkey=1", err, sizeof err), -ERR_CONFIG);
    ck_assert_msg(strstr(err, "nosuchkey") != NULL, "%s", err);
    ck_assert_int_eq(config_set(&c, "domain=a\nb", err, sizeof err), -ERR_CONFIG);
    ck_assert_int_eq(config_set(&c, "c2s_port=12345", NULL, 0), 0);
    ck_assert_uint_eq(c.c2s_port, 12345);
    ck_assert_str_eq(c.domain, "x.example");
    config_free(&c);
}
END_TEST

START_TEST(set_overrides_file_and_args_are_compacted)
{
    struct config c;
    char err[ERRLEN], path[64], opt[96];
    write_temp(path, "c2s_port = 1000\ns2s_port = 2000\n");
    snprintf(opt, sizeof opt, "--config=%s", path);
    char *argv[] = {"stanzad", "--set", "c2s_port=1001", "-v", opt, "--set=log_level=warn", "run", NULL};
    int rest = -1;
    config_defaults(&c);
    ck_assert_int_eq(config_from_args(&c, 7, argv, &rest, err, sizeof err), 0);
    unlink(path);
    ck_assert_uint_eq(c.c2s_port, 1001); /* --set beat the file although it came first */
    ck_assert_uint_eq(c.s2s_port, 2000);
    ck_assert_int_eq(c.log_level, LOG_WARN);
    ck_assert_int_eq(rest, 3);
    ck_assert_str_eq(argv[0], "stanzad");
    ck_assert_str_eq(argv[1], "-v");
    ck_assert_str_eq(argv[2], "run");
    ck_assert_ptr_null(argv[3]);
    config_free(&c);
}
END_TEST

START_TEST(config_after_set_still_loads_the_file_first)
{
    struct config c;
    char err[ERRLEN], path[64];
    write_temp(path, "domain = file.example\nc2s_port = 1000\n");
    char *argv[] = {"stanzad", "--set=domain=set.example", "--config", path, NULL};
    int rest = -1;
    config_defaults(&c);
    ck_assert_int_eq(config_from_args(&c, 4, argv, &rest, err, sizeof err), 0);
    unlink(path);
    ck_assert_str_eq(c.domain, "set.example");
    ck_assert_uint_eq(c.c2s_port, 1000);
    ck_assert_int_eq(rest, 1);
    ck_assert_ptr_null(argv[1]);
    config_free(&c);
}
END_TEST

START_TEST(sets_apply_in_order)
{
    struct config c;
    char err[ERRLEN];
    char *argv[] = {"stanzad", "--set", "c2s_port=1", "--set", "c2s_port=2", NULL};
    int rest;
    config_defaults(&c);
    ck_assert_int_eq(config_from_args(&c, 5, argv, &rest, err, sizeof err), 0);
    ck_assert_uint_eq(c.c2s_port, 2);
    ck_assert_int_eq(rest, 1);
    config_free(&c);
}
END_TEST

START_TEST(double_dash_ends_our_options)
{
    struct config c;
    char err[ERRLEN];
    char *argv[] = {"stanzad", "a", "--", "--set", "c2s_port=1", NULL};
    int rest;
    config_defaults(&c);
    ck_assert_int_eq(config_from_args(&c, 5, argv, &rest, err, sizeof err), 0);
    ck_assert_uint_eq(c.c2s_port, 5222);
    ck_assert_int_eq(rest, 5);
    ck_assert_str_eq(argv[3], "--set");
    config_free(&c);
}
END_TEST

START_TEST(bad_args_are_errors_and_leave_argv_alone)
{
    struct config c;
    char err[ERRLEN];
    int rest = -7;
    config_defaults(&c);
    char *a1[] = {"stanzad", "x", "--set", "c2s_port=abc", NULL};
    ck_assert_int_eq(config_from_args(&c, 4, a1, &rest, err, sizeof err), -ERR_CONFIG);
    ck_assert_msg(strncmp(err, "--set: c2s_port", 15) == 0, "%s", err);
    ck_assert_str_eq(a1[1], "x");
    ck_assert_str_eq(a1[2], "--set");
    ck_assert_int_eq(rest, -7);
    char *a2[] = {"stanzad", "--config", NULL};
    ck_assert_int_eq(config_from_args(&c, 2, a2, &rest, err, sizeof err), -ERR_CONFIG);
    ck_assert_msg(strstr(err, "--config") != NULL, "%s", err);
    char *a3[] = {"stanzad", "--set", NULL};
    ck_assert_int_eq(config_from_args(&c, 2, a3, &rest, err, sizeof err), -ERR_CONFIG);
    char *a4[] = {"stanzad", "--config=/a", "--config=/b", NULL};
    ck_assert_int_eq(config_from_args(&c, 3, a4, &rest, err, sizeof err), -ERR_CONFIG);
    ck_assert_msg(strstr(err, "twice") != NULL, "%s", err);
    char *a5[] = {"stanzad", "--config=/nonexistent/x.conf", NULL};
    ck_assert_int_eq(config_from_args(&c, 2, a5, &rest, err, sizeof err), -ERR_CONFIG);
    ck_assert_msg(strstr(err, "/nonexistent/x.conf") != NULL, "%s", err);
    char *a6[] = {"stanzad", "--settings", "--configure", NULL}; /* not ours */
    ck_assert_int_eq(config_from_args(&c, 3, a6, &rest, err, sizeof err), 0);
    ck_assert_int_eq(rest, 3);
    config_free(&c);
}
END_TEST

START_TEST(finish_refuses_two_listeners_on_one_port)
{
    struct config c;
    char err[ERRLEN];
    config_defaults(&c);
    ck_assert_int_eq(config_set(&c, "s2s_port=5222", err, sizeof err), 0);
    ck_assert_int_eq(config_finish(&c, err, sizeof err), -ERR_CONFIG);
    ck_assert_msg(strstr(err, "c2s_port and s2s_port are both 5222") != NULL, "%s", err);
    ck_assert_int_eq(config_set(&c, "s2s_port=5223", err, sizeof err), 0);
    ck_assert_int_eq(config_finish(&c, err, sizeof err), -ERR_CONFIG);
    ck_assert_msg(strstr(err, "c2s_tls_port and s2s_port") != NULL, "%s", err);
    /* ports that are off never clash */
    ck_assert_int_eq(config_set(&c, "s2s_port=0", err, sizeof err), 0);
    ck_assert_int_eq(config_set(&c, "c2s_tls_port=0", err, sizeof err), 0);
    ck_assert_int_eq(config_finish(&c, err, sizeof err), 0);
    config_free(&c);
}
END_TEST

START_TEST(finish_derives_tls_paths_under_data_dir)
{
    struct config c;
    char err[ERRLEN];
    config_defaults(&c);
    ck_assert_int_eq(config_set(&c, "data_dir=/srv/x", err, sizeof err), 0);
    ck_assert_int_eq(config_finish(&c, err, sizeof err), 0);
    ck_assert_str_eq(c.tls_cert, "/srv/x/tls/cert.pem");
    ck_assert_str_eq(c.tls_key, "/srv/x/tls/key.pem");
    config_free(&c);

    config_defaults(&c);
    ck_assert_int_eq(config_set(&c, "data_dir=/srv/y/", err, sizeof err), 0);
    ck_assert_int_eq(config_set(&c, "tls_cert=/etc/ssl/mine.pem", err, sizeof err), 0);
    ck_assert_int_eq(config_finish(&c, err, sizeof err), 0);
    ck_assert_str_eq(c.tls_cert, "/etc/ssl/mine.pem");
    ck_assert_str_eq(c.tls_key, "/srv/y/tls/key.pem");
    config_free(&c);
}
END_TEST

START_TEST(finish_checks_and_lowercases_the_domain)
{
    static const char *const bad[] = {"", "user@example.org", "example.org/res", "exa mple.org",
                                      ".example.org", "example.org.", "a..b"};
    struct config c;
    char err[ERRLEN], set[128];
    config_defaults(&c);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(set, sizeof set, "domain=%s", bad[i]);
        ck_assert_int_eq(config_set(&c, set, err, sizeof err), 0);
        ck_assert_msg(config_finish(&c, err, sizeof err) == -ERR_CONFIG, "accepted \"%s\"", bad[i]);
        ck_assert_msg(strstr(err, "domain") != NULL, "%s", err);
    }
    ck_assert_int_eq(config_set(&c, "domain=Chat.Example.ORG", err, sizeof err), 0);
    ck_assert_int_eq(config_finish(&c, err, sizeof err), 0);
    ck_assert_str_eq(c.domain, "chat.example.org");
    config_free(&c);
}
END_TEST

START_TEST(finish_refuses_empty_data_dir)
{
    struct config c;
    char err[ERRLEN];
    config_defaults(&c);
    ck_assert_int_eq(config_set(&c, "data_dir=", err, sizeof err), 0);
    ck_assert_int_eq(config_finish(&c, err, sizeof err), -ERR_CONFIG);
    ck_assert_msg(strstr(err, "data_dir") != NULL, "%s", err);
    config_free(&c);
}
END_TEST

START_TEST(print_lists_every_key_in_table_order)
{
    struct config c;
    char err[ERRLEN];
    char *out = NULL;
    size_t outlen = 0;
    config_defaults(&c);
    ck_assert_int_eq(config_set(&c, "journal_sync=none", err, sizeof err), 0);
    FILE *f = open_memstream(&out, &outlen);
    ck_assert_ptr_nonnull(f);
    config_print(&c, f);
    fclose(f);
    const char *p = out;
    for (size_t i = 0; i < TABLE_KEYS_N; i++) {
        char want[128];
        snprintf(want, sizeof want, "%s = ", table_keys[i]);
        ck_assert_msg(strncmp(p, want, strlen(want)) == 0, "expected %s at: %.40s", want, p);
        p = strchr(p, '\n');
        ck_assert_ptr_nonnull(p);
        p++;
    }
    ck_assert_str_eq(p, "");
    ck_assert_ptr_nonnull(strstr(out, "\nc2s_port = 5222  ; client port with STARTTLS (0: off)\n"));
    ck_assert_ptr_nonnull(strstr(out, "\njournal_sync = none  ; "));
    ck_assert_ptr_nonnull(strstr(out, "\nregistration = loopback  ; "));
    ck_assert_ptr_nonnull(strstr(out, "\ntls_cert =   ; "));
    free(out);
    config_free(&c);
}
END_TEST

static char *read_doc(void)
{
    const char *dir = getenv("STANZAD_SRCDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/doc/configuration.md", dir ? dir : ".");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s (run from the repo root or set STANZAD_SRCDIR)", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ck_assert_int_gt(n, 0);
    rewind(f);
    char *text = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(fread(text, 1, (size_t)n, f), (size_t)n);
    text[n] = '\0';
    fclose(f);
    return text;
}

/* A key's row is a table line that starts with "| `key` |". */
START_TEST(doc_lists_every_key_in_table_order)
{
    char *doc = read_doc();
    const char *prev = doc;
    for (size_t i = 0; i < TABLE_KEYS_N; i++) {
        char row[128];
        snprintf(row, sizeof row, "\n| `%s` |", table_keys[i]);
        const char *at = strstr(doc, row);
        ck_assert_msg(at != NULL, "doc/configuration.md has no table row for `%s`", table_keys[i]);
        ck_assert_msg(at > prev, "doc/configuration.md: `%s` is out of table order", table_keys[i]);
        ck_assert_msg(strstr(at + 1, row) == NULL, "doc/configuration.md: `%s` has two rows", table_keys[i]);
        prev = at;
    }
    free(doc);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *t = tcase_create("table");
    tcase_add_test(t, defaults_match_the_table);
    tcase_add_test(t, enum_constants_follow_the_allowed_lists);
    tcase_add_test(t, print_lists_every_key_in_table_order);
    tcase_add_test(t, doc_lists_every_key_in_table_order);
    suite_add_tcase(s, t);
    t = tcase_create("file");
    tcase_add_test(t, file_sets_every_type_with_comments_and_section);
    tcase_add_test(t, empty_file_changes_nothing);
    tcase_add_test(t, unknown_key_is_reported_with_its_line);
    tcase_add_test(t, first_error_wins_whichever_kind_it_is);
    tcase_add_test(t, bad_uint_is_refused_and_leaves_the_old_value);
    tcase_add_test(t, uint_range_is_inclusive_at_both_ends);
    tcase_add_test(t, out_of_range_in_file_names_the_range);
    tcase_add_test(t, bad_enum_lists_the_allowed_values);
    tcase_add_test(t, bool_words_and_bad_bools);
    tcase_add_test(t, only_the_server_section_is_accepted);
    tcase_add_test(t, key_set_twice_in_a_file_is_refused);
    tcase_add_test(t, indented_line_is_its_own_key_not_a_continuation);
    tcase_add_test(t, too_long_line_is_refused_not_cut);
    tcase_add_test(t, missing_file_is_an_error_naming_it);
    suite_add_tcase(s, t);
    t = tcase_create("args");
    tcase_add_test(t, set_trims_and_checks_like_the_file);
    tcase_add_test(t, set_overrides_file_and_args_are_compacted);
    tcase_add_test(t, config_after_set_still_loads_the_file_first);
    tcase_add_test(t, sets_apply_in_order);
    tcase_add_test(t, double_dash_ends_our_options);
    tcase_add_test(t, bad_args_are_errors_and_leave_argv_alone);
    suite_add_tcase(s, t);
    t = tcase_create("finish");
    tcase_add_test(t, finish_refuses_two_listeners_on_one_port);
    tcase_add_test(t, finish_derives_tls_paths_under_data_dir);
    tcase_add_test(t, finish_checks_and_lowercases_the_domain);
    tcase_add_test(t, finish_refuses_empty_data_dir);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(config_suite());
}
