/* SPDX-License-Identifier: Apache-2.0 */
/* test_packed_io.c - packed matrices saved as safetensors tensor sets and loaded back:
 * every structure x encoding round trips bit-exactly; corrupted, truncated or missing
 * tensors and malformed metadata are refused with a clear sentence.
 */
#include "testing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define ROWS 6
#define COLS 38

/* A 6 x 38 matrix that every structure accepts: at most 2 nonzeros in every 4 columns
 * (2:4), some all-zero blocks, one all-zero row. */
static void make_weights(float *w)
{
    testing_fill_uniform(w, ROWS * COLS, 1234, -1.0f, 1.0f);
    for (size_t r = 0; r < ROWS; r++) {
        for (size_t c = 0; c < COLS; c++) {
            size_t k = c % 4;
            if (k == 1 || k == 3 || r == 4 || (c >= 8 && c < 16 && r < 2)) {
                w[r * COLS + c] = 0.0f;
            }
        }
    }
}

static sparq_pack_options variant(int structure, int encoding)
{
    sparq_pack_options o;
    memset(&o, 0, sizeof o);
    o.structure = (sparq_structure)structure;
    o.quant.encoding = (sparq_encoding)encoding;
    if (encoding == SPARQ_ENCODING_I8 || encoding == SPARQ_ENCODING_I4) {
        o.quant.granularity = (sparq_scale_granularity)((structure + encoding) % 3);
        o.quant.asymmetric = (structure + encoding) % 2;
        if (o.quant.granularity == SPARQ_SCALE_GROUP) {
            o.quant.group_size = 32;
        }
    }
    if (structure == SPARQ_STRUCTURE_BSR) {
        o.block_rows = 2;
        o.block_cols = 4;
    }
    if (structure == SPARQ_STRUCTURE_NM) {
        o.nm_n = 2;
        o.nm_m = 4;
    }
    return o;
}

static void assert_same_packed(const sparq_packed *a, const sparq_packed *b)
{
    assert_int_equal(sparq_packed_rows(a), sparq_packed_rows(b));
    assert_int_equal(sparq_packed_cols(a), sparq_packed_cols(b));
    const sparq_pack_options *fa = sparq_packed_format(a), *fb = sparq_packed_format(b);
    assert_int_equal(fa->structure, fb->structure);
    assert_int_equal(fa->quant.encoding, fb->quant.encoding);
    assert_int_equal(fa->quant.granularity, fb->quant.granularity);
    assert_int_equal(fa->quant.group_size, fb->quant.group_size);
    assert_int_equal(fa->quant.asymmetric, fb->quant.asymmetric);
    assert_int_equal(fa->block_rows, fb->block_rows);
    assert_int_equal(fa->block_cols, fb->block_cols);
    assert_int_equal(fa->nm_n, fb->nm_n);
    assert_int_equal(fa->nm_m, fb->nm_m);
    size_t n = sparq_packed_array_count(a);
    assert_int_equal(n, sparq_packed_array_count(b));
    for (size_t i = 0; i < n; i++) {
        sparq_packed_array x, y;
        assert_int_equal(sparq_packed_get_array(a, i, &x), SPARQ_OK);
        assert_int_equal(sparq_packed_get_array(b, i, &y), SPARQ_OK);
        assert_string_equal(x.name, y.name);
        assert_int_equal(x.dtype, y.dtype);
        assert_int_equal(x.count, y.count);
        if (x.count > 0) {
            assert_memory_equal(x.data, y.data, x.count * sparq_dtype_size(x.dtype));
        }
    }
    float ua[ROWS * COLS], ub[ROWS * COLS];
    assert_int_equal(sparq_packed_unpack(a, ua), SPARQ_OK);
    assert_int_equal(sparq_packed_unpack(b, ub), SPARQ_OK);
    assert_memory_equal(ua, ub, sizeof ua);
}

static void every_structure_and_encoding_round_trips(void **state)
{
    (void)state;
    float w[ROWS * COLS];
    make_weights(w);
    sparq_packed *originals[16] = {0};
    sparq_safetensors_writer *writer = NULL;
    assert_int_equal(sparq_safetensors_writer_create(&writer), SPARQ_OK);
    for (int s = 0; s < 4; s++) {
        for (int e = 0; e < 4; e++) {
            sparq_pack_options o = variant(s, e);
            sparq_status st = sparq_packed_create(&o, ROWS, COLS, w, &originals[s * 4 + e]);
            if (st != SPARQ_OK) {
                fail_msg("packed_create(structure %d, encoding %d): %s", s, e,
                         sparq_last_error());
            }
            char name[64];
            snprintf(name, sizeof name, "layers.%d.w%d", s, e);
            assert_int_equal(sparq_packed_save(writer, name, originals[s * 4 + e]), SPARQ_OK);
        }
    }
    /* an ordinary tensor beside them */
    const float bias[ROWS] = {1, 2, 3, 4, 5, 6};
    const size_t bias_shape[1] = {ROWS};
    assert_int_equal(sparq_safetensors_writer_add(writer, "layers.0.bias", SPARQ_DTYPE_F32, 1,
                                                  bias_shape, bias, sizeof bias),
                     SPARQ_OK);
    /* saving the same name twice is refused */
    assert_int_equal(sparq_packed_save(writer, "layers.0.w0", originals[0]),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(sparq_last_error(), "duplicate name"));

    const char *dir = testing_tmpdir("packed_io_round_trip");
    char path[1100];
    snprintf(path, sizeof path, "%s/packed.safetensors", dir);
    assert_int_equal(sparq_safetensors_writer_write(writer, path), SPARQ_OK);
    sparq_safetensors_writer_free(writer);

    sparq_safetensors *file = NULL;
    assert_int_equal(sparq_safetensors_open(path, &file), SPARQ_OK);
    assert_string_equal(sparq_safetensors_metadata(file, "layers.1.w2.structure"), "csr");
    assert_string_equal(sparq_safetensors_metadata(file, "layers.1.w2.encoding"), "i8");
    assert_string_equal(sparq_safetensors_metadata(file, "layers.1.w2.sparq_version"),
                        sparq_version_string());
    assert_string_equal(sparq_safetensors_metadata(file, "layers.3.w0.nm_m"), "4");
    assert_string_equal(sparq_safetensors_metadata(file, "layers.2.w1.block_cols"), "4");
    assert_non_null(sparq_safetensors_metadata(file, "layers.1.w2.col_idx.crc32"));
    /* listed from the metadata: the 16 matrices by name, not the plain bias */
    sparq_packed_entry *list = NULL;
    size_t listed = 0;
    assert_int_equal(sparq_packed_list(file, &list, &listed), SPARQ_OK);
    assert_int_equal(listed, 16);
    for (size_t i = 0; i < listed; i++) {
        char name[64];
        snprintf(name, sizeof name, "layers.%zu.w%zu", i / 4, i % 4);
        assert_string_equal(list[i].name, name);
        assert_int_equal(list[i].rows, ROWS);
        assert_int_equal(list[i].cols, COLS);
        assert_int_equal(list[i].bytes, sparq_packed_bytes(originals[i]));
        const sparq_pack_options *f = sparq_packed_format(originals[i]);
        assert_int_equal(list[i].format.structure, f->structure);
        assert_int_equal(list[i].format.quant.encoding, f->quant.encoding);
        assert_int_equal(list[i].format.quant.granularity, f->quant.granularity);
        assert_int_equal(list[i].format.quant.group_size, f->quant.group_size);
        assert_int_equal(list[i].format.quant.asymmetric, f->quant.asymmetric);
        assert_int_equal(list[i].format.block_cols, f->block_cols);
        assert_int_equal(list[i].format.nm_n, f->nm_n);
    }
    sparq_packed_list_free(list);
    /* the array names a file's tensors use, in sparq_packed_get_array's order */
    assert_string_equal(sparq_packed_array_name(0), "row_ptr");
    assert_string_equal(sparq_packed_array_name(5), "zero_points");
    assert_null(sparq_packed_array_name(6));
    for (int i = 0; i < 16; i++) {
        char name[64];
        snprintf(name, sizeof name, "layers.%d.w%d", i / 4, i % 4);
        sparq_packed *loaded = NULL;
        sparq_status st = sparq_packed_load(file, name, &loaded);
        if (st != SPARQ_OK) {
            fail_msg("packed_load(%s): %s", name, sparq_last_error());
        }
        assert_same_packed(originals[i], loaded);
        sparq_packed_free(loaded);
        sparq_packed_free(originals[i]);
    }
    /* the loaded matrix does not depend on the file */
    sparq_packed *loaded = NULL;
    assert_int_equal(sparq_packed_load(file, "layers.1.w3", &loaded), SPARQ_OK);
    sparq_safetensors_close(file);
    float out[ROWS * COLS];
    assert_int_equal(sparq_packed_unpack(loaded, out), SPARQ_OK);
    sparq_packed_free(loaded);

    /* the same file read from memory */
    size_t size;
    unsigned char *image = testing_read_file(path, &size);
    assert_true(size > 0);
    assert_int_equal(sparq_safetensors_open_memory(image, size, &file), SPARQ_OK);
    assert_int_equal(sparq_packed_load(file, "layers.2.w3", &loaded), SPARQ_OK);
    sparq_packed_free(loaded);
    assert_int_equal(sparq_packed_load(file, "layers.0.bias", &loaded),
                     SPARQ_ERROR_INVALID_FORMAT);
    assert_non_null(strstr(sparq_last_error(), "no packed matrix named 'layers.0.bias'"));
    assert_null(loaded);
    sparq_safetensors_close(file);
    free(image);
}

/* ---- hostile variants ------------------------------------------------------------------ */

/* How to rewrite a file: drop or truncate one tensor, overwrite one element, set or
 * drop one metadata entry, and optionally recompute every CRC so only the change shows. */
typedef struct edit {
    const char *drop;        /* tensor to leave out                                     */
    const char *truncate;    /* tensor to shorten by one element                        */
    const char *poke;        /* tensor whose element poke_index gets poke_value         */
    size_t poke_index;
    uint64_t poke_value;
    const char *meta_key;    /* metadata to replace (meta_value) or drop (NULL value)   */
    const char *meta_value;
    int recompute_crc;
} edit;

static void put_element(unsigned char *data, sparq_dtype dtype, size_t i, uint64_t v)
{
    size_t elem = sparq_dtype_size(dtype);
    for (size_t b = 0; b < elem; b++) {
        data[i * elem + b] = (unsigned char)(v >> (8 * b));
    }
}

/* Writes a copy of file with the edit applied to path and opens it. */
static sparq_safetensors *rewrite(const sparq_safetensors *file, const edit *e, const char *path)
{
    sparq_safetensors_writer *w = NULL;
    assert_int_equal(sparq_safetensors_writer_create(&w), SPARQ_OK);
    for (size_t i = 0; i < sparq_safetensors_count(file); i++) {
        sparq_safetensors_tensor_info t;
        assert_int_equal(sparq_safetensors_tensor(file, i, &t), SPARQ_OK);
        if (e->drop && strcmp(t.name, e->drop) == 0) {
            continue;
        }
        unsigned char *copy = malloc(t.bytes + 1);
        assert_non_null(copy);
        memcpy(copy, t.data, t.bytes);
        size_t shape = t.shape[0];
        size_t bytes = t.bytes;
        if (e->truncate && strcmp(t.name, e->truncate) == 0) {
            assert_true(shape > 0);
            shape--;
            bytes -= sparq_dtype_size(t.dtype);
        }
        if (e->poke && strcmp(t.name, e->poke) == 0) {
            assert_true(e->poke_index < shape);
            put_element(copy, t.dtype, e->poke_index, e->poke_value);
        }
        assert_int_equal(sparq_safetensors_writer_add(w, t.name, t.dtype, 1, &shape, copy, bytes),
                         SPARQ_OK);
        if (e->recompute_crc) {
            char key[256], crc[16];
            snprintf(key, sizeof key, "%s.crc32", t.name);
            snprintf(crc, sizeof crc, "%08lx", crc32(0L, copy, (uInt)bytes));
            assert_int_equal(sparq_safetensors_writer_set_metadata(w, key, crc), SPARQ_OK);
        }
        free(copy);
    }
    for (size_t i = 0; i < sparq_safetensors_metadata_count(file); i++) {
        const char *key, *value;
        assert_int_equal(sparq_safetensors_metadata_entry(file, i, &key, &value), SPARQ_OK);
        if (e->recompute_crc && strstr(key, ".crc32")) {
            continue; /* set above */
        }
        if (e->meta_key && strcmp(key, e->meta_key) == 0) {
            continue;
        }
        assert_int_equal(sparq_safetensors_writer_set_metadata(w, key, value), SPARQ_OK);
    }
    if (e->meta_key && e->meta_value) {
        assert_int_equal(sparq_safetensors_writer_set_metadata(w, e->meta_key, e->meta_value),
                         SPARQ_OK);
    }
    assert_int_equal(sparq_safetensors_writer_write(w, path), SPARQ_OK);
    sparq_safetensors_writer_free(w);
    sparq_safetensors *out = NULL;
    assert_int_equal(sparq_safetensors_open(path, &out), SPARQ_OK);
    return out;
}

static void expect_load_refused(const sparq_safetensors *file, const edit *e, const char *path,
                                sparq_status status, const char *expect)
{
    sparq_safetensors *edited = rewrite(file, e, path);
    sparq_packed *packed = (sparq_packed *)(uintptr_t)1;
    sparq_status st = sparq_packed_load(edited, "x", &packed);
    if (st != status || !strstr(sparq_last_error(), expect)) {
        fail_msg("got %s \"%s\", expected %s with \"%s\"", sparq_status_string(st),
                 sparq_last_error(), sparq_status_string(status), expect);
    }
    assert_null(packed);
    if (e->meta_key && !strstr(e->meta_key, "crc32") &&
        (strstr(expect, "is not a") || strstr(expect, "is missing"))) {
        /* malformed format metadata: listing reads it the same way and says so */
        sparq_packed_entry *list = (sparq_packed_entry *)(uintptr_t)1;
        size_t count = 7;
        st = sparq_packed_list(edited, &list, &count);
        if (st != SPARQ_ERROR_INVALID_FORMAT || !strstr(sparq_last_error(), "packed_list: 'x'")) {
            fail_msg("list: got %s \"%s\"", sparq_status_string(st), sparq_last_error());
        }
        assert_null(list);
        assert_int_equal(count, 0);
    }
    sparq_safetensors_close(edited);
}

/* A flipped bit in the data section of the packed matrix "x" saved at path: the CRC
 * catches it. */
static void expect_flipped_bit_refused(const char *path)
{
    size_t size;
    unsigned char *image = testing_read_file(path, &size);
    assert_true(size > 0);
    sparq_safetensors *file = NULL;
    assert_int_equal(sparq_safetensors_open_memory(image, size, &file), SPARQ_OK);
    sparq_safetensors_tensor_info info;
    assert_int_equal(sparq_safetensors_find(file, "x.values", &info), SPARQ_OK);
    size_t at = (size_t)((const unsigned char *)info.data - image);
    sparq_safetensors_close(file);
    image[at + 1] ^= 0x10;
    assert_int_equal(sparq_safetensors_open_memory(image, size, &file), SPARQ_OK);
    sparq_packed *loaded = NULL;
    assert_int_equal(sparq_packed_load(file, "x", &loaded), SPARQ_ERROR_INVALID_FORMAT);
    assert_non_null(strstr(sparq_last_error(), "'x.values': crc32 mismatch"));
    assert_null(loaded);
    sparq_safetensors_close(file);
    free(image);
}

static void corrupted_files_are_refused(void **state)
{
    (void)state;
    float w[ROWS * COLS];
    make_weights(w);
    sparq_pack_options o = variant(SPARQ_STRUCTURE_CSR, SPARQ_ENCODING_I8);
    o.quant.granularity = SPARQ_SCALE_ROW;
    o.quant.asymmetric = 1;
    sparq_packed *packed = NULL;
    assert_int_equal(sparq_packed_create(&o, ROWS, COLS, w, &packed), SPARQ_OK);
    sparq_safetensors_writer *writer = NULL;
    assert_int_equal(sparq_safetensors_writer_create(&writer), SPARQ_OK);
    assert_int_equal(sparq_packed_save(writer, "x", packed), SPARQ_OK);
    const char *dir = testing_tmpdir("packed_io_corrupt");
    char path[1100], path2[1100];
    snprintf(path, sizeof path, "%s/good.safetensors", dir);
    snprintf(path2, sizeof path2, "%s/bad.safetensors", dir);
    assert_int_equal(sparq_safetensors_writer_write(writer, path), SPARQ_OK);
    sparq_safetensors_writer_free(writer);

    expect_flipped_bit_refused(path);

    sparq_safetensors *file = NULL;
    sparq_packed *loaded = NULL;
    assert_int_equal(sparq_safetensors_open(path, &file), SPARQ_OK);
    /* sanity: an edit that changes nothing loads */
    edit none = {0};
    sparq_safetensors *same = rewrite(file, &none, path2);
    assert_int_equal(sparq_packed_load(same, "x", &loaded), SPARQ_OK);
    assert_same_packed(packed, loaded);
    sparq_packed_free(loaded);
    sparq_safetensors_close(same);

    /* a wrong CRC in the metadata */
    edit e = {.meta_key = "x.col_idx.crc32", .meta_value = "00000000"};
    expect_load_refused(file, &e, path2, SPARQ_ERROR_INVALID_FORMAT,
                        "'x.col_idx': crc32 mismatch");
    e = (edit){.meta_key = "x.col_idx.crc32", .meta_value = NULL};
    expect_load_refused(file, &e, path2, SPARQ_ERROR_INVALID_FORMAT,
                        "metadata \"x.col_idx.crc32\" is missing");
    /* a truncated tensor: with the old CRC, and with a CRC that matches the short data */
    e = (edit){.truncate = "x.col_idx"};
    expect_load_refused(file, &e, path2, SPARQ_ERROR_INVALID_FORMAT, "crc32 mismatch");
    e = (edit){.truncate = "x.col_idx", .recompute_crc = 1};
    expect_load_refused(file, &e, path2, SPARQ_ERROR_INVALID_FORMAT, "elements, expected");
    e = (edit){.truncate = "x.values", .recompute_crc = 1};
    expect_load_refused(file, &e, path2, SPARQ_ERROR_INVALID_FORMAT, "values");
    e = (edit){.truncate = "x.row_ptr", .recompute_crc = 1};
    expect_load_refused(file, &e, path2, SPARQ_ERROR_INVALID_FORMAT, "row_ptr");
    /* a missing tensor */
    e = (edit){.drop = "x.scales", .recompute_crc = 1};
    expect_load_refused(file, &e, path2, SPARQ_ERROR_INVALID_FORMAT, "scales");
    /* consistent CRCs but bad indices: the validating constructor refuses them */
    e = (edit){.poke = "x.row_ptr", .poke_index = 1, .poke_value = 100000, .recompute_crc = 1};
    expect_load_refused(file, &e, path2, SPARQ_ERROR_INVALID_FORMAT, "row_ptr");
    e = (edit){.poke = "x.col_idx", .poke_index = 0, .poke_value = 60000, .recompute_crc = 1};
    expect_load_refused(file, &e, path2, SPARQ_ERROR_INVALID_FORMAT, "col_idx[0]=60000");
    /* malformed metadata */
    e = (edit){.meta_key = "x.rows", .meta_value = "6x"};
    expect_load_refused(file, &e, path2, SPARQ_ERROR_INVALID_FORMAT,
                        "\"x.rows\" = \"6x\" is not a number");
    e = (edit){.meta_key = "x.rows", .meta_value = "-6"};
    expect_load_refused(file, &e, path2, SPARQ_ERROR_INVALID_FORMAT, "is not a number");
    e = (edit){.meta_key = "x.cols", .meta_value = "99999999999999999999999"};
    expect_load_refused(file, &e, path2, SPARQ_ERROR_INVALID_FORMAT, "is not a number");
    e = (edit){.meta_key = "x.rows", .meta_value = "7"};
    expect_load_refused(file, &e, path2, SPARQ_ERROR_INVALID_FORMAT, "packed_load: 'x': ");
    /* shapes and formats the builder refuses are the file's fault: INVALID_FORMAT */
    e = (edit){.meta_key = "x.rows", .meta_value = "0"};
    expect_load_refused(file, &e, path2, SPARQ_ERROR_INVALID_FORMAT, "packed_load: 'x': ");
    e = (edit){.meta_key = "x.rows", .meta_value = "18446744073709551615"};
    expect_load_refused(file, &e, path2, SPARQ_ERROR_INVALID_FORMAT, "packed_load: 'x': ");
    e = (edit){.meta_key = "x.scale_granularity", .meta_value = "group"};
    expect_load_refused(file, &e, path2, SPARQ_ERROR_INVALID_FORMAT, "packed_load: 'x': ");
    e = (edit){.meta_key = "x.asymmetric", .meta_value = "2"};
    expect_load_refused(file, &e, path2, SPARQ_ERROR_INVALID_FORMAT, "is not a number <= 1");
    e = (edit){.meta_key = "x.structure", .meta_value = "coo"};
    expect_load_refused(file, &e, path2, SPARQ_ERROR_INVALID_FORMAT,
                        "\"x.structure\" = \"coo\" is not a known value");
    e = (edit){.meta_key = "x.encoding", .meta_value = NULL};
    expect_load_refused(file, &e, path2, SPARQ_ERROR_INVALID_FORMAT,
                        "metadata \"x.encoding\" is missing");
    e = (edit){.meta_key = "x.structure", .meta_value = NULL};
    expect_load_refused(file, &e, path2, SPARQ_ERROR_INVALID_FORMAT, "no packed matrix named 'x'");
    e = (edit){.meta_key = "x.encoding", .meta_value = "f32"};
    expect_load_refused(file, &e, path2, SPARQ_ERROR_INVALID_FORMAT, "packed_load: 'x': ");

    sparq_safetensors_close(file);
    sparq_packed_free(packed);

    assert_int_equal(sparq_packed_load(NULL, "x", &loaded), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_packed_save(NULL, "x", NULL), SPARQ_ERROR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_structure_and_encoding_round_trips),
        cmocka_unit_test(corrupted_files_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
