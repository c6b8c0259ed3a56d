/* SPDX-License-Identifier: Apache-2.0 */
/* spmm_nm.c - the N:M kernels of sparq_linear (kernels/spmm_nm.cl): when each kernel
 * can run (rank) and how each is launched (enqueue); their arrays' slab layout is
 * host/matrix.c's. All take (rows, cols, batch, values, nm_meta, scales,
 * zero_points) then the common tail arguments; values are f32, f16, i8 or i4 (scales
 * and zero points are NULL buffers where the format has none).
 */
#include "matrix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_2_4(const sparq_matrix *m)
{
    return m->format.nm_n == 2 && m->format.nm_m == 4;
}

/* Creates k for m, binds (rows, cols, batch, values, nm_meta, scales, zero_points) and
 * the tail, and enqueues it on a 2-d range with groups of local0 x 1. */
static sparq_status enqueue_nm(sparq_context *ctx, const sparq_kernel_info *k,
                               const sparq_linear_args *a, const sparq_kernel_params *p,
                               size_t global0, size_t global1, size_t local0)
{
    static const sparq_matrix_array arrays[] = {SPARQ_ARRAY_VALUES, SPARQ_ARRAY_NM_META,
                                                SPARQ_ARRAY_SCALES, SPARQ_ARRAY_ZERO_POINTS};
    cl_kernel kernel = NULL;
    sparq_status st = sparq_linear_kernel(k, a, p, arrays, sizeof arrays / sizeof arrays[0], 0,
                                          &kernel);
    size_t local[2] = {local0, 1}, global[2] = {global0, global1};
    return st != SPARQ_OK ? st : sparq_linear_enqueue(ctx, k, a, kernel, global, local);
}

/* ---- spmm_nm_general ---- */

static int rank_nm_general(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                           const sparq_kernel_params *p, char *why, size_t why_size)
{
    (void)batch, (void)caps, (void)p;
    snprintf(why, why_size, "spmm_nm_general is the general N:M kernel (any %u:%u, any batch)",
             m->format.nm_n, m->format.nm_m);
    return SPARQ_RANK_FALLBACK;
}

static sparq_status enqueue_nm_general(sparq_context *ctx, const sparq_kernel_info *k,
                                       const sparq_linear_args *a, const sparq_kernel_params *p)
{
    unsigned wg = sparq_kernel_param(k, p, "NM_GENERAL_WG");
    return enqueue_nm(ctx, k, a, p, sparq_round_up(a->matrix->rows, wg), a->batch, wg);
}

/* ---- spmm_nm_gemv24 and spmm_nm_gemv24_slab ---- */

/* Whether m has the 2:4 pattern that kernel `name` needs; why says so when not. */
static bool runs_2_4(const sparq_matrix *m, const char *name, char *why, size_t why_size)
{
    if (!is_2_4(m))
        snprintf(why, why_size, "%s needs the 2:4 pattern, the matrix is %u:%u", name,
                 m->format.nm_n, m->format.nm_m);
    return is_2_4(m);
}

/* Whether a batch-1 2:4 kernel (name) runs m at this batch; why says what it lacks. */
static bool gemv24_runs(const sparq_matrix *m, size_t batch, const char *name, char *why,
                        size_t why_size)
{
    if (!runs_2_4(m, name, why, why_size))
        return false;
    if (batch != 1) {
        snprintf(why, why_size, "%s runs batch 1 only, not %zu", name, batch);
        return false;
    }
    return true;
}

static int rank_nm_gemv24(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                          const sparq_kernel_params *p, char *why, size_t why_size)
{
    (void)caps, (void)p;
    if (!gemv24_runs(m, batch, "spmm_nm_gemv24", why, why_size))
        return SPARQ_RANK_REFUSED;
    snprintf(why, why_size,
             "spmm_nm_gemv24 streams 2:4 rows at batch 1, one row per work-item (meta bytes "
             "decoded in registers, four x gathered per byte)");
    return SPARQ_RANK_SHAPED;
}

static int rank_nm_gemv24_slab(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                               const sparq_kernel_params *p, char *why, size_t why_size)
{
    (void)p;
    if (!gemv24_runs(m, batch, "spmm_nm_gemv24_slab", why, why_size))
        return SPARQ_RANK_REFUSED;
    bool cpu = caps->type == SPARQ_DEVICE_TYPE_CPU;
    snprintf(why, why_size,
             "spmm_nm_gemv24_slab streams 2:4 rows at batch 1, a slab of %u rows per "
             "work-item (x picked by selects, no gather)%s",
             SPARQ_SLAB_ROWS, cpu ? "; preferred on CPUs" : "; few work-items for a GPU");
    return cpu ? SPARQ_RANK_BEST : SPARQ_RANK_OFF_REGIME;
}

static sparq_status enqueue_nm_gemv24(sparq_context *ctx, const sparq_kernel_info *k,
                                      const sparq_linear_args *a, const sparq_kernel_params *p)
{
    unsigned wg = sparq_kernel_param(k, p, "NM_GEMV24_WG");
    unsigned lanes = sparq_kernel_param(k, p, "NM_GEMV24_LANES");
    size_t rows_per_group = wg / lanes;
    return enqueue_nm(ctx, k, a, p, sparq_round_up(a->matrix->rows, rows_per_group) * lanes, 1, wg);
}

/* The slab kernels: one work-item per slab of rows (their count rounded up to the
 * work-group size) and tile of tb batch rows. */
static sparq_status enqueue_slabs(sparq_context *ctx, const sparq_kernel_info *k,
                                  const sparq_linear_args *a, const sparq_kernel_params *p,
                                  unsigned tb)
{
    unsigned wg = sparq_kernel_work_group(k, p);
    size_t slabs = sparq_slab_count(a->matrix->rows);
    return enqueue_nm(ctx, k, a, p, sparq_round_up(slabs, wg), (a->batch + tb - 1) / tb, wg);
}

static sparq_status enqueue_nm_gemv24_slab(sparq_context *ctx, const sparq_kernel_info *k,
                                           const sparq_linear_args *a, const sparq_kernel_params *p)
{
    return enqueue_slabs(ctx, k, a, p, 1);
}

/* ---- spmm_nm_stream24 ---- */

/* Local memory bytes spmm_nm_stream24 uses with parameters p on m (as its kernel file
 * declares: x with its padding, meta units, scales and zero points of scale groups, the
 * team sums). */
static size_t stream24_local_bytes(const sparq_matrix *m, const sparq_kernel_info *k,
                                   const sparq_kernel_params *p)
{
    size_t wg = sparq_kernel_param(k, p, "NM_STREAM24_WG");
    size_t lanes = sparq_kernel_param(k, p, "NM_STREAM24_LANES");
    size_t kt = sparq_kernel_param(k, p, "NM_STREAM24_KT");
    size_t slabs = lanes ? wg / lanes : 0;
    const sparq_quant_options *q = &m->format.quant;
    bool quantized = q->encoding == SPARQ_ENCODING_I8 || q->encoding == SPARQ_ENCODING_I4;
    size_t groups = quantized && q->granularity == SPARQ_SCALE_GROUP && q->group_size
                        ? kt / q->group_size : 0;
    size_t per_row = q->encoding == SPARQ_ENCODING_F32 ? 4 : 8; /* sums a lane keeps */
    return 4 * (kt + kt / 32) + slabs * kt + slabs * 8 * groups * 4 * (q->asymmetric ? 2 : 1) +
           wg * per_row * 4;
}

static int rank_nm_stream24(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                            const sparq_kernel_params *p, char *why, size_t why_size)
{
    if (!runs_2_4(m, "spmm_nm_stream24", why, why_size))
        return SPARQ_RANK_REFUSED;
    const sparq_kernel_info *k = sparq_kernel_find("spmm_nm_stream24");
    size_t local = stream24_local_bytes(m, k, p);
    if (local > caps->local_mem_bytes) {
        snprintf(why, why_size, "spmm_nm_stream24 needs %zu bytes of local memory, the device "
                 "has %llu", local, (unsigned long long)caps->local_mem_bytes);
        return SPARQ_RANK_REFUSED;
    }
    unsigned tb = sparq_kernel_param(k, p, "NM_STREAM24_TB");
    unsigned kt = sparq_kernel_param(k, p, "NM_STREAM24_KT");
    if (tb == 0 || kt % (256 * tb) != 0) {
        snprintf(why, why_size, "NM_STREAM24_KT=%u does not split into %u tiles of a multiple of "
                 "256 columns (NM_STREAM24_TB=%u)", kt, tb, tb);
        return SPARQ_RANK_REFUSED;
    }
    if (batch > 1 && tb == 1) {
        snprintf(why, why_size, "spmm_nm_stream24 reads the weights once per batch row "
                 "(batch %zu, NM_STREAM24_TB=1)", batch);
        return SPARQ_RANK_OFF_REGIME;
    }
    bool gpu = caps->type == SPARQ_DEVICE_TYPE_GPU;
    snprintf(why, why_size,
             "spmm_nm_stream24 reads 2:4 slabs in coalesced 16-byte chunks, a team of lanes "
             "per slab, each chunk for up to %u batch rows, x and metadata staged in local "
             "memory%s", tb, gpu ? "; preferred on GPUs" : "; the slab kernels on CPUs");
    return gpu ? SPARQ_RANK_BEST : SPARQ_RANK_OFF_REGIME;
}

/* A group per NM_STREAM24_WG / NM_STREAM24_LANES slabs; passes of NM_STREAM24_TB batch
 * rows along the second dimension. */
static sparq_status enqueue_nm_stream24(sparq_context *ctx, const sparq_kernel_info *k,
                                        const sparq_linear_args *a, const sparq_kernel_params *p)
{
    unsigned wg = sparq_kernel_param(k, p, "NM_STREAM24_WG");
    unsigned lanes = sparq_kernel_param(k, p, "NM_STREAM24_LANES");
    size_t slabs_per_group = wg / lanes;
    size_t groups = (sparq_slab_count(a->matrix->rows) + slabs_per_group - 1) / slabs_per_group;
    size_t tb = sparq_kernel_param(k, p, "NM_STREAM24_TB");
    return enqueue_nm(ctx, k, a, p, groups * wg, (a->batch + tb - 1) / tb, wg);
}

/* ---- spmm_nm_tiled ---- */

static int rank_nm_tiled(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                         const sparq_kernel_params *p, char *why, size_t why_size)
{
    (void)caps, (void)p;
    if (batch < 2) {
        snprintf(why, why_size, "spmm_nm_tiled is for batch >= 2, not %zu", batch);
        return SPARQ_RANK_REFUSED;
    }
    snprintf(why, why_size,
             "spmm_nm_tiled decodes each %u:%u group once for a tile of batch columns "
             "(batch %zu >= 2)",
             m->format.nm_n, m->format.nm_m, batch);
    return SPARQ_RANK_OFF_REGIME;
}

static sparq_status enqueue_nm_tiled(sparq_context *ctx, const sparq_kernel_info *k,
                                     const sparq_linear_args *a, const sparq_kernel_params *p)
{
    unsigned wg = sparq_kernel_param(k, p, "NM_TILED_WG");
    unsigned tb = sparq_kernel_param(k, p, "NM_TILED_TB");
    return enqueue_nm(ctx, k, a, p, sparq_round_up(a->matrix->rows, wg), (a->batch + tb - 1) / tb,
                      wg);
}

/* ---- spmm_nm_tiled24_slab ---- */

static int rank_nm_tiled24_slab(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                                const sparq_kernel_params *p, char *why, size_t why_size)
{
    (void)p;
    if (!runs_2_4(m, "spmm_nm_tiled24_slab", why, why_size))
        return SPARQ_RANK_REFUSED;
    if (batch < 2) {
        snprintf(why, why_size, "spmm_nm_tiled24_slab is for batch >= 2, not %zu", batch);
        return SPARQ_RANK_REFUSED;
    }
    bool cpu = caps->type == SPARQ_DEVICE_TYPE_CPU;
    snprintf(why, why_size,
             "spmm_nm_tiled24_slab decodes a slab of %u 2:4 rows once for a tile of batch rows "
             "(batch %zu >= 2)%s",
             SPARQ_SLAB_ROWS, batch, cpu ? "; preferred on CPUs" : "; few work-items for a GPU");
    return cpu ? SPARQ_RANK_SHAPED : SPARQ_RANK_FALLBACK;
}

static sparq_status enqueue_nm_tiled24_slab(sparq_context *ctx, const sparq_kernel_info *k,
                                            const sparq_linear_args *a,
                                            const sparq_kernel_params *p)
{
    return enqueue_slabs(ctx, k, a, p, sparq_kernel_param(k, p, "NM_TILED24_SLAB_TB"));
}

/* ---- spmm_nm_batchtile24 ---- */

static int rank_nm_batchtile24(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                               const sparq_kernel_params *p, char *why, size_t why_size)
{
    (void)caps;
    if (!runs_2_4(m, "spmm_nm_batchtile24", why, why_size))
        return SPARQ_RANK_REFUSED;
    if (batch < 2) {
        snprintf(why, why_size, "spmm_nm_batchtile24 is for batch >= 2, not %zu", batch);
        return SPARQ_RANK_REFUSED;
    }
    const sparq_kernel_info *k = sparq_kernel_find("spmm_nm_batchtile24");
    unsigned tb = sparq_kernel_param(k, p, "NM_BATCHTILE24_TB");
    snprintf(why, why_size,
             "spmm_nm_batchtile24 multiplies only the kept half of the 2:4 weights, X staged "
             "transposed in local memory, %u batch rows a work-item (batch %zu%s)", tb, batch,
             batch < tb ? ": lanes idle, ranked below spmm_nm_tiled24_slab" : "");
    return batch < tb ? SPARQ_RANK_OFF_REGIME : SPARQ_RANK_BEST;
}

static sparq_status enqueue_nm_batchtile24(sparq_context *ctx, const sparq_kernel_info *k,
                                           const sparq_linear_args *a, const sparq_kernel_params *p)
{
    unsigned wg = sparq_kernel_param(k, p, "NM_BATCHTILE24_WG");
    unsigned tb = sparq_kernel_param(k, p, "NM_BATCHTILE24_TB");
    return enqueue_nm(ctx, k, a, p, sparq_round_up(a->matrix->rows, wg), (a->batch + tb - 1) / tb,
                      wg);
}

/* ---- device layout ---- */

/* values and nm_meta in the slab layout: a unit is a value slot or a meta byte, per_row
 * the row's meta bytes or its slots padded to whole meta bytes (nm_slab_index and
 * nm_slab_slots in kernels/spmm_nm.cl); scales and zero points as packed. */
static sparq_status nm_layout(const sparq_matrix *m, const sparq_packed *packed,
                              sparq_packed_role role, const sparq_packed_buffer *a, void **data,
                              size_t *count)
{
    (void)m;
    if (role != SPARQ_PACKED_VALUES && role != SPARQ_PACKED_NM_META)
        return SPARQ_OK;
    const bool meta = role == SPARQ_PACKED_NM_META;
    const bool i4 = !meta && packed->format.quant.encoding == SPARQ_ENCODING_I4;
    /* per row, in elements: the units kept, the packed stride and the layout's */
    const size_t used = meta ? packed->nm_meta_row_bytes : packed->values_per_row;
    const size_t src_row = meta ? packed->nm_meta_row_bytes : packed->value_row_slots;
    const size_t per_row = meta ? used : packed->nm_meta_row_bytes * (8 / packed->nm_bits);
    return sparq_slab_layout(a->data, packed->rows, used, src_row, per_row,
                             sparq_dtype_size(a->dtype), i4, data, count);
}

/* Every row holds the same number of slots. */
static sparq_status nm_statistics(sparq_matrix *m, const uint32_t *row_ptr)
{
    (void)row_ptr;
    sparq_uniform_statistics(m, m->stored / m->rows);
    return SPARQ_OK;
}

static void nm_options(const sparq_pack_options *f, char *options, size_t size)
{
    snprintf(options, size, " -DNM_N=%u -DNM_M=%u -DNM_SLAB=%u", f->nm_n, f->nm_m,
             SPARQ_SLAB_ROWS);
}

const sparq_structure_upload sparq_upload_nm = {SPARQ_STRUCTURE_NM, nm_layout, nm_statistics,
                                                nm_options};

/* ---- registry rows ---- */

/* every N:M kernel: f32, f16, i8 and i4 values */
#define NM_ENCODINGS                                                                         \
    ((1u << SPARQ_ENCODING_F32) | (1u << SPARQ_ENCODING_F16) | (1u << SPARQ_ENCODING_I8) |   \
     (1u << SPARQ_ENCODING_I4))

static const sparq_kernel_info nm_rows[] = {
    {"spmm_nm_general", "spmm_nm.cl", 0, SPARQ_STRUCTURE_NM,
     "general N:M: one work-item per (row, batch) output, metadata decoded per byte",
     {{"NM_GENERAL_WG", 64, 64, {16, 32, 64, 128, 0}}}, rank_nm_general, enqueue_nm_general,
     NM_ENCODINGS, false, {{SPARQ_RULE_WORK_GROUP, "NM_GENERAL_WG", NULL, 0}}},
    {"spmm_nm_gemv24", "spmm_nm.cl", 0, SPARQ_STRUCTURE_NM,
     "2:4 at batch 1: rows streamed, four values per meta byte times the four x it names",
     {{"NM_GEMV24_WG", 16, 128, {8, 16, 32, 64, 128, 256, 0}},
      {"NM_GEMV24_LANES", 1, 16, {1, 2, 4, 8, 16, 32, 0}}},
     rank_nm_gemv24, enqueue_nm_gemv24, NM_ENCODINGS, false,
     {{SPARQ_RULE_WORK_GROUP, "NM_GEMV24_WG", NULL, 0},
      {SPARQ_RULE_DIVIDES, "NM_GEMV24_LANES", "NM_GEMV24_WG", 0}}},
    {"spmm_nm_gemv24_slab", "spmm_nm.cl", 0, SPARQ_STRUCTURE_NM,
     "2:4 at batch 1: one work-item per slab of 8 rows, x picked by selects (no gather)",
     {{"NM_GEMV24_SLAB_WG", 8, 64, {1, 2, 4, 8, 16, 32, 64, 0}}},
     rank_nm_gemv24_slab, enqueue_nm_gemv24_slab, NM_ENCODINGS, false,
     {{SPARQ_RULE_WORK_GROUP, "NM_GEMV24_SLAB_WG", NULL, 0}}},
    /* GPU defaults from the simulated-warp model (bench/gpu_model.md): 64 lanes a slab,
     * two warps each reading 512 consecutive bytes a request; four slabs a group of 256
     * share the staged x; tiles of 1024 columns, so that a row's scales of G 128 fill a
     * 32-byte sector when staged, and an i4 tile still gives each lane a chunk. Teams of
     * at least a warp (a request on one slab's stream) keep a group at 8 slabs or fewer,
     * whose staged meta units, scales and sums fit 48 KB of local memory in every
     * encoding. Passes of 4 batch rows read the weights once per 4 (the staged x the
     * same 1024 floats: 256 columns of each row), 4 x 8 sums a lane. */
    {"spmm_nm_stream24", "spmm_nm.cl", 0, SPARQ_STRUCTURE_NM,
     "2:4 on GPUs: a team of lanes per slab of 8 rows reads it in consecutive 16-byte "
     "chunks, each for NM_STREAM24_TB batch rows, x and metadata staged in local memory",
     {{"NM_STREAM24_WG", 64, 256, {32, 64, 128, 256, 0}},
      {"NM_STREAM24_LANES", 32, 64, {32, 64, 128, 0}},
      {"NM_STREAM24_KT", 512, 1024, {256, 512, 1024, 0}},
      {"NM_STREAM24_TB", 1, 4, {1, 2, 4, 0}}},
     rank_nm_stream24, enqueue_nm_stream24, NM_ENCODINGS, false,
     {{SPARQ_RULE_WORK_GROUP, "NM_STREAM24_WG", NULL, 0},
      {SPARQ_RULE_DIVIDES, "NM_STREAM24_LANES", "NM_STREAM24_WG", 0},
      {SPARQ_RULE_CANDIDATE, "NM_STREAM24_LANES", NULL, 0},
      {SPARQ_RULE_MULTIPLE, "NM_STREAM24_KT", NULL, 256}}},
    {"spmm_nm_tiled", "spmm_nm.cl", 0, SPARQ_STRUCTURE_NM,
     "N:M at batch >= 2: one work-item per row and tile of TB batch columns",
     {{"NM_TILED_WG", 16, 64, {8, 16, 32, 64, 128, 0}}, {"NM_TILED_TB", 8, 8, {2, 4, 8, 16, 0}}},
     rank_nm_tiled, enqueue_nm_tiled, NM_ENCODINGS, false,
     {{SPARQ_RULE_WORK_GROUP, "NM_TILED_WG", NULL, 0}}},
    {"spmm_nm_tiled24_slab", "spmm_nm.cl", 0, SPARQ_STRUCTURE_NM,
     "2:4 at batch >= 2: one work-item per slab of 8 rows and tile of TB batch rows",
     {{"NM_TILED24_SLAB_WG", 8, 64, {1, 2, 4, 8, 16, 32, 0}},
      {"NM_TILED24_SLAB_TB", 8, 4, {2, 4, 8, 0}}},
     rank_nm_tiled24_slab, enqueue_nm_tiled24_slab, NM_ENCODINGS, false,
     {{SPARQ_RULE_WORK_GROUP, "NM_TILED24_SLAB_WG", NULL, 0}}},
    {"spmm_nm_batchtile24", "spmm_nm.cl", 0, SPARQ_STRUCTURE_NM,
     "2:4 at batch >= 2: a work-item per row and TB batch rows (the lanes), X staged "
     "transposed in local memory, only the kept weights multiplied",
     {{"NM_BATCHTILE24_WG", 256, 64, {32, 64, 128, 256, 512, 0}},
      {"NM_BATCHTILE24_TB", 16, 8, {8, 16, 0}},
      {"NM_BATCHTILE24_KT", 256, 256, {64, 128, 256, 512, 1024, 0}}},
     rank_nm_batchtile24, enqueue_nm_batchtile24, NM_ENCODINGS, false,
     {{SPARQ_RULE_WORK_GROUP, "NM_BATCHTILE24_WG", NULL, 0},
      {SPARQ_RULE_CANDIDATE, "NM_BATCHTILE24_TB", NULL, 0},
      {SPARQ_RULE_MULTIPLE, "NM_BATCHTILE24_KT", NULL, 8},
      {SPARQ_RULE_LOCAL_FLOATS, "NM_BATCHTILE24_KT", "NM_BATCHTILE24_TB", 0}}},
};

const sparq_kernel_family sparq_kernels_nm = {nm_rows, sizeof nm_rows / sizeof nm_rows[0]};
