/* SPDX-License-Identifier: Apache-2.0 */
/* f16.c - IEEE half <-> float conversion for f16 storage, on top of Debian's libfp16
 * header (round to nearest even, subnormals, Inf, NaN kept quiet; checked exhaustively
 * in tests/test_f16.c).
 */
#include "f16.h"
#include "status.h"

#include <fp16.h>

uint16_t sparq_f16_bits(float x)
{
    return fp16_ieee_from_fp32_value(x);
}

float sparq_f16_value(uint16_t h)
{
    return fp16_ieee_to_fp32_value(h);
}

sparq_status sparq_f16_from_f32(const float *src, size_t count, uint16_t *dst)
{
    if (count > 0 && (src == NULL || dst == NULL))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "f16_from_f32: NULL %s",
                          src == NULL ? "src" : "dst");
    for (size_t i = 0; i < count; i++)
        dst[i] = fp16_ieee_from_fp32_value(src[i]);
    return SPARQ_OK;
}

sparq_status sparq_f32_from_f16(const uint16_t *src, size_t count, float *dst)
{
    if (count > 0 && (src == NULL || dst == NULL))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "f32_from_f16: NULL %s",
                          src == NULL ? "src" : "dst");
    for (size_t i = 0; i < count; i++)
        dst[i] = fp16_ieee_to_fp32_value(src[i]);
    return SPARQ_OK;
}
