/* SPDX-License-Identifier: Apache-2.0 */
/* test_pack.c - packing every structure x encoding x granularity and back: exact layouts
 * of small hand-computed cases (CSR, BSR, 2:4 metadata, int4 nibbles), byte sizes and
 * bits per weight, index widths, round trips on awkward shapes, from_arrays validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four includes above first */
#include <cmocka.h>

#include "sparq.h"
#include "ref/quant_ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static sparq_pack_options popts(sparq_structure s, sparq_encoding e)
{
    sparq_pack_options o;
    memset(&o, 0, sizeof o);
    o.structure = s;
    o.quant.encoding = e;
    return o;
}

static sparq_packed *pack(const sparq_pack_options *o, size_t rows, size_t cols,
                          const float *w)
{
    sparq_packed *p = NULL;
    sparq_status st = sparq_packed_create(o, rows, cols, w, &p);
    if (st != SPARQ_OK)
        fail_msg("packed_create: %s", sparq_last_error());
    return p;
}

static sparq_packed_array get(const sparq_packed *p, const char *name)
{
    sparq_packed_array a;
    assert_int_equal(sparq_packed_find_array(p, name, &a), SPARQ_OK);
    return a;
}

/* Copies every array of p into a list that from_arrays accepts (caller frees data). */
static size_t copy_arrays(const sparq_packed *p, sparq_packed_array *out)
{
    size_t n = sparq_packed_array_count(p);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(sparq_packed_get_array(p, i, &out[i]), SPARQ_OK);
        size_t bytes = out[i].count * sparq_dtype_size(out[i].dtype);
        void *copy = malloc(bytes > 0 ? bytes : 1);
        assert_non_null(copy);
        memcpy(copy, out[i].data, bytes);
        out[i].data = copy;
    }
    return n;
}

static void free_arrays(sparq_packed_array *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free((void *)a[i].data);
}

/* Packs, unpacks (must equal fake_quantize of w: calibration depends only on the
 * nonzeros, whatever the structure), checks sizes, and rebuilds from the arrays. */
static void round_trip(const sparq_pack_options *o, size_t rows, size_t cols, const float *w)
{
    sparq_packed *p = pack(o, rows, cols, w);
    float *got = malloc(rows * cols * sizeof *got);
    float *want = malloc(rows * cols * sizeof *want);
    assert_non_null(got);
    assert_non_null(want);
    assert_int_equal(sparq_packed_unpack(p, got), SPARQ_OK);
    assert_int_equal(sparq_fake_quantize(&o->quant, rows, cols, w, want, NULL), SPARQ_OK);
    for (size_t i = 0; i < rows * cols; i++) {
        if (memcmp(&got[i], &want[i], sizeof got[i]) != 0 && !(got[i] == 0 && want[i] == 0))
            fail_msg("structure %d encoding %d gran %d asym %d %zux%zu: W[%zu, %zu] = %g, "
                     "expected %g",
                     o->structure, o->quant.encoding, o->quant.granularity, o->quant.asymmetric,
                     rows, cols, i / cols, i % cols, (double)got[i], (double)want[i]);
        if (w[i] == 0.0f)
            assert_true(got[i] == 0.0f);
    }
    /* sizes */
    uint64_t bytes = 0;
    sparq_packed_array arrays[6];
    size_t n = copy_arrays(p, arrays);
    for (size_t i = 0; i < n; i++)
        bytes += arrays[i].count * sparq_dtype_size(arrays[i].dtype);
    assert_int_equal(bytes, sparq_packed_bytes(p));
    assert_true(sparq_packed_bits_per_weight(p) == (double)bytes * 8.0 / (double)(rows * cols));
    assert_int_equal(sparq_packed_rows(p), rows);
    assert_int_equal(sparq_packed_cols(p), cols);
    /* from arrays: same matrix */
    sparq_packed *q = NULL;
    if (sparq_packed_from_arrays(sparq_packed_format(p), rows, cols, arrays, n, &q) != SPARQ_OK)
        fail_msg("from_arrays: %s", sparq_last_error());
    assert_int_equal(sparq_packed_bytes(q), bytes);
    assert_int_equal(sparq_packed_stored_values(q), sparq_packed_stored_values(p));
    assert_int_equal(sparq_packed_unpack(q, want), SPARQ_OK);
    assert_memory_equal(got, want, rows * cols * sizeof *got);
    free_arrays(arrays, n);
    sparq_packed_free(q);
    sparq_packed_free(p);
    free(got);
    free(want);
}

/* A 4x4 CSR: row_ptr [0 2 2 3 6], col_idx (u16) [0 3 1 0 2 3], and its bytes. */
static const float csr4[16] = {1, 0, 0, 2, /**/ 0, 0, 0, 0, /**/ 0, 3, 0, 0, /**/ 4, 0, 5, 6};

static void csr_by_hand(void **state)
{
    (void)state;
    sparq_pack_options o = popts(SPARQ_STRUCTURE_CSR, SPARQ_ENCODING_F32);
    sparq_packed *p = pack(&o, 4, 4, csr4);
    assert_int_equal(sparq_packed_array_count(p), 3);
    sparq_packed_array rp = get(p, "row_ptr"), ci = get(p, "col_idx"), v = get(p, "values");
    assert_int_equal(rp.dtype, SPARQ_DTYPE_U32);
    assert_int_equal(ci.dtype, SPARQ_DTYPE_U16);
    assert_int_equal(v.dtype, SPARQ_DTYPE_F32);
    const uint32_t want_rp[5] = {0, 2, 2, 3, 6};
    const uint16_t want_ci[6] = {0, 3, 1, 0, 2, 3};
    const float want_v[6] = {1, 2, 3, 4, 5, 6};
    assert_int_equal(rp.count, 5);
    assert_int_equal(ci.count, 6);
    assert_memory_equal(rp.data, want_rp, sizeof want_rp);
    assert_memory_equal(ci.data, want_ci, sizeof want_ci);
    assert_memory_equal(v.data, want_v, sizeof want_v);
    assert_int_equal(sparq_packed_stored_values(p), 6);
    assert_int_equal(sparq_packed_bytes(p), 5 * 4 + 6 * 2 + 6 * 4);
    assert_true(sparq_packed_bits_per_weight(p) == 56.0 * 8 / 16);
    sparq_packed_free(p);
    /* i8 per row, symmetric: codes 64 127 | 127 | 85 106 127, scales amax/127 */
    o.quant.encoding = SPARQ_ENCODING_I8;
    o.quant.granularity = SPARQ_SCALE_ROW;
    p = pack(&o, 4, 4, csr4);
    const int8_t want_q[6] = {64, 127, 127, 85, 106, 127};
    const float want_s[4] = {2.0f / 127, 0.0f, 3.0f / 127, 6.0f / 127};
    assert_memory_equal(get(p, "values").data, want_q, sizeof want_q);
    assert_memory_equal(get(p, "scales").data, want_s, sizeof want_s);
    assert_int_equal(sparq_packed_array_count(p), 4);
    assert_int_equal(sparq_packed_bytes(p), 20 + 12 + 6 + 16);
    sparq_packed_free(p);
    /* i4 per tensor, symmetric: scale 6/7; codes 1 2 3 5 6 7 (1.1667 -> 1, ...), packed
     * flat two per byte, low nibble first */
    o.quant.encoding = SPARQ_ENCODING_I4;
    o.quant.granularity = SPARQ_SCALE_TENSOR;
    p = pack(&o, 4, 4, csr4);
    const uint8_t want_b[3] = {0x21, 0x53, 0x76};
    sparq_packed_array b = get(p, "values");
    assert_int_equal(b.dtype, SPARQ_DTYPE_U8);
    assert_int_equal(b.count, 3);
    assert_memory_equal(b.data, want_b, sizeof want_b);
    assert_int_equal(sparq_packed_bytes(p), 20 + 12 + 3 + 4);
    sparq_packed_free(p);
}

/* A 3x5 matrix in 2x2 blocks: grid 2x3, blocks (0,0), (0,2), (1,1) stored, ragged edges
 * zero-padded, values row-major inside each block. */
static void bsr_by_hand(void **state)
{
    (void)state;
    const float w[15] = {1, 0, 0, 0, 2, /**/ 0, 0, 0, 0, 0, /**/ 0, 0, 3, 0, 0};
    sparq_pack_options o = popts(SPARQ_STRUCTURE_BSR, SPARQ_ENCODING_F32);
    o.block_rows = o.block_cols = 2;
    sparq_packed *p = pack(&o, 3, 5, w);
    const uint32_t want_rp[3] = {0, 2, 3};
    const uint16_t want_ci[3] = {0, 2, 1};
    const float want_v[12] = {1, 0, 0, 0, /**/ 2, 0, 0, 0, /**/ 3, 0, 0, 0};
    assert_int_equal(get(p, "row_ptr").count, 3);
    assert_memory_equal(get(p, "row_ptr").data, want_rp, sizeof want_rp);
    assert_memory_equal(get(p, "col_idx").data, want_ci, sizeof want_ci);
    assert_int_equal(get(p, "values").count, 12);
    assert_memory_equal(get(p, "values").data, want_v, sizeof want_v);
    assert_int_equal(sparq_packed_stored_values(p), 12);
    assert_int_equal(sparq_packed_bytes(p), 12 + 6 + 48);
    /* 1x4 blocks on a row vector */
    sparq_packed_free(p);
    o.block_rows = 1;
    o.block_cols = 4;
    p = pack(&o, 3, 5, w);
    const uint32_t want_rp2[4] = {0, 2, 2, 3};
    const uint16_t want_ci2[3] = {0, 1, 0};
    assert_memory_equal(get(p, "row_ptr").data, want_rp2, sizeof want_rp2);
    assert_memory_equal(get(p, "col_idx").data, want_ci2, sizeof want_ci2);
    sparq_packed_free(p);
}

/* 2x8 in 2:4: 2 bits per position, one byte per row holding two groups. */
static void nm_by_hand(void **state)
{
    (void)state;
    const float w[16] = {1, 0, 2, 0, 0, 0, 0, 3, /**/ 0, 0, 0, 0, 0, 5, 6, 0};
    sparq_pack_options o = popts(SPARQ_STRUCTURE_NM, SPARQ_ENCODING_F32);
    o.nm_n = 2;
    o.nm_m = 4;
    sparq_packed *p = pack(&o, 2, 8, w);
    /* row 0: positions (0, 2), (0, 3) -> 0 | 2<<2 | 0<<4 | 3<<6 = 0xC8;
     * row 1: (0, 1) (no nonzero: lowest positions), (1, 2) -> 0 | 1<<2 | 1<<4 | 2<<6 = 0x94 */
    const uint8_t want_meta[2] = {0xC8, 0x94};
    const float want_v[8] = {1, 2, 0, 3, /**/ 0, 0, 5, 6};
    sparq_packed_array meta = get(p, "nm_meta");
    assert_int_equal(meta.dtype, SPARQ_DTYPE_U8);
    assert_int_equal(meta.count, 2);
    assert_memory_equal(meta.data, want_meta, sizeof want_meta);
    assert_memory_equal(get(p, "values").data, want_v, sizeof want_v);
    assert_int_equal(sparq_packed_bytes(p), 8 * 4 + 2);
    assert_int_equal(sparq_packed_array_count(p), 2);
    sparq_packed_free(p);
    /* tail: 1x5 in 2:4, group 1 covers col 4 only; its free slot points past the end */
    const float t[5] = {0, 1, 0, 0, 7};
    p = pack(&o, 1, 5, t);
    const uint8_t want_tail = 0 | 1 << 2 | 0 << 4 | 1 << 6;
    const float want_tv[4] = {0, 1, 7, 0};
    assert_memory_equal(get(p, "nm_meta").data, &want_tail, 1);
    assert_memory_equal(get(p, "values").data, want_tv, sizeof want_tv);
    float back[5];
    assert_int_equal(sparq_packed_unpack(p, back), SPARQ_OK);
    assert_memory_equal(back, t, sizeof t);
    sparq_packed_free(p);
    /* 4:8 uses 4-bit fields: positions 1 3 4 6 -> bytes 0x31, 0x64 */
    const float e[8] = {0, 1, 0, 2, 3, 0, 4, 0};
    o.nm_n = 4;
    o.nm_m = 8;
    p = pack(&o, 1, 8, e);
    const uint8_t want_e[2] = {0x31, 0x64};
    assert_memory_equal(get(p, "nm_meta").data, want_e, 2);
    sparq_packed_free(p);
    /* 1:2 uses 1-bit fields: groups (0,1) (2,3) (4,5): positions 1, 0, 0 -> 0b001 */
    const float f[6] = {0, 1, 2, 0, 0, 0};
    o.nm_n = 1;
    o.nm_m = 2;
    p = pack(&o, 1, 6, f);
    assert_int_equal(((const uint8_t *)get(p, "nm_meta").data)[0], 0x01);
    sparq_packed_free(p);
}

/* The first group with more than N nonzeros is named. */
static void nm_violation(void **state)
{
    (void)state;
    const float w[16] = {1, 0, 2, 0, 0, 0, 0, 3, /**/ 0, 0, 0, 0, 4, 5, 6, 0};
    sparq_pack_options o = popts(SPARQ_STRUCTURE_NM, SPARQ_ENCODING_I8);
    o.nm_n = 2;
    o.nm_m = 4;
    sparq_packed *p = (sparq_packed *)&o; /* must be reset to NULL */
    assert_int_equal(sparq_packed_create(&o, 2, 8, w, &p), SPARQ_ERROR_INVALID_DATA);
    assert_null(p);
    assert_string_equal(sparq_last_error(), "packed_create: row 1, group 1 (cols 4..7) has 3 "
                                            "nonzeros, N:M 2:4 allows 2");
}

/* Exact sizes: dense i4 g32 asymmetric 2x64 = 64 value bytes + 4 scales * 4 + 4 zero
 * points = 84 bytes = 5.25 bits per weight; dense i8 row 3x5; f16 dense; i4 odd cols. */
static void byte_sizes(void **state)
{
    (void)state;
    float w[2 * 64];
    ref_fill_gaussian(w, 2 * 64, 5, 1.0f);
    sparq_pack_options o = popts(SPARQ_STRUCTURE_DENSE, SPARQ_ENCODING_I4);
    o.quant.granularity = SPARQ_SCALE_GROUP;
    o.quant.group_size = 32;
    o.quant.asymmetric = 1;
    sparq_packed *p = pack(&o, 2, 64, w);
    assert_int_equal(sparq_packed_bytes(p), 84);
    assert_true(sparq_packed_bits_per_weight(p) == 5.25);
    assert_int_equal(sparq_packed_array_count(p), 3);
    sparq_packed_array a;
    assert_int_equal(sparq_packed_get_array(p, 0, &a), SPARQ_OK);
    assert_string_equal(a.name, "values");
    assert_int_equal(sparq_packed_get_array(p, 1, &a), SPARQ_OK);
    assert_string_equal(a.name, "scales");
    assert_int_equal(a.count, 4);
    assert_int_equal(sparq_packed_get_array(p, 2, &a), SPARQ_OK);
    assert_string_equal(a.name, "zero_points");
    assert_int_equal(a.dtype, SPARQ_DTYPE_I8);
    assert_int_equal(sparq_packed_get_array(p, 3, &a), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_packed_find_array(p, "col_idx", &a), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_true((uintptr_t)get(p, "values").data % 64 == 0);
    sparq_packed_free(p);
    /* dense i4, 3 x 5: rows start at a byte -> 3 * 3 bytes + 1 scale */
    o.quant.granularity = SPARQ_SCALE_TENSOR;
    o.quant.asymmetric = 0;
    p = pack(&o, 3, 5, w);
    assert_int_equal(get(p, "values").count, 9);
    assert_int_equal(sparq_packed_bytes(p), 9 + 4);
    sparq_packed_free(p);
    /* dense f16 and f32 */
    o = popts(SPARQ_STRUCTURE_DENSE, SPARQ_ENCODING_F16);
    p = pack(&o, 2, 64, w);
    assert_true(sparq_packed_bits_per_weight(p) == 16.0);
    sparq_packed_free(p);
    p = pack(NULL, 2, 64, w);
    assert_true(sparq_packed_bits_per_weight(p) == 32.0);
    assert_int_equal(sparq_packed_format(p)->structure, SPARQ_STRUCTURE_DENSE);
    assert_int_equal(sparq_packed_format(p)->quant.encoding, SPARQ_ENCODING_F32);
    sparq_packed_free(p);
    /* 2:4 i8 per row on 4 x 64: 4*32 values + 4*8 meta + 4 scales*4 = 176 bytes */
    o = popts(SPARQ_STRUCTURE_NM, SPARQ_ENCODING_I8);
    o.quant.granularity = SPARQ_SCALE_ROW;
    o.nm_n = 2;
    o.nm_m = 4;
    float nm[4 * 64];
    ref_fill_gaussian(nm, 4 * 64, 6, 1.0f);
    ref_make_nm(nm, 4, 64, 2, 4);
    p = pack(&o, 4, 64, nm);
    assert_int_equal(sparq_packed_bytes(p), 128 + 32 + 16);
    assert_true(sparq_packed_bits_per_weight(p) == 176.0 * 8 / 256);
    sparq_packed_free(p);
}

/* col_idx is u16 up to 65536 (block) columns, u32 past it. */
static void index_widths(void **state)
{
    (void)state;
    enum { C = 65537 };
    float *w = calloc(2 * C, sizeof *w);
    assert_non_null(w);
    w[0] = 1.0f;
    w[C - 2] = 2.0f;
    w[C + C - 1] = 3.0f;
    sparq_pack_options o = popts(SPARQ_STRUCTURE_CSR, SPARQ_ENCODING_I8);
    sparq_packed *p = pack(&o, 1, C - 1, w);
    assert_int_equal(get(p, "col_idx").dtype, SPARQ_DTYPE_U16);
    assert_int_equal(((const uint16_t *)get(p, "col_idx").data)[1], 65535);
    sparq_packed_free(p);
    p = pack(&o, 2, C, w);
    assert_int_equal(get(p, "col_idx").dtype, SPARQ_DTYPE_U32);
    assert_int_equal(get(p, "row_ptr").dtype, SPARQ_DTYPE_U32);
    round_trip(&o, 2, C, w);
    sparq_packed_free(p);
    /* BSR counts block columns: 1 x 2 blocks over 65537 cols -> 32769 block cols */
    o.structure = SPARQ_STRUCTURE_BSR;
    o.block_rows = 1;
    o.block_cols = 2;
    p = pack(&o, 2, C, w);
    assert_int_equal(get(p, "col_idx").dtype, SPARQ_DTYPE_U16);
    sparq_packed_free(p);
    free(w);
}

/* Every structure x encoding x granularity x symmetry, on awkward shapes and sparsities:
 * 1x1, 1xN, Nx1, odd cols, cols not a multiple of G, M or the block, all-zero rows,
 * an all-zero matrix, sparsity 0 and 1. */
static void round_trips(void **state)
{
    (void)state;
    static const size_t shapes[][2] = {{1, 1}, {1, 77}, {37, 1}, {7, 130}, {16, 64},
                                       {9, 300}, {33, 257}};
    static const double sparsities[] = {0.0, 0.5, 0.9, 1.0};
    static const unsigned blocks[][2] = {{1, 1}, {2, 2}, {4, 1}, {1, 8}, {4, 4},
                                         {8, 16}, {32, 32}, {16, 2}};
    static const unsigned nms[][2] = {{2, 4}, {1, 2}, {4, 8}, {1, 4}, {3, 16}, {2, 3}};
    static const size_t groups[] = {32, 64, 128, 256};
    int combo = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        size_t rows = shapes[si][0], cols = shapes[si][1];
        float *w = malloc(rows * cols * sizeof *w);
        assert_non_null(w);
        for (size_t pi = 0; pi < sizeof sparsities / sizeof sparsities[0]; pi++) {
            for (int s = SPARQ_STRUCTURE_DENSE; s <= SPARQ_STRUCTURE_NM; s++) {
                ref_fill_gaussian(w, rows * cols, 100 + si * 7 + pi, 0.05f);
                ref_sparsify(w, rows * cols, sparsities[pi], 200 + si + pi);
                if (rows > 3)
                    memset(w + 2 * cols, 0, cols * sizeof *w); /* an all-zero row */
                for (int e = SPARQ_ENCODING_F32; e <= SPARQ_ENCODING_I4; e++) {
                    for (int g = SPARQ_SCALE_TENSOR; g <= SPARQ_SCALE_GROUP; g++) {
                        for (int asym = 0; asym <= 1; asym++) {
                            if (e < SPARQ_ENCODING_I8 && (g > 0 || asym))
                                continue;
                            sparq_pack_options o = popts((sparq_structure)s, (sparq_encoding)e);
                            o.quant.granularity = (sparq_scale_granularity)g;
                            o.quant.group_size = groups[combo % 4];
                            o.quant.asymmetric = asym;
                            o.quant.calibration = (sparq_calibration)(combo % 3);
                            o.block_rows = blocks[combo % 8][0];
                            o.block_cols = blocks[combo % 8][1];
                            o.nm_n = nms[combo % 6][0];
                            o.nm_m = nms[combo % 6][1];
                            if (s == SPARQ_STRUCTURE_NM) {
                                ref_make_nm(w, rows, cols, o.nm_n, o.nm_m);
                            }
                            round_trip(&o, rows, cols, w);
                            combo++;
                        }
                    }
                }
            }
        }
        free(w);
    }
    print_message("%d combinations packed and unpacked\n", combo);
}

/* Unpacked error of sparse formats equals the dense quantizer's on the kept values:
 * CSR i8 per-row on 50% sparse Gaussian weights stays above the dense budget. */
static void sparse_error_budget(void **state)
{
    (void)state;
    enum { R = 64, C = 512 };
    static float w[R * C], out[R * C];
    ref_fill_gaussian(w, R * C, 9, 0.02f);
    ref_sparsify(w, R * C, 0.5, 10);
    sparq_pack_options o = popts(SPARQ_STRUCTURE_CSR, SPARQ_ENCODING_I8);
    o.quant.granularity = SPARQ_SCALE_ROW;
    sparq_packed *p = pack(&o, R, C, w);
    assert_int_equal(sparq_packed_unpack(p, out), SPARQ_OK);
    double db = ref_sqnr_db(w, out, R * C);
    assert_true(db >= 38.0); /* measured 40.0 */
    /* bits per weight: 8 (value) + 16 (u16 col_idx) per kept weight, row_ptr, scales */
    double kept = (double)sparq_packed_stored_values(p) / (R * C);
    assert_true(fabs(sparq_packed_bits_per_weight(p) -
                     (kept * 24 + (R + 1) * 32.0 / (R * C) + R * 32.0 / (R * C))) < 1e-9);
    sparq_packed_free(p);
}

static void option_and_data_errors(void **state)
{
    (void)state;
    float w[6] = {1, 2, 3, 4, 5, 6};
    sparq_packed *p = NULL;
    sparq_pack_options o = popts(SPARQ_STRUCTURE_BSR, SPARQ_ENCODING_I8);
    o.block_rows = 3;
    o.block_cols = 4;
    assert_int_equal(sparq_packed_create(&o, 2, 3, w, &p), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_string_equal(sparq_last_error(),
                        "packed_create: block_rows 3 is not one of 1, 2, 4, 8, 16, 32");
    o.block_rows = 4;
    o.block_cols = 64;
    assert_int_equal(sparq_packed_create(&o, 2, 3, w, &p), SPARQ_ERROR_INVALID_ARGUMENT);
    o = popts(SPARQ_STRUCTURE_BSR, SPARQ_ENCODING_I8); /* block 0 x 0 */
    assert_int_equal(sparq_packed_create(&o, 2, 3, w, &p), SPARQ_ERROR_INVALID_ARGUMENT);
    o = popts(SPARQ_STRUCTURE_NM, SPARQ_ENCODING_I8);
    o.nm_n = 5;
    o.nm_m = 4;
    assert_int_equal(sparq_packed_create(&o, 2, 3, w, &p), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_string_equal(sparq_last_error(),
                        "packed_create: N:M 5:4 needs 1 <= N <= M and 2 <= M <= 16");
    o.nm_n = 2;
    o.nm_m = 17;
    assert_int_equal(sparq_packed_create(&o, 2, 3, w, &p), SPARQ_ERROR_INVALID_ARGUMENT);
    o.nm_n = 0;
    o.nm_m = 4;
    assert_int_equal(sparq_packed_create(&o, 2, 3, w, &p), SPARQ_ERROR_INVALID_ARGUMENT);
    o = popts((sparq_structure)9, SPARQ_ENCODING_I8);
    assert_int_equal(sparq_packed_create(&o, 2, 3, w, &p), SPARQ_ERROR_INVALID_ARGUMENT);
    o = popts(SPARQ_STRUCTURE_CSR, SPARQ_ENCODING_I4);
    o.quant.granularity = SPARQ_SCALE_GROUP;
    o.quant.group_size = 100;
    assert_int_equal(sparq_packed_create(&o, 2, 3, w, &p), SPARQ_ERROR_INVALID_ARGUMENT);
    o.quant.group_size = 32;
    assert_int_equal(sparq_packed_create(&o, 0, 3, w, &p), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_packed_create(&o, 2, 3, NULL, &p), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_packed_create(&o, 2, 3, w, NULL), SPARQ_ERROR_INVALID_ARGUMENT);
    w[5] = NAN;
    assert_int_equal(sparq_packed_create(&o, 2, 3, w, &p), SPARQ_ERROR_INVALID_DATA);
    assert_string_equal(sparq_last_error(), "packed_create: W[1, 2] is NaN");
    assert_null(p);
    w[5] = 1e6f;
    o.quant.encoding = SPARQ_ENCODING_F16;
    assert_int_equal(sparq_packed_create(&o, 2, 3, w, &p), SPARQ_ERROR_INVALID_DATA);
    sparq_packed_free(NULL);
}

/* Builds a CSR (i8 per row) from modified copies of csr4's arrays and expects failure
 * with the given sentence. edit changes the copies. */
typedef void (*edit_fn)(sparq_packed_array *a, size_t *n);

static void expect_rejected(const sparq_pack_options *o, size_t rows, size_t cols,
                            const float *w, edit_fn edit, sparq_status status,
                            const char *sentence)
{
    sparq_packed *p = pack(o, rows, cols, w);
    sparq_packed_array a[8];
    size_t n = copy_arrays(p, a);
    size_t n_copied = n;
    edit(a, &n);
    sparq_packed *q = (sparq_packed *)o;
    assert_int_equal(sparq_packed_from_arrays(sparq_packed_format(p), rows, cols, a, n, &q),
                     status);
    assert_null(q);
    assert_string_equal(sparq_last_error(), sentence);
    free_arrays(a, n > n_copied ? n : n_copied);
    sparq_packed_free(p);
}

/* Array order of a CSR i8 per-row: row_ptr, col_idx, values, scales. */
static void rp_decreasing(sparq_packed_array *a, size_t *n)
{
    (void)n;
    ((uint32_t *)a[0].data)[2] = 1;
}
static void rp_past_nnz(sparq_packed_array *a, size_t *n)
{
    (void)n;
    ((uint32_t *)a[0].data)[3] = 7;
}
static void rp_short_end(sparq_packed_array *a, size_t *n)
{
    (void)n;
    ((uint32_t *)a[0].data)[4] = 5;
}
static void rp_not_zero(sparq_packed_array *a, size_t *n)
{
    (void)n;
    ((uint32_t *)a[0].data)[0] = 1;
}
static void ci_out_of_range(sparq_packed_array *a, size_t *n)
{
    (void)n;
    ((uint16_t *)a[1].data)[1] = 4;
}
static void ci_unsorted(sparq_packed_array *a, size_t *n)
{
    (void)n;
    ((uint16_t *)a[1].data)[3] = 2;
    ((uint16_t *)a[1].data)[4] = 0;
}
static void values_short(sparq_packed_array *a, size_t *n)
{
    (void)n;
    a[2].count = 5;
}
static void ci_wide(sparq_packed_array *a, size_t *n)
{
    (void)n;
    a[1].dtype = SPARQ_DTYPE_U32;
    a[1].count = 3;
}
static void drop_col_idx(sparq_packed_array *a, size_t *n)
{
    sparq_packed_array col_idx = a[1]; /* moved past the end: given as 3 arrays */
    a[1] = a[3];
    a[3] = col_idx;
    *n = 3;
}
static void rename_unknown(sparq_packed_array *a, size_t *n)
{
    (void)n;
    a[3].name = "foo";
}
static void twice(sparq_packed_array *a, size_t *n)
{
    (void)n;
    a[3].name = "values";
}
static void extra_meta(sparq_packed_array *a, size_t *n)
{
    a[4] = a[2];
    a[4].name = "nm_meta";
    a[4].dtype = SPARQ_DTYPE_U8;
    a[4].data = malloc(1);
    a[4].count = 1;
    *n = 5;
}
static void negative_scale(sparq_packed_array *a, size_t *n)
{
    (void)n;
    ((float *)a[3].data)[2] = -1.0f;
}
static void rows_ptr_mismatch(sparq_packed_array *a, size_t *n)
{
    (void)n;
    a[0].count = 4;
}

static void from_arrays_rejects(void **state)
{
    (void)state;
    sparq_pack_options o = popts(SPARQ_STRUCTURE_CSR, SPARQ_ENCODING_I8);
    o.quant.granularity = SPARQ_SCALE_ROW;
    expect_rejected(&o, 4, 4, csr4, rp_decreasing, SPARQ_ERROR_INVALID_FORMAT,
                    "packed_from_arrays: " "row_ptr[2]=1 < row_ptr[1]=2");
    expect_rejected(&o, 4, 4, csr4, rp_past_nnz, SPARQ_ERROR_INVALID_FORMAT,
                    "packed_from_arrays: " "row_ptr[3]=7 > nnz=6");
    expect_rejected(&o, 4, 4, csr4, rp_short_end, SPARQ_ERROR_INVALID_FORMAT,
                    "packed_from_arrays: " "row_ptr[4]=5, expected nnz=6");
    expect_rejected(&o, 4, 4, csr4, rp_not_zero, SPARQ_ERROR_INVALID_FORMAT,
                    "packed_from_arrays: " "row_ptr[0]=1, expected 0");
    expect_rejected(&o, 4, 4, csr4, ci_out_of_range, SPARQ_ERROR_INVALID_FORMAT,
                    "packed_from_arrays: " "col_idx[1]=4 >= cols=4");
    expect_rejected(&o, 4, 4, csr4, ci_unsorted, SPARQ_ERROR_INVALID_FORMAT,
                    "packed_from_arrays: col_idx[4]=0 does not increase over col_idx[3]=2 "
                    "in row 3");
    expect_rejected(&o, 4, 4, csr4, values_short, SPARQ_ERROR_INVALID_FORMAT,
                    "packed_from_arrays: " "values has 5 elements, expected 6");
    expect_rejected(&o, 4, 4, csr4, ci_wide, SPARQ_ERROR_INVALID_FORMAT,
                    "packed_from_arrays: " "col_idx has dtype U32, expected U16");
    expect_rejected(&o, 4, 4, csr4, drop_col_idx, SPARQ_ERROR_INVALID_FORMAT,
                    "packed_from_arrays: " "a csr matrix needs array \"col_idx\"");
    expect_rejected(&o, 4, 4, csr4, rename_unknown, SPARQ_ERROR_INVALID_FORMAT,
                    "packed_from_arrays: " "unknown array \"foo\"");
    expect_rejected(&o, 4, 4, csr4, twice, SPARQ_ERROR_INVALID_FORMAT,
                    "packed_from_arrays: " "array \"values\" is given twice");
    expect_rejected(&o, 4, 4, csr4, extra_meta, SPARQ_ERROR_INVALID_FORMAT,
                    "packed_from_arrays: " "array \"nm_meta\" does not belong to this csr matrix");
    expect_rejected(&o, 4, 4, csr4, negative_scale, SPARQ_ERROR_INVALID_DATA,
                    "packed_from_arrays: " "scales[2] is -1");
    expect_rejected(&o, 4, 4, csr4, rows_ptr_mismatch, SPARQ_ERROR_INVALID_FORMAT,
                    "packed_from_arrays: " "row_ptr has 4 elements, expected 5");
}

/* N:M metadata validation, on 1x5 2:4 f32 (arrays: values, nm_meta) and BSR padding. */
static void meta_decreasing(sparq_packed_array *a, size_t *n)
{
    (void)n;
    ((uint8_t *)a[1].data)[0] = 2 | 0 << 2 | 0 << 4 | 1 << 6; /* group 0: (2, 0) */
}
static void meta_padding(sparq_packed_array *a, size_t *n)
{
    (void)n;
    ((uint8_t *)a[1].data)[0] |= 0x80; /* 1x4: only 4 bits are used */
}
static void tail_nonzero(sparq_packed_array *a, size_t *n)
{
    (void)n;
    ((float *)a[0].data)[3] = 1.0f; /* slot 3 points at col 5 of 5 */
}
static void value_nan(sparq_packed_array *a, size_t *n)
{
    (void)n;
    ((float *)a[0].data)[1] = NAN;
}
static void bsr_padding(sparq_packed_array *a, size_t *n)
{
    (void)n;
    ((float *)a[2].data)[5] = 9.0f; /* block 1 (cols 4..5), element (0, 1): col 5 */
}
static void meta_position_3(sparq_packed_array *a, size_t *n)
{
    (void)n;
    ((uint8_t *)a[1].data)[0] = 3; /* 1:3 -> b = 2 bits, position 3 >= M */
}

static void from_arrays_rejects_nm_bsr(void **state)
{
    (void)state;
    sparq_pack_options o = popts(SPARQ_STRUCTURE_NM, SPARQ_ENCODING_F32);
    o.nm_n = 2;
    o.nm_m = 4;
    const float t[5] = {0, 1, 0, 0, 7};
    expect_rejected(&o, 1, 5, t, meta_decreasing, SPARQ_ERROR_INVALID_FORMAT,
                    "packed_from_arrays: nm_meta row 0, group 0, slot 1: position 0 does not "
                    "increase over 2");
    expect_rejected(&o, 1, 5, t, tail_nonzero, SPARQ_ERROR_INVALID_DATA,
                    "packed_from_arrays: row 0, group 1, slot 1 points past the last column "
                    "(col 5) but holds a nonzero");
    expect_rejected(&o, 1, 5, t, value_nan, SPARQ_ERROR_INVALID_DATA,
                    "packed_from_arrays: values[1] is NaN");
    expect_rejected(&o, 1, 4, t, meta_padding, SPARQ_ERROR_INVALID_FORMAT,
                    "packed_from_arrays: nm_meta row 0 has nonzero padding bits");
    o.nm_n = 1;
    o.nm_m = 3;
    const float u[3] = {0, 1, 0};
    expect_rejected(&o, 1, 3, u, meta_position_3, SPARQ_ERROR_INVALID_FORMAT,
                    "packed_from_arrays: nm_meta row 0, group 0, slot 0: position 3 >= M=3");
    sparq_pack_options b = popts(SPARQ_STRUCTURE_BSR, SPARQ_ENCODING_F32);
    b.block_rows = b.block_cols = 2;
    const float w[15] = {1, 0, 0, 0, 2, /**/ 0, 0, 0, 0, 0, /**/ 0, 0, 3, 0, 0};
    expect_rejected(&b, 3, 5, w, bsr_padding, SPARQ_ERROR_INVALID_DATA,
                    "packed_from_arrays: block 1 holds a nonzero at (0, 5), outside the 3 x 5 "
                    "matrix");
}

static void format_names(void **state)
{
    (void)state;
    assert_string_equal(sparq_structure_name(SPARQ_STRUCTURE_BSR), "bsr");
    assert_string_equal(sparq_structure_name((sparq_structure)4), "?");
    assert_string_equal(sparq_encoding_name(SPARQ_ENCODING_I4), "i4");
    assert_string_equal(sparq_encoding_name((sparq_encoding)-1), "?");
    assert_string_equal(sparq_scale_granularity_name(SPARQ_SCALE_GROUP), "group");
    assert_string_equal(sparq_dtype_name(SPARQ_DTYPE_BF16), "BF16");
    assert_int_equal(sparq_dtype_size(SPARQ_DTYPE_I64), 8);
    assert_int_equal(sparq_dtype_size(SPARQ_DTYPE_F64), 8);
    assert_string_equal(sparq_dtype_name(SPARQ_DTYPE_F64), "F64");
    assert_string_equal(sparq_dtype_name(SPARQ_DTYPE_BOOL), "BOOL");
    assert_int_equal(sparq_dtype_size(SPARQ_DTYPE_I16), 2);
    assert_string_equal(sparq_dtype_name(SPARQ_DTYPE_F8_E4M3), "F8_E4M3");
    assert_int_equal(sparq_dtype_size(SPARQ_DTYPE_F8_E5M2), 1);
    assert_int_equal(sparq_dtype_size((sparq_dtype)15), 0);
    assert_string_equal(sparq_dtype_name((sparq_dtype)15), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(format_names),
        cmocka_unit_test(csr_by_hand),
        cmocka_unit_test(bsr_by_hand),
        cmocka_unit_test(nm_by_hand),
        cmocka_unit_test(nm_violation),
        cmocka_unit_test(byte_sizes),
        cmocka_unit_test(index_widths),
        cmocka_unit_test(round_trips),
        cmocka_unit_test(sparse_error_budget),
        cmocka_unit_test(option_and_data_errors),
        cmocka_unit_test(from_arrays_rejects),
        cmocka_unit_test(from_arrays_rejects_nm_bsr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
