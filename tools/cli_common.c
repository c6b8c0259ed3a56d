/* cli_common.c - helpers the `sparq` subcommands share: a monotonic clock, the
 * error and usage lines, number parsing, and the progress display (a bar on a
 * terminal, plain lines otherwise).
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
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

int cli_fail(const char *what, sparq_status status)
{
    fprintf(stderr, "sparq: %s: %s: %s\n", what, sparq_status_string(status),
            sparq_last_error());
    return 1;
}

int cli_usage_error(const char *command, const char *fmt, const char *value)
{
    fprintf(stderr, "sparq: %s: ", command);
    fprintf(stderr, fmt, value);
    fprintf(stderr, "\n(sparq %s --help lists the options)\n", command);
    return 2;
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
