/* format.c - the format table (format.h): one row per structure, and the two halves of
 * a format's spelling (format_text.c parses and writes the whole of it).
 */
#include "format.h"
#include "checks.h"
#include "status.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool sparq_format_parse_number(const char *text, char stop, unsigned *out, const char **rest)
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
    if (strncmp(word, "bsr", 3) != 0 || !sparq_format_parse_number(word + 3, 'x', &r, &rest) ||
        !sparq_format_parse_number(rest + 1, '\0', &c, &rest) || !sparq_block_side_ok(r) ||
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
    if (!sparq_format_parse_number(word, ':', &n, &rest) || !sparq_format_parse_number(rest + 1, '\0', &m, &rest) ||
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
    {SPARQ_STRUCTURE_DENSE, false, ROLE(VALUES), parse_dense, print_name,
     sparq_shape_dense, sparq_pack_dense, sparq_unpack_dense, sparq_validate_dense},
    {SPARQ_STRUCTURE_CSR, true, ROLE(ROW_PTR) | ROLE(COL_IDX) | ROLE(VALUES),
     parse_csr, print_name, sparq_shape_compressed, sparq_pack_compressed,
     sparq_unpack_compressed, sparq_validate_compressed},
    {SPARQ_STRUCTURE_BSR, true,
     ROLE(ROW_PTR) | ROLE(COL_IDX) | ROLE(VALUES), parse_bsr, print_bsr,
     sparq_shape_compressed, sparq_pack_compressed, sparq_unpack_compressed,
     sparq_validate_compressed},
    {SPARQ_STRUCTURE_NM, false, ROLE(VALUES) | ROLE(NM_META), parse_nm,
     print_nm, sparq_shape_nm, sparq_pack_nm, sparq_unpack_nm, sparq_validate_nm},
};

#undef ROLE

const sparq_structure_desc *sparq_structure_of(sparq_structure s)
{
    return (unsigned)s < sizeof structures / sizeof structures[0] ? &structures[s] : NULL;
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

