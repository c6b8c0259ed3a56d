/* SPDX-License-Identifier: Apache-2.0 */
/* sparq.h - the one public header of sparq, a C library of sparse and quantized
 * OpenCL kernels for serving pruned and quantized neural-network weights.
 * Its comments are the documentation: if a thing is not declared here, it is not API.
 *
 * Structs that grow. sparq_context_options, sparq_matrix_options, sparq_tune_options and
 * sparq_device_caps end in `uint64_t reserved[SPARQ_RESERVED_WORDS]`, from which later
 * versions carve new fields without changing the struct's size or any field's offset, so
 * the ABI (soname 0) holds. Zero the whole struct (`= {0}`, designated initializers, or
 * memset) and never write reserved: a field carved out later then reads 0, its default.
 * The library refuses an options struct with a reserved word that is not 0
 * (SPARQ_ERROR_INVALID_ARGUMENT, naming the struct and the word), so a program that sets a
 * newer field fails loudly on an older library instead of having it ignored. Structs the
 * library fills (sparq_device_caps) come back with reserved zeroed.
 */
#ifndef SPARQ_H
#define SPARQ_H

/* Define SPARQ_NO_OPENCL before including this header to get only the host-side API
 * (status, logging, formats, safetensors) without OpenCL's headers: formats/ is built
 * that way, which proves it needs no device. */
#ifndef SPARQ_NO_OPENCL
#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#endif
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define SPARQ_API
#else
#define SPARQ_API __attribute__((visibility("default")))
#endif

/* ------------------------------------------------------------------------------------
 * Version
 * ---------------------------------------------------------------------------------- */

#define SPARQ_VERSION_MAJOR 0
#define SPARQ_VERSION_MINOR 1
#define SPARQ_VERSION_PATCH 0

/* The reserved words at the end of the structs that grow (see the top of this file). */
#define SPARQ_RESERVED_WORDS 8

/* "0.1.0": the version of the library actually linked (may differ from the header). */
SPARQ_API const char *sparq_version_string(void);

/* ------------------------------------------------------------------------------------
 * Status codes and errors
 *
 * Every fallible call returns a sparq_status. SPARQ_OK is 0. OpenCL errors are passed
 * through unchanged with their own negative numbers (CL_OUT_OF_RESOURCES is -5 here too).
 * sparq's own codes are positive, from 1000 up, so the two ranges never meet.
 * After any failure, sparq_last_error() gives the sentence that says what was wrong.
 * ---------------------------------------------------------------------------------- */

typedef int sparq_status;

enum {
    SPARQ_OK = 0,
    SPARQ_ERROR_INVALID_ARGUMENT = 1000, /* NULL handle, zero size, bad enum value      */
    SPARQ_ERROR_OUT_OF_BOUNDS = 1001,    /* offset + extent past the end of a buffer    */
    SPARQ_ERROR_OUT_OF_MEMORY = 1002,    /* host allocation failed                      */
    SPARQ_ERROR_NO_PLATFORM = 1003,      /* no OpenCL platform (install an ICD: PoCL)   */
    SPARQ_ERROR_NO_DEVICE = 1004,        /* no device, or SPARQ_DEVICE matched none     */
    SPARQ_ERROR_UNSUPPORTED = 1005,      /* the device lacks a feature the call needs   */
    SPARQ_ERROR_BUILD_FAILED = 1006,     /* an OpenCL program did not compile           */
    SPARQ_ERROR_IO = 1007,               /* a file could not be read or written         */
    SPARQ_ERROR_INVALID_FORMAT = 1008,   /* a file or buffer is malformed               */
    SPARQ_ERROR_INVALID_DATA = 1009,     /* values not allowed here (NaN, Inf, ...)     */
    SPARQ_ERROR_PEER = 1010,             /* a peer library (CLBlast) failed on its own  */
    SPARQ_ERROR_INTERNAL = 1011          /* a bug in sparq: please report it            */
};

/* A short fixed name for any status: "SPARQ_ERROR_OUT_OF_BOUNDS", "CL_INVALID_MEM_OBJECT".
 * Never NULL; unknown codes give "unknown status". */
SPARQ_API const char *sparq_status_string(sparq_status status);

/* The sentence that explains the last failure on the calling thread, e.g.
 * "linear_dense: x needs 4096 bytes from offset 16 but the buffer has 4096".
 * "" when no call on this thread has failed yet. Valid until the next sparq call
 * on this thread. */
SPARQ_API const char *sparq_last_error(void);

/* ------------------------------------------------------------------------------------
 * Logging
 *
 * The library prints nothing unless logging is switched on, either by the environment
 * variable SPARQ_LOG=info|debug (read once, at the first call that logs), or by this call.
 * Log lines go to stderr and start with "sparq:". Info names the device chosen, each
 * program build and its time, and program-cache hits and misses; debug adds each kernel
 * launch with its sizes and parameters.
 * ---------------------------------------------------------------------------------- */

typedef enum sparq_log_level {
    SPARQ_LOG_OFF = 0,
    SPARQ_LOG_INFO = 1,
    SPARQ_LOG_DEBUG = 2
} sparq_log_level;

SPARQ_API void sparq_log_set_level(sparq_log_level level);

/* ------------------------------------------------------------------------------------
 * The two axes of a weight format (see DESIGN.md section 1)
 *
 * A weight matrix is rows x cols, one output feature per row (W[m, k] as in nn.Linear).
 * Its structure says what pruning left; its encoding says how the kept values are
 * stored. Every structure combines with every encoding.
 * ---------------------------------------------------------------------------------- */

typedef enum sparq_structure {
    SPARQ_STRUCTURE_DENSE = 0, /* every value stored                                 */
    SPARQ_STRUCTURE_CSR = 1,   /* unstructured: row_ptr, col_idx, values             */
    SPARQ_STRUCTURE_BSR = 2,   /* r x c blocks: block row_ptr, block col_idx, blocks */
    SPARQ_STRUCTURE_NM = 3     /* N kept of every M along cols (2:4), with positions */
} sparq_structure;

typedef enum sparq_encoding {
    SPARQ_ENCODING_F32 = 0,
    SPARQ_ENCODING_F16 = 1,    /* IEEE half storage, widened to float on use         */
    SPARQ_ENCODING_I8 = 2,     /* int8 with scales (and zero points if asymmetric)    */
    SPARQ_ENCODING_I4 = 3      /* int4, two per byte, with scales (and zero points)   */
} sparq_encoding;

/* Where quantization scales live. */
typedef enum sparq_scale_granularity {
    SPARQ_SCALE_TENSOR = 0,    /* one scale for the whole matrix                      */
    SPARQ_SCALE_ROW = 1,       /* one per output row                                  */
    SPARQ_SCALE_GROUP = 2      /* one per group of G consecutive values along cols    */
} sparq_scale_granularity;

/* Short lower-case names, as files, logs and the command line spell them: "dense",
 * "csr", "bsr", "nm"; "f32", "f16", "i8", "i4"; "tensor", "row", "group"; "?" for a value
 * outside the enum. */
SPARQ_API const char *sparq_structure_name(sparq_structure structure);
SPARQ_API const char *sparq_encoding_name(sparq_encoding encoding);
SPARQ_API const char *sparq_scale_granularity_name(sparq_scale_granularity granularity);

/* How the clipping range of a quantizer is chosen. */
typedef enum sparq_calibration {
    SPARQ_CALIBRATION_MINMAX = 0,     /* the full range of the values                 */
    SPARQ_CALIBRATION_PERCENTILE = 1, /* clip at a percentile of |x| (e.g. 99.99)     */
    SPARQ_CALIBRATION_MSE = 2         /* the clip ratio that minimises squared error  */
} sparq_calibration;

#ifndef SPARQ_NO_OPENCL
/* ------------------------------------------------------------------------------------
 * Devices
 *
 * Capabilities are probed once per device into this struct; kernel variants choose by
 * these fields, never by the device's name.
 * ---------------------------------------------------------------------------------- */

typedef enum sparq_device_type {
    SPARQ_DEVICE_TYPE_GPU = 0,
    SPARQ_DEVICE_TYPE_ACCELERATOR = 1,
    SPARQ_DEVICE_TYPE_CPU = 2,
    SPARQ_DEVICE_TYPE_OTHER = 3
} sparq_device_type;

typedef struct sparq_device_caps {
    char name[256];
    char vendor[256];
    char platform_name[256];
    char driver_version[128];     /* CL_DRIVER_VERSION                                 */
    char device_version[128];     /* CL_DEVICE_VERSION, "OpenCL 3.0 ..."               */
    char opencl_c_version[128];   /* CL_DEVICE_OPENCL_C_VERSION, "OpenCL C 1.2 ..."    */
    int opencl_c_major;           /* parsed from opencl_c_version: 1                   */
    int opencl_c_minor;           /*                               2                   */
    sparq_device_type type;
    cl_uint compute_units;
    cl_uint max_clock_mhz;
    cl_ulong global_mem_bytes;
    cl_ulong max_alloc_bytes;     /* largest single buffer                             */
    cl_ulong local_mem_bytes;
    int local_mem_is_dedicated;   /* 1: CL_LOCAL (on-chip), 0: emulated in global      */
    size_t max_work_group_size;
    cl_uint base_addr_align_bytes; /* sub-buffer origins must be multiples of this     */
    int has_fp16;                 /* cl_khr_fp16: half arithmetic (storage always works) */
    int has_fp64;                 /* cl_khr_fp64                                       */
    int has_subgroups;            /* cl_khr_subgroups or cl_intel_subgroups            */
    int has_int_dot_product;      /* cl_khr_integer_dot_product                        */
    int has_correct_division;     /* CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT for float       */
    cl_uint vector_width_char;    /* CL_DEVICE_PREFERRED_VECTOR_WIDTH_*                */
    cl_uint vector_width_short;
    cl_uint vector_width_int;
    cl_uint vector_width_float;
    cl_uint vector_width_half;
    uint64_t reserved[SPARQ_RESERVED_WORDS]; /* zeroed (see the top of this file)     */
} sparq_device_caps;

/* Probes an OpenCL device into *caps. */
SPARQ_API sparq_status sparq_device_caps_probe(cl_device_id device, sparq_device_caps *caps);

/* One device of one platform, as sparq_device_list() finds them. */
typedef struct sparq_device_entry {
    unsigned platform_index;
    unsigned device_index;   /* within its platform                                */
    cl_platform_id platform;
    cl_device_id device;
    sparq_device_caps caps;
} sparq_device_entry;

/* Lists every device of every platform, in platform order then device order.
 * On success *entries is a malloc'ed array of *count entries, freed with
 * sparq_device_list_free(). SPARQ_ERROR_NO_PLATFORM when the ICD loader finds no
 * platform at all (on Debian: apt-get install pocl-opencl-icd). */
SPARQ_API sparq_status sparq_device_list(sparq_device_entry **entries, size_t *count);
SPARQ_API void sparq_device_list_free(sparq_device_entry *entries);

/* Chooses a device among entries[0..count) the way sparq_context_create() does.
 * selector NULL or "" means automatic: a GPU first, then an accelerator, then a CPU
 * (PoCL), then anything; among equals the one with the most compute units, then the
 * first listed. Otherwise selector is "P:D" (platform index : device index, e.g. "0:1"),
 * or a case-insensitive substring of the device or platform name ("pthread", "NVIDIA").
 * *chosen receives the index into entries; reason (if not NULL) the sentence saying why.
 * SPARQ_ERROR_NO_DEVICE when nothing matches. */
SPARQ_API sparq_status sparq_device_choose(const sparq_device_entry *entries, size_t count,
                                           const char *selector, size_t *chosen,
                                           char *reason, size_t reason_size);

/* ------------------------------------------------------------------------------------
 * Contexts
 *
 * A sparq_context is one OpenCL context + device, its probed caps, its program cache,
 * and a default in-order queue with profiling on. It is safe to use one context from
 * several threads at once, each with its own queue: its caches are locked.
 * ---------------------------------------------------------------------------------- */

typedef struct sparq_context sparq_context;

/* All fields zero (or NULL options) means defaults. */
typedef struct sparq_context_options {
    /* Device selector, as for sparq_device_choose(). NULL: the environment variable
     * SPARQ_DEVICE if set, else automatic. */
    const char *device;
    /* Program-cache folder. NULL: $SPARQ_CACHE_DIR, else $XDG_CACHE_HOME/sparq,
     * else $HOME/.cache/sparq. Used only when it belongs to this user and is not
     * writable by group or others ("Program cache" below). */
    const char *cache_dir;
    /* 1: no on-disk program cache (as SPARQ_CACHE=off does). */
    int disable_disk_cache;
    uint64_t reserved[SPARQ_RESERVED_WORDS]; /* must be 0 (see the top of this file)  */
} sparq_context_options;

/* Creates an OpenCL context on the chosen device. */
SPARQ_API sparq_status sparq_context_create(const sparq_context_options *options,
                                            sparq_context **context);

/* Wraps the caller's cl_context and device: how an engine plugs sparq in. Both are
 * retained here and released by sparq_context_free(); the device must belong to the
 * context. options may be NULL; its device field is ignored. */
SPARQ_API sparq_status sparq_context_wrap(cl_context cl_ctx, cl_device_id device,
                                          const sparq_context_options *options,
                                          sparq_context **context);

/* Releases everything the context holds. sparq_context_free(NULL) is a no-op. Each
 * matrix of the context holds it too: the context (its OpenCL context, queue and
 * programs) goes when the caller and all its matrices have let go, so matrices and their
 * context may be freed in any order, and a matrix still runs after its context was freed
 * (on the queue the caller passes). Free the context once; threads may free matrices
 * while others run sparq_linear on other matrices. */
SPARQ_API void sparq_context_free(sparq_context *context);

/* Accessors; the handles stay owned by the context (retain them to keep them longer). */
SPARQ_API cl_context sparq_context_cl_context(const sparq_context *context);
SPARQ_API cl_device_id sparq_context_cl_device(const sparq_context *context);
/* The context's own in-order queue with CL_QUEUE_PROFILING_ENABLE, created on first use. */
SPARQ_API cl_command_queue sparq_context_queue(sparq_context *context);
SPARQ_API const sparq_device_caps *sparq_context_caps(const sparq_context *context);
/* The sentence saying why this device was chosen ("wrapped by the caller" when wrapped). */
SPARQ_API const char *sparq_context_choice(const sparq_context *context);

/* Counters since the context was created. Tests use launches to prove a kernel ran. */
typedef struct sparq_context_stats {
    uint64_t kernel_launches;     /* sparq's own kernels enqueued                      */
    uint64_t peer_calls;          /* calls into CLBlast                                */
    uint64_t programs_built;      /* compiled from source                              */
    uint64_t program_memory_hits; /* found already built in this context               */
    uint64_t program_disk_hits;   /* loaded from the on-disk binary cache              */
    uint64_t program_disk_rejects;/* cache entries found corrupt and rebuilt           */
} sparq_context_stats;

SPARQ_API sparq_status sparq_context_get_stats(const sparq_context *context,
                                               sparq_context_stats *stats);

/* Launches of the registry kernel `kernel` (a sparq_kernel_desc name) in this context
 * since it was created; 0 for a name the registry lacks. */
SPARQ_API uint64_t sparq_context_kernel_launches(const sparq_context *context,
                                                 const char *kernel);

/* ------------------------------------------------------------------------------------
 * The kernel registry
 *
 * Every kernel sparq has is one row of the registry: what dispatch ranks, the tuner
 * times, the tests walk and `sparq tune --list` prints.
 * ---------------------------------------------------------------------------------- */

#define SPARQ_MAX_TUNABLES 4

typedef struct sparq_kernel_desc {
    const char *name;          /* <op>_<structure>_<variant>: "spmm_csr_rowvec"       */
    const char *source;        /* its file under kernels/: "spmm_csr.cl"              */
    const char *summary;       /* one sentence: what it computes and how              */
    sparq_structure structure; /* the matrices it runs (dense for helper kernels)     */
    unsigned encodings;        /* bit (1u << sparq_encoding) for each it runs         */
    int w8a8;                  /* 1: runs matrices created with quantize_activations  */
    int dispatched;            /* 1: sparq_linear may choose it; 0: a helper the
                                * library launches itself (fills, activations, the
                                * bandwidth roof, W8A8's activation quantizer)        */
    unsigned tunable_count;
    const char *tunables[SPARQ_MAX_TUNABLES]; /* its -D tunables: "CSR_ROWVEC_WG", ...*/
} sparq_kernel_desc;

/* The number of registry rows; rows are 0 .. count - 1, in the registry's order. */
SPARQ_API size_t sparq_kernel_registry_size(void);
/* Row index of the registry; SPARQ_ERROR_OUT_OF_BOUNDS past the last. */
SPARQ_API sparq_status sparq_kernel_describe(size_t index, sparq_kernel_desc *desc);

/* ------------------------------------------------------------------------------------
 * Program cache
 *
 * Compiled programs are kept on disk as binaries, one file per key, where the key is a
 * hash of the kernel source, build options, device name, vendor, driver version,
 * platform version and sparq version. Entries carry a checksum; a corrupt or truncated
 * entry is rebuilt, never trusted. Writes are atomic (temporary file + rename).
 * Trust: entries are native code that the driver runs in this process, and a checksum
 * only catches damage (anyone who can write the folder can write a valid entry). So, as
 * ssh does with ~/.ssh, the cache is read and written only while its folder belongs to
 * the process's effective user and is not writable by group or others (mode & 022 == 0;
 * 0755 is fine), and an entry is loaded only when it is a regular file (not a symbolic
 * link) with the same owner and no group or other write. Otherwise the program is
 * built from source (the call still succeeds, only slower) and, with logging on, a
 * warning names the folder or entry and the reason (once, not per program). Folders
 * sparq creates are 0700 and its entries 0600 (less the umask). The folder's parents
 * are not checked.
 * SPARQ_CACHE=off disables the disk cache. SPARQ_KERNEL_DIR=path loads kernel sources
 * from that folder instead of the copies embedded at build time (kernel development);
 * a context reads each source once per folder, so edits need a new context. Within a
 * context, launches find their program by source name and options without reading or
 * hashing the source again.
 * ---------------------------------------------------------------------------------- */

typedef struct sparq_cache_info {
    char path[1024];   /* the folder in use (whether or not it exists yet)              */
    int enabled;       /* 0 when disabled by options or SPARQ_CACHE=off                 */
    size_t entries;    /* number of cached program binaries                             */
    uint64_t bytes;    /* their total size                                              */
} sparq_cache_info;

/* Describes the cache that a context created with these options would use. */
SPARQ_API sparq_status sparq_cache_get_info(const sparq_context_options *options,
                                            sparq_cache_info *info);

/* ------------------------------------------------------------------------------------
 * Dense f32 linear layer on raw buffers
 *
 *   Y[b, m] = sum_k X[b, k] * W[m, k]  (+ bias[m])       b < batch, m < rows, k < cols
 *
 * what torch.nn.Linear computes: X is batch x cols row-major, W is rows x cols
 * row-major (one output feature per row), Y is batch x rows row-major.
 *
 * Enqueue convention, shared by every device call of sparq:
 *   - the queue is passed by value and may be out of order;
 *   - operands are (cl_mem, offset) with offsets counted in elements of the operand's
 *     type (floats here), as in CLBlast; offset + extent is checked against the
 *     buffer's size;
 *   - the call starts after the num_wait events in wait_list; if event is not NULL it
 *     receives an event that completes when Y is written, owned by the caller
 *     (clReleaseEvent it). When several kernels are enqueued they are chained by
 *     events internally. There is no hidden clFinish: the call returns once enqueued.
 * ---------------------------------------------------------------------------------- */

typedef enum sparq_dense_backend {
    SPARQ_DENSE_BACKEND_AUTO = 0,    /* sparq's kernel up to batch 8, CLBlast above  */
    SPARQ_DENSE_BACKEND_SPARQ = 1,   /* sparq's own kernel                           */
    SPARQ_DENSE_BACKEND_CLBLAST = 2  /* CLBlast SGEMV (batch 1) / SGEMM              */
} sparq_dense_backend;

/* bias may be NULL (no bias). Returns SPARQ_ERROR_UNSUPPORTED for the CLBlast backend
 * when sparq was built without CLBlast, or when CLBlast's kernels want larger
 * work-groups or more local memory than the device has (AUTO then runs sparq's own
 * kernel, on this context from then on).
 *
 * CLBlast takes no wait list. On an in-order queue it simply follows sparq's fill of Y;
 * on an out-of-order queue the CLBlast backend enqueues a barrier on that fill, which
 * also holds back the queue's other commands until the fill has run: AUTO (and
 * sparq_linear's dense path) therefore never calls CLBlast on an out-of-order queue.
 * CLBlast keeps the programs it builds, each holding the cl_context, in one cache for
 * the whole process: sparq_context_free of a context that called CLBlast clears that
 * cache so the cl_context can go. An engine that calls CLBlast itself in the same
 * process keeps working; its next calls rebuild (or reload) their programs. */
SPARQ_API sparq_status sparq_linear_dense(sparq_context *context, cl_command_queue queue,
                                          sparq_dense_backend backend, size_t batch,
                                          size_t rows, size_t cols,
                                          cl_mem x, size_t x_offset,
                                          cl_mem w, size_t w_offset,
                                          cl_mem bias, size_t bias_offset,
                                          cl_mem y, size_t y_offset,
                                          cl_uint num_wait, const cl_event *wait_list,
                                          cl_event *event);

/* ------------------------------------------------------------------------------------
 * Device matrices and sparq_linear
 *
 * Weights are prepared once and launched many times: sparq_matrix_create() uploads a
 * packed host matrix (any structure x encoding the device kernels support) and lays
 * it out the way the kernels want; sparq_linear() then binds only activations:
 *
 *   Y[b, m] = act( sum_k X[b, k] * W[m, k] + bias[m] )     b < batch, m < rows
 *
 * with X batch x cols and Y batch x rows, row-major, offsets in floats, and the same
 * enqueue convention as sparq_linear_dense() (wait list in, event out, no clFinish).
 * A matrix may be used from several threads at once, each with its own queue.
 *
 * NaN and Inf. Kernels multiply the zeros their format stores (in BSR blocks, N:M
 * groups, dense and quantized weights, CLBlast) as any weight: 0 * NaN = NaN, and
 * masking them would cost every call. What every kernel and path gives, at every batch,
 * for each Y[b, m], with W the weights as the matrix holds them (after quantization):
 *   1. X[b, :] and bias[m] all finite: the result above (finite unless it overflows);
 *   2. else some X[b, k] NaN with W[m, k] != 0: NaN;
 *   3. else some X[b, k] = +-Inf with W[m, k] != 0: that infinity or NaN (NaN where
 *      infinities of both signs meet);
 *   4. else (NaN and Inf in X[b, :] meet only zero weights of row m, pruned or stored):
 *      the finite result of 1 or NaN, never another finite value;
 *   5. a NaN bias[m] gives NaN; an infinite one that infinity where X[b, :] is finite,
 *      else as in 3. The activation then follows torch: relu(NaN) = NaN, relu(-Inf) = 0,
 *      gelu(NaN) = NaN, gelu(+Inf) = +Inf, gelu(-Inf) = NaN.
 * W8A8 quantizes X per row: a row holding any NaN or Inf gives NaN in all its outputs.
 * sparq_linear_dense follows 1 to 5 as well (no activation).
 *
 * Dispatch picks, for each call, a kernel for the matrix's structure and the batch
 * from the kernel registry (or the dense path when the matrix is too dense to win);
 * sparq_plan_explain() says which, with which parameters, and why. Every setting, tuned
 * or built in, keeps within the device's work-group limit and local memory (where one
 * breaks them, the nearest setting that fits runs, and the explanation says so), and
 * within what each built kernel allows (CL_KERNEL_WORK_GROUP_SIZE, which a GPU lowers
 * for a kernel short of registers: a launch above it is refused before it is enqueued
 * and the call plans again under it). Where no kernel fits at all, the call fails with
 * SPARQ_ERROR_UNSUPPORTED naming each kernel and why.
 * ---------------------------------------------------------------------------------- */

typedef enum sparq_activation {
    SPARQ_ACTIVATION_NONE = 0,
    SPARQ_ACTIVATION_RELU = 1,
    SPARQ_ACTIVATION_GELU = 2 /* the tanh approximation, as torch's approximate="tanh" */
} sparq_activation;

/* What is fused after the product. NULL (or all zero) means no bias, no activation. */
typedef struct sparq_epilogue {
    cl_mem bias;                 /* rows floats from bias_offset, or NULL              */
    size_t bias_offset;          /* in floats                                          */
    sparq_activation activation;
} sparq_epilogue;

/* Which path a matrix runs, and so which weights it holds on the device. */
typedef enum sparq_path {
    SPARQ_PATH_AUTO = 0,   /* sparse matrices: with dense_fallback_density set, the
                            * dense path at or above that density (dense f32 weights
                            * held instead of the packed arrays); else the measured
                            * break-even of the tuning databases for this device and
                            * shape class, per batch, else the built-in rule: the
                            * packed format's kernels unless they would move at least
                            * the bytes of dense f32. What AUTO may hold for that is
                            * allow_dense_copy's: by default only the packed arrays
                            * (the packed kernels run even where dense would win,
                            * unless dense f32 takes no more bytes and wins at every
                            * batch: then it replaces them); with allow_dense_copy a
                            * dense f32 copy too where batches disagree. Dense
                            * matrices: their own kernels on their own weights        */
    SPARQ_PATH_SPARSE = 1, /* always the kernels of the packed format (its structure
                            * and encoding; for dense quantized matrices too): holds
                            * the packed arrays only                                 */
    SPARQ_PATH_DENSE = 2   /* always the dense path: holds the weights unpacked to
                            * dense f32 (rows * cols * 4 bytes) instead of the packed
                            * arrays, whatever allow_dense_copy says (an explicit
                            * request for the dense path)                            */
} sparq_path;

/* All zero (or NULL options) means defaults. */
typedef struct sparq_matrix_options {
    sparq_path path;
    /* AUTO only: density (stored values / (rows * cols)) at or above which the dense
     * path runs instead. 0 means the break-even (tuned, else the built-in rule: dense
     * when the packed bytes reach those of dense f32 weights), as allow_dense_copy
     * lets it. Set, it is an explicit request for the dense path: at or above that
     * density the matrix holds dense f32 weights (rows * cols * 4 bytes) instead of
     * its packed arrays, whatever allow_dense_copy says, even where that is more. */
    double dense_fallback_density;
    /* W8A8: each sparq_linear quantizes X per row (per token) on the device, multiplies
     * int8 weights by the 8-bit activations with int32 accumulation, then scales.
     * 0: off; 1: symmetric int8 activations (scale = max|x| / 127); 2: asymmetric uint8
     * activations with a zero point (ONNX DynamicQuantizeLinear). Needs I8 weights. */
    int quantize_activations;
    /* AUTO only (without dense_fallback_density), sparse matrices. 0 (default): the
     * matrix never holds more than its packed arrays: it holds them and runs the packed
     * format's kernels, even at batches where the tuned break-even says the dense path
     * would be faster (sparq_plan_explain then says so, by how much, and names this
     * option). The one exception costs no memory: where dense f32 takes no more bytes
     * than the packed arrays (e.g. CSR f32 above about 2/3 density) and wins at every
     * batch, it is held instead of them. 1: AUTO may also hold a dense f32 copy
     * (rows * cols * 4 bytes) next to the packed arrays and run the dense path at the
     * batches where the break-even (or the built-in byte rule) says dense; where
     * dense wins at every batch it holds the dense f32 weights alone. */
    int allow_dense_copy;
    uint64_t reserved[SPARQ_RESERVED_WORDS]; /* must be 0 (see the top of this file)  */
} sparq_matrix_options;

typedef struct sparq_matrix sparq_matrix;
typedef struct sparq_packed sparq_packed; /* a host matrix, see "packed matrices" below */

/* Uploads packed (which the caller keeps and may free afterwards) into a device matrix
 * of the context. SPARQ_ERROR_UNSUPPORTED for a structure x encoding the device kernels
 * do not run yet (named in the message). */
SPARQ_API sparq_status sparq_matrix_create(sparq_context *context, const sparq_packed *packed,
                                           const sparq_matrix_options *options,
                                           sparq_matrix **matrix);
/* Releases the device buffers. sparq_matrix_free(NULL) is a no-op. */
SPARQ_API void sparq_matrix_free(sparq_matrix *matrix);
SPARQ_API size_t sparq_matrix_rows(const sparq_matrix *matrix);
SPARQ_API size_t sparq_matrix_cols(const sparq_matrix *matrix);
/* Bytes of device memory the matrix holds (all its buffers). Holding the packed
 * arrays, that is sparq_packed_bytes (N:M and W8A8 arrays padded to whole slabs of 8
 * rows) plus a row order of 4 bytes per row (CSR) or block row (BSR), plus 64 bytes
 * for each empty array; AUTO without allow_dense_copy holds no more than that. Dense
 * f32 weights are rows * cols * 4 bytes, instead of the packed arrays (the dense path)
 * or next to them (a dense copy, only with allow_dense_copy). sparq_plan_explain
 * says which the matrix holds. */
SPARQ_API uint64_t sparq_matrix_device_bytes(const sparq_matrix *matrix);

/* Y = act(X W^T + bias) for batch rows of X; see above. y's range must not overlap x's
 * or the bias's, in one buffer or in sub-buffers of one parent (y is written while they
 * are read): SPARQ_ERROR_INVALID_ARGUMENT, naming both byte ranges. sparq_linear_dense
 * refuses the same, and y overlapping w. */
SPARQ_API sparq_status sparq_linear(sparq_matrix *matrix, cl_command_queue queue,
                                    cl_mem x, size_t x_offset, cl_mem y, size_t y_offset,
                                    size_t batch, const sparq_epilogue *epilogue,
                                    cl_uint num_wait, const cl_event *wait_list,
                                    cl_event *event);

/* Builds and loads every kernel that sparq_linear on this queue (NULL: the context's
 * own) will use at each of the count batches, so that those calls compile nothing: an
 * engine calls it at load time for the batches it serves (a first call otherwise
 * compiles synchronously, hundreds of ms cold, a few ms from the disk cache). It plans
 * each batch and runs it once, on zeros with a bias and an activation, on scratch
 * buffers it frees after clFinish(queue). Errors as sparq_linear's. */
SPARQ_API sparq_status sparq_matrix_prepare(sparq_matrix *matrix, cl_command_queue queue,
                                            const size_t *batches, size_t count);

/* Writes into text (always NUL-terminated) what sparq_linear would run for this batch:
 * the path and why, what the matrix holds on the device ("holds: packed arrays 1.8 MB",
 * "... + dense f32 copy 2.4 MB", "holds: dense f32 weights 2.4 MB"), the kernel, its
 * parameters and where they came from, and why this kernel was chosen over the others.
 * Where the break-even prefers the dense path at this batch but AUTO holds no dense
 * copy (allow_dense_copy 0), it says by how much: "(dense path measured 1.30x faster;
 * not held: set allow_dense_copy)". */
SPARQ_API sparq_status sparq_plan_explain(const sparq_matrix *matrix, size_t batch, char *text,
                                          size_t text_size);

/* Where a plan's kernel parameters came from, best last. */
typedef enum sparq_param_source {
    SPARQ_PARAM_SOURCE_DEFAULT = 0,      /* the registry's default for the device type  */
    SPARQ_PARAM_SOURCE_TYPE_DEFAULT = 1, /* a shipped vendor/type default              */
    SPARQ_PARAM_SOURCE_SHIPPED = 2,      /* the shipped database's entry for the device */
    SPARQ_PARAM_SOURCE_USER = 3          /* the user's database, tuned on this device    */
} sparq_param_source;

/* What sparq_linear runs for one batch, as data (sparq_plan_explain says it in words).
 * The strings are static (registry names), valid for the life of the program. */
typedef struct sparq_plan_info {
    sparq_path path;            /* SPARSE: the packed format's kernel; DENSE: dense f32 */
    const char *kernel;         /* the registry kernel that runs ("spmm_csr_rowvec";
                                 * dense path: "linear_dense_rowdot" at batch 1,
                                 * "linear_dense_q_tiled" above), or "clblast" where
                                 * the dense path calls CLBlast                         */
    int tuned_path;             /* 1: the dense/sparse choice came from a database      */
    int dense_declined;         /* 1: the break-even prefers the dense path at this
                                 * batch, but the matrix holds no dense copy            */
    unsigned param_count;       /* the kernel's tunables and their values               */
    const char *param_names[SPARQ_MAX_TUNABLES];
    unsigned param_values[SPARQ_MAX_TUNABLES];
    sparq_param_source param_source;
    uint64_t packed_bytes_held; /* device bytes of the packed arrays (0: none held)     */
    uint64_t dense_bytes_held;  /* device bytes of dense f32 weights (0: none held)     */
} sparq_plan_info;

/* Fills *info with the plan of sparq_linear(matrix, ..., batch, ...) (the same plan
 * sparq_plan_explain describes, from the same cache). */
SPARQ_API sparq_status sparq_plan_info_get(const sparq_matrix *matrix, size_t batch,
                                           sparq_plan_info *info);

/* ------------------------------------------------------------------------------------
 * Memory bandwidth roof
 *
 * What "fraction of the roof" means in sparq's benchmarks: the best of a read-only
 * streaming kernel (bytes read / time) and a copy kernel (bytes read + written / time)
 * over `bytes` (use >= 512 MiB so caches don't flatter it), each the best of `repeats`
 * runs timed with profiling events when the queue has them, else with the wall clock.
 * This call is a measurement: it blocks until its kernels finish.
 * ---------------------------------------------------------------------------------- */

typedef struct sparq_bandwidth {
    size_t bytes;      /* size of the buffer streamed                                  */
    double read_gbs;   /* read-only kernel, GB/s (1e9 bytes per second)                */
    double copy_gbs;   /* copy kernel, counting bytes read plus bytes written          */
    double best_gbs;   /* the larger of the two: the roof                              */
} sparq_bandwidth;

SPARQ_API sparq_status sparq_bandwidth_measure(sparq_context *context, cl_command_queue queue,
                                               size_t bytes, unsigned repeats,
                                               sparq_bandwidth *result);


#endif /* SPARQ_NO_OPENCL */

/* ====================================================================================
 * Formats, part 1: pruning, analysis and error metrics (pure host C, no device).
 * Implemented in formats/prune.c, formats/analyze.c, formats/metrics.c.
 * ================================================================================== */

/* All calls here take a weight matrix as rows x cols float32, row-major, one output
 * feature per row (W[m, k] as in nn.Linear); the element W[r, c] is weights[r*cols + c].
 * They check that rows*cols fits in size_t, reject NULL pointers and zero sizes with
 * SPARQ_ERROR_INVALID_ARGUMENT, and reject NaN or infinite weights with
 * SPARQ_ERROR_INVALID_DATA and a sentence naming the first bad element in row-major
 * order: "prune_nm: W[3, 17] is NaN" (or "is +Inf", "is -Inf"). Nothing is written to
 * any output when a call fails. Only sparq_prune_blocks allocates (8 bytes per block);
 * the others work in place in O(rows * cols) time.
 *
 * Pruning. Every prune call decides, for each element, kept or pruned, and writes that
 * decision to mask (one byte per element: 1 = kept, 0 = pruned; NULL = no mask) and, when
 * zero_pruned is nonzero, also sets pruned weights to 0.0f in place. At least one of the
 * two must be asked for. The magnitude of a weight is |w|, so -0.0f and 0.0f are equal.
 *
 *   Exact counts. At sparsity s over a set of n candidates (elements or blocks), exactly
 *   round(s * n) are pruned, computed in double as floor(s * n + 0.5) (halves round up:
 *   s = 0.5 over 3 prunes 2; a product double cannot hold exactly, like 0.35 * 10 =
 *   3.4999999999999996, rounds as computed). s = 0 prunes none, s = 1 prunes all.
 *
 *   Ties. Candidates are pruned in increasing order of score; among equal scores the one
 *   with the higher row-major index is pruned first, so the lower index is kept. For
 *   elements the index is r*cols + c; for blocks it is the block's position in the block
 *   grid, block_row * grid_cols + block_col.
 *
 *   Monotone masks (gradual pruning). previous_mask (rows*cols bytes, 0 = pruned,
 *   nonzero = kept; NULL = none) is the mask of an earlier round. An element pruned there
 *   stays pruned: it counts as pruned already and is pruned before any live element, so
 *   the count pruned is max(round(s * n), number already pruned) and no pruned weight is
 *   ever revived. previous_mask may be the same array as mask (updated in place).
 */

/* Where unstructured magnitude pruning draws its threshold. */
typedef enum sparq_prune_scope {
    SPARQ_PRUNE_SCOPE_GLOBAL = 0, /* one threshold over the whole tensor: round(s*rows*cols) */
    SPARQ_PRUNE_SCOPE_ROW = 1     /* per row, balanced: round(s*cols) pruned in every row    */
} sparq_prune_scope;

/* How a block of weights is scored for block pruning. */
typedef enum sparq_block_norm {
    SPARQ_BLOCK_NORM_L1 = 0,      /* sum of |w|                                            */
    SPARQ_BLOCK_NORM_L2 = 1       /* sqrt of the sum of w*w (ranked by the sum: same order) */
} sparq_block_norm;

/* Unstructured magnitude pruning to sparsity (a fraction in [0, 1]): prunes the smallest
 * |w| with the count, tie and monotone rules above, over the whole tensor or per row.
 * Errors: SPARQ_ERROR_INVALID_ARGUMENT for NULL weights, rows or cols 0, rows*cols
 * overflowing size_t, sparsity outside [0, 1] (or NaN), an unknown scope, or neither mask
 * nor zero_pruned; SPARQ_ERROR_INVALID_DATA for a NaN or infinite weight. */
SPARQ_API sparq_status sparq_prune_magnitude(float *weights, size_t rows, size_t cols,
                                             double sparsity, sparq_prune_scope scope,
                                             const uint8_t *previous_mask, uint8_t *mask,
                                             int zero_pruned);

/* Block magnitude pruning. The matrix is cut into a grid of block_rows x block_cols
 * blocks starting at W[0, 0]: grid_rows = ceil(rows / block_rows), grid_cols =
 * ceil(cols / block_cols). Each of block_rows and block_cols is 1, 2, 4, 8, 16 or 32.
 * A ragged block at the bottom or right edge holds only its in-range elements and is
 * scored over them alone (no padding and no rescaling, so a smaller edge block tends to
 * score lower). Exactly round(sparsity * grid_rows * grid_cols) blocks are pruned (count,
 * tie and monotone rules above); every element of a pruned block is pruned. With
 * previous_mask, elements pruned there add nothing to their block's score and stay
 * pruned even when their block is kept; a block with no live element left counts as
 * already pruned. Errors: as sparq_prune_magnitude, plus
 * SPARQ_ERROR_INVALID_ARGUMENT for a block size not in the list or an unknown norm, and
 * SPARQ_ERROR_OUT_OF_MEMORY when the block scores cannot be allocated. */
SPARQ_API sparq_status sparq_prune_blocks(float *weights, size_t rows, size_t cols,
                                          size_t block_rows, size_t block_cols,
                                          sparq_block_norm norm, double sparsity,
                                          const uint8_t *previous_mask, uint8_t *mask,
                                          int zero_pruned);

/* N:M pruning along cols (K): each row is cut into groups of m consecutive columns
 * starting at column 0, and each group keeps its n largest |w| (ties keep the lower
 * column). When cols is not a multiple of m, the last group of each row has
 * t = cols % m columns and keeps min(n, t) of them. 1 <= n < m <= 16 (2:4, 1:4, 4:8, ...).
 * With previous_mask, elements pruned there rank below every live element of their
 * group and stay pruned, so a group may keep fewer than n. Errors: as
 * sparq_prune_magnitude (without sparsity and scope), plus SPARQ_ERROR_INVALID_ARGUMENT
 * for n = 0, n >= m or m > 16. */
SPARQ_API sparq_status sparq_prune_nm(float *weights, size_t rows, size_t cols, unsigned n,
                                      unsigned m, const uint8_t *previous_mask,
                                      uint8_t *mask, int zero_pruned);

/* The gradual pruning schedule of Zhu & Gupta 2017 ("To prune, or not to prune"). */
typedef struct sparq_prune_schedule {
    double initial_sparsity; /* s_i, in [0, 1]                                         */
    double final_sparsity;   /* s_f, in [0, 1]                                         */
    int64_t start_step;      /* t0: the step of the first pruning round                */
    int64_t num_steps;       /* n >= 1: number of pruning rounds after t0              */
    int64_t step_interval;   /* dt >= 1: training steps between rounds                 */
} sparq_prune_schedule;

/* The target sparsity at training step `step`:
 *   s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt))^3
 * for t0 <= t <= t0 + n*dt, s_i before t0 and s_f after t0 + n*dt; computed in double
 * with t continuous (the caller re-prunes every dt steps, typically with
 * sparq_prune_magnitude and the previous mask, and may pass any step). At the midpoint
 * t0 + n*dt/2 the value is s_f + (s_i - s_f) / 8. Errors: SPARQ_ERROR_INVALID_ARGUMENT
 * for NULL pointers, sparsities outside [0, 1], num_steps < 1, step_interval < 1, or
 * num_steps * step_interval overflowing int64_t. */
SPARQ_API sparq_status sparq_prune_schedule_sparsity(const sparq_prune_schedule *schedule,
                                                     int64_t step, double *sparsity);

/* Analysis. A weight is nonzero when it compares unequal to 0.0f (so -0.0f is zero). */

/* Per-row nonzero statistics; feeds dispatch. Counts are of nonzero weights. */
typedef struct sparq_row_stats {
    size_t rows, cols;
    size_t nnz;             /* nonzeros in the whole matrix                           */
    double sparsity;        /* 1 - nnz / (rows * cols)                                */
    size_t empty_rows;      /* rows with no nonzero                                   */
    size_t nnz_min;         /* fewest nonzeros in a row                               */
    size_t nnz_max;         /* most nonzeros in a row                                 */
    double nnz_mean;        /* nnz / rows                                             */
    double nnz_stddev;      /* population standard deviation of nonzeros per row      */
    double nnz_cv;          /* coefficient of variation, stddev / mean; 0 if mean is 0 */
} sparq_row_stats;

/* Fills *stats. row_sparsity (rows doubles; NULL = not wanted) receives each row's
 * sparsity, zeros / cols. histogram (bins counts; NULL = not wanted, then bins is
 * ignored) receives how many rows fall in each of bins equal-width bins over [0, 1]:
 * a row with z zeros goes to bin floor(z * bins / cols) computed in integers, the last
 * bin also taking sparsity 1 (bin b covers [b/bins, (b+1)/bins), the last one closed).
 * Errors: SPARQ_ERROR_INVALID_ARGUMENT for NULL weights or stats, zero sizes, rows*cols
 * overflow, a histogram with bins 0 or bins*cols overflowing size_t;
 * SPARQ_ERROR_INVALID_DATA for a NaN or infinite weight. */
SPARQ_API sparq_status sparq_analyze_rows(const float *weights, size_t rows, size_t cols,
                                          sparq_row_stats *stats, double *row_sparsity,
                                          size_t *histogram, size_t bins);

/* How full an r x c block grid is: what BSR storage of this matrix would cost. */
typedef struct sparq_block_stats {
    size_t block_rows, block_cols; /* r, c                                              */
    size_t grid_rows, grid_cols;   /* ceil(rows / r), ceil(cols / c)                    */
    size_t blocks;                 /* grid_rows * grid_cols                             */
    size_t nonempty_blocks;        /* blocks holding at least one nonzero               */
    size_t nnz;                    /* nonzeros in the whole matrix                      */
    double nonempty_fraction;      /* nonempty_blocks / blocks                          */
    double mean_fill;              /* mean over non-empty blocks of nonzeros / in-range
                                      elements (a ragged edge block counts only the
                                      elements inside the matrix); 0 if none is non-empty */
} sparq_block_stats;

/* Fills *stats for the grid of block_rows x block_cols blocks starting at W[0, 0]
 * (any block size >= 1; ragged edge blocks as described for mean_fill). Errors:
 * SPARQ_ERROR_INVALID_ARGUMENT for NULL pointers, zero sizes or rows*cols overflow;
 * SPARQ_ERROR_INVALID_DATA for a NaN or infinite weight. */
SPARQ_API sparq_status sparq_analyze_blocks(const float *weights, size_t rows, size_t cols,
                                            size_t block_rows, size_t block_cols,
                                            sparq_block_stats *stats);

/* Error metrics between a reference and an approximation of it (a quantized or pruned
 * result), accumulated in double over count values; e = approximation - reference. */
typedef struct sparq_error_metrics {
    size_t count;
    double mse;           /* mean of e^2                                              */
    double nmse;          /* mse / mean of reference^2; if the reference is all zero:
                             0 when mse is 0, else +inf                               */
    double sqnr_db;       /* 10 log10(sum reference^2 / sum e^2) in dB; +inf when the
                             arrays are equal (including both all zero), -inf when the
                             reference is all zero and they differ                    */
    double max_abs_error; /* largest |e|                                              */
    double cosine;        /* dot / (|reference| |approximation|), clamped to [-1, 1];
                             1 when both are all zero, 0 when exactly one is          */
} sparq_error_metrics;

/* Fills *metrics. Errors: SPARQ_ERROR_INVALID_ARGUMENT for NULL pointers or count 0;
 * SPARQ_ERROR_INVALID_DATA for a NaN or infinite value, naming the first one:
 * "error_metrics_compute: approximation[5] is NaN". */
SPARQ_API sparq_status sparq_error_metrics_compute(const float *reference,
                                                   const float *approximation, size_t count,
                                                   sparq_error_metrics *metrics);

/* ---- end of formats part 1 ---- */

/* ====================================================================================
 * Formats, part 2: quantization and packing (pure host C, no device).
 * Implemented in formats/quantize.c, formats/f16.c, formats/pack*.c.
 * ================================================================================== */

/* ---- f16 storage -----------------------------------------------------------------
 *
 * IEEE 754 binary16 values are carried as uint16_t bit patterns. float -> half rounds
 * to nearest, ties to even, independent of the FPU rounding mode; finite values whose
 * magnitude rounds past 65504 become +-Inf; values below the smallest normal half
 * (2^-14) become subnormals (smallest 2^-24) or +-0; +-Inf stay +-Inf; every NaN becomes
 * the quiet NaN 0x7E00 with the input's sign (payloads are not kept). half -> float is
 * exact for every pattern (NaN stays NaN, quiet). src and dst may not overlap.
 * Both return SPARQ_ERROR_INVALID_ARGUMENT when count > 0 and a pointer is NULL. */
SPARQ_API sparq_status sparq_f16_from_f32(const float *src, size_t count, uint16_t *dst);
SPARQ_API sparq_status sparq_f32_from_f16(const uint16_t *src, size_t count, float *dst);

/* ---- quantization ----------------------------------------------------------------
 *
 * A matrix W is rows x cols float32 row-major, W[r, c] = w[r*cols + c]. Its values are
 * split into quantization groups, each with one scale (and one zero point if asymmetric):
 *   SPARQ_SCALE_TENSOR  one group: the whole matrix;           scale index 0
 *   SPARQ_SCALE_ROW     one group per row;                      scale index r
 *   SPARQ_SCALE_GROUP   G consecutive columns of one row, G in {32, 64, 128, 256};
 *                       groups never span rows and the last group of a row is shorter
 *                       when cols % G != 0; with gpr = ceil(cols / G) groups per row,
 *                       the scale of W[r, c] is scales[r*gpr + c/G].
 * Scale counts: 1, rows, rows*gpr. Scales are float32; zero points are int8.
 *
 * Integer codes q are signed in every case, so one decoder serves both symmetric and
 * asymmetric quantizers:
 *   encoding  symmetric (no zero points)   asymmetric (zero point z in [qmin, qmax])
 *   I8        q in [-127, 127], z = 0      q in [-128, 127]
 *   I4        q in [-7, 7],     z = 0      q in [-8, 7]
 * Symmetric quantizers drop the most negative code so the range is symmetric around 0:
 * +a and -a map to +q and -q, and the scale is max|x| / qmax exactly (127 or 7).
 *
 *   q  = clamp(round_half_even(x / scale) + z, qmin, qmax)   (x / scale in double)
 *   x' = (q - z) * scale                                      (dequantized)
 *
 * Ranges. Calibration (below) gives a clipping range per group: symmetric uses
 * a = clip of |x|, scale = a / qmax. Asymmetric uses [lo, hi] widened to contain 0
 * (lo <= 0 <= hi), scale = (hi - lo) / (qmax - qmin), z = clamp(round_half_even(qmin -
 * lo / scale), qmin, qmax), so 0.0 is always exactly representable (q = z) and pruned
 * zeros dequantize to exactly 0. A group whose range is 0 (all zeros) gets scale 0 and
 * z = 0; with scale 0 every code is z and dequantizes to exactly 0.0, never NaN.
 *
 * Calibration (per group, at the scale granularity) looks only at the nonzero values
 * of the group (zeros are exact in every quantizer and carry no range information):
 *   SPARQ_CALIBRATION_MINMAX      a = max|x|; asymmetric lo = min x, hi = max x.
 *   SPARQ_CALIBRATION_PERCENTILE  a = the p-th percentile of |x|; asymmetric lo = the
 *                                 (100-p)-th and hi = the p-th percentile of x (two-sided).
 *                                 Percentiles interpolate linearly between order
 *                                 statistics (numpy's default): position p/100 * (n-1).
 *                                 p in [50, 100]; p = 0 in the options means 99.99.
 *   SPARQ_CALIBRATION_MSE         tries the 100 clip ratios t_i = (i + 1) / 200 + 0.5,
 *                                 i = 0..99 (0.505, 0.510, ..., 1.000) of the min-max range
 *                                 (a*t, or [lo*t, hi*t]) and keeps the one with the least
 *                                 sum of squared quantization errors over the group; on a
 *                                 tie the larger ratio wins, so it is never worse than
 *                                 min-max.
 *
 * Encodings F32 and F16 have no scales: F32 stores x, F16 stores half(x) (round to
 * nearest even); a finite x that overflows half (|x| >= 65520) is SPARQ_ERROR_INVALID_DATA.
 * For them granularity, asymmetric and calibration are ignored.
 *
 * Value layout of a dense quantized matrix (what sparq_quantize writes):
 *   F32  float[rows*cols]       F16  uint16_t[rows*cols]      I8  int8_t[rows*cols]
 *   I4   uint8_t[rows * ceil(cols/2)]: two codes per byte as 4-bit two's complement,
 *        element 2i in the low nibble and element 2i+1 in the high nibble of byte i of
 *        its row; every row starts at a byte, and a row with odd cols ends with a zero
 *        high nibble.
 *
 * Errors shared by every call here: SPARQ_ERROR_INVALID_ARGUMENT for NULL pointers, zero
 * rows or cols, rows*cols overflowing size_t, or bad options ("group_size 48 is not one
 * of 32, 64, 128, 256"); SPARQ_ERROR_INVALID_DATA for NaN or Inf input, naming the first
 * bad element in row-major order ("quantize: W[3, 17] is NaN"); SPARQ_ERROR_OUT_OF_MEMORY.
 * Nothing is written to outputs when a call fails.
 * ---------------------------------------------------------------------------------- */

typedef struct sparq_quant_options {
    sparq_encoding encoding;             /* F32 (0, default), F16, I8, I4              */
    sparq_scale_granularity granularity; /* TENSOR (default), ROW, GROUP               */
    size_t group_size;                   /* G for SPARQ_SCALE_GROUP: 32, 64, 128, 256  */
    int asymmetric;                      /* 0: symmetric (default), 1: zero points     */
    sparq_calibration calibration;       /* MINMAX (default), PERCENTILE, MSE          */
    double percentile;                   /* PERCENTILE: p in [50, 100]; 0 means 99.99  */
} sparq_quant_options;

/* Sizes of the outputs of sparq_quantize for a rows x cols matrix: *value_bytes bytes of
 * codes, *scale_count scales and *zero_point_count zero points (0 when symmetric or for
 * F32/F16). Any output pointer may be NULL. options NULL means all defaults (F32). */
SPARQ_API sparq_status sparq_quant_sizes(const sparq_quant_options *options, size_t rows,
                                         size_t cols, size_t *value_bytes,
                                         size_t *scale_count, size_t *zero_point_count);

/* Quantizes w (rows x cols) into values (layout above), scales and zero_points (sizes
 * from sparq_quant_sizes; scales may be NULL when the count is 0, zero_points likewise). */
SPARQ_API sparq_status sparq_quantize(const sparq_quant_options *options, size_t rows,
                                      size_t cols, const float *w, void *values,
                                      float *scales, int8_t *zero_points);

/* The inverse: out[r*cols + c] = (q - z) * scale (or the float / widened half value).
 * Works for every encoding. Scales must be finite and >= 0 and zero points inside
 * [qmin, qmax], else SPARQ_ERROR_INVALID_DATA ("scales[3] is -1"). */
SPARQ_API sparq_status sparq_dequantize(const sparq_quant_options *options, size_t rows,
                                        size_t cols, const void *values, const float *scales,
                                        const int8_t *zero_points, float *out);

/* Quantize-then-dequantize in one call, for quantization-aware training: out gets x'
 * (out may be the same array as w). mask (rows*cols bytes, may be NULL) gets the
 * straight-through-estimator mask: 1 where the clamp to [qmin, qmax] left the code
 * unchanged (x was inside the clipping range, the gradient passes), 0 where it clamped.
 * F32 and F16 never clamp (mask all 1). */
SPARQ_API sparq_status sparq_fake_quantize(const sparq_quant_options *options, size_t rows,
                                           size_t cols, const float *w, float *out,
                                           uint8_t *mask);

/* ---- packed matrices -------------------------------------------------------------
 *
 * A sparq_packed holds one weight matrix in one structure x encoding, as a few named,
 * contiguous, 64-byte aligned arrays that kernels read directly and that are written to
 * safetensors files as <name>.<array>. Zeros of the dense input are the pruned weights
 * (-0.0 counts as zero); every nonzero is kept. The values of every structure are
 * quantized with the rules above, with the scale of W[r, c] at the same index as for a
 * dense matrix (scale index (r, c/G) for groups), whatever the structure.
 *
 * Arrays, in this order when present ("values"' element type is the encoding's: f32,
 * f16, i8, or u8 holding packed int4 codes; "scales" f32 and "zero_points" i8 as above,
 * present only for I8/I4, zero points only when asymmetric):
 *
 * DENSE    values   rows*cols codes (I4: rows * ceil(cols/2) bytes, rows byte-aligned).
 *
 * CSR      row_ptr  rows+1 entries, u32 (u64 only when nnz >= 2^32): row r's entries
 *                   are [row_ptr[r], row_ptr[r+1]), row_ptr[0] = 0, row_ptr[rows] = nnz.
 *          col_idx  nnz column indices, strictly increasing within a row; u16 when
 *                   cols <= 65536 (half the index traffic of u32), else u32.
 *          values   nnz codes in the same order. I4: one flat stream of nnz codes,
 *                   code i in byte i/2 (low nibble when i is even), ceil(nnz/2) bytes.
 *
 * BSR      r x c blocks, r and c in {1, 2, 4, 8, 16, 32}; the block grid is
 *          ceil(rows/r) x ceil(cols/c); a block is stored when any of its values is
 *          nonzero.
 *          row_ptr  ceil(rows/r)+1 entries (u32, or u64 past 2^32 blocks), over blocks.
 *          col_idx  one block-column index per stored block, strictly increasing within
 *                   a block row; u16 when ceil(cols/c) <= 65536, else u32.
 *          values   nblocks * r * c codes, block after block, row-major inside a block
 *                   (I4: one flat stream as for CSR). Positions of ragged edge blocks
 *                   that fall outside the matrix hold the code of 0.0 (z of the nearest
 *                   in-range row/column's group), so they dequantize to 0 when read with
 *                   clamped indices; kernels must not read x or write y past the edges.
 *
 * NM       N of every M consecutive columns (1 <= N <= M, 2 <= M <= 16; e.g. 2:4); a row
 *          has ng = ceil(cols/M) groups; the tail group, when cols % M = t != 0, covers
 *          the last t columns and acts as a group of M whose positions >= t are zero.
 *          A group with more than N nonzeros is SPARQ_ERROR_INVALID_DATA naming the
 *          first such group ("row 3, group 2 (cols 8..11) has 3 nonzeros, N:M allows 2").
 *          values   rows * ng * N codes: per row, per group, N slots in increasing
 *                   position. A group with fewer than N nonzeros fills the rest with the
 *                   lowest unused positions and the code of 0.0 (in a tail group such a
 *                   slot may point at a position >= t, past the last column: kernels
 *                   must guard or pad x). I4: each row of ng*N codes starts at a byte.
 *          nm_meta  u8, per row ceil(ng*N*b/8) bytes, rows byte-aligned: the slot
 *                   positions (0..M-1) of the row as a stream of b-bit fields, field j at
 *                   bits (j*b) % 8 .. of byte (j*b)/8 (low bits first), where
 *                   b = 1 for M = 2, b = 2 for M <= 4, b = 4 for M <= 16 (a power of two,
 *                   so no field straddles a byte); unused high bits of a row's last byte
 *                   are 0. For 2:4 one byte holds two groups: bits 0-1 and 2-3 the
 *                   positions of group 2i, bits 4-5 and 6-7 those of group 2i+1.
 *
 * Bits per weight = total bytes of all arrays * 8 / (rows * cols): indices, metadata,
 * scales and zero points included.
 * ---------------------------------------------------------------------------------- */

typedef struct sparq_pack_options {
    sparq_structure structure;  /* DENSE (0, default), CSR, BSR, NM                    */
    sparq_quant_options quant;  /* encoding and scales; all zero = f32                 */
    unsigned block_rows;        /* BSR only: r in {1, 2, 4, 8, 16, 32}                 */
    unsigned block_cols;        /* BSR only: c in {1, 2, 4, 8, 16, 32}                 */
    unsigned nm_n;              /* NM only: N kept ...                                 */
    unsigned nm_m;              /* ... of every M columns, 1 <= N <= M, 2 <= M <= 16   */
} sparq_pack_options;

/* The one spelling of a format, shared by the command line, the tuner, the benchmarks
 * and the Python binding: <structure>+<encoding>.
 *   structure: "dense", "csr", "bsr<R>x<C>" (R, C in 1, 2, 4, 8, 16, 32: "bsr16x16"),
 *              "<N>:<M>" (1 <= N < M <= 16: "2:4");
 *   encoding:  "f32", "f16", "i8-tensor", "i8-row", "i8-g<G>" (G in 32, 64, 128, 256),
 *              the same for i4, with "-asym" for zero points ("i4-g128-asym").
 * "+<encoding>" may be left out for f32. Examples: "csr+i8-row", "bsr16x16+f16",
 * "2:4+i4-g128", "dense+f32". Parsing fills the structure and quantization fields
 * (calibration fields zero); SPARQ_ERROR_INVALID_ARGUMENT with the sentence for text
 * that is not a format. Naming writes the full spelling of a valid format (sizes that
 * do not apply ignored); SPARQ_ERROR_OUT_OF_BOUNDS when text_size is too small. */
SPARQ_API sparq_status sparq_format_parse(const char *text, sparq_pack_options *format);
SPARQ_API sparq_status sparq_format_name(const sparq_pack_options *format, char *text,
                                         size_t text_size);

/* Element types of packed arrays (safetensors has the same names, upper case). */
typedef enum sparq_dtype {
    SPARQ_DTYPE_U8 = 0,
    SPARQ_DTYPE_I8 = 1,
    SPARQ_DTYPE_U16 = 2,
    SPARQ_DTYPE_U32 = 3,
    SPARQ_DTYPE_U64 = 4,
    SPARQ_DTYPE_F16 = 5,  /* IEEE half bit patterns in uint16_t                          */
    SPARQ_DTYPE_F32 = 6,
    /* dtypes only files carry (real model weights and ids), never packed arrays: */
    SPARQ_DTYPE_BF16 = 7, /* bfloat16: the top 16 bits of a binary32                    */
    SPARQ_DTYPE_I32 = 8,
    SPARQ_DTYPE_I64 = 9,
    SPARQ_DTYPE_F64 = 10, /* double: calibration statistics (sparq_calib) and models     */
    SPARQ_DTYPE_BOOL = 11,    /* one byte, 0 or not (masks in models)                    */
    SPARQ_DTYPE_I16 = 12,
    SPARQ_DTYPE_F8_E4M3 = 13, /* OCP FP8 E4M3 (finite, NaN 0x7f/0xff), as torch's e4m3fn */
    SPARQ_DTYPE_F8_E5M2 = 14  /* OCP FP8 E5M2 (IEEE-like: infinities and NaNs)           */
} sparq_dtype;

/* Bytes per element (1, 1, 2, 4, 8, 2, 4, 2, 4, 8, 8, 1, 2, 1, 1); 0 for an unknown
 * value. */
SPARQ_API size_t sparq_dtype_size(sparq_dtype dtype);
/* The safetensors spelling: "U8", "I8", "U16", "U32", "U64", "F16", "F32", "BF16", "I32",
 * "I64", "F64", "BOOL", "I16", "F8_E4M3", "F8_E5M2"; "?" if unknown. */
SPARQ_API const char *sparq_dtype_name(sparq_dtype dtype);

/* One array of a packed matrix, as listed by sparq_packed_get_array(). */
typedef struct sparq_packed_array {
    const char *name;  /* "row_ptr", "col_idx", "values", "nm_meta", "scales", "zero_points" */
    sparq_dtype dtype;
    size_t count;      /* elements (bytes for packed int4 values)                      */
    const void *data;  /* count elements; owned by the packed matrix, 64-byte aligned  */
} sparq_packed_array;

typedef struct sparq_packed sparq_packed;

/* Packs w (rows x cols, zeros = pruned) as options says (NULL or all-zero options:
 * dense f32). Errors: bad options (SPARQ_ERROR_INVALID_ARGUMENT, e.g. "block_rows 3 is
 * not one of 1, 2, 4, 8, 16, 32"), NaN/Inf or an N:M violation or f16 overflow
 * (SPARQ_ERROR_INVALID_DATA), SPARQ_ERROR_OUT_OF_MEMORY. *packed is NULL on failure. */
SPARQ_API sparq_status sparq_packed_create(const sparq_pack_options *options, size_t rows,
                                           size_t cols, const float *w,
                                           sparq_packed **packed);

/* Builds a packed matrix from arrays (copied) in the layouts above, e.g. read from a file.
 * format gives structure, encoding, granularity, group size, asymmetric, block shape and
 * N:M (calibration fields are ignored). Every array the format needs must be given once,
 * by name, with the right dtype and count; no others. Validation is complete:
 * SPARQ_ERROR_INVALID_FORMAT with the sentence for a missing, unknown, duplicate or
 * mistyped array or a wrong count ("col_idx has 12 elements, expected nnz=13"), a
 * row_ptr not starting at 0, decreasing, or not ending at nnz ("row_ptr[17]=40 > nnz=39"),
 * a column index out of range or not increasing within its row, an N:M position >= M or
 * not increasing within its group, nonzero padding bits in nm_meta;
 * SPARQ_ERROR_INVALID_DATA for a scale that is not finite and >= 0, a zero point out of
 * range, a NaN/Inf f32/f16 value, or a BSR edge position / N:M tail slot outside the
 * matrix that does not hold 0. SPARQ_ERROR_INVALID_ARGUMENT for NULL pointers, an
 * unnamed array, bad format options or shape. *packed is NULL on failure. */
SPARQ_API sparq_status sparq_packed_from_arrays(const sparq_pack_options *format, size_t rows,
                                                size_t cols, const sparq_packed_array *arrays,
                                                size_t count, sparq_packed **packed);

/* Frees everything; sparq_packed_free(NULL) is a no-op. */
SPARQ_API void sparq_packed_free(sparq_packed *packed);

/* Accessors (packed must not be NULL). format: the options, normalised: fields that do
 * not apply to the structure/encoding are 0, and a percentile of 0 reads 99.99 (the
 * calibration fields are kept as given; they only matter to sparq_packed_create). */
SPARQ_API size_t sparq_packed_rows(const sparq_packed *packed);
SPARQ_API size_t sparq_packed_cols(const sparq_packed *packed);
SPARQ_API const sparq_pack_options *sparq_packed_format(const sparq_packed *packed);
/* Value slots stored: rows*cols (dense), nnz (CSR), nblocks*r*c (BSR), rows*ng*N (NM). */
SPARQ_API size_t sparq_packed_stored_values(const sparq_packed *packed);
/* Total bytes of all arrays, and that * 8 / (rows * cols). */
SPARQ_API uint64_t sparq_packed_bytes(const sparq_packed *packed);
SPARQ_API double sparq_packed_bits_per_weight(const sparq_packed *packed);

/* The arrays, in the order listed above: index 0 .. sparq_packed_array_count()-1.
 * SPARQ_ERROR_INVALID_ARGUMENT for an index past the end. */
SPARQ_API size_t sparq_packed_array_count(const sparq_packed *packed);
SPARQ_API sparq_status sparq_packed_get_array(const sparq_packed *packed, size_t index,
                                              sparq_packed_array *array);
/* The array called name; SPARQ_ERROR_INVALID_ARGUMENT if this matrix has none. */
SPARQ_API sparq_status sparq_packed_find_array(const sparq_packed *packed, const char *name,
                                               sparq_packed_array *array);

/* Writes the dequantized dense matrix (rows*cols floats, pruned positions 0.0). */
SPARQ_API sparq_status sparq_packed_unpack(const sparq_packed *packed, float *out);

/* ---- end of formats part 2 ---- */

/* ====================================================================================
 * safetensors files: reading, writing, and packed matrices as tensor sets.
 * Implemented in formats/safetensors.c and formats/packed_io.c.
 * ================================================================================== */

/* Element types of safetensors tensors are sparq_dtype (declared with packed arrays
 * above), named in files by their suffixes ("F32", "BF16", "F64", ...); other dtypes of the
 * format (BOOL, I16, F8_*, ...) are refused with SPARQ_ERROR_INVALID_FORMAT naming
 * the dtype. */

/* Largest header (JSON) a file may declare; larger ones are refused before reading. */
#define SPARQ_SAFETENSORS_MAX_HEADER_BYTES 100000000u

/* ---- reading -------------------------------------------------------------------------
 *
 * A safetensors file is: an 8-byte little-endian header length N, N bytes of JSON
 * ({"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
 * "__metadata__": {"key": "value", ...}}), then the data section; offsets count from the
 * start of the data section. Opening validates everything before any tensor is exposed:
 * the header length (<= file size - 8 and <= SPARQ_SAFETENSORS_MAX_HEADER_BYTES), the
 * JSON (an object, no duplicate names), each entry's fields, each dtype, each shape
 * (non-negative integers whose product, and product x dtype size, fit in size_t), each
 * data_offsets pair (begin <= end <= data section size, end - begin == the bytes the
 * shape needs), that no two non-empty tensors overlap, and that __metadata__ (optional)
 * is an object of strings. Gaps between tensors are accepted. A malformed file gives
 * SPARQ_ERROR_INVALID_FORMAT, a missing or unreadable one SPARQ_ERROR_IO, each with a
 * sentence in sparq_last_error() naming the problem (and the tensor). */

/* An open safetensors file (or buffer): read-only, safe to share between threads. */
typedef struct sparq_safetensors sparq_safetensors;

/* One tensor of an open file. Every pointer points into the file object (names, shape)
 * or its mapped data, and stays valid until sparq_safetensors_close(). */
typedef struct sparq_safetensors_tensor_info {
    const char *name;
    sparq_dtype dtype;
    size_t ndim;            /* 0 for a scalar                                        */
    const size_t *shape;    /* ndim extents; NULL when ndim is 0                     */
    size_t count;           /* elements: the product of shape (1 for a scalar)       */
    const void *data;       /* the bytes, little-endian, possibly unaligned (files
                               written by sparq align each tensor to its dtype size) */
    size_t bytes;           /* count * the dtype's size in bytes                     */
} sparq_safetensors_tensor_info;

/* Opens and validates the file at path; the file is memory-mapped read-only (never
 * copied), so it must not be truncated by anyone while open (replace files by rename,
 * as sparq_safetensors_writer_write() does). On success *file must be closed with
 * sparq_safetensors_close(). */
SPARQ_API sparq_status sparq_safetensors_open(const char *path, sparq_safetensors **file);

/* As sparq_safetensors_open() on size bytes at data, which are borrowed, not copied:
 * they must stay unchanged until sparq_safetensors_close(). */
SPARQ_API sparq_status sparq_safetensors_open_memory(const void *data, size_t size,
                                                     sparq_safetensors **file);

/* Unmaps and frees. sparq_safetensors_close(NULL) is a no-op. */
SPARQ_API void sparq_safetensors_close(sparq_safetensors *file);

/* Number of tensors (not counting __metadata__); 0 for NULL. */
SPARQ_API size_t sparq_safetensors_count(const sparq_safetensors *file);

/* Tensor number index, 0 <= index < count; tensors are ordered by name (strcmp).
 * SPARQ_ERROR_OUT_OF_BOUNDS for an index past the end. */
SPARQ_API sparq_status sparq_safetensors_tensor(const sparq_safetensors *file, size_t index,
                                                sparq_safetensors_tensor_info *info);

/* The tensor called name. SPARQ_ERROR_INVALID_ARGUMENT (with "no tensor named ...")
 * when there is none. */
SPARQ_API sparq_status sparq_safetensors_find(const sparq_safetensors *file, const char *name,
                                              sparq_safetensors_tensor_info *info);

/* Tells the file that the caller is done with a tensor's bytes for now: the memory
 * pages wholly inside it are given back (a file is mapped, and each page read stays in
 * the process's resident memory until then), and are read from the file again if the
 * tensor is touched later; info stays valid. Reading a large model tensor by tensor so
 * keeps its memory bounded by the tensors in use, not the file. No effect on a file
 * opened from memory, or for an info of another file. */
SPARQ_API void sparq_safetensors_evict(const sparq_safetensors *file,
                                       const sparq_safetensors_tensor_info *info);

/* The __metadata__ value for key, or NULL when absent (or file/key is NULL). The string
 * lives until sparq_safetensors_close(). */
SPARQ_API const char *sparq_safetensors_metadata(const sparq_safetensors *file,
                                                 const char *key);

/* Number of __metadata__ entries; 0 for NULL. */
SPARQ_API size_t sparq_safetensors_metadata_count(const sparq_safetensors *file);

/* Metadata entry number index (ordered by key) into *key and *value, which live until
 * sparq_safetensors_close(). SPARQ_ERROR_OUT_OF_BOUNDS past the end. */
SPARQ_API sparq_status sparq_safetensors_metadata_entry(const sparq_safetensors *file,
                                                        size_t index, const char **key,
                                                        const char **value);

/* Converts a tensor's elements to float: F32 copied, F16, BF16, F8_E4M3 and F8_E5M2
 * widened exactly (subnormals, infinities and NaN kept), F64 rounded to the nearest float
 * (values past float's range become +-Inf), integers (every integer dtype) rounded to the
 * nearest float, BOOL 0 or 1.
 * count must equal info->count (else SPARQ_ERROR_INVALID_ARGUMENT); out holds count
 * floats. Works on any info from sparq_safetensors_tensor()/find(). */
SPARQ_API sparq_status sparq_safetensors_to_f32(const sparq_safetensors_tensor_info *info,
                                                float *out, size_t count);

/* ---- writing -------------------------------------------------------------------------
 *
 * A writer collects tensors and metadata (in memory, or its tensors' bytes in a spool
 * file: sparq_safetensors_writer_spool()), then writes one file. The output
 * is deterministic: header keys sorted by name, compact JSON padded with spaces to a
 * multiple of 8 bytes (as the reference implementation does), then the data with no
 * gaps, ordered by dtype size (largest first) then name, so that every tensor starts
 * at a multiple of its element size. Any safetensors reader can open it. */

typedef struct sparq_safetensors_writer sparq_safetensors_writer;

/* An empty writer; free it with sparq_safetensors_writer_free(). */
SPARQ_API sparq_status sparq_safetensors_writer_create(sparq_safetensors_writer **writer);

/* Frees the writer and every copy it holds. NULL is a no-op. */
SPARQ_API void sparq_safetensors_writer_free(sparq_safetensors_writer *writer);

/* Adds a tensor: bytes from data are COPIED (the caller may free data on return).
 * name: valid UTF-8, not "" and not "__metadata__", unique in this writer (a second
 * add of the same name fails with SPARQ_ERROR_INVALID_ARGUMENT "duplicate name").
 * shape: ndim extents (may be NULL when ndim is 0: a scalar), each <= INT64_MAX;
 * bytes must equal product(shape) * the dtype's size, checked without overflow.
 * data may be NULL only when bytes is 0. */
SPARQ_API sparq_status sparq_safetensors_writer_add(sparq_safetensors_writer *writer,
                                                    const char *name, sparq_dtype dtype,
                                                    size_t ndim, const size_t *shape,
                                                    const void *data, size_t bytes);

/* Sets a __metadata__ entry (both strings copied, valid UTF-8); setting a key again
 * replaces its value. */
SPARQ_API sparq_status sparq_safetensors_writer_set_metadata(sparq_safetensors_writer *writer,
                                                             const char *key,
                                                             const char *value);

/* Keeps the bytes of every tensor added from now on out of memory: they are appended to
 * a temporary file in dir (created there and unlinked at once, so that nothing is left
 * behind whatever happens; its space is freed by sparq_safetensors_writer_free()) and
 * copied from there by sparq_safetensors_writer_write(). A model can so be written
 * tensor by tensor in memory bounded by the largest tensor; dir should be the output's
 * folder (same file system: the spool needs as much free space as the output). Tensors
 * added before stay in memory; a second call is a no-op. The output is the same bytes
 * either way. SPARQ_ERROR_IO when the file cannot be made, and from
 * sparq_safetensors_writer_add() when it cannot be written (disk full). */
SPARQ_API sparq_status sparq_safetensors_writer_spool(sparq_safetensors_writer *writer,
                                                      const char *dir);

/* Writes everything to path atomically: to a new temporary file in the same folder
 * (unique name, mode 0666 less the umask), fsync'ed, then renamed over path (and the
 * folder fsync'ed). On any failure the temporary file is removed and path is left as
 * it was (absent or the old file): no half-written file is ever seen at path.
 * SPARQ_ERROR_IO names the step and the OS error. The writer stays usable. */
SPARQ_API sparq_status sparq_safetensors_writer_write(const sparq_safetensors_writer *writer,
                                                      const char *path);


/* ---- packed matrices as tensor sets -------------------------------------------------
 *
 * A packed matrix called NAME is stored as one 1-d tensor per array, "NAME.row_ptr",
 * "NAME.col_idx", "NAME.values", "NAME.nm_meta", "NAME.scales", "NAME.zero_points" (those
 * its format has; dtype and element count as sparq_packed_get_array() lists them), plus
 * these __metadata__ entries, all decimal or lower-case words:
 *   NAME.sparq_version      "0.1.0" (sparq_version_string() of the writer)
 *   NAME.structure          "dense" | "csr" | "bsr" | "nm"
 *   NAME.encoding           "f32" | "f16" | "i8" | "i4"
 *   NAME.rows, NAME.cols    the logical shape
 *   NAME.scale_granularity  "tensor" | "row" | "group"
 *   NAME.group_size         G for "group", else "0"
 *   NAME.asymmetric         "0" | "1"
 *   NAME.block_rows, NAME.block_cols   BSR block shape, else "0"
 *   NAME.nm_n, NAME.nm_m    N:M for "nm", else "0"
 *   NAME.<array>.crc32      zlib CRC-32 of the array's bytes, 8 lower-case hex digits
 * `sparq convert` adds, for a convolution weight packed in its GEMM form (out x in*k...):
 *   NAME.original_shape     the weight's shape, decimal extents joined by commas
 *                           ("64,3,7,7"; docs/converted_models.md)
 * Any safetensors reader sees ordinary tensors; sparq_packed_load() rebuilds the matrix. */

/* The array names above, in the order sparq_packed_get_array() lists a matrix's arrays:
 * "row_ptr", "col_idx", "values", "nm_meta", "scales", "zero_points" for index 0..5;
 * NULL past the end. */
SPARQ_API const char *sparq_packed_array_name(size_t index);

/* Adds packed to writer under name (non-empty; tensors and metadata keys as above).
 * The arrays are copied, as by sparq_safetensors_writer_add(). Fails with
 * SPARQ_ERROR_INVALID_ARGUMENT when a tensor of that name is already in the writer; after
 * a failure the writer may hold part of the matrix and should be discarded. */
SPARQ_API sparq_status sparq_packed_save(sparq_safetensors_writer *writer, const char *name,
                                         const sparq_packed *packed);

/* Rebuilds the packed matrix called name from file: reads the metadata above (every key
 * required, numbers strictly decimal), finds each present array's tensor, checks that it
 * is 1-d with a packed-array dtype and that its CRC-32 matches, then builds the matrix
 * with sparq_packed_from_arrays() (full validation of indices and values). A missing
 * matrix, missing or malformed metadata, a CRC mismatch ("crc32 mismatch"), or arrays
 * that do not fit the format give SPARQ_ERROR_INVALID_FORMAT (invalid scales or values
 * SPARQ_ERROR_INVALID_DATA). On success free *packed with sparq_packed_free(); it does
 * not refer to file, which may be closed. */
SPARQ_API sparq_status sparq_packed_load(const sparq_safetensors *file, const char *name,
                                         sparq_packed **packed);

/* One packed matrix of a file, as sparq_packed_list() finds it. */
typedef struct sparq_packed_entry {
    const char *name;          /* NAME (held by the list until sparq_packed_list_free)  */
    sparq_pack_options format; /* from NAME.* metadata, as sparq_packed_load() reads it */
    size_t rows, cols;         /* the logical shape                                     */
    uint64_t bytes;            /* bytes of its NAME.<array> tensors in the file         */
} sparq_packed_entry;

/* The packed matrices of file, sorted by name: every NAME with a NAME.sparq_version
 * metadata entry, its format and shape read from the metadata exactly as
 * sparq_packed_load() reads them (every key required). Only the metadata and the tensor
 * index are read: the arrays are neither CRC-checked nor validated (sparq_packed_load()
 * does that). Metadata that is missing or malformed for any NAME fails the whole call
 * with SPARQ_ERROR_INVALID_FORMAT naming it ("packed_list: 'fc1.weight': metadata
 * \"fc1.weight.rows\" is missing"). A file without packed matrices gives *count 0 and
 * *entries NULL. On success free *entries with sparq_packed_list_free(); the names live
 * as long as it (they do not refer to file, which may be closed). */
SPARQ_API sparq_status sparq_packed_list(const sparq_safetensors *file,
                                         sparq_packed_entry **entries, size_t *count);

/* Frees a list from sparq_packed_list(); NULL is a no-op. */
SPARQ_API void sparq_packed_list_free(sparq_packed_entry *entries);

/* ---- models as they are shipped ----------------------------------------------------
 *
 * A model is one safetensors file, or a folder holding either Hugging Face's sharded
 * layout, model.safetensors.index.json ({"metadata": {...}, "weight_map": {"<tensor>":
 * "<shard file>", ...}}) with the shards it names, or a single model.safetensors. Other
 * files of the folder (config.json, tokenizer files) are the caller's. */

typedef struct sparq_model sparq_model;

/* Opens the model at path (a file or a folder, as above) and every shard of it, and
 * checks the index against the shards: each shard a plain file name in the folder (no
 * '/', no "..": SPARQ_ERROR_INVALID_FORMAT "shard '../x' ... is not a file name in the
 * model's folder"), present and valid (the reader's status and sentence, naming the
 * shard), every tensor of every shard in the index under that shard ("tensor 'w' is in
 * shard B, but model.safetensors.index.json puts it in A"), and every indexed tensor in
 * its shard. The index must be JSON without duplicate names. A folder with neither file
 * is SPARQ_ERROR_IO. On success close *model with sparq_model_close(). */
SPARQ_API sparq_status sparq_model_open(const char *path, sparq_model **model);

/* Closes every shard and frees; NULL is a no-op. */
SPARQ_API void sparq_model_close(sparq_model *model);

/* 1 when read through model.safetensors.index.json. */
SPARQ_API int sparq_model_is_sharded(const sparq_model *model);

/* The folder that holds the model's files (for a file path, its folder, or "."). */
SPARQ_API const char *sparq_model_folder(const sparq_model *model);

/* Number of shard files (1 for a single file), their file names in the folder (sorted,
 * as the index names them) and open files; NULL past the end. Shards are read-only and
 * may be read from several threads. */
SPARQ_API size_t sparq_model_shard_count(const sparq_model *model);
SPARQ_API const char *sparq_model_shard_name(const sparq_model *model, size_t shard);
SPARQ_API const sparq_safetensors *sparq_model_shard(const sparq_model *model, size_t shard);

/* The tensor called name and, if shard is not NULL, the number of its shard.
 * SPARQ_ERROR_INVALID_ARGUMENT ("no tensor named ...") when there is none. */
SPARQ_API sparq_status sparq_model_find(const sparq_model *model, const char *name,
                                        size_t *shard, sparq_safetensors_tensor_info *info);

/* ---- end of safetensors ---- */


#ifndef SPARQ_NO_OPENCL
/* ------------------------------------------------------------------------------------
 * Autotuning
 *
 * sparq_tune_run() tunes the sparq_linear kernels of a list of cases (a format, a
 * shape, a batch, a sparsity) on the context's device. For each case it builds random
 * weights and activations (fixed by the seed), and for each kernel that runs the case
 * it searches the kernel's tunables (candidates and validity from the kernel registry):
 * every candidate is built, run once and checked against a C reference (with guard
 * words after the output) before it is timed; a wrong candidate is rejected, logged
 * and never chosen. Timing uses profiling events: one warm-up, then the median of
 * `repeats` runs, each after a cache flush (a buffer of twice the device's global
 * memory cache read through), so that the weights stream from memory as when a model's
 * layers run one after another; a candidate 3x slower than the best so far is cut
 * short after one.
 * The default and the best are then timed again side by side (3 rounds each) for the
 * reported speedup; the default stays if it is not slower. It also times the dense path
 * (sparq's dense kernels and CLBlast) on the same weights, in turns with the sparse
 * kernel (a near tie, within 15 %, again with three times the rounds), and records the
 * faster path per case: dispatch then uses that measured break-even.
 *
 * Results are keyed by device (vendor, name, driver), kernel, encoding and shape class
 * (rows, cols, batch and nonzeros per row, each rounded to a power of two) and merged
 * into the user's database ($SPARQ_TUNE_DB, else $XDG_CACHE_HOME/sparq/tune.json, else
 * ~/.cache/sparq/tune.json), written atomically. Dispatch looks up: user database, the
 * shipped database's entry for this device, its vendor/device-type default, then the
 * built-in defaults. SPARQ_TUNE=off makes dispatch ignore every database.
 *
 * Search is deterministic given the seed (which candidates are tried in which order;
 * the timings themselves are measurements). Not to be run while other threads use
 * sparq_linear on the same context.
 * ---------------------------------------------------------------------------------- */

typedef enum sparq_tune_strategy {
    SPARQ_TUNE_EXHAUSTIVE = 0, /* every valid candidate                                */
    SPARQ_TUNE_RANDOM = 1,     /* random candidates until the budget or max_evaluations */
    SPARQ_TUNE_ANNEAL = 2      /* simulated annealing over neighbouring values          */
} sparq_tune_strategy;

/* "exhaustive", "random", "anneal"; and back (SPARQ_ERROR_INVALID_ARGUMENT if unknown). */
SPARQ_API const char *sparq_tune_strategy_name(sparq_tune_strategy strategy);
SPARQ_API sparq_status sparq_tune_strategy_parse(const char *name,
                                                 sparq_tune_strategy *strategy);

/* One case to tune. */
typedef struct sparq_tune_case {
    sparq_pack_options format; /* structure and encoding of the weights              */
    double sparsity;           /* CSR/BSR: fraction pruned (magnitude); NM: ignored   */
    size_t rows, cols, batch;
    int quantize_activations;  /* W8A8 (dense i8 weights): as sparq_matrix_options    */
} sparq_tune_case;

/* A case from "FORMAT:ROWSxCOLS:bBATCH[:sSPARSITY][:w8a8]" (sparsity default 0.9; it
 * prunes CSR and BSR), FORMAT any spelling sparq_format_parse reads ("csr", "csr+i8-row",
 * "bsr16x16", "2:4+i4-g128", "dense+i8-row"); FORMAT ends at the first ':' followed by
 * "<digits>x<digits>:b". ":w8a8" (dense int8 weights only) quantizes the activations per
 * row to symmetric int8 (quantize_activations 1). E.g. "csr:4096x4096:b1:s0.9",
 * "2:4:768x3072:b32", "dense+i8-row:768x3072:b32:w8a8". SPARQ_ERROR_INVALID_ARGUMENT
 * with a message for anything else. */
SPARQ_API sparq_status sparq_tune_case_parse(const char *spec, sparq_tune_case *tune_case);

/* The common cases `sparq tune --quick` tunes: *cases points at a static table. */
SPARQ_API void sparq_tune_quick_cases(const sparq_tune_case **cases, size_t *count);

typedef struct sparq_tune_options {
    const char *kernels;          /* comma-separated kernel names; NULL: every kernel
                                   * that runs the case                                */
    sparq_tune_strategy strategy;
    double budget_seconds;        /* per kernel and case; 0: none (RANDOM: 30 s)        */
    unsigned max_evaluations;     /* per kernel and case; 0: the strategy's default
                                   * (ANNEAL: a third of the valid space, at least 12)   */
    uint64_t seed;
    unsigned repeats;             /* timed runs per candidate (median); 0: 5            */
    unsigned top_kernels;         /* only the N kernels dispatch ranks highest for the
                                   * case with defaults (ties included); 0: all         */
    int skip_break_even;          /* 1: don't time the dense path                       */
    const char *db_path;          /* NULL: the user database; "": write nothing          */
    int also_type_default;        /* 1: also store the results as the default for every
                                   * device of this type (for shipped databases)        */
    /* progress: called after each evaluation with the cases done and a label */
    void (*progress)(void *user, size_t done, size_t total, const char *label);
    void *user;
    /* called after each candidate with its kernel, its parameters ("-DNAME=value ..."),
     * and its median time in us (INFINITY: rejected by the check); may be NULL */
    void (*candidate)(void *user, const char *kernel, const char *params, double us);
    /* tests and search studies: when set, replaces the measured time (us) of a
     * candidate that passed the check */
    double (*fake_time_us)(void *user, const char *kernel, const char *params);
    /* tests: when set and true for a candidate, its output is corrupted after the run
     * (as a miscompiled kernel would), so the check must reject it */
    int (*corrupt)(void *user, const char *kernel, const char *params);
    uint64_t reserved[SPARQ_RESERVED_WORDS]; /* must be 0 (see the top of this file)  */
} sparq_tune_options;

/* One tuned (case, kernel), or the case's break-even (kernel "dense/sparse"). */
typedef struct sparq_tune_result {
    char kernel[64];
    char encoding[8];
    char shape_class[64];
    char default_params[128];     /* "-DWG=64 -DVW=8"                                    */
    char best_params[128];
    double default_us, best_us;   /* median times; break-even: dense path, sparse path  */
    unsigned evaluations;         /* candidates built and timed (or rejected)           */
    unsigned space;               /* valid candidates in the space                      */
    unsigned rejected;            /* candidates that failed the reference check         */
    char choice[160];             /* break-even only: "sparse spmm_csr_rowvec" or
                                   * "dense linear_dense_q_tiled" / "dense clblast"      */
} sparq_tune_result;

/* Tunes count cases; *results (free with free()) gets *result_count rows. Writes the
 * user database (or db_path) unless db_path is "". The context's dispatch reads the
 * new entries afterwards. */
SPARQ_API sparq_status sparq_tune_run(sparq_context *context, const sparq_tune_case *cases,
                                      size_t count, const sparq_tune_options *options,
                                      sparq_tune_result **results, size_t *result_count);

/* A listing (malloc'ed text, free with free()): every tunable kernel with its
 * parameters and candidates, the quick cases' shape classes, and for the context's
 * device which entries the user and shipped databases hold. */
SPARQ_API sparq_status sparq_tune_describe(sparq_context *context, char **text);

#endif /* SPARQ_NO_OPENCL (autotuning) */

/* ====================================================================================
 * Calibration statistics (pure host C, no device). Implemented in formats/calib.c.
 *
 * Activation-aware compression (GPTQ, SparseGPT, Wanda, the output gate) looks at what a
 * layer's weights are multiplied by. A sparq_calib holds, for one layer with cols = K
 * inputs, what it needs of the layer's input rows X (tokens x K, as sparq_linear takes
 * them), accumulated in double:
 *   gram   H = X^T X, K x K, row-major and symmetric (8 K^2 bytes; optional: Wanda
 *          needs only the sums of squares, GPTQ, SparseGPT and the output gate need H);
 *   sumsq  s_j = sum over rows of X[t, j]^2, K values (the diagonal of H);
 *   rows   how many input rows were accumulated.
 * Any engine or script that sees a layer's inputs can produce these
 * (tools/eval/calibrate.py does it with numpy for a model it runs).
 *
 * Files. Statistics are stored in a safetensors file, one entry per layer, named after
 * the layer's weight tensor NAME in the model (e.g. "encoder.layer.0.attention.self.
 * query.weight"):
 *   tensor   NAME.calib_sumsq   F64 [K]
 *   tensor   NAME.calib_gram    F64 [K, K]   (only when the statistics have H)
 *   metadata NAME.calib_rows    decimal count of rows accumulated (>= 1)
 *   metadata sparq_calib        "1" (the version of this layout)
 * ---------------------------------------------------------------------------------- */

typedef struct sparq_calib sparq_calib;

/* Empty statistics for a layer of cols inputs; with_gram 1 also accumulates H. Errors:
 * SPARQ_ERROR_INVALID_ARGUMENT for cols 0 or NULL calib, SPARQ_ERROR_OUT_OF_MEMORY
 * (8 cols^2 bytes with H). Free with sparq_calib_free(). */
SPARQ_API sparq_status sparq_calib_create(size_t cols, int with_gram, sparq_calib **calib);
/* sparq_calib_free(NULL) is a no-op. */
SPARQ_API void sparq_calib_free(sparq_calib *calib);

/* Adds rows input rows x (rows x cols float32, row-major). A NaN or infinite input is
 * SPARQ_ERROR_INVALID_DATA naming it ("calib_accumulate: x[3, 17] is NaN") and nothing
 * is added. One object is not to be accumulated into from two threads at once: give each
 * thread its own and merge them. */
SPARQ_API sparq_status sparq_calib_accumulate(sparq_calib *calib, const float *x, size_t rows);

/* dst += src (rows, sums of squares and H). Thread-safe on dst: several threads may merge
 * into one dst at once (dst is locked), while src is not changed by anyone.
 * SPARQ_ERROR_INVALID_ARGUMENT when cols differ, or dst has H and src has not. */
SPARQ_API sparq_status sparq_calib_merge(sparq_calib *dst, const sparq_calib *src);

/* Statistics from arrays the caller computed (copied): gram may be NULL (no H); sumsq
 * must not be. Validated as sparq_calib_load() validates a file. */
SPARQ_API sparq_status sparq_calib_from_arrays(size_t cols, uint64_t rows, const double *gram,
                                               const double *sumsq, sparq_calib **calib);

/* Accessors (calib not NULL). gram: NULL without H; else cols*cols doubles. */
SPARQ_API size_t sparq_calib_cols(const sparq_calib *calib);
SPARQ_API uint64_t sparq_calib_rows(const sparq_calib *calib);
SPARQ_API const double *sparq_calib_gram(const sparq_calib *calib);
SPARQ_API const double *sparq_calib_sumsq(const sparq_calib *calib);

/* Adds calib to writer under the layer name (tensors and metadata as above; the writer's
 * "sparq_calib" entry is set too). Fails with SPARQ_ERROR_INVALID_ARGUMENT for an empty
 * name, statistics with no rows, or a name already in the writer. */
SPARQ_API sparq_status sparq_calib_save(sparq_safetensors_writer *writer, const char *name,
                                        const sparq_calib *calib);

/* Reads the statistics of layer name from file. Everything is validated: the
 * "sparq_calib" version, NAME.calib_sumsq present, 1-d F64; NAME.calib_gram absent or
 * 2-d F64 [K, K] with the same K; NAME.calib_rows a decimal >= 1; every value finite;
 * sums of squares >= 0; H symmetric (|H_ij - H_ji| <= 1e-6 sqrt(H_ii H_jj) + 1e-300) with
 * its diagonal equal to sumsq (within 1e-6 relative) and |H_ij| <= sqrt(H_ii H_jj)
 * (1 + 1e-6) (Cauchy-Schwarz, as any X^T X). A layer with no entry is
 * SPARQ_ERROR_INVALID_ARGUMENT ("no calibration statistics for 'NAME'"); anything
 * malformed SPARQ_ERROR_INVALID_FORMAT, non-finite or inconsistent values
 * SPARQ_ERROR_INVALID_DATA, each with a sentence naming the tensor. */
SPARQ_API sparq_status sparq_calib_load(const sparq_safetensors *file, const char *name,
                                        sparq_calib **calib);

/* The output error of replacing weights w by approx (both rows x cols) on the inputs
 * calib saw, relative to the output itself, without the inputs:
 *   NMSE_out = tr(dW H dW^T) / tr(W H W^T),  dW = approx - w,
 * which equals sum over the calibration rows of |X dW^T|^2 / |X W^T|^2. Needs H (else
 * SPARQ_ERROR_INVALID_ARGUMENT); cols must equal the statistics' cols. 0 when both are 0,
 * +inf when only the numerator is. Uses CBLAS (OpenBLAS). */
SPARQ_API sparq_status sparq_output_nmse(const float *w, const float *approx, size_t rows,
                                         size_t cols, const sparq_calib *calib, double *nmse);

/* ---- end of calibration statistics ---- */

/* ====================================================================================
 * Layer conversion with a quality gate (pure host C, no device).
 * Implemented in formats/convert.c (the ladder) and formats/compress.c (the methods);
 * `sparq convert` and `sparq demo` are built on it.
 *
 * Methods. How a layer is pruned and quantized:
 *   RTN        magnitude pruning (CSR: smallest |w| over the whole matrix; BSR: blocks
 *              by L2 norm; N:M: N largest |w| of every M), then each kept weight rounded
 *              to its nearest code. Looks at the weights alone; needs no statistics.
 *   WANDA      (Sun et al. 2023) pruning by |W_ij| * ||X_j|| (||X_j|| = sqrt(sumsq_j)):
 *              CSR per output row (round(s * cols) in every row), BSR blocks by the sum of
 *              squared scores, N:M within each group; then round to nearest; no weight
 *              update. Needs sums of squares.
 *   GPTQ       (Frantar et al. 2022) the RTN mask (inputs the statistics never saw,
 *              H_jj = 0, count as zero weights), then quantization column by column with
 *              each column's rounding (and pruning) error fed back into the columns not
 *              yet done through U, the upper Cholesky factor of (H + damp I)^-1, in
 *              panels of block_size columns with lazy updates of the rest. Group scales
 *              are chosen when the sweep reaches a group, from the weights as updated so
 *              far; with act_order (columns by decreasing H_jj) every group's scales are
 *              chosen up front from the original weights, so groups stay the packed
 *              format's static groups of consecutive columns. Row and tensor scales are
 *              chosen up front, from the original weights, or, when the format prunes,
 *              from the weights an unquantized first sweep with the same mask leads to
 *              (the error feedback grows kept weights past the original range). Every
 *              scale is chosen by importance-weighted clipping: the clipping range among
 *              min-max and the ranges without the 1, 2, 3, 5 or 7 largest |w|, times 1.0,
 *              0.9 or 0.8, with the least sum of H_jj (w - w')^2 (percentile calibration
 *              is kept as asked). Inputs never seen get weight 0. Needs H.
 *   SPARSEGPT  (Frantar and Alistarh 2023) the same sweep, choosing the mask as it
 *              goes: at each panel's start the weights with the least w^2 / U_jj^2 are
 *              pruned (CSR: round(s * n) of the panel's n weights; BSR: whole blocks by
 *              the sum of those scores), N:M groups when the sweep reaches them; the
 *              pruned weights' errors are fed back like rounding errors. With an i8/i4
 *              encoding it quantizes jointly in the same sweep (group scales as GPTQ);
 *              with row or tensor scales it first sweeps unquantized for the mask and the
 *              range, then jointly with that mask. Needs H.
 * Every method produces the packed format asked for, with the same kernels. Dense f32
 * and f16 rungs are rounded to nearest by every method (GPTQ has nothing to round in
 * f32, and f16's rounding error is far below any gate); a sparse f32 rung still gets its
 * pruning error fed back.
 * ================================================================================== */

typedef enum sparq_method {
    SPARQ_METHOD_RTN = 0,
    SPARQ_METHOD_WANDA = 1,
    SPARQ_METHOD_GPTQ = 2,
    SPARQ_METHOD_SPARSEGPT = 3
} sparq_method;

/* "rtn", "wanda", "gptq", "sparsegpt"; "?" for a value outside the enum. parse:
 * SPARQ_ERROR_INVALID_ARGUMENT for an unknown name. */
SPARQ_API const char *sparq_method_name(sparq_method method);
SPARQ_API sparq_status sparq_method_parse(const char *name, sparq_method *method);

/* Which error the gate (max_nmse) compares. */
typedef enum sparq_gate_metric {
    SPARQ_GATE_AUTO = 0,    /* outputs when calib has H, else weights                */
    SPARQ_GATE_WEIGHTS = 1, /* NMSE of the weights                                   */
    SPARQ_GATE_OUTPUTS = 2  /* NMSE_out (sparq_output_nmse), needs calib with H      */
} sparq_gate_metric;

/* What to make of one weight matrix, and the gate it must pass. */
typedef struct sparq_convert_options {
    double sparsity;           /* prune target in [0, 1] for CSR and BSR (magnitude,
                                * global; BSR prunes whole blocks); ignored for NM
                                * (which prunes N of M) and DENSE                     */
    sparq_pack_options format; /* structure, encoding, scales, block shape, N:M       */
    double max_nmse;           /* gate: the NMSE that gate_metric names must be
                                * <= this; 0 = no NMSE gate                           */
    double min_sqnr_db;        /* gate: SQNR of the weights must be >= this; 0 = none */
    int no_rollback;           /* 1: a layer failing the gate is an error instead     */
    sparq_method method;       /* RTN (0, default), WANDA, GPTQ, SPARSEGPT            */
    const sparq_calib *calib;  /* the layer's input statistics (cols must match), or
                                * NULL; WANDA needs them, GPTQ/SPARSEGPT with H       */
    sparq_gate_metric gate_metric; /* AUTO (default): outputs when calib has H       */
    double damp;               /* GPTQ/SPARSEGPT: damp * mean(H_jj) is added to H's
                                * diagonal (doubled until H is positive definite,
                                * at most 6 times); 0 = 0.01                           */
    size_t block_size;         /* GPTQ/SPARSEGPT panel width in columns; 0 = 128     */
    int act_order;             /* GPTQ only: columns by decreasing H_jj, static groups */
} sparq_convert_options;

/* What was made, after any rollbacks. */
typedef struct sparq_convert_result {
    sparq_pack_options format;  /* the format written (may differ from the request)   */
    double sparsity;            /* fraction of weights that are zero in the result    */
    double bits_per_weight;
    sparq_error_metrics error;  /* the result (dequantized) vs the original weights   */
    double output_nmse;         /* NMSE_out of the result with calib's H; NAN without */
    uint64_t bytes_before;      /* rows * cols * 4 (f32)                              */
    uint64_t bytes_after;       /* sparq_packed_bytes of the result                   */
    unsigned rollbacks;         /* settings tried and refused before the one kept     */
    int last_rung;              /* 1: nothing passed before the last rung (dense f32,
                                 * or the request itself with no_rollback)            */
    double seconds;             /* wall time of the whole conversion of this layer    */
    char trail[512];            /* each refused step and why, "; "-separated, e.g.
                                 * "csr s=0.90 i4-g128: NMSE_out 0.31 > 0.05; ..."    */
} sparq_convert_result;

/* Prunes and quantizes weights (rows x cols, not modified) by options->method into the
 * requested format, measures the result against the original, and, when the gate fails,
 * rolls back to safer settings until one passes. The ladder (formats/convert.c says why):
 *   1. the request as given;
 *   2. CSR/BSR: the same structure and encoding at sparsity 0.75 s, 0.5 s, 0.25 s;
 *   3. no pruning: dense, the requested encoding (N:M's first rollback);
 *   4. more bits, dense: i4 -> i8 (same scales) -> f16 -> f32, which always passes.
 * Rungs are tried in increasing order of bytes (the sizes are known before any work).
 * A rung whose packed bytes are not below those of the dense rung in its own encoding
 * is refused before any error is computed ("no smaller than dense": CSR 50 % + i8 row
 * is larger than dense i8), the request included; a rung the encoding cannot hold (f16
 * overflow) is refused like a gate failure. So the result is always the smallest rung
 * that passes. Each refused rung is counted in result->rollbacks and named in
 * result->trail. The gate compares max_nmse with the output NMSE when gate_metric
 * says so (AUTO: whenever calib has H), else with the weights' NMSE; min_sqnr_db always
 * with the weights' SQNR. *packed gets the matrix that passed, *result (may be NULL)
 * what it is. With no_rollback a failing request gives SPARQ_ERROR_INVALID_DATA ("gate
 * failed: NMSE_out 0.31 > 0.05 (csr s=0.90 i4-g128)"), *packed NULL and *result the
 * failed step. A method that needs statistics it was not given, or statistics whose
 * cols differ from the weights', is SPARQ_ERROR_INVALID_ARGUMENT; a Hessian that stays
 * singular after dampening SPARQ_ERROR_INVALID_DATA. Errors as sparq_packed_create /
 * sparq_prune_* for bad options or NaN/Inf weights; *packed is NULL on any failure. */
SPARQ_API sparq_status sparq_layer_convert(const float *weights, size_t rows, size_t cols,
                                           const sparq_convert_options *options,
                                           sparq_packed **packed,
                                           sparq_convert_result *result);

/* ---- end of layer conversion ---- */

#ifdef __cplusplus
}
#endif

#endif /* SPARQ_H */
