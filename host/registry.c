/* registry.c - the one table of every kernel sparq has: source file, required device
 * features, the structure it runs, tunables with defaults and candidates, and the
 * rank/enqueue functions dispatch calls. Dispatch, tests, bench and tuner all read
 * this table; adding a kernel means adding a row here.
 */
#include "internal.h"
#include "ops.h"

#include <stdint.h>
#include <string.h>

const sparq_kernel_info sparq_kernels[] = {
    /* dense f32 (host/linear_dense.c) */
    {"linear_dense_rowdot", "linear_dense.cl", 0, SPARQ_STRUCTURE_DENSE,
     "dense f32 Y = X W^T (+bias), one work-item per output",
     {{"LINEAR_DENSE_WG", 64, 64, {32, 64, 128, 0}}, {"LINEAR_DENSE_VW", 8, 4, {4, 8, 16, 0}}},
     NULL, NULL, 0, false},
    {"fill_dense_bias", "linear_dense.cl", 0, SPARQ_STRUCTURE_DENSE,
     "Y[b, m] = bias[m] or 0, for a peer GEMV/GEMM with beta = 1 to add onto",
     {{"LINEAR_DENSE_WG", 64, 64, {64, 0}}}, NULL, NULL, 0, false},
    {"activate_dense_inplace", "linear_dense.cl", 0, SPARQ_STRUCTURE_DENSE,
     "y = act(y), the dense path's activation after its product",
     {{"LINEAR_DENSE_WG", 64, 64, {64, 0}}}, NULL, NULL, 0, false},
    /* bandwidth roof (host/bandwidth.c) */
    {"stream_dense_read", "stream.cl", 0, SPARQ_STRUCTURE_DENSE,
     "bandwidth roof: read-only float4 streaming",
     {{"STREAM_WG", 64, 64, {64, 0}}}, NULL, NULL, 0, false},
    {"stream_dense_copy", "stream.cl", 0, SPARQ_STRUCTURE_DENSE,
     "bandwidth roof: float4 copy (bytes read + written)",
     {{"STREAM_WG", 64, 64, {64, 0}}}, NULL, NULL, 0, false},
    /* ---- dense quantized and W8A8 (host/linear_dense_q.c) ---- */
    {"linear_dense_q_gemv", "linear_dense_q.cl", 0, SPARQ_STRUCTURE_DENSE,
     "dense i8/i4 weights at batch 1: a work-item per row, wide code loads, scales factored out",
     {{"QGEMV_WG", 16, 64, {8, 16, 32, 64, 0}}}, sparq_rank_dense_q_gemv,
     sparq_enqueue_dense_q_gemv, (1u << SPARQ_ENCODING_I8) | (1u << SPARQ_ENCODING_I4), false},
    /* also built for f32 by the dense path above batch 1 (host/linear.c) */
    {"linear_dense_q_tiled", "linear_dense_q.cl", 0, SPARQ_STRUCTURE_DENSE,
     "dense f16/i8/i4 weights, any batch: tiles of QTILE_R rows x QTILE_TB batch rows, "
     "QTILE_NT of them along the batch a work-item, each weight dequantized once in "
     "registers per tile, each x loaded once for the rows",
     {{"QTILE_WG", 16, 64, {8, 16, 32, 64, 0}}, {"QTILE_R", 2, 1, {1, 2, 3, 4, 0}},
      {"QTILE_TB", 4, 4, {1, 2, 4, 6, 8, 0}}, {"QTILE_NT", 4, 1, {1, 2, 4, 8, 0}}},
     sparq_rank_dense_q_tiled, sparq_enqueue_dense_q_tiled,
     (1u << SPARQ_ENCODING_F16) | (1u << SPARQ_ENCODING_I8) | (1u << SPARQ_ENCODING_I4), false},
    {"quantize_dense_rows", "linear_dense_q.cl", 0, SPARQ_STRUCTURE_DENSE,
     "W8A8 step 1: X quantized per row (per token) to 8-bit codes and (scale, zero point)",
     {{"QROWS_WG", 8, 64, {8, 0}}}, NULL, NULL, 1u << SPARQ_ENCODING_I8, true},
    {"linear_dense_w8a8", "linear_dense_q.cl", 0, SPARQ_STRUCTURE_DENSE,
     "W8A8 step 2: int8 x int8 with exact int32 sums, outer products of W8A8_S slabs of 8 "
     "weight rows x W8A8_TB batch rows per work-item, then scaled by x_scale * w_scale",
     {{"W8A8_WG", 8, 64, {8, 16, 32, 64, 0}}, {"W8A8_S", 2, 1, {1, 2, 0}},
      {"W8A8_TB", 6, 4, {1, 2, 4, 6, 8, 0}}},
     sparq_rank_dense_w8a8, sparq_enqueue_dense_w8a8, 1u << SPARQ_ENCODING_I8, true},
    /* ---- end of dense quantized rows ---- */
    /* ---- CSR (host/spmm_csr.c) ---- */
    /* every CSR kernel: f32, f16, i8 and i4 values */
#define SPARQ_CSR_ENCODINGS                                                                  \
    ((1u << SPARQ_ENCODING_F32) | (1u << SPARQ_ENCODING_F16) | (1u << SPARQ_ENCODING_I8) |   \
     (1u << SPARQ_ENCODING_I4))
    {"spmm_csr_scalar", "spmm_csr.cl", 0, SPARQ_STRUCTURE_CSR,
     "general CSR: one work-item per (row, batch) output, any shape",
     {{"WG", 64, 64, {32, 64, 128, 0}}}, sparq_rank_csr_scalar, sparq_enqueue_csr_scalar,
     SPARQ_CSR_ENCODINGS, false},
    {"spmm_csr_rowvec", "spmm_csr.cl", 0, SPARQ_STRUCTURE_CSR,
     "CSR at small batch on CPUs: a work-item per row, SIMD steps of VW nonzeros",
     {{"ROWVEC_WG", 64, 64, {16, 32, 64, 128, 0}}, {"ROWVEC_VW", 8, 4, {4, 8, 16, 0}}},
     sparq_rank_csr_rowvec, sparq_enqueue_csr_rowvec,
     SPARQ_CSR_ENCODINGS, false},
    {"spmm_csr_vector", "spmm_csr.cl", 0, SPARQ_STRUCTURE_CSR,
     "CSR at small batch on GPUs: VS work-items share a row, fixed-order tree reduction",
     {{"VECTOR_WG", 128, 128, {64, 128, 256, 0}}, {"VECTOR_VS", 32, 32, {4, 8, 16, 32, 64, 0}}},
     sparq_rank_csr_vector, sparq_enqueue_csr_vector,
     SPARQ_CSR_ENCODINGS, false},
    {"spmm_csr_batchtile", "spmm_csr.cl", 0, SPARQ_STRUCTURE_CSR,
     "CSR at batch >= 2: a work-item per row and TB batch columns, X staged in local memory",
     {{"TILE_WG", 512, 64, {32, 64, 128, 256, 512, 0}}, {"TILE_TB", 16, 8, {4, 8, 16, 0}},
      {"TILE_KT", 4096, 512, {256, 512, 1024, 2048, 4096, 0}}},
     sparq_rank_csr_batchtile, sparq_enqueue_csr_batchtile,
     SPARQ_CSR_ENCODINGS, false},
#undef SPARQ_CSR_ENCODINGS
    /* ---- end of CSR rows ---- */
    /* ---- BSR (host/spmm_bsr.c) ---- */
    /* every BSR kernel: f32, f16, i8 and i4 values */
#define SPARQ_BSR_ENCODINGS                                                                  \
    ((1u << SPARQ_ENCODING_F32) | (1u << SPARQ_ENCODING_F16) | (1u << SPARQ_ENCODING_I8) |   \
     (1u << SPARQ_ENCODING_I4))
    {"spmm_bsr_scalar", "spmm_bsr.cl", 0, SPARQ_STRUCTURE_BSR,
     "general BSR: one work-item per (row, batch) output, any block shape and batch; "
     "i8/i4 scaled once per block (groups) or per row",
     {{"WG", 64, 64, {32, 64, 128, 0}}}, sparq_rank_bsr_scalar, sparq_enqueue_bsr_scalar,
     SPARQ_BSR_ENCODINGS, false},
    {"spmm_bsr_tile", "spmm_bsr.cl", 0, SPARQ_STRUCTURE_BSR,
     "BSR micro-tiles: a work-item computes TSR float8 segment rows x TB batch rows; "
     "i8/i4 codes dequantized in registers",
     {{"TSR", 2, 1, {1, 2, 4, 8, 16, 0}}, {"TB", 4, 2, {1, 2, 3, 4, 6, 0}},
      {"WGB", 16, 8, {4, 8, 16, 32, 0}}, {"RPG", 1, 4, {1, 2, 4, 8, 0}}},
     sparq_rank_bsr_tile, sparq_enqueue_bsr_tile, SPARQ_BSR_ENCODINGS, false},
    {"spmm_bsr_gemv", "spmm_bsr.cl", 0, SPARQ_STRUCTURE_BSR,
     "BSR batch 1: the micro-tile kernel with one batch row per work-item",
     {{"TSR", 16, 1, {1, 2, 4, 8, 16, 0}}, {"TB", 1, 1, {1, 0}}, {"WGB", 1, 1, {1, 0}},
      {"RPG", 4, 16, {1, 4, 16, 0}}},
     sparq_rank_bsr_gemv, sparq_enqueue_bsr_tile, SPARQ_BSR_ENCODINGS, false},
#undef SPARQ_BSR_ENCODINGS
    /* ---- end of BSR rows ---- */
    /* ---- N:M (host/spmm_nm.c) ---- */
    {"spmm_nm_general", "spmm_nm.cl", 0, SPARQ_STRUCTURE_NM,
     "general N:M: one work-item per (row, batch) output, metadata decoded per byte",
     {{"WG", 64, 64, {16, 32, 64, 128, 0}}}, sparq_rank_nm_general, sparq_enqueue_nm_general,
     SPARQ_NM_ENCODINGS, false},
    {"spmm_nm_gemv24", "spmm_nm.cl", 0, SPARQ_STRUCTURE_NM,
     "2:4 at batch 1: rows streamed, four values per meta byte times the four x it names",
     {{"WG", 16, 128, {8, 16, 32, 64, 128, 256, 0}},
      {"ROW_LANES", 1, 16, {1, 2, 4, 8, 16, 32, 0}}},
     sparq_rank_nm_gemv24, sparq_enqueue_nm_gemv24, SPARQ_NM_ENCODINGS, false},
    {"spmm_nm_gemv24_slab", "spmm_nm.cl", 0, SPARQ_STRUCTURE_NM,
     "2:4 at batch 1: one work-item per slab of 8 rows, x picked by selects (no gather)",
     {{"WG", 8, 64, {1, 2, 4, 8, 16, 32, 64, 0}}},
     sparq_rank_nm_gemv24_slab, sparq_enqueue_nm_gemv24_slab, SPARQ_NM_ENCODINGS, false},
    {"spmm_nm_tiled", "spmm_nm.cl", 0, SPARQ_STRUCTURE_NM,
     "N:M at batch >= 2: one work-item per row and tile of TB batch columns",
     {{"WG", 16, 64, {8, 16, 32, 64, 128, 0}}, {"TB", 8, 8, {2, 4, 8, 16, 0}}},
     sparq_rank_nm_tiled, sparq_enqueue_nm_tiled, SPARQ_NM_ENCODINGS, false},
    {"spmm_nm_tiled24_slab", "spmm_nm.cl", 0, SPARQ_STRUCTURE_NM,
     "2:4 at batch >= 2: one work-item per slab of 8 rows and tile of TB batch rows",
     {{"WG", 8, 64, {1, 2, 4, 8, 16, 32, 0}}, {"TB", 8, 4, {2, 4, 8, 0}}},
     sparq_rank_nm_tiled24_slab, sparq_enqueue_nm_tiled24_slab, SPARQ_NM_ENCODINGS, false},
    {"spmm_nm_batchtile24", "spmm_nm.cl", 0, SPARQ_STRUCTURE_NM,
     "2:4 at batch >= 2: a work-item per row and TB batch rows (the lanes), X staged "
     "transposed in local memory, only the kept weights multiplied",
     {{"BATCHTILE_WG", 256, 64, {32, 64, 128, 256, 512, 0}},
      {"BATCHTILE_TB", 16, 8, {8, 16, 0}},
      {"BATCHTILE_KT", 256, 256, {64, 128, 256, 512, 1024, 0}}},
     sparq_rank_nm_batchtile24, sparq_enqueue_nm_batchtile24, SPARQ_NM_ENCODINGS, false},
    /* ---- end of N:M rows ---- */
};

const size_t sparq_kernel_count = sizeof sparq_kernels / sizeof sparq_kernels[0];
_Static_assert(sizeof sparq_kernels / sizeof sparq_kernels[0] <= SPARQ_MAX_KERNELS,
               "a context counts launches of at most SPARQ_MAX_KERNELS registry rows");

/* The encodings k runs, as bits (1u << sparq_encoding); a row's 0 means f32 and f16. */
static unsigned kernel_encodings(const sparq_kernel_info *k)
{
    return k->encodings ? k->encodings : (1u << SPARQ_ENCODING_F32) | (1u << SPARQ_ENCODING_F16);
}

size_t sparq_kernel_index(const char *name)
{
    for (size_t i = 0; name && i < sparq_kernel_count; i++)
        if (strcmp(sparq_kernels[i].name, name) == 0)
            return i;
    return SIZE_MAX;
}

const sparq_kernel_info *sparq_kernel_find(const char *name)
{
    size_t i = sparq_kernel_index(name);
    return i == SIZE_MAX ? NULL : &sparq_kernels[i];
}

size_t sparq_kernel_registry_size(void)
{
    return sparq_kernel_count;
}

sparq_status sparq_kernel_describe(size_t index, sparq_kernel_desc *desc)
{
    if (!desc)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "kernel_describe: NULL desc");
    if (index >= sparq_kernel_count)
        return sparq_fail(SPARQ_ERROR_OUT_OF_BOUNDS,
                          "kernel_describe: row %zu of a registry of %zu", index,
                          sparq_kernel_count);
    const sparq_kernel_info *k = &sparq_kernels[index];
    memset(desc, 0, sizeof *desc);
    desc->name = k->name;
    desc->source = k->source;
    desc->summary = k->summary;
    desc->structure = k->structure;
    desc->encodings = kernel_encodings(k);
    desc->w8a8 = k->w8a8;
    desc->dispatched = k->rank && k->enqueue;
    for (int i = 0; i < SPARQ_MAX_TUNABLES && k->tunables[i].name; i++)
        desc->tunables[desc->tunable_count++] = k->tunables[i].name;
    return SPARQ_OK;
}

bool sparq_kernel_runs_format(const sparq_kernel_info *k, const sparq_pack_options *fmt,
                              bool quantize_activations)
{
    return k->rank && k->enqueue && k->structure == fmt->structure &&
           (kernel_encodings(k) & (1u << fmt->quant.encoding)) && k->w8a8 == quantize_activations;
}

bool sparq_format_has_kernels(const sparq_pack_options *fmt, bool quantize_activations)
{
    for (size_t i = 0; i < sparq_kernel_count; i++)
        if (sparq_kernel_runs_format(&sparq_kernels[i], fmt, quantize_activations))
            return true;
    return false;
}
