/* sparq.h - the one public header of sparq, a C library of sparse and quantized
 * OpenCL kernels for serving pruned and quantized neural-network weights.
 * Its comments are the documentation: if a thing is not declared here, it is not API.
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
    cl_uint vector_width_char;    /* CL_DEVICE_PREFERRED_VECTOR_WIDTH_*                */
    cl_uint vector_width_short;
    cl_uint vector_width_int;
    cl_uint vector_width_float;
    cl_uint vector_width_half;
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
     * else $HOME/.cache/sparq. */
    const char *cache_dir;
    /* 1: no on-disk program cache (as SPARQ_CACHE=off does). */
    int disable_disk_cache;
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

/* Releases everything the context holds. sparq_context_free(NULL) is a no-op. */
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

/* ------------------------------------------------------------------------------------
 * Program cache
 *
 * Compiled programs are kept on disk as binaries, one file per key, where the key is a
 * hash of the kernel source, build options, device name, vendor, driver version,
 * platform version and sparq version. Entries carry a checksum; a corrupt or truncated
 * entry is rebuilt, never trusted. Writes are atomic (temporary file + rename).
 * SPARQ_CACHE=off disables the disk cache. SPARQ_KERNEL_DIR=path loads kernel sources
 * from that folder instead of the copies embedded at build time (kernel development).
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
 * when sparq was built without CLBlast. */
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

/* ---- end of formats part 1 ---- */

/* ====================================================================================
 * Formats, part 2: quantization and packing (pure host C, no device).
 * Implemented in formats/quantize.c, formats/f16.c, formats/pack*.c.
 * ================================================================================== */

/* ---- end of formats part 2 ---- */

/* ====================================================================================
 * safetensors files: reading, writing, and packed matrices as tensor sets.
 * Implemented in formats/safetensors.c and formats/packed_io.c.
 * ================================================================================== */

/* ---- end of safetensors ---- */

#ifdef __cplusplus
}
#endif

#endif /* SPARQ_H */
