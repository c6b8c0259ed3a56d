/* SPDX-License-Identifier: Apache-2.0 */
/* cli_common.c - helpers the `sparq` subcommands share: a monotonic clock, the
 * messages (one prefix, "sparq <command>: ", for errors, failures and usage errors),
 * option parsing with --help and usage errors, number parsing, and the progress
 * display (a bar on a terminal, plain lines otherwise).
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double cli_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *command_name; /* the subcommand running; NULL: none (yet) */

void cli_set_command(const char *name)
{
    command_name = name;
}

/* "sparq <command>: " or, before a command is known, "sparq: ". */
static void print_prefix(void)
{
    if (command_name)
        fprintf(stderr, "sparq %s: ", command_name);
    else
        fputs("sparq: ", stderr);
}

int cli_error(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    print_prefix();
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
    va_end(args);
    return 1;
}

const char *cli_library_error(void)
{
    const char *text = sparq_last_error();
    size_t n = command_name ? strlen(command_name) : 0;
    if (n && strncmp(text, command_name, n) == 0 && strncmp(text + n, ": ", 2) == 0)
        return text + n + 2; /* the library names the command too ("tune: ...") */
    return text;
}

int cli_fail(const char *what, sparq_status status)
{
    return cli_error("%s: %s: %s", what, sparq_status_string(status), cli_library_error());
}

int cli_usage_error(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    print_prefix();
    vfprintf(stderr, fmt, args);
    if (command_name)
        fprintf(stderr, "; try 'sparq %s --help'\n", command_name);
    else
        fputs("; try 'sparq --help'\n", stderr);
    va_end(args);
    return 2;
}

int cli_parse_options(int argc, char **argv, const struct option *options,
                      int (*apply)(int code, void *user), void *user,
                      void (*usage)(FILE *to), int max_operands)
{
    optind = 1;
    opterr = 0;
    int code;
    while ((code = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        const char *arg = argv[optind - 1];
        char short_name[3] = {'-', (char)optopt, '\0'};
        const char *name = strncmp(arg, "--", 2) == 0 ? arg : short_name;
        if (code == 'h') {
            usage(stdout);
            return -1;
        }
        if (code == ':')
            return cli_usage_error("%s needs a value", name);
        if (code == '?' || !apply)
            return cli_usage_error("unknown option '%s'", name);
        int rc = apply(code, user);
        if (rc != 0)
            return rc;
    }
    if (argc - optind > max_operands)
        return cli_usage_error("unexpected argument '%s'", argv[optind + max_operands]);
    return 0;
}

bool cli_parse_double(const char *text, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !isfinite(v))
        return false;
    *out = v;
    return true;
}

void cli_progress_start(cli_progress *p, size_t total)
{
    p->total = total;
    p->tty = isatty(STDERR_FILENO) == 1;
    p->started = cli_now_seconds();
}

void cli_progress_step(cli_progress *p, size_t done, const char *label)
{
    if (!p->tty) {
        fprintf(stderr, "%zu/%zu %s\n", done, p->total, label ? label : "");
        return;
    }
    enum { WIDTH = 30 };
    size_t filled = p->total ? done * WIDTH / p->total : WIDTH;
    char bar[WIDTH + 1];
    for (size_t i = 0; i < WIDTH; i++)
        bar[i] = i < filled ? '#' : ' ';
    bar[WIDTH] = '\0';
    fprintf(stderr, "\r[%s] %zu/%zu %5.0fs %-40.40s", bar, done, p->total,
            cli_now_seconds() - p->started, label ? label : "");
    fflush(stderr);
}

void cli_progress_done(cli_progress *p)
{
    if (p->tty)
        fputc('\n', stderr);
}
