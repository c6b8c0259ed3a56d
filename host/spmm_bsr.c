/* SPDX-License-Identifier: Apache-2.0 */
/* spmm_bsr.c - the BSR kernels of sparq_linear (kernels/spmm_bsr.cl): when each can run
 * (rank) and how each is launched (enqueue). spmm_bsr_scalar is the general kernel;
 * spmm_bsr_tile (batch > 1) and spmm_bsr_gemv (batch 1) compute float8 micro-tiles;
 * spmm_bsr_stream (GPUs) reads the blocks in coalesced 16-byte chunks, each for a pass of
 * BSR_STREAM_TB batch rows.
 * Every kernel runs f32, f16, i8 and i4 values (scales per tensor, row or group).
 */
#include "matrix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Work-items per block row of the micro-tile kernels, as TILE_WI in the kernel file:
 * a block is cut into 8-value segments; a segment row covers max(1, 8 / c) block rows;
 * each work-item owns tsr of the r / that segment rows. 0 when r * c < 8. */
static size_t tile_work_items(const sparq_matrix *m, unsigned tsr)
{
    size_t r = m->format.block_rows, c = m->format.block_cols;
    if (r * c < 8 || tsr == 0)
        return 0;
    size_t rows_per_segment = c >= 8 ? 1 : 8 / c;
    size_t segment_rows = r / rows_per_segment;
    return segment_rows / (tsr < segment_rows ? tsr : segment_rows);
}

/* Shared preconditions of the micro-tile kernels, for registry row `name` with
 * parameters p on this device. 0 with why when it can't run. */
static int tile_usable(const char *name, const sparq_matrix *m, const sparq_device_caps *caps,
                       const sparq_kernel_params *p, char *why, size_t why_size)
{
    const sparq_kernel_info *k = sparq_kernel_find(name);
    if (!k) {
        snprintf(why, why_size, "%s is not registered", name);
        return 0;
    }
    size_t wi = tile_work_items(m, sparq_kernel_param(k, p, "BSR_TILE_TSR"));
    size_t group = wi * sparq_kernel_param(k, p, "BSR_TILE_RPG") *
                   sparq_kernel_param(k, p, "BSR_TILE_WGB");
    if (wi == 0) {
        snprintf(why, why_size, "%s needs blocks of at least 8 values, not %ux%u", name,
                 m->format.block_rows, m->format.block_cols);
        return 0;
    }
    const sparq_quant_options *q = &m->format.quant;
    bool quantized = q->encoding == SPARQ_ENCODING_I8 || q->encoding == SPARQ_ENCODING_I4;
    if (quantized && q->granularity == SPARQ_SCALE_GROUP &&
        (q->group_size == 0 || q->group_size % m->format.block_cols != 0)) {
        snprintf(why, why_size, "%s needs scale groups of whole blocks, not G %zu with %u "
                 "columns per block", name, q->group_size, m->format.block_cols);
        return 0;
    }
    if (group > caps->max_work_group_size) {
        snprintf(why, why_size, "%s needs %zu work-items per group, the device allows %zu",
                 name, group, caps->max_work_group_size);
        return 0;
    }
    return 1;
}

/* spmm_bsr_stream's 16-byte chunk in values (STREAM_CH in the kernel file): 4 f32, 8 f16,
 * 16 i8, 32 i4. */
static unsigned stream_chunk_values(const sparq_matrix *m)
{
    switch (m->format.quant.encoding) {
    case SPARQ_ENCODING_F16:
        return 8;
    case SPARQ_ENCODING_I8:
        return 16;
    case SPARQ_ENCODING_I4:
        return 32;
    default:
        return 4;
    }
}

/* Whether spmm_bsr_stream runs m's blocks with `lanes` per block row (as the kernel file's
 * guard): blocks of whole 16-byte chunks, each inside one row of a block or covering
 * whole rows, and the lanes a multiple or a divisor of the chunks per block. */
static bool stream_fits(const sparq_matrix *m, unsigned lanes, char *why, size_t why_size)
{
    unsigned r = m->format.block_rows, c = m->format.block_cols, ch = stream_chunk_values(m);
    if ((r * c) % ch != 0 || !(c % ch == 0 || (ch % c == 0 && r % (ch / c) == 0))) {
        snprintf(why, why_size, "spmm_bsr_stream reads 16-byte chunks of %u values: %ux%u "
                 "%s blocks are not whole chunks of whole or part rows", ch, r, c,
                 sparq_encoding_name(m->format.quant.encoding));
        return false;
    }
    unsigned per_block = r * c / ch;
    if (lanes == 0 || (lanes % per_block != 0 && per_block % lanes != 0)) {
        snprintf(why, why_size, "spmm_bsr_stream with %u lanes a block row: %u chunks a block "
                 "is neither a multiple nor a divisor", lanes, per_block);
        return false;
    }
    return true;
}

static int rank_bsr_scalar(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                           const sparq_kernel_params *p, char *why, size_t why_size)
{
    (void)m, (void)batch, (void)caps, (void)p;
    snprintf(why, why_size, "spmm_bsr_scalar is the general BSR kernel (any block and batch)");
    return SPARQ_RANK_FALLBACK;
}

static int rank_bsr_tile(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                         const sparq_kernel_params *p, char *why, size_t why_size)
{
    if (!tile_usable("spmm_bsr_tile", m, caps, p, why, why_size))
        return SPARQ_RANK_REFUSED;
    if (batch < 2) {
        snprintf(why, why_size, "spmm_bsr_tile can run batch 1 but spmm_bsr_gemv wastes no "
                                "batch rows there");
        return SPARQ_RANK_OFF_REGIME;
    }
    snprintf(why, why_size, "spmm_bsr_tile computes float8 micro-tiles of %ux%u blocks, "
             "reading each block once per batch tile (batch %zu > 1)",
             m->format.block_rows, m->format.block_cols, batch);
    return SPARQ_RANK_SHAPED;
}

static int rank_bsr_gemv(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                         const sparq_kernel_params *p, char *why, size_t why_size)
{
    if (!tile_usable("spmm_bsr_gemv", m, caps, p, why, why_size))
        return SPARQ_RANK_REFUSED;
    if (batch > 1) {
        snprintf(why, why_size, "spmm_bsr_gemv runs any batch, one row at a time; "
                                "spmm_bsr_tile shares blocks across batch %zu", batch);
        return SPARQ_RANK_OFF_REGIME;
    }
    snprintf(why, why_size, "spmm_bsr_gemv streams the %ux%u blocks once at batch 1",
             m->format.block_rows, m->format.block_cols);
    return SPARQ_RANK_SHAPED;
}

static int rank_bsr_stream(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                           const sparq_kernel_params *p, char *why, size_t why_size)
{
    const sparq_kernel_info *k = sparq_kernel_find("spmm_bsr_stream");
    if (!stream_fits(m, sparq_kernel_param(k, p, "BSR_STREAM_LANES"), why, why_size))
        return SPARQ_RANK_REFUSED;
    const sparq_quant_options *q = &m->format.quant;
    bool quantized = q->encoding == SPARQ_ENCODING_I8 || q->encoding == SPARQ_ENCODING_I4;
    if (quantized && q->granularity == SPARQ_SCALE_GROUP &&
        (q->group_size == 0 || q->group_size % m->format.block_cols != 0)) {
        snprintf(why, why_size, "spmm_bsr_stream needs scale groups of whole blocks, not G %zu "
                 "with %u columns per block", q->group_size, m->format.block_cols);
        return SPARQ_RANK_REFUSED;
    }
    bool gpu = caps->type == SPARQ_DEVICE_TYPE_GPU;
    unsigned tb = sparq_kernel_param(k, p, "BSR_STREAM_TB");
    if (batch > 1 && tb == 1) {
        snprintf(why, why_size, "spmm_bsr_stream reads the blocks once per batch row "
                 "(BSR_STREAM_TB=1); spmm_bsr_tile shares them across batch %zu", batch);
        return SPARQ_RANK_OFF_REGIME;
    }
    snprintf(why, why_size, "spmm_bsr_stream reads the %ux%u blocks in coalesced 16-byte "
             "chunks, a team of lanes per block row, each chunk for up to %u batch rows%s",
             m->format.block_rows, m->format.block_cols, tb,
             gpu ? "; preferred on GPUs" : "; spmm_bsr_gemv and spmm_bsr_tile on CPUs");
    return gpu ? SPARQ_RANK_BEST : SPARQ_RANK_OFF_REGIME;
}

/* Sets the arguments every BSR kernel takes and enqueues it with these sizes. Scales and
 * zero points are NULL buffers (NULL pointers in the kernel) for f32/f16 and, zero
 * points, for symmetric quantizers. */
static sparq_status enqueue_bsr(sparq_context *ctx, const sparq_kernel_info *k,
                                const sparq_linear_args *a, const sparq_kernel_params *p,
                                const size_t global[2], const size_t local[2])
{
    static const sparq_matrix_array arrays[] = {SPARQ_ARRAY_ROW_PTR, SPARQ_ARRAY_COL_IDX,
                                                SPARQ_ARRAY_VALUES, SPARQ_ARRAY_SCALES,
                                                SPARQ_ARRAY_ZERO_POINTS};
    cl_kernel kernel = NULL;
    sparq_status st = sparq_linear_kernel(k, a, p, arrays, sizeof arrays / sizeof arrays[0], 0,
                                          &kernel);
    return st != SPARQ_OK ? st : sparq_linear_enqueue(ctx, k, a, kernel, global, local);
}

static sparq_status enqueue_bsr_scalar(sparq_context *ctx, const sparq_kernel_info *k,
                                       const sparq_linear_args *a, const sparq_kernel_params *p)
{
    size_t wg = sparq_kernel_param(k, p, "BSR_SCALAR_WG");
    size_t local[2] = {wg, 1}, global[2] = {sparq_round_up(a->matrix->rows, wg), a->batch};
    return enqueue_bsr(ctx, k, a, p, global, local);
}

/* spmm_bsr_tile and spmm_bsr_gemv: a group per BSR_TILE_RPG block rows x BSR_TILE_WGB batch
 * tiles of BSR_TILE_TB. */
static sparq_status enqueue_bsr_tile(sparq_context *ctx, const sparq_kernel_info *k,
                                     const sparq_linear_args *a, const sparq_kernel_params *p)
{
    const sparq_matrix *m = a->matrix;
    size_t wi = tile_work_items(m, sparq_kernel_param(k, p, "BSR_TILE_TSR"));
    size_t tb = sparq_kernel_param(k, p, "BSR_TILE_TB");
    size_t wgb = sparq_kernel_param(k, p, "BSR_TILE_WGB");
    size_t rpg = sparq_kernel_param(k, p, "BSR_TILE_RPG");
    if (wi == 0 || tb == 0 || wgb == 0 || rpg == 0)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "linear: %s can't run %ux%u blocks with TSR %u, TB %zu, WGB %zu, "
                          "RPG %zu",
                          k->name, m->format.block_rows, m->format.block_cols,
                          sparq_kernel_param(k, p, "BSR_TILE_TSR"), tb, wgb, rpg);
    size_t block_rows = (m->rows + m->format.block_rows - 1) / m->format.block_rows;
    size_t local[2] = {wi * rpg, wgb};
    size_t global[2] = {sparq_round_up(block_rows, rpg) * wi,
                        sparq_round_up((a->batch + tb - 1) / tb, wgb)};
    return enqueue_bsr(ctx, k, a, p, global, local);
}

/* spmm_bsr_stream: a team of BSR_STREAM_LANES per block row, BSR_STREAM_WG per group;
 * passes of BSR_STREAM_TB batch rows along the second dimension. */
static sparq_status enqueue_bsr_stream(sparq_context *ctx, const sparq_kernel_info *k,
                                       const sparq_linear_args *a, const sparq_kernel_params *p)
{
    const sparq_matrix *m = a->matrix;
    size_t lanes = sparq_kernel_param(k, p, "BSR_STREAM_LANES");
    size_t wg = sparq_kernel_param(k, p, "BSR_STREAM_WG");
    size_t block_rows = (m->rows + m->format.block_rows - 1) / m->format.block_rows;
    size_t tb = sparq_kernel_param(k, p, "BSR_STREAM_TB");
    size_t local[2] = {wg, 1},
           global[2] = {sparq_round_up(block_rows * lanes, wg), (a->batch + tb - 1) / tb};
    return enqueue_bsr(ctx, k, a, p, global, local);
}

/* ---- device layout ---- */

/* Per-group scales and zero points by block row: for each block row and group, its r
 * rows' entries side by side ([block row][group][row in block], the last block row
 * padded with zeros), so a block's rows read adjacent words (bsr_scale_index in the
 * kernel file); the packed layout holds them a row of groups apart. Every other array,
 * and scales per row or tensor, go up as packed. */
static sparq_status bsr_layout(const sparq_matrix *m, const sparq_packed *packed,
                               sparq_packed_role role, const sparq_packed_buffer *a, void **data,
                               size_t *count)
{
    (void)m;
    if ((role != SPARQ_PACKED_SCALES && role != SPARQ_PACKED_ZERO_POINTS) ||
        packed->format.quant.granularity != SPARQ_SCALE_GROUP)
        return SPARQ_OK;
    size_t r = packed->block_rows, gpr = packed->groups_per_row;
    size_t size = sparq_dtype_size(a->dtype), block_rows = (packed->rows + r - 1) / r;
    *count = block_rows * gpr * r;
    uint8_t *dst = calloc(*count ? *count : 1, size);
    if (!dst)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "matrix_create: out of memory");
    const uint8_t *src = a->data;
    for (size_t row = 0; row < packed->rows; row++)
        for (size_t g = 0; g < gpr; g++)
            memcpy(dst + (((row / r) * gpr + g) * r + row % r) * size,
                   src + (row * gpr + g) * size, size);
    *data = dst;
    return SPARQ_OK;
}

/* The kernels iterate block rows. */
static sparq_status bsr_statistics(sparq_matrix *m, const uint32_t *row_ptr)
{
    return sparq_row_statistics(m, row_ptr,
                                (m->rows + m->format.block_rows - 1) / m->format.block_rows);
}

static void bsr_options(const sparq_pack_options *f, char *options, size_t size)
{
    snprintf(options, size, " -DBSR_R=%u -DBSR_C=%u", f->block_rows, f->block_cols);
}

const sparq_structure_upload sparq_upload_bsr = {SPARQ_STRUCTURE_BSR, bsr_layout,
                                                 bsr_statistics, bsr_options};

/* ---- registry rows ---- */

/* every BSR kernel: f32, f16, i8 and i4 values */
#define BSR_ENCODINGS                                                                        \
    ((1u << SPARQ_ENCODING_F32) | (1u << SPARQ_ENCODING_F16) | (1u << SPARQ_ENCODING_I8) |   \
     (1u << SPARQ_ENCODING_I4))

/* The micro-tile kernels' work-groups (TILE_WI x RPG by WGB) depend on the block shape:
 * tile_usable checks them per matrix. Their accumulators are TSR x TB float8s. */
static const sparq_kernel_info bsr_rows[] = {
    {"spmm_bsr_scalar", "spmm_bsr.cl", 0, SPARQ_STRUCTURE_BSR,
     "general BSR: one work-item per (row, batch) output, any block shape and batch; "
     "i8/i4 scaled once per block (groups) or per row",
     {{"BSR_SCALAR_WG", 64, 64, {32, 64, 128, 0}}}, rank_bsr_scalar, enqueue_bsr_scalar,
     BSR_ENCODINGS, false, {{SPARQ_RULE_WORK_GROUP, "BSR_SCALAR_WG", NULL, 0}}},
    {"spmm_bsr_tile", "spmm_bsr.cl", 0, SPARQ_STRUCTURE_BSR,
     "BSR micro-tiles: a work-item computes TSR float8 segment rows x TB batch rows; "
     "i8/i4 codes dequantized in registers",
     {{"BSR_TILE_TSR", 2, 1, {1, 2, 4, 8, 16, 0}}, {"BSR_TILE_TB", 4, 2, {1, 2, 3, 4, 6, 0}},
      {"BSR_TILE_WGB", 16, 8, {4, 8, 16, 32, 0}}, {"BSR_TILE_RPG", 1, 4, {1, 2, 4, 8, 0}}},
     rank_bsr_tile, enqueue_bsr_tile, BSR_ENCODINGS, false,
     {{SPARQ_RULE_PRIVATE, "BSR_TILE_TSR", "BSR_TILE_TB", 8}}},
    {"spmm_bsr_gemv", "spmm_bsr.cl", 0, SPARQ_STRUCTURE_BSR,
     "BSR batch 1: the micro-tile kernel with one batch row per work-item",
     {{"BSR_TILE_TSR", 16, 1, {1, 2, 4, 8, 16, 0}}, {"BSR_TILE_TB", 1, 1, {1, 0}},
      {"BSR_TILE_WGB", 1, 1, {1, 0}}, {"BSR_TILE_RPG", 4, 16, {1, 4, 16, 0}}},
     rank_bsr_gemv, enqueue_bsr_tile, BSR_ENCODINGS, false,
     {{SPARQ_RULE_PRIVATE, "BSR_TILE_TSR", "BSR_TILE_TB", 8}}},
    /* GPU defaults from the simulated-warp model (bench/gpu_model.md): 32 lanes a block
     * row, one warp, so each request reads 512 consecutive bytes of a block row (16
     * whole sectors) and divides or is divided by the 16x16 block's chunks in every
     * encoding (64 f32, 32 f16, 16 i8, 8 i4); 128 work-items, four block rows a group;
     * passes of 4 batch rows read the blocks once per 4 (at most 4 x 2 sums a lane).
     * CPU defaults: the kernel is not the CPU choice (spmm_bsr_gemv), smaller teams. */
    {"spmm_bsr_stream", "spmm_bsr.cl", 0, SPARQ_STRUCTURE_BSR,
     "BSR on GPUs: a team of lanes per block row reads its blocks in consecutive 16-byte "
     "chunks (float4 / uint4 per lane), each for BSR_STREAM_TB batch rows, sums per row "
     "added across the team",
     {{"BSR_STREAM_WG", 64, 128, {32, 64, 128, 256, 0}},
      {"BSR_STREAM_LANES", 16, 32, {4, 8, 16, 32, 64, 0}},
      {"BSR_STREAM_TB", 1, 4, {1, 2, 4, 0}}},
     rank_bsr_stream, enqueue_bsr_stream, BSR_ENCODINGS, false,
     {{SPARQ_RULE_WORK_GROUP, "BSR_STREAM_WG", NULL, 0},
      {SPARQ_RULE_DIVIDES, "BSR_STREAM_LANES", "BSR_STREAM_WG", 0}}},
};

const sparq_kernel_family sparq_kernels_bsr = {bsr_rows, sizeof bsr_rows / sizeof bsr_rows[0]};
