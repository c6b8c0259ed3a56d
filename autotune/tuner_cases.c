/* SPDX-License-Identifier: Apache-2.0 */
/* tuner_cases.c - the tuner's benchmark cases: the quick case list, the case spellings
 * (FORMAT:ROWSxCOLS:bBATCH[:sSPARSITY][:w8a8], FORMAT as sparq_format_parse reads it:
 * "csr+i8-row:4096x4096:b1:s0.9") and their parsing, and a case prepared for timing
 * (pruned weights from its seed, the packed matrix on both paths, buffers, the C reference).
 */
#include "tuner_common.h"
#include "format.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- cases ------------------------------------------------------------------------ */

/* What `sparq tune --quick` covers: the benchmark formats on a transformer-sized layer
 * (768 x 3072, the BERT-base FFN) at batch 1 and 32. As case specs: dense:768x3072:b32,
 * csr at 0.9 and 0.5, csr+i8-row at 0.9, bsr16x16 at 0.9, 2:4 (sparsity 0.5: N:M's own),
 * dense+i8-row, dense+i4-g128 (batches 1 and 32), dense+i8-row:768x3072:b32:w8a8. */
static const sparq_tune_case quick_cases[] = {
    /* the dense path first: the break-even of the sparse cases measures it tuned */
    {.format = {.structure = SPARQ_STRUCTURE_DENSE}, .rows = 768, .cols = 3072, .batch = 32},
    {.format = {.structure = SPARQ_STRUCTURE_CSR}, .sparsity = 0.9, .rows = 768, .cols = 3072,
     .batch = 1},
    {.format = {.structure = SPARQ_STRUCTURE_CSR}, .sparsity = 0.9, .rows = 768, .cols = 3072,
     .batch = 32},
    {.format = {.structure = SPARQ_STRUCTURE_CSR}, .sparsity = 0.5, .rows = 768, .cols = 3072,
     .batch = 1},
    {.format = {.structure = SPARQ_STRUCTURE_CSR}, .sparsity = 0.5, .rows = 768, .cols = 3072,
     .batch = 32},
    {.format = {.structure = SPARQ_STRUCTURE_CSR,
                .quant = {.encoding = SPARQ_ENCODING_I8, .granularity = SPARQ_SCALE_ROW}},
     .sparsity = 0.9, .rows = 768, .cols = 3072, .batch = 1},
    {.format = {.structure = SPARQ_STRUCTURE_CSR,
                .quant = {.encoding = SPARQ_ENCODING_I8, .granularity = SPARQ_SCALE_ROW}},
     .sparsity = 0.9, .rows = 768, .cols = 3072, .batch = 32},
    {.format = {.structure = SPARQ_STRUCTURE_BSR, .block_rows = 16, .block_cols = 16},
     .sparsity = 0.9, .rows = 768, .cols = 3072, .batch = 1},
    {.format = {.structure = SPARQ_STRUCTURE_BSR, .block_rows = 16, .block_cols = 16},
     .sparsity = 0.9, .rows = 768, .cols = 3072, .batch = 32},
    {.format = {.structure = SPARQ_STRUCTURE_NM, .nm_n = 2, .nm_m = 4}, .sparsity = 0.5,
     .rows = 768, .cols = 3072, .batch = 1},
    {.format = {.structure = SPARQ_STRUCTURE_NM, .nm_n = 2, .nm_m = 4}, .sparsity = 0.5,
     .rows = 768, .cols = 3072, .batch = 32},
    {.format = {.structure = SPARQ_STRUCTURE_DENSE,
                .quant = {.encoding = SPARQ_ENCODING_I8, .granularity = SPARQ_SCALE_ROW}},
     .rows = 768, .cols = 3072, .batch = 1},
    {.format = {.structure = SPARQ_STRUCTURE_DENSE,
                .quant = {.encoding = SPARQ_ENCODING_I8, .granularity = SPARQ_SCALE_ROW}},
     .rows = 768, .cols = 3072, .batch = 32},
    {.format = {.structure = SPARQ_STRUCTURE_DENSE,
                .quant = {.encoding = SPARQ_ENCODING_I4, .granularity = SPARQ_SCALE_GROUP,
                          .group_size = 128}},
     .rows = 768, .cols = 3072, .batch = 1},
    {.format = {.structure = SPARQ_STRUCTURE_DENSE,
                .quant = {.encoding = SPARQ_ENCODING_I4, .granularity = SPARQ_SCALE_GROUP,
                          .group_size = 128}},
     .rows = 768, .cols = 3072, .batch = 32},
    /* W8A8: int8 weights with the activations quantized per row */
    {.format = {.structure = SPARQ_STRUCTURE_DENSE,
                .quant = {.encoding = SPARQ_ENCODING_I8, .granularity = SPARQ_SCALE_ROW}},
     .rows = 768, .cols = 3072, .batch = 32, .quantize_activations = 1},
};

void sparq_tune_quick_cases(const sparq_tune_case **cases, size_t *count)
{
    *cases = quick_cases;
    *count = sizeof quick_cases / sizeof quick_cases[0];
}

/* ---- case specs ------------------------------------------------------------------- */

/* Up to 9 decimal digits at *p into *out, *p moved past them; false when there are none
 * or more. */
static bool read_count(const char **p, size_t *out)
{
    size_t v = 0, n = 0;
    for (; **p >= '0' && **p <= '9'; (*p)++, n++)
        if (n < 9)
            v = 10 * v + (size_t)(**p - '0');
    *out = v;
    return n >= 1 && n <= 9;
}

/* Reads "ROWSxCOLS:bBATCH" at *p into the case, *p moved past it; false when p does not
 * start with "<digits>x<digits>:b" (the batch may still be missing or bad: batch 0). */
static bool read_shape(const char **p, sparq_tune_case *c)
{
    const char *s = *p;
    if (!read_count(&s, &c->rows) || *s != 'x')
        return false;
    s++;
    if (!read_count(&s, &c->cols) || strncmp(s, ":b", 2) != 0)
        return false;
    s += 2;
    if (!read_count(&s, &c->batch))
        c->batch = 0;
    *p = s;
    return true;
}

/* The optional tail after the batch: ":sSPARSITY" then ":w8a8"; false for anything else. */
static bool read_tail(const char *p, sparq_tune_case *c)
{
    c->sparsity = 0.9;
    if (strncmp(p, ":s", 2) == 0) {
        char *end = NULL;
        if ((p[2] < '0' || p[2] > '9') && p[2] != '.')
            return false;
        c->sparsity = strtod(p + 2, &end);
        p = end;
    }
    if (strcmp(p, ":w8a8") == 0) {
        c->quantize_activations = 1;
        p += 5;
    }
    return *p == '\0';
}

sparq_status sparq_tune_case_parse(const char *spec, sparq_tune_case *c)
{
    if (!spec || !c)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "tune: case_parse: NULL argument");
    memset(c, 0, sizeof *c);
    /* FORMAT ends at the first ':' that "ROWSxCOLS:b" follows ("2:4" holds a colon) */
    const char *colon = strchr(spec, ':'), *p = NULL;
    for (; colon; colon = strchr(colon + 1, ':')) {
        p = colon + 1;
        if (read_shape(&p, c))
            break;
    }
    if (!colon || !read_tail(p, c) || !c->rows || !c->cols || !c->batch ||
        c->rows > (1u << 20) || c->cols > (1u << 20) || c->batch > (1u << 16) ||
        !(c->sparsity >= 0 && c->sparsity <= 1)) {
        memset(c, 0, sizeof *c);
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "tune: case \"%s\": want FORMAT:ROWSxCOLS:bBATCH[:sSPARSITY][:w8a8], "
                          "FORMAT a format spelling (csr, csr+i8-row, bsr16x16, 2:4+i4-g128, "
                          "dense+i8-row, ...), sizes in 1..2^20, a batch in 1..2^16, a "
                          "sparsity in [0, 1] (default 0.9); e.g. csr+i8-row:4096x4096:b1:s0.9 "
                          "or dense+i8-row:768x3072:b32:w8a8",
                          spec);
    }
    char format[64], why[256];
    size_t length = (size_t)(colon - spec);
    snprintf(format, sizeof format, "%.*s", (int)length, spec);
    if (length >= sizeof format || sparq_format_parse(format, &c->format) != SPARQ_OK) {
        /* copied: sparq_fail must not read the sentence it overwrites */
        snprintf(why, sizeof why, "%s", length >= sizeof format ? "the format is too long"
                                                                : sparq_last_error());
        memset(c, 0, sizeof *c);
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "tune: case \"%s\": %s; want FORMAT:ROWSxCOLS:bBATCH[:sSPARSITY]"
                          "[:w8a8], FORMAT a format spelling, e.g. csr+i8-row:4096x4096:b1:s0.9",
                          spec, why);
    }
    if (c->quantize_activations && (c->format.structure != SPARQ_STRUCTURE_DENSE ||
                                    c->format.quant.encoding != SPARQ_ENCODING_I8)) {
        memset(c, 0, sizeof *c);
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "tune: case \"%s\": :w8a8 (activations quantized to int8) needs "
                          "dense int8 weights, not %s; e.g. dense+i8-row:768x3072:b32:w8a8",
                          spec, format);
    }
    return SPARQ_OK;
}

/* ---- one prepared case ------------------------------------------------------------ */

void sparq_bench_case_free(sparq_bench_case *b)
{
    sparq_matrix_free(b->matrix);
    sparq_matrix_free(b->dense);
    if (b->x)
        clReleaseMemObject(b->x);
    if (b->y)
        clReleaseMemObject(b->y);
    free(b->ref), free(b->scale), free(b->out);
    sparq_cache_flush_free(&b->flush);
    memset(b, 0, sizeof *b);
}

/* Weights pruned as the format wants them (values from the seed; CSR over the whole
 * matrix, BSR blocks by L2), by the format table's pruning. */
static sparq_status case_weights(const sparq_tune_case *c, uint64_t *rng, float *w)
{
    size_t n = c->rows * c->cols;
    for (size_t i = 0; i < n; i++)
        w[i] = (float)(2.0 * sparq_tune_random_unit(rng) - 1.0);
    const sparq_structure_desc *d = sparq_structure_of(c->format.structure);
    if (!d)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "tune: case with no known structure");
    return d->prune(&c->format, c->sparsity, SPARQ_PRUNE_SCOPE_GLOBAL, SPARQ_BLOCK_NORM_L2, w,
                    c->rows, c->cols, NULL, 1);
}

sparq_status sparq_bench_case_prepare(sparq_context *ctx, const sparq_tune_case *c,
                                      uint64_t seed, sparq_bench_case *b)
{
    memset(b, 0, sizeof *b);
    b->ctx = ctx;
    b->c = c;
    b->queue = sparq_context_queue(ctx);
    if (!b->queue)
        return sparq_fail(SPARQ_ERROR_INTERNAL, "tune: no queue");
    if (c->rows == 0 || c->cols == 0 || c->batch == 0 || c->rows > (1u << 20) ||
        c->cols > (1u << 20) || c->batch > 4096)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "tune: case %zu x %zu at batch %zu is out of range (1..2^20 rows "
                          "and cols, batch 1..4096)", c->rows, c->cols, c->batch);
    size_t nw = c->rows * c->cols, nx = c->batch * c->cols;
    b->n_out = c->batch * c->rows;
    float *w = malloc(nw * sizeof *w), *wq = malloc(nw * sizeof *wq);
    float *x = malloc(nx * sizeof *x);
    b->ref = malloc(b->n_out * sizeof *b->ref);
    b->scale = malloc(b->n_out * sizeof *b->scale);
    b->out = malloc((b->n_out + GUARD_COUNT) * sizeof *b->out);
    sparq_status st = SPARQ_OK;
    sparq_packed *packed = NULL;
    if (!w || !wq || !x || !b->ref || !b->scale || !b->out)
        st = sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "tune: out of memory");
    uint64_t rng = seed;
    if (st == SPARQ_OK)
        st = case_weights(c, &rng, w);
    if (st == SPARQ_OK)
        st = sparq_packed_create(&c->format, c->rows, c->cols, w, &packed);
    /* the reference multiplies the weights the kernels read: dequantized */
    if (st == SPARQ_OK)
        st = sparq_packed_unpack(packed, wq);
    for (size_t i = 0; st == SPARQ_OK && i < nx; i++)
        x[i] = (float)(2.0 * sparq_tune_random_unit(&rng) - 1.0);
    /* W8A8 multiplies the activations as quantized, so does the reference: per row, int8
     * (mode 1: symmetric; 2: with a zero point, the grid of ONNX's uint8 shifted by 128),
     * quantized and dequantized by the library's own rules. A code the device rounds the
     * other way (x / scale in float) is far inside the check's tolerance. */
    float *xq = c->quantize_activations && st == SPARQ_OK ? malloc(nx * sizeof *xq) : NULL;
    if (c->quantize_activations && st == SPARQ_OK && !xq)
        st = sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "tune: out of memory");
    if (xq) {
        const sparq_quant_options per_row = {.encoding = SPARQ_ENCODING_I8,
                                             .granularity = SPARQ_SCALE_ROW,
                                             .asymmetric = c->quantize_activations == 2};
        st = sparq_fake_quantize(&per_row, c->batch, c->cols, x, xq, NULL);
    }
    for (size_t bi = 0; st == SPARQ_OK && bi < c->batch; bi++)
        for (size_t r = 0; r < c->rows; r++) {
            double sum = 0, mag = 0;
            const float *xr = (xq ? xq : x) + bi * c->cols, *wr = wq + r * c->cols;
            for (size_t k = 0; k < c->cols; k++) {
                sum += (double)xr[k] * wr[k];
                mag += fabs((double)xr[k] * wr[k]);
            }
            b->ref[bi * c->rows + r] = (float)sum;
            b->scale[bi * c->rows + r] = (float)mag;
        }
    free(xq);
    sparq_matrix_options sparse = {.path = SPARQ_PATH_SPARSE,
                                   .quantize_activations = c->quantize_activations};
    sparq_matrix_options dense = {.path = SPARQ_PATH_DENSE};
    if (st == SPARQ_OK)
        st = sparq_matrix_create(ctx, packed, &sparse, &b->matrix);
    if (st == SPARQ_OK && c->format.structure != SPARQ_STRUCTURE_DENSE)
        st = sparq_matrix_create(ctx, packed, &dense, &b->dense);
    cl_int e1 = CL_SUCCESS, e2 = CL_SUCCESS;
    if (st == SPARQ_OK) {
        cl_context cl = sparq_context_cl_context(ctx);
        b->x = clCreateBuffer(cl, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, nx * sizeof *x, x,
                              &e1);
        b->y = clCreateBuffer(cl, CL_MEM_READ_WRITE, (b->n_out + GUARD_COUNT) * sizeof(float),
                              NULL, &e2);
        if (e1 != CL_SUCCESS || e2 != CL_SUCCESS)
            st = sparq_fail_cl(e1 != CL_SUCCESS ? e1 : e2, "tune: clCreateBuffer");
    }
    if (st == SPARQ_OK)
        st = sparq_cache_flush_create(ctx, b->queue, &b->flush);
    sparq_packed_free(packed);
    free(w), free(wq), free(x);
    if (st != SPARQ_OK)
        sparq_bench_case_free(b);
    return st;
}
