/* SPDX-License-Identifier: Apache-2.0 */
/* internal.h - what host/ files share and tests may use, never installed: the
 * context struct, error and log helpers, the program cache and the kernel registry.
 */
#ifndef SPARQ_INTERNAL_H
#define SPARQ_INTERNAL_H

#include "sparq.h"
#include "status.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

/* An OpenCL failure: the status is the CL code, the sentence names it and `what`. */
sparq_status sparq_fail_cl(cl_int err, const char *what);

/* ---- kernel sources (host/program.c) --------------------------------------------- */

/* One embedded file of kernels/ (generated at build time by cmake/embed_kernels.cmake). */
typedef struct sparq_embedded_source {
    const char *name; /* "linear_dense.cl" */
    const char *text;
    size_t size;
} sparq_embedded_source;

extern const sparq_embedded_source sparq_embedded_sources[];
extern const size_t sparq_embedded_source_count;

/* Loads kernels/<name> (from SPARQ_KERNEL_DIR when set, else the embedded copy) with
 * each `#include "x.clh"` line replaced by that file's text. *text is malloc'ed. */
sparq_status sparq_source_load(const char *name, char **text, size_t *size);

/* ---- kernel registry (host/registry.c) ------------------------------------------- */

enum {
    SPARQ_FEATURE_FP16 = 1u << 0,
    SPARQ_FEATURE_FP64 = 1u << 1,
    SPARQ_FEATURE_SUBGROUPS = 1u << 2,
    SPARQ_FEATURE_INT_DOT = 1u << 3
};

#define SPARQ_MAX_CANDIDATES 8
/* Registry rows a context counts launches of (test_registry_rows checks the registry
 * fits). */
#define SPARQ_MAX_KERNELS 64

/* One tuning knob of a kernel: a -D NAME=value build option, named <TAG>_<KNOB> where
 * TAG names the kernel's code (CSR_VECTOR_WG, NM_TILED_TB, QTILE_R; spmm_bsr_gemv runs
 * spmm_bsr_tile's code and shares its BSR_TILE_ knobs). */
typedef struct sparq_tunable {
    const char *name;                         /* the macro, e.g. "CSR_VECTOR_WG"       */
    unsigned default_cpu, default_gpu;        /* used until a tuned value exists       */
    unsigned candidates[SPARQ_MAX_CANDIDATES];/* what a tuner tries; 0 ends the list   */
} sparq_tunable;

/* A condition on a kernel's tunables that depends on nothing but them and the device,
 * declared in its registry row and checked by sparq_kernel_params_fit before any rank
 * function sees a setting. Conditions that depend on the matrix stay in the rank. */
typedef enum sparq_rule_kind {
    SPARQ_RULE_END = 0,      /* ends the list                                          */
    SPARQ_RULE_WORK_GROUP,   /* a is the work-group size: at most the device's limit   */
    SPARQ_RULE_DIVIDES,      /* a divides b                                            */
    SPARQ_RULE_MULTIPLE,     /* a is a multiple of n                                   */
    SPARQ_RULE_CANDIDATE,    /* a is one of its candidates (what the kernel's code has) */
    SPARQ_RULE_LOCAL_FLOATS, /* a x b floats (no b: a) times n / 32 (no n: 1) of local
                              * memory fit the device's                                */
    SPARQ_RULE_PRIVATE       /* a x b (no b: a) x n 32-bit values a work-item keeps
                              * (accumulators) fit its registers: on GPUs at most
                              * SPARQ_GPU_PRIVATE_VALUES, elsewhere unlimited           */
} sparq_rule_kind;

/* The accumulators a GPU work-item may keep (32-bit values). Measured by the GPU build
 * gate (tests/gpu_build): up to 96 the tiled kernels build without spills on sm_80/sm_90
 * (W8A8 at 96: 253 registers), at 128 they spill there or on gfx90a (spmm_bsr_tile
 * TSR 8 x TB 2 i4: 1072 bytes, TSR 4 x TB 4 i4: 1020; QTILE R 2 x TB 8 i4: 32; W8A8
 * S 2 x TB 8: 832). */
#define SPARQ_GPU_PRIVATE_VALUES 96

typedef struct sparq_tunable_rule {
    sparq_rule_kind kind;
    const char *a, *b; /* tunable names */
    unsigned n;
} sparq_tunable_rule;

#define SPARQ_MAX_RULES 4

/* Chosen values, in the order of the kernel's tunables. */
typedef struct sparq_kernel_params {
    unsigned value[SPARQ_MAX_TUNABLES];
} sparq_kernel_params;

typedef struct sparq_matrix sparq_matrix;

/* One sparq_linear call after validation: what every kernel's enqueue receives. */
typedef struct sparq_linear_args {
    const sparq_matrix *matrix;
    cl_command_queue queue;
    size_t batch;
    cl_mem x;
    size_t x_offset;
    cl_mem y;
    size_t y_offset;
    cl_mem bias; /* NULL: no bias */
    size_t bias_offset;
    cl_uint activation; /* sparq_activation */
    cl_uint num_wait;
    const cl_event *wait_list;
    cl_event *event;
} sparq_linear_args;

typedef struct sparq_kernel_info sparq_kernel_info;

/* How well a kernel suits one case (matrix, batch, device): what its rank function
 * returns. Dispatch takes the highest among the kernels that run the matrix's format
 * (the first registry row among equals) unless a tuning database names a faster one
 * (host/plan.c). Levels compare only among kernels of the same format. */
typedef enum sparq_rank_level {
    SPARQ_RANK_REFUSED = 0,    /* can't run the case here; why says what is missing   */
    SPARQ_RANK_FALLBACK = 1,   /* runs it, shaped for neither the case nor the device:
                                * the general kernels                                  */
    SPARQ_RANK_OFF_REGIME = 2, /* runs it, shaped for another batch regime or device  */
    SPARQ_RANK_SHAPED = 3,     /* shaped for this batch regime                        */
    SPARQ_RANK_BEST = 4        /* shaped for this regime on this device type          */
} sparq_rank_level;

/* The kernel's sparq_rank_level for this matrix, batch, device and parameters; why
 * gets the reason either way. */
typedef int (*sparq_rank_fn)(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                             const sparq_kernel_params *p, char *why, size_t why_size);
/* Sets arguments and enqueues one sparq_linear with these parameters. */
typedef sparq_status (*sparq_enqueue_fn)(sparq_context *ctx, const sparq_kernel_info *k,
                                         const sparq_linear_args *a,
                                         const sparq_kernel_params *p);

/* One kernel, one row of the registry that dispatch, tests, bench and tuner read. Each
 * op file defines its rows beside their rank and enqueue functions (a family, below);
 * host/registry.c lists the families. Kernels that sparq_linear dispatches to have a
 * structure, rank and enqueue; helper kernels (fills, bandwidth) have rank and enqueue
 * NULL. */
struct sparq_kernel_info {
    const char *name;           /* <op>_<structure>_<variant>, the __kernel's name     */
    const char *source;         /* file under kernels/                                 */
    unsigned required_features; /* SPARQ_FEATURE_* bits the device must have           */
    sparq_structure structure;  /* the matrices it runs (dense for helpers)            */
    const char *summary;
    sparq_tunable tunables[SPARQ_MAX_TUNABLES]; /* name NULL ends the list             */
    sparq_rank_fn rank;
    sparq_enqueue_fn enqueue;
    unsigned encodings;         /* bits 1 << sparq_encoding it runs; 0: f32 and f16   */
    bool w8a8;                  /* runs matrices with quantize_activations            */
    sparq_tunable_rule rules[SPARQ_MAX_RULES]; /* on its tunables; kind END ends them  */
};

/* One op file's registry rows, in registry order (host/<op file>.c defines it). */
typedef struct sparq_kernel_family {
    const sparq_kernel_info *rows;
    size_t count;
} sparq_kernel_family;

/* Registry row i (rows are numbered across the families in registry.c's order); NULL
 * from sparq_kernel_registry_size() on. */
const sparq_kernel_info *sparq_kernel_row(size_t i);
const sparq_kernel_info *sparq_kernel_find(const char *name);
/* The row of kernel `name`; SIZE_MAX when the registry has none. */
size_t sparq_kernel_index(const char *name);
/* Whether kernel k is a sparq_linear kernel for this format: its structure, one of its
 * encodings, and W8A8 or not. */
bool sparq_kernel_runs_format(const sparq_kernel_info *k, const sparq_pack_options *fmt,
                              bool quantize_activations);
/* Whether some registered kernel runs this format. */
bool sparq_format_has_kernels(const sparq_pack_options *fmt, bool quantize_activations);

/* ---- a kernel's tunables (host/tunables.c) ---------------------------------------- */

/* The defaults of k's tunables for this device type, as the registry row declares them. */
void sparq_kernel_type_defaults(const sparq_kernel_info *k, const sparq_device_caps *caps,
                                sparq_kernel_params *p);
/* k's built-in defaults on this device: the type defaults, or where they break one of
 * the device's rules (a work-group limit under 64, little local memory) the nearest
 * setting of k's candidates that fits (sparq_kernel_params_nearest); caps NULL: the CPU
 * type defaults. */
void sparq_kernel_default_params(const sparq_kernel_info *k, const sparq_device_caps *caps,
                                 sparq_kernel_params *p);
/* Whether p is a possible setting on this device: no value 0 and every rule of k's row
 * met; why says which is not. */
bool sparq_kernel_params_fit(const sparq_kernel_info *k, const sparq_kernel_params *p,
                             const sparq_device_caps *caps, char *why, size_t why_size);
/* k's rank for this case (sparq_rank_level): SPARQ_RANK_REFUSED when p does not fit
 * the device (sparq_kernel_params_fit), else what k's rank function says. Dispatch, the
 * tuner and forced runs all rank through here. */
int sparq_kernel_rank(const sparq_kernel_info *k, const sparq_matrix *m, size_t batch,
                      const sparq_device_caps *caps, const sparq_kernel_params *p, char *why,
                      size_t why_size);
/* Where p does not run the case (sparq_kernel_rank of (m, batch); m NULL: the device's
 * rules alone, sparq_kernel_params_fit), p becomes the nearest setting that does among
 * those k's candidates span (fewest tunables changed, then the least moved in powers of
 * two, then the higher rank), and why keeps what p broke. Returns the rank of p as it
 * ends (1 for m NULL), or 0 with p unchanged and why saying why no setting runs it. */
int sparq_kernel_params_nearest(const sparq_kernel_info *k, const sparq_matrix *m, size_t batch,
                                const sparq_device_caps *caps, sparq_kernel_params *p,
                                char *why, size_t why_size);
/* The value in p of k's work-group tunable (its SPARQ_RULE_WORK_GROUP; 0 if none). */
unsigned sparq_kernel_work_group(const sparq_kernel_info *k, const sparq_kernel_params *p);
/* The value of tunable `name` in p (0 if k has no such tunable). */
unsigned sparq_kernel_param(const sparq_kernel_info *k, const sparq_kernel_params *p,
                            const char *name);
/* Appends "-DNAME=value" for each tunable to options (space-separated; size bytes,
 * NUL-terminated). */
void sparq_kernel_options_append(const sparq_kernel_info *k, const sparq_kernel_params *p,
                                 char *options, size_t size);

/* ---- context (host/context.c) ---------------------------------------------------- */

typedef struct sparq_tunedb sparq_tunedb;

/* The XXH64 of one kernel file's code (includes expanded; comments and runs of blanks
 * left out), as 16 hex digits: tuning entries carry it, so a changed kernel invalidates
 * its own entries, and a comment or layout edit none. */
typedef struct sparq_source_hash {
    const char *source; /* registry's source name, e.g. "spmm_csr.cl" */
    char hex[17];
} sparq_source_hash;

typedef struct sparq_program_entry {
    uint64_t key_lo, key_hi; /* hash of source name, options and kernel folder */
    cl_program program;
} sparq_program_entry;

struct sparq_context {
    cl_context cl_ctx;
    cl_device_id device;
    cl_command_queue queue;          /* created lazily by sparq_context_queue()      */
    sparq_device_caps caps;
    char choice[512];
    char platform_version[256];
    char cache_dir[1024];
    bool disk_cache;
    pthread_mutex_t lock;            /* guards programs[] and queue creation         */
    sparq_program_entry *programs;
    size_t program_count, program_capacity;
    atomic_uint holders;            /* the caller and each of its matrices: the context
                                     * goes when the last of them lets go            */
    atomic_uint_fast64_t kernel_launches;
    atomic_uint_fast64_t row_launches[SPARQ_MAX_KERNELS]; /* per registry row         */
    /* per registry row: the smallest CL_KERNEL_WORK_GROUP_SIZE a build of it reported
     * below the work-group it was launched with (0: none); plans keep under it */
    atomic_size_t row_work_group_limit[SPARQ_MAX_KERNELS];
    atomic_uint_fast64_t work_group_refusals; /* launches refused for that limit       */
    atomic_uint_fast64_t peer_calls;
    atomic_bool peer_failed;        /* CLBlast failed on this device: AUTO keeps off it */
    atomic_uint_fast64_t programs_built;
    atomic_uint_fast64_t program_memory_hits;
    atomic_uint_fast64_t program_disk_hits;
    atomic_uint_fast64_t program_disk_rejects;
    /* tuning (guarded by lock): the user's database, loaded at first use unless
     * SPARQ_TUNE=off (then no database is read: built-in defaults only) */
    bool tune_loaded, tune_off;
    sparq_tunedb *tune_user;
    sparq_source_hash source_hashes[16];
    size_t source_hash_count;
};

/* The device's capabilities as kernel k may use them: ctx's, with the work-group limit
 * lowered to what a build of k allowed (row_work_group_limit). */
void sparq_kernel_caps(sparq_context *ctx, const sparq_kernel_info *k, sparq_device_caps *caps);
/* Notes that a build of kernel row `row` allows at most `limit` work-items a group. */
void sparq_kernel_limit_note(sparq_context *ctx, size_t row, size_t limit);

/* Whether queue runs its commands in order (host/linear_dense.c): CLBlast, which takes
 * no wait list, then starts after what sparq enqueued before it without a barrier. */
bool sparq_queue_in_order(cl_command_queue queue);

/* SPARQ_OK when every reserved word of an options struct is 0 (sparq.h: structs that
 * grow); else SPARQ_ERROR_INVALID_ARGUMENT naming the call, the struct and the word, e.g.
 * "matrix_create: sparq_matrix_options.reserved[0] is 0x1, not 0 (...)". */
sparq_status sparq_check_reserved(const uint64_t reserved[SPARQ_RESERVED_WORDS],
                                  const char *call, const char *type);

/* Resolves the cache folder and whether it is on, from options and environment. */
void sparq_cache_resolve(const sparq_context_options *options, char *dir, size_t dir_size,
                         bool *enabled);

/* Returns the built program for kernels/<source> with these build options, from the
 * context's memory, the disk cache, or a fresh build. Fails with
 * SPARQ_ERROR_UNSUPPORTED if the device lacks a required feature. The program stays
 * owned by the context. */
sparq_status sparq_program_get(sparq_context *ctx, const char *source, const char *options,
                               unsigned required_features, cl_program *program);

/* Whether kernels use the device's packed 4x8-bit dot products (SPARQ_HAS_INTEGER_DOT):
 * cl_khr_integer_dot_product on an OpenCL 3.0 device, its programs built as OpenCL C 3.0. */
bool sparq_device_int_dot(const sparq_device_caps *caps);
/* The options a program is built with on a device of these caps: the OpenCL C version,
 * on CPUs prefetching, what the device has (SPARQ_HAS_SUBGROUPS, SPARQ_HAS_INTEGER_DOT
 * with OpenCL C 3.0 on OpenCL 3.0 devices), before the op's own (options; NULL: none). */
void sparq_program_options(const sparq_device_caps *caps, const char *options, char *out,
                           size_t size);

/* The hash of kernels/<source> as tuning entries record it (computed once per context).
 * hex gets 16 hex digits, or "" if the source can't be loaded. */
void sparq_source_hash_get(sparq_context *ctx, const char *source, char hex[17]);

/* Creates the registered kernel `name` (program built with options); the caller
 * releases it after enqueueing. */
sparq_status sparq_kernel_create(sparq_context *ctx, const char *name, const char *options,
                                 cl_kernel *kernel);

/* Enqueues an NDRange, counts the launch, logs it at debug level. */
sparq_status sparq_kernel_enqueue(sparq_context *ctx, cl_command_queue queue,
                                  cl_kernel kernel, const char *name, cl_uint dims,
                                  const size_t *global, const size_t *local,
                                  cl_uint num_wait, const cl_event *wait_list,
                                  cl_event *event);

/* Checks that buffer holds count elements of elem_size bytes from element offset;
 * what names the operand in the error sentence. */
sparq_status sparq_check_buffer(const char *op, const char *what, cl_mem buffer,
                                size_t offset, size_t count, size_t elem_size);

/* One more holder of ctx (a matrix): sparq_context_free releases it only when the caller
 * and every holder have let go (host/context.c). */
void sparq_context_hold(sparq_context *ctx);

/* sparq_context_queue with the status of the queue's creation (the OpenCL error passed
 * through) when it fails (host/context.c). */
sparq_status sparq_context_queue_get(sparq_context *ctx, cl_command_queue *queue);

/* Refuses (SPARQ_ERROR_INVALID_ARGUMENT) an input range that overlaps an output range,
 * in one buffer or in sub-buffers of one parent: a kernel writing the output while
 * reading the input computes garbage. Offsets and counts in elements of elem_size. */
sparq_status sparq_check_disjoint(const char *op, const char *read_what, cl_mem read,
                                  size_t read_offset, size_t read_count, const char *write_what,
                                  cl_mem write, size_t write_offset, size_t write_count,
                                  size_t elem_size);

/* A cache flush (host/bandwidth.c): a buffer of twice the device's global memory cache
 * (at least 16 MiB, at most the largest buffer) read by stream_dense_read, so that the
 * kernel enqueued after it finds no earlier data in the caches: measurements that must
 * see weights stream from memory, as in serving a model layer after layer (the tuner). */
typedef struct sparq_cache_flush {
    cl_mem buffer;
    cl_kernel kernel;
    size_t global; /* work-items of the read */
} sparq_cache_flush;

sparq_status sparq_cache_flush_create(sparq_context *ctx, cl_command_queue queue,
                                      sparq_cache_flush *f);
/* Enqueues one flush on queue (no event: an in-order queue runs it before what follows). */
sparq_status sparq_cache_flush_enqueue(sparq_context *ctx, cl_command_queue queue,
                                       const sparq_cache_flush *f);
/* Releases it; safe on a zeroed or freed flush. */
void sparq_cache_flush_free(sparq_cache_flush *f);

/* y[i] = act(y[i]) for i < count, after the wait event (host/linear_dense.c). */
sparq_status sparq_activate_dense(sparq_context *ctx, cl_command_queue queue, size_t count,
                                  cl_uint activation, cl_mem y, size_t y_offset,
                                  cl_event wait, cl_event *event);

/* n rounded up to a multiple of m (global sizes from work-group sizes). */
static inline size_t sparq_round_up(size_t n, size_t m)
{
    return (n + m - 1) / m * m;
}

/* Sets a kernel argument, turning an OpenCL failure into a named error. */
sparq_status sparq_set_arg(cl_kernel kernel, cl_uint index, size_t size, const void *value);

#endif /* SPARQ_INTERNAL_H */
