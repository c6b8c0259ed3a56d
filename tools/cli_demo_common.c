/* SPDX-License-Identifier: Apache-2.0 */
/* cli_demo_common.c - the lowest layer of `sparq demo`: the recipes it compares and
 * their conversion options, a seeded Gaussian generator, and device buffers. It uses no
 * other cli_demo file; cli_demo_speed.c, cli_demo_plot.c and cli_demo.c build on it.
 */
#include "cli_demo_parts.h"

#include <math.h>
#include <string.h>

/* The calibrated rows (not RTN) sit next to the magnitude / round-to-nearest row of
 * their format; they run only when the model has calib.x, and are not timed (the same
 * formats, so the same speed). */
#define M(x) SPARQ_METHOD_##x
#define S(x) SPARQ_STRUCTURE_##x
#define E(x) SPARQ_ENCODING_##x
#define G(x) SPARQ_SCALE_##x
const demo_recipe demo_recipes[] = {
    {"dense f32", M(RTN), S(DENSE), E(F32), G(TENSOR), 0, 0.0, true},
    {"f16", M(RTN), S(DENSE), E(F16), G(TENSOR), 0, 0.0, false},
    {"i8-row", M(RTN), S(DENSE), E(I8), G(ROW), 0, 0.0, true},
    {"i4-g128", M(RTN), S(DENSE), E(I4), G(GROUP), 128, 0.0, true},
    {"i4-g128", M(GPTQ), S(DENSE), E(I4), G(GROUP), 128, 0.0, false},
    {"csr 50%", M(RTN), S(CSR), E(F32), G(TENSOR), 0, 0.5, true},
    {"csr 90%", M(RTN), S(CSR), E(F32), G(TENSOR), 0, 0.9, true},
    {"csr 90%", M(WANDA), S(CSR), E(F32), G(TENSOR), 0, 0.9, false},
    {"csr 90%", M(SPARSEGPT), S(CSR), E(F32), G(TENSOR), 0, 0.9, false},
    {"2:4", M(RTN), S(NM), E(F32), G(TENSOR), 0, 0.0, true},
    {"2:4", M(SPARSEGPT), S(NM), E(F32), G(TENSOR), 0, 0.0, false},
    {"csr 90% + i8-row", M(RTN), S(CSR), E(I8), G(ROW), 0, 0.9, true},
    {"csr 90% + i8-row", M(SPARSEGPT), S(CSR), E(I8), G(ROW), 0, 0.9, false},
};
#undef M
#undef S
#undef E
#undef G
const size_t demo_recipe_count = sizeof demo_recipes / sizeof demo_recipes[0];

sparq_convert_options demo_convert_options(const demo_recipe *recipe, double max_nmse)
{
    sparq_convert_options o;
    memset(&o, 0, sizeof o);
    o.sparsity = recipe->sparsity;
    o.method = recipe->method;
    o.format.structure = recipe->structure;
    o.format.quant.encoding = recipe->encoding;
    o.format.quant.granularity = recipe->granularity;
    o.format.quant.group_size = recipe->group_size;
    if (recipe->structure == SPARQ_STRUCTURE_NM)
        o.format.nm_n = 2, o.format.nm_m = 4;
    o.max_nmse = max_nmse;
    return o;
}

void demo_fill_gaussian(float *out, size_t n, uint64_t seed, float sigma)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i += 2) {
        double u[2];
        for (int k = 0; k < 2; k++) { /* xorshift64*, 53 bits, in (0, 1] */
            s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
            u[k] = ((double)((s * 0x2545F4914F6CDD1Dull) >> 11) + 1.0) / 9007199254740992.0;
        }
        double r = sqrt(-2.0 * log(u[0])), a = 6.283185307179586 * u[1];
        out[i] = (float)(sigma * r * cos(a));
        if (i + 1 < n)
            out[i + 1] = (float)(sigma * r * sin(a));
    }
}

cl_mem demo_buffer(demo_device *dev, const float *data, size_t count, sparq_status *st)
{
    cl_int err = CL_SUCCESS;
    cl_mem_flags flags = CL_MEM_READ_WRITE | (data ? CL_MEM_COPY_HOST_PTR : 0);
    cl_mem buf = clCreateBuffer(sparq_context_cl_context(dev->ctx), flags,
                                count * sizeof(float), (void *)data, &err);
    if (err != CL_SUCCESS && *st == SPARQ_OK)
        *st = err;
    return buf;
}
