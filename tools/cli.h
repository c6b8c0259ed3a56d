/* cli.h - what the `sparq` subcommands share: their entry points (one file each:
 * cli_convert.c, cli_demo.c, cli_tune.c) and small helpers in cli_common.c
 * (clock, error lines, number parsing, a progress display). The CLI uses only the public header.
 */
#ifndef SPARQ_CLI_H
#define SPARQ_CLI_H

#include "sparq.h"

#include <stdbool.h>
#include <stdio.h>

/* Subcommands: argv[0] is the subcommand's name; they return the process exit code
 * (0 ok, 1 failure, 2 usage error). */
int cli_convert_main(int argc, char **argv);
int cli_demo_main(int argc, char **argv);
int cli_tune_main(int argc, char **argv);

/* Seconds on a monotonic clock. */
double cli_now_seconds(void);

/* Prints "sparq: <what>: <status name>: <sparq_last_error()>" to stderr; returns 1. */
int cli_fail(const char *what, sparq_status status);

/* Prints "sparq: <command>: " + fmt (one %s: value) and a pointer to `sparq <command>
 * --help` to stderr; returns 2, the usage-error exit code. */
int cli_usage_error(const char *command, const char *fmt, const char *value);

/* A whole-string finite number into *out; false (out untouched) otherwise. */
bool cli_parse_double(const char *text, double *out);

/* Progress of `total` steps on stderr: on a terminal one bar redrawn in place
 * ("[#####     ] 12/40 label"), otherwise one plain line per step ("12/40 label").
 * cli_progress_done ends the bar's line (nothing to do for plain lines). */
typedef struct cli_progress {
    size_t total;
    bool tty;
    double started;
} cli_progress;

void cli_progress_start(cli_progress *p, size_t total);
void cli_progress_step(cli_progress *p, size_t done, const char *label);
void cli_progress_done(cli_progress *p);

#endif /* SPARQ_CLI_H */
