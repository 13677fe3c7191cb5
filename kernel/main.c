/* stanzad: the XMPP server. See doc/operations.md.
 *
 *   stanzad [--config FILE] [--set key=value ...]   run the server
 *   stanzad --check-config FILE [--set ...]          validate and exit
 *   stanzad --print-config [--config FILE] [--set ...]
 *   stanzad --version | --help */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/config.h"
#include "kernel/server.h"

static void usage(FILE *f)
{
    fputs("usage: stanzad [--config FILE] [--set key=value ...]\n"
          "       stanzad --check-config FILE [--set key=value ...]\n"
          "       stanzad --print-config [--config FILE] [--set key=value ...]\n"
          "       stanzad --version\n"
          "Without a file, the embedded defaults serve domain 'localhost' from ./var.\n"
          "Every setting is described in doc/configuration.md.\n",
          f);
}

static struct config cfg;

static void free_config(void) { config_free(&cfg); }

int main(int argc, char **argv)
{
    char err[1024] = "";
    int check = 0, print = 0;
    /* --check-config FILE is --config FILE that stops after validating. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--check-config") == 0) {
            argv[i] = "--config";
            check = 1;
        }
    }
    config_defaults(&cfg);
    atexit(free_config); /* every exit path */
    int rest = 0;
    int rc = config_from_args(&cfg, argc, argv, &rest, err, sizeof err);
    for (int i = 1; rc == 0 && i < rest; i++) {
        if (strcmp(argv[i], "--print-config") == 0) {
            print = 1;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("stanzad %s\n", STANZAD_VERSION);
            return 0;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "stanzad: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (rc == 0)
        rc = config_finish(&cfg, err, sizeof err);
    if (rc) {
        fprintf(stderr, "stanzad: %s\n", err);
        return 1;
    }
    if (check) {
        printf("configuration ok\n");
        return 0;
    }
    if (print) {
        config_print(&cfg, stdout);
        return 0;
    }
    return server_run(&cfg);
}
