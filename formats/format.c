/* format.c - the format table (format.h) and the one spelling of a format that the
 * command line, the tuner, the benchmarks and the reports share:
 * <structure>+<encoding>, e.g. "csr+i8-row", "bsr16x16+f16", "2:4+i4-g128-asym".
 */
#include "format.h"
#include "checks.h"
#include "status.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A decimal number up to 1024 ending at stop; *rest gets where it ended. */
static bool parse_number(const char *text, char stop, unsigned *out, const char **rest)
{
    char *end = NULL;
    if (*text < '0' || *text > '9')
        return false;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno != 0 || *end != stop || v > 1024)
        return false;
    *out = (unsigned)v;
    *rest = end;
    return true;
}

static bool parse_dense(const char *word, sparq_pack_options *f)
{
    (void)f;
    return strcmp(word, "dense") == 0;
}

static bool parse_csr(const char *word, sparq_pack_options *f)
{
    (void)f;
    return strcmp(word, "csr") == 0;
}

/* "bsr4x4": both sides in 1, 2, 4, 8, 16, 32. */
static bool parse_bsr(const char *word, sparq_pack_options *f)
{
    unsigned r, c;
    const char *rest;
    if (strncmp(word, "bsr", 3) != 0 || !parse_number(word + 3, 'x', &r, &rest) ||
        !parse_number(rest + 1, '\0', &c, &rest) || !sparq_block_side_ok(r) ||
        !sparq_block_side_ok(c))
        return false;
    f->block_rows = r;
    f->block_cols = c;
    return true;
}

/* "2:4": 1 <= N < M <= 16. */
static bool parse_nm(const char *word, sparq_pack_options *f)
{
    unsigned n, m;
    const char *rest;
    if (!parse_number(word, ':', &n, &rest) || !parse_number(rest + 1, '\0', &m, &rest) ||
        n < 1 || n >= m || m > 16)
        return false;
    f->nm_n = n;
    f->nm_m = m;
    return true;
}

static void print_name(const sparq_pack_options *f, char *out, size_t size)
{
    snprintf(out, size, "%s", sparq_structure_name(f->structure));
}

static void print_bsr(const sparq_pack_options *f, char *out, size_t size)
{
    snprintf(out, size, "bsr%ux%u", f->block_rows, f->block_cols);
}

static void print_nm(const sparq_pack_options *f, char *out, size_t size)
{
    snprintf(out, size, "%u:%u", f->nm_n, f->nm_m);
}

#define ROLE(r) (1u << SPARQ_PACKED_##r)

static const sparq_structure_desc structures[] = {
    {SPARQ_STRUCTURE_DENSE, "dense", "dense", false, ROLE(VALUES), parse_dense, print_name,
     sparq_shape_dense, sparq_pack_dense, sparq_unpack_dense, sparq_validate_dense},
    {SPARQ_STRUCTURE_CSR, "csr", "csr", true, ROLE(ROW_PTR) | ROLE(COL_IDX) | ROLE(VALUES),
     parse_csr, print_name, sparq_shape_compressed, sparq_pack_compressed,
     sparq_unpack_compressed, sparq_validate_compressed},
    {SPARQ_STRUCTURE_BSR, "bsr", "bsr<R>x<C>", true,
     ROLE(ROW_PTR) | ROLE(COL_IDX) | ROLE(VALUES), parse_bsr, print_bsr,
     sparq_shape_compressed, sparq_pack_compressed, sparq_unpack_compressed,
     sparq_validate_compressed},
    {SPARQ_STRUCTURE_NM, "nm", "<N>:<M>", false, ROLE(VALUES) | ROLE(NM_META), parse_nm,
     print_nm, sparq_shape_nm, sparq_pack_nm, sparq_unpack_nm, sparq_validate_nm},
};

#undef ROLE

const sparq_structure_desc *sparq_structure_of(sparq_structure s)
{
    return (unsigned)s < sizeof structures / sizeof structures[0] ? &structures[s] : NULL;
}

const char *sparq_structure_name(sparq_structure s)
{
    const sparq_structure_desc *d = sparq_structure_of(s);
    return d ? d->name : "?";
}

void sparq_format_structure_text(const sparq_pack_options *f, char *out, size_t size)
{
    const sparq_structure_desc *d = sparq_structure_of(f->structure);
    if (d)
        d->print(f, out, size);
    else
        snprintf(out, size, "?");
}

void sparq_format_encoding_text(const sparq_quant_options *q, char *out, size_t size)
{
    const char *asym = q->asymmetric ? "-asym" : "";
    if (q->encoding == SPARQ_ENCODING_F32 || q->encoding == SPARQ_ENCODING_F16)
        snprintf(out, size, "%s", sparq_encoding_name(q->encoding));
    else if (q->granularity == SPARQ_SCALE_GROUP)
        snprintf(out, size, "%s-g%zu%s", sparq_encoding_name(q->encoding), q->group_size, asym);
    else
        snprintf(out, size, "%s-%s%s", sparq_encoding_name(q->encoding),
                 sparq_scale_granularity_name(q->granularity), asym);
}

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
    if (scales[0] != 'g' || !parse_number(scales + 1, '\0', &g, &rest) ||
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
    const sparq_structure_desc *d = NULL;
    for (size_t i = 0; !d && i < sizeof structures / sizeof structures[0]; i++)
        if (structures[i].parse(word, &f))
            d = &structures[i];
    if (!d)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "format_parse: \"%s\" is not a structure (dense, csr, bsr<R>x<C> "
                          "with R, C in 1, 2, 4, 8, 16, 32, or N:M with 1 <= N < M <= 16)",
                          word);
    f.structure = d->structure;
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
