/* SPDX-License-Identifier: Apache-2.0 */
/* f16.h - scalar IEEE half <-> float (formats/f16.c), as sparq_f16_from_f32 /
 * sparq_f32_from_f16 do for arrays.
 */
#ifndef SPARQ_F16_H
#define SPARQ_F16_H

#include <stdint.h>

uint16_t sparq_f16_bits(float x);
float sparq_f16_value(uint16_t h);

#endif
