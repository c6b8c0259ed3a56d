/* SPDX-License-Identifier: Apache-2.0 */
/* bench_sparse_parts.h - what the files of bench_sparse share: the options, the run's state and
 * one report row (one definition each), and the functions one file calls in another.
 * Calls go one way: bench_sparse.c (main, options) -> _run.c (rotation sets, timing in
 * turns) -> _report.c (the table, CSV and JSON) and _roof.c (the bandwidth roof, the C
 * read loop) -> common.c (what every benchmark shares). */
#ifndef SPARQ_BENCH_SPARSE_PARTS_H
#define SPARQ_BENCH_SPARSE_PARTS_H

#include "sparq.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define WARMUP 2           /* untimed rounds before the timed ones                  */
#define MAX_LIST 16        /* entries per option list                               */
#define MAX_COPIES 4096    /* most weight copies in one rotation                    */
#define FLAG_RATIO 1.10    /* rows where sparq_linear is this much slower are flagged */
#define MAX_STREAMS 7      /* streams timed in turns in one row                     */
#define READ_SLICES 8      /* the read stream's slices of the roof buffer (64 MiB each
                            * at the default 512 MiB roof)                           */

/* One format measured (--structures): a format spelling (sparq_format_parse), with
 * ":w8a8" for dense int8 weights whose activations are quantized too. */
typedef struct bench_format {
    sparq_pack_options format; /* as spelled; with --f16, f32 values become f16        */
    int w8a8;                  /* sparq_matrix_options.quantize_activations            */
    int pruned;                /* CSR, BSR: measured at every --sparsities; dense and
                                * N:M once per shape (N:M at its own sparsity)          */
    char name[64];             /* sparq_format_name, ":w8a8" appended: the row's label */
} bench_format;

typedef struct config {
    size_t shapes[MAX_LIST][2]; /* rows x cols */
    size_t nshapes;
    bench_format formats[MAX_LIST];
    size_t nformats;
    double sparsities[MAX_LIST];
    size_t nsparsities;
    size_t batches[MAX_LIST];
    size_t nbatches;
    int repeats;
    int chain;         /* calls per timed sample, enqueued back to back, one wait     */
    int f16;
    size_t rotate_mib; /* weight bytes in rotation per measured set              */
    size_t roof_mib;   /* bytes streamed by the roof measurements                  */
    const char *csv_path, *json_path;
} config;

typedef struct timing {
    int ok; /* measured */
    double median, min, max; /* seconds */
} timing;

/* Where a rotation set stands: kept with the set, so it carries over from one batch to
 * the next. */
typedef struct rotation {
    size_t next; /* the copy the next timed call uses */
    int primed;  /* every copy has been called once   */
} rotation;

typedef struct bench {
    config cfg;
    sparq_context *ctx;
    cl_command_queue q;
    const sparq_device_caps *caps;
    int cpu_device;       /* caps->type == SPARQ_DEVICE_TYPE_CPU                      */
    cl_mem x, y;          /* activations, sized for the largest batch and shape       */
    float *hx, *hy;       /* the same X on the host, for OpenBLAS                     */
    double roof_gbs;
    float *read_buf;      /* CPU device: the C read loop's buffer (roof_mib), kept for
                           * the read stream timed in turns with every row             */
    size_t read_blocks;   /* its blocks of 16 floats                                    */
    rotation read_rot;    /* which slice of it the read stream reads next               */
    uint64_t set_budget;  /* device bytes one rotation set may take                   */
    uint64_t host_budget; /* host bytes of the OpenBLAS rotation                        */
    uint64_t rng;         /* splitmix64 state of the weights and activations (common.h) */
    FILE *csv, *json;
    int json_started, json_rows;
    size_t cases_done, case_count;
    int flagged, unavailable, misrouted;
} bench;

/* The dense alternatives' times of one row, measured in turns with its AUTO and SPARSE
 * calls. */
typedef struct dense_peers {
    timing dense;    /* sparq_linear on a PATH_DENSE matrix                           */
    timing clblast;  /* sparq_linear_dense(CLBLAST)                                   */
    timing openblas; /* cblas_sgemv / cblas_sgemm on the host                         */
    char dense_kernel[32];
} dense_peers;

/* One row of the report: one case at one batch. */
typedef struct case_row {
    size_t rows, cols, batch;
    const char *format;      /* its bench_format's name                               */
    double sparsity, density, bits;
    uint64_t packed_bytes;
    timing t_auto, t_sparse;
    timing t_native;         /* the native ceiling on the same packed bytes (batch 1)  */
    timing t_read;           /* CPU device: the C read loop over one slice, in turns   */
    int auto_dense;          /* AUTO resolved to the dense path                      */
    double auto_rotation_mib, sparse_rotation_mib;
    char plan[1024];         /* sparq_plan_explain of the AUTO matrix                */
    char kernel[64];         /* its kernel, short (plan_kernel_name; "-": no plan)   */
    char note[256];          /* why something was not measured                       */
} case_row;

/* bench_sparse_run.c: every format and sparsity of one shape, with its dense
 * alternatives, measured and emitted row by row. */
sparq_status run_shape(bench *b, size_t rows, size_t cols);

/* bench_sparse_roof.c: the roof (sparq_bandwidth_measure and, on a CPU device, the C read
 * loop, whose buffer it allocates in b->read_buf); and n passes of the C read loop, pass i
 * over slice (first + i) mod slices of that buffer. */
sparq_status measure_roof(bench *b);
void read_slices(const bench *b, size_t first, size_t n, size_t slices);

/* bench_sparse_report.c: the setup lines; the kernel named by a sparq_plan_explain text;
 * the cases line, the JSON header and the table header; one row to the terminal, the CSV
 * and the JSON; the JSON footer and the summary line. */
void print_setup(const bench *b);
/* "csr_rowvec", "linear_dense_q_gemv", "dense/rowdot", "dense/tiled", "dense/CLBlast":
 * the kernel of a plan (sparq_plan_info_get), short. */
void plan_kernel_name(const sparq_plan_info *info, char *out, size_t size);
void report_begin(bench *b, size_t per_shape);
void emit_row(bench *b, const case_row *r, const dense_peers *p);
void report_end(bench *b, sparq_status st);

#endif
