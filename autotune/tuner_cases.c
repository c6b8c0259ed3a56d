/* tuner_cases.c - the tuner's benchmark cases: the quick case list, the case spellings
 * ("csr:4096x4096:b1:s0.9") and their parsing, and a case prepared for timing (pruned
 * weights from its seed, the packed matrix on both paths, buffers, the C reference).
 */
#include "tuner_common.h"
#include "format.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- cases ------------------------------------------------------------------------ */

#define FMT_CSR(enc, gran, g) {SPARQ_STRUCTURE_CSR, {enc, gran, g, 0, 0, 0}, 0, 0, 0, 0}
#define FMT_BSR16 {SPARQ_STRUCTURE_BSR, {0}, 16, 16, 0, 0}
#define FMT_24(enc, gran, g) {SPARQ_STRUCTURE_NM, {enc, gran, g, 0, 0, 0}, 0, 0, 2, 4}
#define FMT_DENSE(enc, gran, g) {SPARQ_STRUCTURE_DENSE, {enc, gran, g, 0, 0, 0}, 0, 0, 0, 0}

/* What `sparq tune --quick` covers: the benchmark formats on a transformer-sized layer
 * (768 x 3072, the BERT-base FFN) at batch 1 and 32. */
static const sparq_tune_case quick_cases[] = {
    /* the dense path first: the break-even of the sparse cases measures it tuned */
    {FMT_DENSE(SPARQ_ENCODING_F32, 0, 0), 0, 768, 3072, 32, 0},
    {FMT_CSR(SPARQ_ENCODING_F32, 0, 0), 0.9, 768, 3072, 1, 0},
    {FMT_CSR(SPARQ_ENCODING_F32, 0, 0), 0.9, 768, 3072, 32, 0},
    {FMT_CSR(SPARQ_ENCODING_F32, 0, 0), 0.5, 768, 3072, 1, 0},
    {FMT_CSR(SPARQ_ENCODING_F32, 0, 0), 0.5, 768, 3072, 32, 0},
    {FMT_CSR(SPARQ_ENCODING_I8, SPARQ_SCALE_ROW, 0), 0.9, 768, 3072, 1, 0},
    {FMT_CSR(SPARQ_ENCODING_I8, SPARQ_SCALE_ROW, 0), 0.9, 768, 3072, 32, 0},
    {FMT_BSR16, 0.9, 768, 3072, 1, 0},
    {FMT_BSR16, 0.9, 768, 3072, 32, 0},
    {FMT_24(SPARQ_ENCODING_F32, 0, 0), 0.5, 768, 3072, 1, 0},
    {FMT_24(SPARQ_ENCODING_F32, 0, 0), 0.5, 768, 3072, 32, 0},
    {FMT_DENSE(SPARQ_ENCODING_I8, SPARQ_SCALE_ROW, 0), 0, 768, 3072, 1, 0},
    {FMT_DENSE(SPARQ_ENCODING_I8, SPARQ_SCALE_ROW, 0), 0, 768, 3072, 32, 0},
    {FMT_DENSE(SPARQ_ENCODING_I4, SPARQ_SCALE_GROUP, 128), 0, 768, 3072, 1, 0},
    {FMT_DENSE(SPARQ_ENCODING_I4, SPARQ_SCALE_GROUP, 128), 0, 768, 3072, 32, 0},
    {FMT_DENSE(SPARQ_ENCODING_I8, SPARQ_SCALE_ROW, 0), 0, 768, 3072, 32, 1}, /* W8A8 */
};

void sparq_tune_quick_cases(const sparq_tune_case **cases, size_t *count)
{
    *cases = quick_cases;
    *count = sizeof quick_cases / sizeof quick_cases[0];
}

/* ---- case specs ------------------------------------------------------------------------ */

static const struct {
    const char *name;
    sparq_structure structure;
    unsigned block; /* BSR: the square block's side */
    sparq_encoding encoding;
    sparq_scale_granularity granularity;
    size_t group;
    int quantize_activations;
} case_formats[] = {
    {"csr", SPARQ_STRUCTURE_CSR, 0, SPARQ_ENCODING_F32, 0, 0, 0},
    {"csr-f16", SPARQ_STRUCTURE_CSR, 0, SPARQ_ENCODING_F16, 0, 0, 0},
    {"csr-i8", SPARQ_STRUCTURE_CSR, 0, SPARQ_ENCODING_I8, SPARQ_SCALE_ROW, 0, 0},
    {"csr-i4", SPARQ_STRUCTURE_CSR, 0, SPARQ_ENCODING_I4, SPARQ_SCALE_GROUP, 128, 0},
    {"bsr4", SPARQ_STRUCTURE_BSR, 4, SPARQ_ENCODING_F32, 0, 0, 0},
    {"bsr16", SPARQ_STRUCTURE_BSR, 16, SPARQ_ENCODING_F32, 0, 0, 0},
    {"bsr16-i8", SPARQ_STRUCTURE_BSR, 16, SPARQ_ENCODING_I8, SPARQ_SCALE_ROW, 0, 0},
    {"2:4", SPARQ_STRUCTURE_NM, 0, SPARQ_ENCODING_F32, 0, 0, 0},
    {"2:4-i4", SPARQ_STRUCTURE_NM, 0, SPARQ_ENCODING_I4, SPARQ_SCALE_GROUP, 128, 0},
    {"dense", SPARQ_STRUCTURE_DENSE, 0, SPARQ_ENCODING_F32, 0, 0, 0},
    {"dense-f16", SPARQ_STRUCTURE_DENSE, 0, SPARQ_ENCODING_F16, 0, 0, 0},
    {"dense-i8", SPARQ_STRUCTURE_DENSE, 0, SPARQ_ENCODING_I8, SPARQ_SCALE_ROW, 0, 0},
    {"dense-i4", SPARQ_STRUCTURE_DENSE, 0, SPARQ_ENCODING_I4, SPARQ_SCALE_GROUP, 128, 0},
    {"w8a8", SPARQ_STRUCTURE_DENSE, 0, SPARQ_ENCODING_I8, SPARQ_SCALE_ROW, 0, 1},
};

sparq_status sparq_tune_case_parse(const char *spec, sparq_tune_case *c)
{
    if (!spec || !c)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "tune: case_parse: NULL argument");
    memset(c, 0, sizeof *c);
    /* the format is the longest name followed by ':' ("2:4" holds a colon itself) */
    size_t f = SIZE_MAX, length = 0;
    for (size_t i = 0; i < sizeof case_formats / sizeof case_formats[0]; i++) {
        size_t n = strlen(case_formats[i].name);
        if (n > length && strncmp(spec, case_formats[i].name, n) == 0 && spec[n] == ':') {
            f = i;
            length = n;
        }
    }
    size_t rows = 0, cols = 0, batch = 0;
    double sparsity = 0.9;
    int used = 0;
    if (f == SIZE_MAX)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "tune: case \"%s\": unknown format (csr, csr-f16, csr-i8, csr-i4, "
                          "bsr4, bsr16, bsr16-i8, 2:4, 2:4-i4, dense, dense-f16, dense-i8, "
                          "dense-i4, w8a8)",
                          spec);
    const char *rest = spec + length;
    bool ok = sscanf(rest, ":%zux%zu:b%zu%n", &rows, &cols, &batch, &used) == 3;
    if (ok && rest[used] == ':') {
        int more = 0;
        ok = sscanf(rest + used, ":s%lf%n", &sparsity, &more) == 1 && rest[used + more] == '\0';
    } else if (ok) {
        ok = rest[used] == '\0';
    }
    if (!ok || !rows || !cols || !batch || rows > (1u << 20) || cols > (1u << 20) ||
        batch > (1u << 16) || !(sparsity >= 0 && sparsity <= 1))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "tune: case \"%s\": want FORMAT:ROWSxCOLS:bBATCH[:sSPARSITY] with "
                          "sizes in 1..2^20, a batch in 1..2^16 and a sparsity in [0, 1], "
                          "e.g. csr:4096x4096:b1:s0.9",
                          spec);
    c->format.structure = case_formats[f].structure;
    c->format.quant.encoding = case_formats[f].encoding;
    c->format.quant.granularity = case_formats[f].granularity;
    c->format.quant.group_size = case_formats[f].group;
    c->quantize_activations = case_formats[f].quantize_activations;
    c->format.block_rows = c->format.block_cols = case_formats[f].block;
    if (c->format.structure == SPARQ_STRUCTURE_NM) {
        c->format.nm_n = 2;
        c->format.nm_m = 4;
    }
    c->rows = rows;
    c->cols = cols;
    c->batch = batch;
    c->sparsity = sparsity;
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
