/* SPDX-License-Identifier: Apache-2.0 */
/* format_text.c - the one spelling of a format that the command line, the tuner, the
 * benchmarks and the reports share: <structure>+<encoding>, e.g. "csr+i8-row",
 * "bsr16x16+f16", "2:4+i4-g128-asym" (sparq_format_parse, sparq_format_name).
 */
#include "format.h"
#include "status.h"

#include <stdio.h>
#include <string.h>

/* "f32", "f16", "i8-tensor", "i8-row", "i4-g128" (G in 32, 64, 128, 256), "-asym" after
 * an i8/i4 one. */
static bool parse_encoding(const char *word, sparq_quant_options *q)
{
    if (strcmp(word, "f32") == 0 || strcmp(word, "f16") == 0) {
        q->encoding = word[1] == '3' ? SPARQ_ENCODING_F32 : SPARQ_ENCODING_F16;
        return true;
    }
    if (strncmp(word, "i8-", 3) != 0 && strncmp(word, "i4-", 3) != 0)
        return false;
    q->encoding = word[1] == '8' ? SPARQ_ENCODING_I8 : SPARQ_ENCODING_I4;
    char scales[32];
    snprintf(scales, sizeof scales, "%s", word + 3);
    size_t len = strlen(scales);
    if (len > 5 && strcmp(scales + len - 5, "-asym") == 0) {
        q->asymmetric = 1;
        scales[len - 5] = '\0';
    }
    unsigned g;
    const char *rest;
    if (strcmp(scales, "tensor") == 0 || strcmp(scales, "row") == 0) {
        q->granularity = scales[0] == 't' ? SPARQ_SCALE_TENSOR : SPARQ_SCALE_ROW;
        return true;
    }
    if (scales[0] != 'g' || !sparq_format_parse_number(scales + 1, '\0', &g, &rest) ||
        (g != 32 && g != 64 && g != 128 && g != 256))
        return false;
    q->granularity = SPARQ_SCALE_GROUP;
    q->group_size = g;
    return true;
}

sparq_status sparq_format_parse(const char *text, sparq_pack_options *format)
{
    if (!text || !format)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "format_parse: NULL %s",
                          text ? "format" : "text");
    char word[64];
    size_t n = strcspn(text, "+");
    if (n >= sizeof word)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "format_parse: \"%.64s...\" is too long",
                          text);
    memcpy(word, text, n);
    word[n] = '\0';
    sparq_pack_options f;
    memset(&f, 0, sizeof f);
    if (!sparq_format_structure_parse(word, &f))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "format_parse: \"%s\" is not a structure (dense, csr, bsr<R>x<C> "
                          "with R, C in 1, 2, 4, 8, 16, 32, or N:M with 1 <= N < M <= 16)",
                          word);
    if (text[n] == '+' && !parse_encoding(text + n + 1, &f.quant))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "format_parse: \"%s\" is not an encoding (f32, f16, i8-tensor, "
                          "i8-row, i8-gG, i4-..., G in 32, 64, 128, 256, -asym for zero "
                          "points)", text + n + 1);
    *format = f;
    return SPARQ_OK;
}

sparq_status sparq_format_name(const sparq_pack_options *format, char *text, size_t size)
{
    if (!format || !text || size == 0)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "format_name: NULL format or text");
    sparq_pack_options f;
    sparq_status st = sparq_pack_normalise(format, &f, "format_name");
    if (st != SPARQ_OK) {
        text[0] = '\0';
        return st;
    }
    char structure[32], encoding[32];
    sparq_format_structure_text(&f, structure, sizeof structure);
    sparq_format_encoding_text(&f.quant, encoding, sizeof encoding);
    if ((size_t)snprintf(text, size, "%s+%s", structure, encoding) >= size)
        return sparq_fail(SPARQ_ERROR_OUT_OF_BOUNDS, "format_name: %zu bytes are too few", size);
    return SPARQ_OK;
}
