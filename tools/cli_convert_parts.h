/* cli_convert_parts.h - what the two files of `sparq convert` share: the command line as
 * parsed (cli_convert.c), one converted layer and the run's totals, and the table and
 * JSON report that cli_convert_report.c makes of them.
 */
#ifndef SPARQ_CLI_CONVERT_PARTS_H
#define SPARQ_CLI_CONVERT_PARTS_H

#include "cli.h"

#include <jansson.h>
#include <regex.h>

/* What the command line asked for. */
typedef struct convert_args {
    const char *in, *out;
    sparq_convert_options layer;
    const char *structure_text, *quant_text, *calib_text, *stats, *gate_text;
    const char *include, *exclude;
    regex_t include_re, exclude_re, default_re;
    bool have_include, have_exclude, have_default;
    bool force; /* --force: an existing regular file at OUT (or its report) is replaced */
    bool have_gate; /* --max-nmse or --min-sqnr given */
} convert_args;

/* One converted layer, for the table and the report. */
typedef struct layer_row {
    const char *name;
    size_t rows, cols;
    sparq_dtype dtype;
    size_t bytes_in;
    sparq_convert_result result;
} layer_row;

/* Totals of one run. */
typedef struct convert_totals {
    uint64_t bytes_before, bytes_after;
    size_t converted, rolled_back, last_rung, copied;
    double seconds;
} convert_totals;

/* The per-layer table (format, bits, NMSE, NMSE_out, SQNR, bytes, seconds, rollbacks)
 * and each refused layer's trail, on stdout. */
void cli_convert_print_table(const layer_row *rows, size_t count);

/* The JSON report of a run: options, one entry per layer, the copied tensors, totals. */
json_t *cli_convert_report_json(const convert_args *a, const layer_row *rows, size_t count,
                                json_t *copied, const convert_totals *t);

/* Writes text to a new temporary file beside path (path + ".XXXXXX"), flushed to disk;
 * *tmp_path (malloc'ed) names it. Returns 0, or 1 after printing why. */
int cli_convert_write_temp(const char *path, const char *text, char **tmp_path);

/* A JSON array of the ndim extents of shape. */
json_t *cli_convert_shape_json(size_t ndim, const size_t *shape);

/* "12.3 MiB" */
void cli_convert_human_bytes(uint64_t bytes, char *out, size_t size);

#endif
