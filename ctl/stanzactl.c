/* stanzactl: the operator's tool. It talks to the running stanzad over
 * <data_dir>/ctl.sock (kernel/ctl.c), found through the same --config /
 * --set options stanzad takes. Every command that changes state becomes
 * a journaled event in the server.
 *
 *   stanzactl [--config FILE] [--set key=value] COMMAND
 *     user add JID [--password P]     password from stdin when not given
 *     user passwd JID [--password P]
 *     user del JID
 *     user list
 *     status
 *     snapshot                        take a snapshot now
 *     backup                          take an encrypted backup now
 *     audit [--since T]               timeline of state changes; T is
 *                                     2026-11-25T10:00:00Z (UTC) or unix seconds
 *     restore FILE                    offline: FILE is a decrypted backup
 *     journal verify                  offline: the server must be stopped
 *     journal dump [--from SEQ] [--to SEQ] [--bodies]
 *     snapshot dump [--bodies] [FILE] offline: ctl/snapshot_tool.h
 *     replay --verify | --record FILE | --check FILE   (ctl/replay_tool.h)
 * Exit status: 0 ok, 1 refused (e.g. user exists), 2 usage, 3 server
 * unreachable; the offline commands: ctl/journal_tool.h (4: server running). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl/journal_tool.h"
#include "ctl/replay_tool.h"
#include "ctl/restore_tool.h"
#include "ctl/snapshot_tool.h"
#include "kernel/buf.h"
#include "kernel/config.h"
#include "kernel/ctlproto.h"
#include "kernel/jid.h"

static void usage_exit(const char *msg)
{
    if (msg)
        fprintf(stderr, "stanzactl: %s\n", msg);
    fputs("usage: stanzactl [--config FILE] [--set key=value] COMMAND\n"
          "  user add JID [--password P]   (password read from stdin if not given)\n"
          "  user passwd JID [--password P]\n"
          "  user del JID\n"
          "  user list\n"
          "  status\n"
          "  snapshot                      (take a snapshot now)\n"
          "  backup                        (an encrypted backup now)\n"
          "  audit [--since T]             (state changes; T: 2026-11-25T10:00:00Z or unix seconds)\n"
          "  restore FILE                  (server stopped; FILE from gpg --decrypt)\n"
          "  journal verify                (server stopped)\n"
          "  journal dump [--from SEQ] [--to SEQ] [--bodies]\n"
          "  snapshot dump [--bodies] [FILE] (server stopped; FILE: e.g. a decrypted backup)\n"
          "  replay --verify | --record FILE | --check FILE   (server stopped)\n",
          stderr);
    exit(CTL_USAGE);
}

/* Reads one line from stdin as the password. */
static char *read_password(void)
{
    static char line[1024];
    if (isatty(STDIN_FILENO))
        fputs("password: ", stderr);
    if (!fgets(line, sizeof line, stdin))
        usage_exit("no password given (use --password or stdin)");
    line[strcspn(line, "\r\n")] = 0;
    if (!*line)
        usage_exit("empty password");
    return line;
}

static int ctl_connect(const char *data_dir)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int n = snprintf(sa.sun_path, sizeof sa.sun_path, "%s/ctl.sock", data_dir);
    if (n < 0 || (size_t)n >= sizeof sa.sun_path) {
        fprintf(stderr, "stanzactl: data_dir path too long for a socket: %s\n", data_dir);
        exit(CTL_USAGE);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        fprintf(stderr, "stanzactl: cannot reach stanzad at %s: %s (is it running?)\n",
                sa.sun_path, strerror(errno));
        exit(CTL_UNAVAILABLE);
    }
    return fd;
}

static int exchange(const char *data_dir, int argc, char **argv)
{
    int fd = ctl_connect(data_dir);
    struct buf b;
    buf_init(&b);
    ctlproto_write_request(&b, argc, argv);
    for (size_t off = 0; off < b.len;) {
        ssize_t w = write(fd, b.p + off, b.len - off);
        if (w <= 0) {
            fprintf(stderr, "stanzactl: write: %s\n", strerror(errno));
            return CTL_UNAVAILABLE;
        }
        off += (size_t)w;
    }
    explicit_bzero(b.p, b.len);
    buf_reset(&b);
    for (;;) {
        char tmp[8192];
        ssize_t r = read(fd, tmp, sizeof tmp);
        if (r <= 0) {
            fprintf(stderr, "stanzactl: the server closed the connection without an answer\n");
            return CTL_UNAVAILABLE;
        }
        buf_put(&b, tmp, (size_t)r);
        size_t used;
        int status;
        char *text = NULL;
        int rc = ctlproto_parse_reply(b.p, b.len, &used, &status, &text);
        if (rc < 0) {
            fprintf(stderr, "stanzactl: malformed answer from the server\n");
            return CTL_UNAVAILABLE;
        }
        if (rc == 1) {
            size_t len = strlen(text);
            FILE *out = status == CTL_OK ? stdout : stderr;
            if (status != CTL_OK)
                fputs("stanzactl: ", out);
            fputs(text, out);
            if (len == 0 || text[len - 1] != '\n')
                fputc('\n', out);
            free(text);
            buf_free(&b);
            close(fd);
            return status;
        }
    }
}

static void check_jid(const char *s)
{
    struct jid j;
    if (jid_parse(&j, s) || !*j.local || *j.resource) {
        fprintf(stderr, "stanzactl: bad JID '%s': expected user@domain\n", s);
        exit(CTL_USAGE);
    }
}

/* The operator's time for `audit --since`: ISO 8601 UTC
 * (2026-11-25T10:00:00Z, optionally with .ffffff before the Z) or unix
 * seconds. Returns microseconds since 1970, or exits with usage. */
static long long parse_since(const char *t)
{
    char *end = NULL;
    errno = 0;
    long long secs = strtoll(t, &end, 10);
    if (*t && !*end && !errno && secs >= 0 && secs < 253402300800LL) /* before year 10000 */
        return secs * 1000000LL;
    struct tm tm = {0};
    int us = 0, used = 0, usedf = 0;
    if (sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) == 6) {
        const char *rest = t + used;
        if (*rest == '.' && sscanf(rest, ".%6d%n", &us, &usedf) == 1 && usedf == 7)
            rest += usedf;
        if (strcmp(rest, "Z") == 0 && tm.tm_mon >= 1 && tm.tm_mon <= 12 && tm.tm_mday >= 1 &&
            tm.tm_mday <= 31 && tm.tm_hour < 24 && tm.tm_min < 60 && tm.tm_sec <= 60 && us >= 0) {
            tm.tm_year -= 1900;
            tm.tm_mon -= 1;
            return (long long)timegm(&tm) * 1000000LL + us;
        }
    }
    fprintf(stderr, "stanzactl: bad time '%s': expected 2026-11-25T10:00:00Z or unix seconds\n", t);
    exit(CTL_USAGE);
}

static int audit_main(const char *data_dir, int n, char **a)
{
    if (n == 1)
        return exchange(data_dir, 1, a);
    if (n != 3 || strcmp(a[1], "--since") != 0)
        usage_exit("usage: audit [--since T]");
    char us[32];
    snprintf(us, sizeof us, "%lld", parse_since(a[2]));
    char *req[3] = {a[0], a[1], us};
    return exchange(data_dir, 3, req);
}

static struct config cfg;

static void free_config(void) { config_free(&cfg); }

int main(int argc, char **argv)
{
    char err[1024];
    int rest;
    config_defaults(&cfg);
    atexit(free_config); /* every exit path, including usage errors */
    if (config_from_args(&cfg, argc, argv, &rest, err, sizeof err) ||
        config_finish(&cfg, err, sizeof err)) {
        fprintf(stderr, "stanzactl: %s\n", err);
        return CTL_USAGE;
    }
    char **a = argv + 1;
    int n = rest - 1;
    if (n == 1 && (strcmp(a[0], "status") == 0 || strcmp(a[0], "snapshot") == 0))
        return exchange(cfg.data_dir, 1, a);
    if (n == 1 && strcmp(a[0], "backup") == 0)
        return exchange(cfg.data_dir, 1, a);
    if (n >= 1 && strcmp(a[0], "audit") == 0)
        return audit_main(cfg.data_dir, n, a);
    if (n >= 1 && strcmp(a[0], "restore") == 0)
        return restore_tool_main(&cfg, n - 1, a + 1);
    if (n >= 2 && strcmp(a[0], "snapshot") == 0)
        return snapshot_tool_main(&cfg, n - 1, a + 1);
    if (n >= 1 && strcmp(a[0], "journal") == 0)
        return journal_tool_main(&cfg, n - 1, a + 1);
    if (n >= 1 && strcmp(a[0], "replay") == 0)
        return replay_tool_main(&cfg, n - 1, a + 1);
    if (n < 2 || strcmp(a[0], "user") != 0) {
        if (n >= 1 && strcmp(a[0], "user") != 0 && strcmp(a[0], "status") != 0 &&
            strcmp(a[0], "snapshot") != 0) {
            fprintf(stderr, "stanzactl: unknown command '%s'\n", a[0]);
            return CTL_USAGE;
        }
        usage_exit(n == 0 ? "no command" : "incomplete command");
    }
    if (strcmp(a[1], "list") == 0 && n == 2)
        return exchange(cfg.data_dir, 2, a);
    if (strcmp(a[1], "del") == 0 && n == 3) {
        check_jid(a[2]);
        return exchange(cfg.data_dir, 3, a);
    }
    if ((strcmp(a[1], "add") == 0 || strcmp(a[1], "passwd") == 0) && (n == 3 || n == 5)) {
        check_jid(a[2]);
        char *pw;
        if (n == 5 && strcmp(a[3], "--password") == 0)
            pw = a[4];
        else if (n == 3)
            pw = read_password();
        else
            usage_exit("expected --password P");
        char *req[4] = {a[0], a[1], a[2], pw};
        return exchange(cfg.data_dir, 4, req);
    }
    fprintf(stderr, "stanzactl: unknown command 'user %s'\n", a[1]);
    return CTL_USAGE;
}
