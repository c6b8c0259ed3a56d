/* SPDX-License-Identifier: Apache-2.0 */
/* cli_convert_report.c - what `sparq convert` shows of a run: the per-layer table on
 * stdout and the JSON report (options, layers with weight and output errors, copied
 * tensors, totals) written beside the output through a temporary file.
 */
#include "cli_convert_parts.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void cli_convert_format_name(const sparq_pack_options *f, char *out, size_t size)
{
    if (sparq_format_name(f, out, size) != SPARQ_OK)
        snprintf(out, size, "?");
}

/* "12.3 MiB" */
void cli_convert_human_bytes(uint64_t bytes, char *out, size_t size)
{
    static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(out, size, "%llu B", (unsigned long long)bytes);
    else
        snprintf(out, size, "%.1f %s", v, units[u]);
}

void cli_convert_print_table(const layer_row *rows, size_t count)
{
    int width = 5;
    for (size_t i = 0; i < count; i++)
        if ((int)strlen(rows[i].name) > width)
            width = (int)strlen(rows[i].name);
    printf("%-*s  %-11s  %-21s  %8s  %6s  %10s  %10s  %9s  %10s  %10s  %7s  %s\n", width, "layer",
           "shape", "format", "sparsity", "bits/w", "NMSE", "NMSE_out", "SQNR dB", "before",
           "after", "seconds", "rolled back");
    for (size_t i = 0; i < count; i++) {
        const layer_row *r = &rows[i];
        char shape[32], format[64], before[24], after[24], rolled[24], out_nmse[24];
        snprintf(shape, sizeof shape, "%zux%zu", r->rows, r->cols);
        cli_convert_format_name(&r->result.format, format, sizeof format);
        cli_convert_human_bytes(r->bytes_in, before, sizeof before);
        cli_convert_human_bytes(r->result.bytes_after, after, sizeof after);
        if (r->result.rollbacks)
            snprintf(rolled, sizeof rolled, "yes (%u step%s)", r->result.rollbacks,
                     r->result.rollbacks == 1 ? "" : "s");
        else
            snprintf(rolled, sizeof rolled, "no");
        if (isnan(r->result.output_nmse))
            snprintf(out_nmse, sizeof out_nmse, "-");
        else
            snprintf(out_nmse, sizeof out_nmse, "%.3g", r->result.output_nmse);
        printf("%-*s  %-11s  %-21s  %8.3f  %6.2f  %10.3g  %10s  %9.2f  %10s  %10s  %7.2f  %s\n",
               width, r->name, shape, format, r->result.sparsity, r->result.bits_per_weight,
               r->result.error.nmse, out_nmse, r->result.error.sqnr_db, before, after,
               r->result.seconds, rolled);
    }
    for (size_t i = 0; i < count; i++)
        if (rows[i].recipe.rule > 0 || strncmp(rows[i].recipe.why, "default", 7) == 0)
            printf("  %s: recipe from %s\n", rows[i].name, rows[i].recipe.why);
    for (size_t i = 0; i < count; i++)
        if (rows[i].result.rollbacks)
            printf("  %s refused: %s\n", rows[i].name, rows[i].result.trail);
}

/* A JSON number, or null for inf/NaN (JSON has neither). */
static json_t *json_number(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *format_json(const sparq_pack_options *f)
{
    char name[64];
    cli_convert_format_name(f, name, sizeof name);
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(name));
    json_object_set_new(o, "structure", json_string(sparq_structure_name(f->structure)));
    json_object_set_new(o, "encoding", json_string(sparq_encoding_name(f->quant.encoding)));
    json_object_set_new(o, "scale_granularity",
                        json_string(sparq_scale_granularity_name(f->quant.granularity)));
    json_object_set_new(o, "group_size", json_integer((json_int_t)f->quant.group_size));
    json_object_set_new(o, "asymmetric", json_boolean(f->quant.asymmetric));
    json_object_set_new(o, "block_rows", json_integer(f->block_rows));
    json_object_set_new(o, "block_cols", json_integer(f->block_cols));
    json_object_set_new(o, "nm_n", json_integer(f->nm_n));
    json_object_set_new(o, "nm_m", json_integer(f->nm_m));
    return o;
}

json_t *cli_convert_shape_json(size_t ndim, const size_t *shape)
{
    json_t *a = json_array();
    for (size_t i = 0; i < ndim; i++)
        json_array_append_new(a, json_integer((json_int_t)shape[i]));
    return a;
}

json_t *cli_convert_report_json(const convert_args *a, const layer_row *rows, size_t count,
                           json_t *copied, const convert_totals *t)
{
    json_t *root = json_object();
    json_object_set_new(root, "sparq_version", json_string(sparq_version_string()));
    json_object_set_new(root, "input", json_string(a->in));
    json_object_set_new(root, "output", json_string(a->out));
    json_t *opt = json_object();
    json_object_set_new(opt, "sparsity", json_real(a->layer.sparsity));
    json_object_set_new(opt, "structure", json_string(a->structure_text));
    json_object_set_new(opt, "quant", json_string(a->quant_text));
    json_object_set_new(opt, "asymmetric", json_boolean(a->layer.format.quant.asymmetric));
    json_object_set_new(opt, "calib", json_string(a->calib_text));
    json_object_set_new(opt, "include", a->include ? json_string(a->include) : json_null());
    json_object_set_new(opt, "exclude", a->exclude ? json_string(a->exclude) : json_null());
    json_object_set_new(opt, "max_nmse", json_real(a->layer.max_nmse));
    json_object_set_new(opt, "min_sqnr_db", json_real(a->layer.min_sqnr_db));
    json_object_set_new(opt, "no_rollback", json_boolean(a->layer.no_rollback));
    json_object_set_new(opt, "method", json_string(sparq_method_name(a->layer.method)));
    json_object_set_new(opt, "stats", a->stats ? json_string(a->stats) : json_null());
    json_object_set_new(opt, "gate", json_string(a->gate_text));
    json_object_set_new(opt, "damp", json_real(a->layer.damp > 0.0 ? a->layer.damp : 0.01));
    json_object_set_new(opt, "block_size",
                        json_integer((json_int_t)(a->layer.block_size ? a->layer.block_size
                                                                      : 128)));
    json_object_set_new(opt, "act_order", json_boolean(a->layer.act_order));
    json_t *rules = json_array();
    for (size_t i = 0; i < a->rule_count; i++)
        json_array_append_new(rules, json_string(a->rules[i].text));
    json_object_set_new(opt, "tensor_type", rules);
    json_object_set_new(opt, "keep_split", json_boolean(a->keep_split));
    json_object_set_new(opt, "threads", json_integer(a->threads));
    json_object_set_new(root, "options", opt);
    json_t *layers = json_array();
    for (size_t i = 0; i < count; i++) {
        const layer_row *r = &rows[i];
        const sparq_convert_result *res = &r->result;
        size_t shape[2] = { r->rows, r->cols };
        json_t *l = json_object();
        json_object_set_new(l, "name", json_string(r->name));
        if (r->shard)
            json_object_set_new(l, "shard", json_string(r->shard));
        json_object_set_new(l, "shape", cli_convert_shape_json(2, shape));
        if (r->ndim != 2)
            json_object_set_new(l, "original_shape", cli_convert_shape_json(r->ndim, r->shape));
        json_object_set_new(l, "recipe", json_string(r->recipe.why));
        json_object_set_new(l, "dtype", json_string(sparq_dtype_name(r->dtype)));
        json_object_set_new(l, "format", format_json(&res->format));
        json_object_set_new(l, "sparsity", json_number(res->sparsity));
        json_object_set_new(l, "bits_per_weight", json_number(res->bits_per_weight));
        json_object_set_new(l, "nmse", json_number(res->error.nmse));
        json_object_set_new(l, "output_nmse", json_number(res->output_nmse));
        json_object_set_new(l, "seconds", json_number(res->seconds));
        json_object_set_new(l, "last_rung", json_boolean(res->last_rung));
        json_object_set_new(l, "sqnr_db", json_number(res->error.sqnr_db));
        json_object_set_new(l, "max_abs_error", json_number(res->error.max_abs_error));
        json_object_set_new(l, "cosine", json_number(res->error.cosine));
        json_object_set_new(l, "bytes_before", json_integer((json_int_t)r->bytes_in));
        json_object_set_new(l, "bytes_after", json_integer((json_int_t)res->bytes_after));
        json_object_set_new(l, "rolled_back", json_boolean(res->rollbacks > 0));
        json_object_set_new(l, "rollbacks", json_integer(res->rollbacks));
        json_object_set_new(l, "trail", json_string(res->trail));
        json_array_append_new(layers, l);
    }
    json_object_set_new(root, "layers", layers);
    json_object_set(root, "copied", copied);
    json_t *tot = json_object();
    json_object_set_new(tot, "bytes_before", json_integer((json_int_t)t->bytes_before));
    json_object_set_new(tot, "bytes_after", json_integer((json_int_t)t->bytes_after));
    json_object_set_new(tot, "compression_ratio",
                        json_number(t->bytes_after ? (double)t->bytes_before /
                                                         (double)t->bytes_after : 0.0));
    json_object_set_new(tot, "layers_converted", json_integer((json_int_t)t->converted));
    json_object_set_new(tot, "layers_rolled_back", json_integer((json_int_t)t->rolled_back));
    json_object_set_new(tot, "layers_at_last_rung", json_integer((json_int_t)t->last_rung));
    json_object_set_new(tot, "tensors_copied", json_integer((json_int_t)t->copied));
    json_object_set_new(tot, "seconds", json_number(t->seconds));
    json_object_set_new(root, "totals", tot);
    return root;
}

/* Writes text to a new temporary file beside path (path + ".XXXXXX"), flushed to disk;
 * *tmp_path (malloc'ed) names it. Returns 0, or 1 after printing why. */
int cli_convert_write_temp(const char *path, const char *text, char **tmp_path)
{
    size_t n = strlen(path);
    char *tmp = malloc(n + 8);
    if (!tmp)
        return cli_error("out of memory");
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".XXXXXX", 8);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        cli_error("cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        return 1;
    }
    size_t len = strlen(text), done = 0;
    int err = 0;
    while (done < len && !err) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno != EINTR)
            err = errno;
        else if (w > 0)
            done += (size_t)w;
    }
    mode_t mask = umask(0); /* the mode any new file gets, as for the model file */
    umask(mask);
    if (!err && fchmod(fd, 0666 & ~mask) != 0)
        err = errno;
    if (!err && fsync(fd) != 0)
        err = errno;
    if (close(fd) != 0 && !err)
        err = errno;
    if (err) {
        cli_error("cannot write %s: %s", tmp, strerror(err));
        unlink(tmp);
        free(tmp);
        return 1;
    }
    *tmp_path = tmp;
    return 0;
}

