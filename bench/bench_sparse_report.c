/* SPDX-License-Identifier: Apache-2.0 */
/* bench_sparse_report.c - bench_sparse's output: the setup lines, the table on the
 * terminal, the CSV and the JSON (one row per case and batch, the same figures in all
 * three), and the summary; plan_kernel_name names a plan's kernel (bench_sparse_parts.h).
 */
#include "bench_sparse_parts.h"
#include "common.h"

#ifdef SPARQ_BENCH_HAVE_OPENBLAS
#include <cblas.h>
#endif

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* s as a JSON string, quotes and control characters escaped. */
static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

/* A JSON number, or null when not measured. */
static void json_ms(FILE *f, const char *key, const timing *t, double (*pick)(const timing *))
{
    fprintf(f, ", \"%s\": ", key);
    if (t->ok)
        fprintf(f, "%.6f", 1e3 * pick(t));
    else
        fputs("null", f);
}

static double pick_median(const timing *t) { return t->median; }
static double pick_min(const timing *t) { return t->min; }
static double pick_max(const timing *t) { return t->max; }

void plan_kernel_name(const sparq_plan_info *info, char *out, size_t size)
{
    if (info->path == SPARQ_PATH_DENSE)
        snprintf(out, size, "dense/%s", strcmp(info->kernel, "clblast") == 0 ? "CLBlast"
                                        : strcmp(info->kernel, "linear_dense_q_tiled") == 0
                                            ? "tiled"
                                            : "rowdot");
    else
        snprintf(out, size, "%s",
                 strncmp(info->kernel, "spmm_", 5) == 0 ? info->kernel + 5 : info->kernel);
}

static double ratio(const timing *num, const timing *den)
{
    return num->ok && den->ok ? num->median / den->median : NAN;
}

/* The table's header and the CSV's. */
static void print_header(const bench *b)
{
    printf("\n%-10s %-17s %5s %5s %6s %8s %8s %8s %7s %5s %5s %9s %9s %6s %6s %6s %7s  %s\n",
           "shape", "format", "spars", "batch", "bits/w", "med ms", "min ms", "max ms", "GB/s",
           "roof", "roofT", "sparse ms", "dense ms", "xCLB", "xOBLAS", "xNat", "/dense",
           "kernel");
    if (b->csv)
        fprintf(b->csv,
                "device,rows,cols,format,sparsity,density,batch,bits_per_weight,"
                "packed_bytes,moved_bytes,median_ms,min_ms,max_ms,gbs,roof_gbs,roof_fraction,"
                "read_turns_gbs,read_turns_fraction,"
                "sparse_median_ms,dense_median_ms,clblast_median_ms,openblas_median_ms,"
                "native_median_ms,ratio_clblast,ratio_openblas,ratio_native,ratio_dense,flag,"
                "auto_dense_but_sparse_faster,"
                "kernel,rotation_mib,note\n");
}

static void print_opt(double v, const char *fmt, int width)
{
    if (isnan(v))
        printf(" %*s", width, "-");
    else
        printf(fmt, v);
}

static void csv_opt(FILE *f, double v)
{
    if (isnan(v))
        fputs(",", f);
    else
        fprintf(f, ",%.6g", v);
}

static void json_opt(FILE *f, const char *key, double v)
{
    if (isnan(v))
        fprintf(f, ", \"%s\": null", key);
    else
        fprintf(f, ", \"%s\": %.6g", key, v);
}

/* One row's figures, derived once from its times and printed alike to the terminal, the
 * CSV and the JSON. */
typedef struct row_figures {
    double moved;      /* bytes one call moves: the weights (packed, or dense f32 where
                        * AUTO runs the dense path), X and Y                            */
    double gbs, frac;  /* GB/s over the AUTO median, and its fraction of the roof       */
    double read_gbs;   /* the C read loop's best GB/s in the same rounds                */
    double frac_turns; /* gbs over read_gbs                                             */
    double x_clblast, x_openblas, x_native; /* peer median / AUTO median               */
    double vs_dense;   /* AUTO median / the faster of the dense path and CLBlast        */
    int flag;          /* vs_dense > FLAG_RATIO                                         */
    int misrouted;     /* AUTO ran the dense path although SPARSE was faster           */
    char kernel[64];   /* the AUTO plan's kernel ("-" without a plan)                   */
} row_figures;

static void row_figures_compute(const bench *b, const case_row *r, const dense_peers *p,
                                row_figures *x)
{
    x->moved = (r->auto_dense ? 4.0 * (double)r->rows * (double)r->cols
                              : (double)r->packed_bytes) +
               4.0 * (double)r->batch * (double)(r->rows + r->cols);
    x->gbs = r->t_auto.ok ? x->moved / r->t_auto.median * 1e-9 : NAN;
    x->frac = x->gbs / b->roof_gbs;
    /* the C read loop's best GB/s in the same rounds, and the row's fraction of it */
    double slice_bytes = (double)(b->read_blocks / READ_SLICES) * 16.0 * sizeof(float);
    x->read_gbs = r->t_read.ok ? slice_bytes / r->t_read.min * 1e-9 : NAN;
    x->frac_turns = x->gbs / x->read_gbs;
    x->x_clblast = ratio(&p->clblast, &r->t_auto);
    x->x_openblas = ratio(&p->openblas, &r->t_auto);
    x->x_native = ratio(&r->t_native, &r->t_auto);
    /* the best dense alternative on this device: the dense path or CLBlast */
    const timing *best_dense = &p->dense;
    if (p->clblast.ok && (!p->dense.ok || p->clblast.median < p->dense.median))
        best_dense = &p->clblast;
    x->vs_dense = ratio(&r->t_auto, best_dense);
    x->flag = !isnan(x->vs_dense) && x->vs_dense > FLAG_RATIO;
    /* AUTO fell back to the dense path although the sparse kernels were faster */
    double vs_sparse = ratio(&r->t_auto, &r->t_sparse);
    x->misrouted = r->auto_dense && !isnan(vs_sparse) && vs_sparse > FLAG_RATIO;
    snprintf(x->kernel, sizeof x->kernel, "%s", r->plan[0] ? r->kernel : "-");
}

/* One line of the terminal table. */
static void print_row(const case_row *r, const dense_peers *p, const row_figures *x)
{
    char shape[32];
    snprintf(shape, sizeof shape, "%zux%zu", r->rows, r->cols);
    printf("%-10s %-17s %5.2f %5zu %6.2f", shape, r->format, r->sparsity, r->batch, r->bits);
    if (r->t_auto.ok)
        printf(" %8.3f %8.3f %8.3f %7.2f %4.0f%%", 1e3 * r->t_auto.median, 1e3 * r->t_auto.min,
               1e3 * r->t_auto.max, x->gbs, 100.0 * x->frac);
    else
        printf(" %8s %8s %8s %7s %5s", "n/a", "-", "-", "-", "-");
    if (isnan(x->frac_turns))
        printf(" %5s", "-");
    else
        printf(" %4.0f%%", 100.0 * x->frac_turns);
    print_opt(r->t_sparse.ok ? 1e3 * r->t_sparse.median : NAN, " %9.3f", 9);
    print_opt(p->dense.ok ? 1e3 * p->dense.median : NAN, " %9.3f", 9);
    print_opt(x->x_clblast, " %6.2f", 6);
    print_opt(x->x_openblas, " %6.2f", 6);
    print_opt(x->x_native, " %6.2f", 6);
    print_opt(x->vs_dense, " %6.2f", 6);
    printf("%s %s%s%s%s\n", x->flag ? "!" : " ", x->kernel,
           x->misrouted ? " (SPARSE faster)" : "", r->note[0] ? "  " : "", r->note);
    fflush(stdout);
}

/* One line of the CSV. */
static void csv_row(const bench *b, const case_row *r, const dense_peers *p,
                    const row_figures *x)
{
    FILE *f = b->csv;
    fprintf(f, "\"%s\",%zu,%zu,%s,%.4f,%.6f,%zu,%.4f,%llu,%.0f", b->caps->name, r->rows,
            r->cols, r->format, r->sparsity, r->density, r->batch, r->bits,
            (unsigned long long)r->packed_bytes, x->moved);
    csv_opt(f, r->t_auto.ok ? 1e3 * r->t_auto.median : NAN);
    csv_opt(f, r->t_auto.ok ? 1e3 * r->t_auto.min : NAN);
    csv_opt(f, r->t_auto.ok ? 1e3 * r->t_auto.max : NAN);
    csv_opt(f, x->gbs);
    csv_opt(f, b->roof_gbs);
    csv_opt(f, x->frac);
    csv_opt(f, x->read_gbs);
    csv_opt(f, x->frac_turns);
    csv_opt(f, r->t_sparse.ok ? 1e3 * r->t_sparse.median : NAN);
    csv_opt(f, p->dense.ok ? 1e3 * p->dense.median : NAN);
    csv_opt(f, p->clblast.ok ? 1e3 * p->clblast.median : NAN);
    csv_opt(f, p->openblas.ok ? 1e3 * p->openblas.median : NAN);
    csv_opt(f, r->t_native.ok ? 1e3 * r->t_native.median : NAN);
    csv_opt(f, x->x_clblast);
    csv_opt(f, x->x_openblas);
    csv_opt(f, x->x_native);
    csv_opt(f, x->vs_dense);
    fprintf(f, ",%d,%d,%s,%.1f,\"", x->flag, x->misrouted, x->kernel, r->auto_rotation_mib);
    for (const char *s = r->note; *s; s++) /* CSV doubles its quotes */
        if (*s == '"')
            fputs("\"\"", f);
        else
            fputc(*s, f);
    fputs("\"\n", f);
}

/* One object of the JSON's "cases" array. */
static void json_row(bench *b, const case_row *r, const dense_peers *p, const row_figures *x)
{
    FILE *f = b->json;
    fprintf(f, "%s\n    {\"rows\": %zu, \"cols\": %zu, \"format\": \"%s\", "
               "\"sparsity\": %.4f, \"density\": %.6f, "
               "\"batch\": %zu, \"bits_per_weight\": %.4f, \"packed_bytes\": %llu, "
               "\"moved_bytes\": %.0f",
            b->json_rows++ ? "," : "", r->rows, r->cols, r->format, r->sparsity, r->density,
            r->batch, r->bits, (unsigned long long)r->packed_bytes, x->moved);
    json_ms(f, "auto_median_ms", &r->t_auto, pick_median);
    json_ms(f, "auto_min_ms", &r->t_auto, pick_min);
    json_ms(f, "auto_max_ms", &r->t_auto, pick_max);
    json_ms(f, "sparse_median_ms", &r->t_sparse, pick_median);
    json_ms(f, "sparse_min_ms", &r->t_sparse, pick_min);
    json_ms(f, "sparse_max_ms", &r->t_sparse, pick_max);
    json_ms(f, "dense_median_ms", &p->dense, pick_median);
    fputs(", \"dense_kernel\": ", f);
    json_string(f, p->dense_kernel);
    json_ms(f, "clblast_median_ms", &p->clblast, pick_median);
    json_ms(f, "openblas_median_ms", &p->openblas, pick_median);
    json_ms(f, "native_median_ms", &r->t_native, pick_median);
    json_opt(f, "gbs", x->gbs);
    json_opt(f, "roof_fraction", x->frac);
    json_opt(f, "read_turns_gbs", x->read_gbs);
    json_opt(f, "read_turns_fraction", x->frac_turns);
    json_opt(f, "ratio_clblast", x->x_clblast);
    json_opt(f, "ratio_openblas", x->x_openblas);
    json_opt(f, "ratio_native", x->x_native);
    json_opt(f, "ratio_dense", x->vs_dense);
    fprintf(f, ", \"auto_dense_but_sparse_faster\": %s", x->misrouted ? "true" : "false");
    fprintf(f, ", \"flag\": %s, \"auto_rotation_mib\": %.1f, \"sparse_rotation_mib\": %.1f",
            x->flag ? "true" : "false", r->auto_rotation_mib, r->sparse_rotation_mib);
    fputs(", \"kernel\": ", f);
    json_string(f, x->kernel);
    fputs(", \"plan\": ", f);
    json_string(f, r->plan);
    fputs(", \"note\": ", f);
    json_string(f, r->note);
    fputs("}", f);
}

/* Prints one row to the terminal, the CSV and the JSON, and counts it in the summary. */
void emit_row(bench *b, const case_row *r, const dense_peers *p)
{
    row_figures x;
    row_figures_compute(b, r, p, &x);
    b->flagged += x.flag;
    b->misrouted += x.misrouted;
    b->unavailable += !r->t_auto.ok;
    print_row(r, p, &x);
    if (b->csv)
        csv_row(b, r, p, &x);
    if (b->json)
        json_row(b, r, p, &x);
}

/* The setup lines: device, peers, timing, rotation and what the columns mean. */
void print_setup(const bench *b)
{
    const config *cfg = &b->cfg;
    printf("device: %s (%s), %s, %u compute units, global memory %.0f MiB, largest buffer "
           "%.0f MiB\n",
           b->caps->name, b->caps->platform_name, b->cpu_device ? "CPU" : "not a CPU",
           b->caps->compute_units, bench_mib(b->caps->global_mem_bytes),
           bench_mib(b->caps->max_alloc_bytes));
#ifdef SPARQ_BENCH_HAVE_OPENBLAS
    if (b->cpu_device)
        printf("OpenBLAS: %d threads (its default), %s\n", openblas_get_num_threads(),
               openblas_get_config());
#else
    printf("OpenBLAS: not built in (pkg-config openblas not found)\n");
#endif
    if (cfg->chain == 1)
        printf("values: %s; timing: median [min, max] of %d calls after %d warm-up rounds, "
               "wall time around each call + clWaitForEvents (latency); per row, AUTO, SPARSE, "
               "the dense path, CLBlast, OpenBLAS and (batch 1) the native ceiling called in "
               "turns, one call each per round\n",
               cfg->f16 ? "f16" : "f32", cfg->repeats, WARMUP);
    else
        printf("values: %s; timing: median [min, max] of %d samples after %d warm-up rounds, "
               "each %d calls on consecutive copies enqueued back to back, wall time to the "
               "last one's clWaitForEvents / %d (steady state); per row, AUTO, SPARSE, the "
               "dense path, CLBlast, OpenBLAS and (batch 1) the native ceiling sampled in turns, "
               "one sample each per round\n",
               cfg->f16 ? "f16" : "f32", cfg->repeats, WARMUP, cfg->chain, cfg->chain);
    printf("rotation: >= %zu MiB of weights per measured set (separate sparq_matrix objects / "
           "buffers), at most %d copies and %.0f MiB per set (a quarter of the device's "
           "global memory, at most 2 GiB); every copy touched once before timing\n",
           cfg->rotate_mib, MAX_COPIES, bench_mib(b->set_budget));
    printf("GB/s: (packed weight bytes, or dense f32 bytes when AUTO runs the dense path) + "
           "X + Y bytes, over the median\n");
    printf("idle threads of the host peers sleep: OMP_WAIT_POLICY=%s, "
           "OPENBLAS_THREAD_TIMEOUT=%s (2^n cycles of spinning)\n",
           getenv("OMP_WAIT_POLICY"), getenv("OPENBLAS_THREAD_TIMEOUT"));
    if (b->cpu_device)
        printf("xNat (batch 1): the native ceiling, hand-written AVX2 C on the same packed "
               "bytes with sparq's algorithm and the OpenMP threads (bench/native.c), median "
               "/ sparq_linear median (1: sparq as fast as native code)\n");
    if (b->cpu_device)
        printf("roofT: GB/s over the C read loop's best GB/s in the same rounds (one pass "
               "over a %zu MiB slice of its buffer per call, timed in turns with the row's "
               "calls), so that a machine whose bandwidth drifts compares like with like; "
               "roof: over the best roof measured once at the start\n",
               b->cfg.roof_mib / READ_SLICES);
    printf("xCLB, xOBLAS: peer median / sparq_linear (AUTO) median (> 1: sparq faster); "
           "/dense: sparq_linear median / the faster of the dense path and CLBlast "
           "('!' when > %.2f)\n",
           FLAG_RATIO);
}

/* The cases line, the JSON's header (the run's settings) and the table's header. */
void report_begin(bench *b, size_t per_shape)
{
    const config *cfg = &b->cfg;
    printf("cases: %zu shapes x %zu format/sparsity pairs x %zu batches = %zu (each: "
           "AUTO and SPARSE, timed in turns with the dense path, CLBlast%s)\n",
           cfg->nshapes, per_shape, cfg->nbatches, b->case_count,
           b->cpu_device ? ", OpenBLAS" : "");
    fprintf(stderr, "bench_sparse: %zu cases\n", b->case_count);
    if (b->json) {
        b->json_started = 1;
        fputs("{\n  \"device\": ", b->json);
        json_string(b->json, b->caps->name);
        fputs(", \"platform\": ", b->json);
        json_string(b->json, b->caps->platform_name);
        fprintf(b->json, ", \"cpu_device\": %s, \"roof_gbs\": %.4f, \"repeats\": %d, "
                         "\"chain\": %d, \"warmup\": %d, \"rotate_mib\": %zu, "
                         "\"encoding\": \"%s\",\n"
                         "  \"cases\": [",
                b->cpu_device ? "true" : "false", b->roof_gbs, cfg->repeats, cfg->chain, WARMUP,
                cfg->rotate_mib, cfg->f16 ? "f16" : "f32");
    }
    print_header(b);
}

/* The JSON's footer (where its header was written) and, when every case ran, the
 * summary line. */
void report_end(bench *b, sparq_status st)
{
    if (b->json_started) {
        fprintf(b->json,
                "\n  ],\n  \"complete\": %s, \"flagged\": %d, \"auto_dense_but_sparse_faster\": "
                "%d, \"unavailable\": %d\n}\n",
                st == SPARQ_OK ? "true" : "false", b->flagged, b->misrouted, b->unavailable);
    }
    if (st == SPARQ_OK)
        printf("\n%zu rows; %d flagged '!' (sparq_linear > %.2fx the best dense alternative); "
               "%d where AUTO ran the dense path but SPARSE was > %.2fx faster; %d not "
               "runnable yet (n/a)\n",
               b->case_count, b->flagged, FLAG_RATIO, b->misrouted, FLAG_RATIO, b->unavailable);
}
