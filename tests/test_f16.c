/* SPDX-License-Identifier: Apache-2.0 */
/* test_f16.c - f16 storage conversions: exhaustive half -> float -> half, float -> half
 * rounding (ties to even, subnormals, overflow, NaN) against an independent reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four includes above first */
#include <cmocka.h>

#include "sparq.h"
#include "ref/quant_ref.h"

#include <math.h>
#include <string.h>

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint16_t to_half(float x)
{
    uint16_t h = 0;
    assert_int_equal(sparq_f16_from_f32(&x, 1, &h), SPARQ_OK);
    return h;
}

static int half_is_nan(uint16_t h)
{
    return (h & 0x7C00u) == 0x7C00u && (h & 0x03FFu) != 0;
}

/* All 65536 patterns: half -> float is exact (checked against ldexp), and back gives the
 * same bits, except NaNs, which stay NaN (quiet, sign kept). */
static void exhaustive_round_trip(void **state)
{
    (void)state;
    static uint16_t h[65536], back[65536];
    static float f[65536];
    for (uint32_t i = 0; i < 65536; i++)
        h[i] = (uint16_t)i;
    assert_int_equal(sparq_f32_from_f16(h, 65536, f), SPARQ_OK);
    assert_int_equal(sparq_f16_from_f32(f, 65536, back), SPARQ_OK);
    for (uint32_t i = 0; i < 65536; i++) {
        float want = ref_f32_from_f16(h[i]);
        if (half_is_nan(h[i])) {
            assert_true(isnan(f[i]));
            assert_true(half_is_nan(back[i]));
            assert_int_equal(back[i] & 0x0200u, 0x0200u); /* quiet */
            assert_int_equal(back[i] & 0x8000u, h[i] & 0x8000u);
        } else {
            assert_memory_equal(&f[i], &want, sizeof want);
            assert_int_equal(back[i], h[i]);
        }
    }
}

/* Targeted float -> half cases with their exact expected bits. */
static void rounding_cases(void **state)
{
    (void)state;
    assert_int_equal(to_half(1.0f), 0x3C00);
    assert_int_equal(to_half(1.0f + 0x1p-11f), 0x3C00);            /* tie -> even (down) */
    assert_int_equal(to_half(1.0f + 3 * 0x1p-11f), 0x3C02);        /* tie -> even (up)   */
    assert_int_equal(to_half(1.0f + 0x1p-11f + 0x1p-23f), 0x3C01); /* just above tie     */
    assert_int_equal(to_half(-1.0f - 0x1p-11f), 0xBC00);
    assert_int_equal(to_half(65504.0f), 0x7BFF);                   /* largest finite     */
    assert_int_equal(to_half(65519.99f), 0x7BFF);
    assert_int_equal(to_half(65520.0f), 0x7C00);                   /* tie -> even = Inf  */
    assert_int_equal(to_half(1e6f), 0x7C00);                       /* overflow           */
    assert_int_equal(to_half(-1e30f), 0xFC00);
    assert_int_equal(to_half(INFINITY), 0x7C00);
    assert_int_equal(to_half(-INFINITY), 0xFC00);
    assert_int_equal(to_half(0x1p-14f), 0x0400);                   /* smallest normal    */
    assert_int_equal(to_half(0x1p-24f), 0x0001);                   /* smallest subnormal */
    assert_int_equal(to_half(0x1p-25f), 0x0000);                   /* tie -> even 0      */
    assert_int_equal(to_half(3 * 0x1p-25f), 0x0002);               /* 1.5 ulp -> 2       */
    assert_int_equal(to_half(0x1p-25f + 0x1p-40f), 0x0001);        /* above the tie      */
    assert_int_equal(to_half(0x1p-14f - 0x1p-24f), 0x03FF);        /* largest subnormal  */
    assert_int_equal(to_half(0x1p-14f - 0x1p-26f), 0x0400);        /* rounds into normal */
    assert_int_equal(to_half(0.0f), 0x0000);
    assert_int_equal(to_half(-0.0f), 0x8000);
    assert_int_equal(to_half(1e-30f), 0x0000);
    assert_int_equal(to_half(-1e-30f), 0x8000);
    assert_int_equal(to_half(from_bits(0x00000001u)), 0x0000);     /* float subnormal    */
    assert_int_equal(to_half(NAN), 0x7E00);
    assert_int_equal(to_half(-NAN), 0xFE00);
    assert_int_equal(to_half(from_bits(0x7F800001u)), 0x7E00);     /* signalling -> quiet */
}

/* Every tie point and its neighbours (the float halfway between two adjacent halves,
 * one float ulp below and above), plus a stride through all 2^32 float patterns, agree
 * with the independent integer reference. */
static void agrees_with_reference(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 0x7C00u; h++) {
        for (uint32_t sign = 0; sign <= 0x8000u; sign += 0x8000u) {
            float a = ref_f32_from_f16((uint16_t)(h | sign));
            float b = ref_f32_from_f16((uint16_t)((h + 1) | sign));
            float mid = (float)(((double)a + (double)b) / 2.0); /* exact in float */
            float near[3] = {nextafterf(mid, 0.0f), mid, nextafterf(mid, 2.0f * mid)};
            for (int k = 0; k < 3; k++)
                if (to_half(near[k]) != ref_f16_from_f32(near[k]))
                    fail_msg("float %a: sparq %04x, reference %04x", (double)near[k],
                             to_half(near[k]), ref_f16_from_f32(near[k]));
        }
    }
    static float batch[4096];
    static uint16_t out[4096];
    uint64_t u = 0;
    while (u < 0x100000000ull) {
        size_t n = 0;
        for (; n < 4096 && u < 0x100000000ull; n++, u += 251)
            batch[n] = from_bits((uint32_t)u);
        assert_int_equal(sparq_f16_from_f32(batch, n, out), SPARQ_OK);
        for (size_t i = 0; i < n; i++) {
            uint16_t want = ref_f16_from_f32(batch[i]);
            if (out[i] != want && !(half_is_nan(out[i]) && half_is_nan(want)))
                fail_msg("float %a: sparq %04x, reference %04x", (double)batch[i], out[i],
                         want);
        }
    }
}

static void bad_arguments(void **state)
{
    (void)state;
    uint16_t h = 0;
    float f = 0.0f;
    assert_int_equal(sparq_f16_from_f32(NULL, 1, &h), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_f16_from_f32(&f, 1, NULL), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_f32_from_f16(NULL, 1, &f), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_f32_from_f16(NULL, 0, NULL), SPARQ_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exhaustive_round_trip),
        cmocka_unit_test(rounding_cases),
        cmocka_unit_test(agrees_with_reference),
        cmocka_unit_test(bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
