/* SPDX-License-Identifier: Apache-2.0 */
/* cli.h - what the `sparq` subcommands share: their entry points (one file each:
 * cli_convert.c, cli_demo.c, cli_tune.c, cli_inspect.c, cli_bench.c) and small helpers in
 * cli_common.c (clock, messages, option parsing, number parsing, a progress display). The
 * CLI uses only the public header.
 */
#ifndef SPARQ_CLI_H
#define SPARQ_CLI_H

#include "sparq.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

/* Subcommands: argv[0] is the subcommand's name; they return the process exit code
 * (0 ok, 1 failure, 2 usage error). */
int cli_bench_main(int argc, char **argv);
int cli_convert_main(int argc, char **argv);
int cli_demo_main(int argc, char **argv);
int cli_inspect_main(int argc, char **argv);
int cli_tune_main(int argc, char **argv);

/* Seconds on a monotonic clock. */
double cli_now_seconds(void);

/* Every message on stderr starts "sparq <command>: " (or "sparq: " before the command
 * is known): main sets the command once. */
void cli_set_command(const char *name);

/* Prints the prefix + printf(fmt, ...) and a newline to stderr; returns 1, the exit
 * code of a runtime failure. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* sparq_last_error() without its leading "<command>: " where the library names the
 * command as well ("tune: case ..."), so that the prefix is said once. */
const char *cli_library_error(void);

/* Prints "<prefix><what>: <status name>: <cli_library_error()>"; returns 1. */
int cli_fail(const char *what, sparq_status status);

/* Prints "<prefix>" + printf(fmt, ...) + "; try 'sparq <command> --help'" as one line;
 * returns 2, the exit code of a usage error. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reads argv's options (argv[0] the command) with getopt_long over options, a table
 * that maps "help" to 'h' (-h works too): --help prints usage(stdout) and returns -1;
 * an unknown option, one missing its value, or more than max_operands arguments after
 * the options are a usage error (returns 2); every other option goes to apply(code,
 * user) (NULL: a command with no options but --help), which returns 0 to go on or an
 * exit code, returned as it is. Returns 0 with optind at the first operand. */
int cli_parse_options(int argc, char **argv, const struct option *options,
                      int (*apply)(int code, void *user), void *user,
                      void (*usage)(FILE *to), int max_operands);

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
