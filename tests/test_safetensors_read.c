/* SPDX-License-Identifier: Apache-2.0 */
/* test_safetensors_read.c - reading safetensors files: the reference implementation's
 * layout, hostile files (each refused with a clear status and sentence, from memory and
 * from a file), accepted edge cases, missing and unreadable files, and the widening of
 * every dtype to float (f16/bf16 exactly), and giving a read tensor's memory back
 * (sparq_safetensors_evict). Writing is tested in test_safetensors.c.
 */
#include "testing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------------------ */

/* A file image: 8-byte little-endian length (header_len unless it is (uint64_t)-1,
 * then strlen(json)), the JSON, then data_size bytes of 0xAB. */
static unsigned char *make_image(const char *json, uint64_t header_len, size_t data_size,
                                 size_t *size)
{
    size_t json_len = strlen(json);
    if (header_len == UINT64_MAX) {
        header_len = json_len;
    }
    *size = 8 + json_len + data_size;
    unsigned char *buf = malloc(*size);
    assert_non_null(buf);
    for (int i = 0; i < 8; i++) {
        buf[i] = (unsigned char)(header_len >> (8 * i));
    }
    memcpy(buf + 8, json, json_len);
    memset(buf + 8 + json_len, 0xAB, data_size);
    return buf;
}

/* Opens the image from memory and from a file; both must fail with status and a
 * sentence containing expect. */
static void expect_refused_image(const unsigned char *image, size_t size, sparq_status status,
                                 const char *expect)
{
    sparq_safetensors *file = (sparq_safetensors *)(uintptr_t)1;
    sparq_status st = sparq_safetensors_open_memory(image, size, &file);
    if (st != status || !strstr(sparq_last_error(), expect)) {
        fail_msg("memory: got %s \"%s\", expected %s with \"%s\"", sparq_status_string(st),
                 sparq_last_error(), sparq_status_string(status), expect);
    }
    assert_null(file);

    const char *path = testing_tmpfile("safetensors_hostile", "hostile.safetensors");
    testing_write_file(path, image, size);
    file = (sparq_safetensors *)(uintptr_t)1;
    st = sparq_safetensors_open(path, &file);
    if (st != status || !strstr(sparq_last_error(), expect)) {
        fail_msg("file: got %s \"%s\", expected %s with \"%s\"", sparq_status_string(st),
                 sparq_last_error(), sparq_status_string(status), expect);
    }
    assert_null(file);
    assert_non_null(strstr(sparq_last_error(), path)); /* file errors name the file */
}

/* A header with data_size bytes of data must be refused as INVALID_FORMAT with expect. */
static void expect_refused(const char *json, size_t data_size, const char *expect)
{
    size_t size;
    unsigned char *image = make_image(json, UINT64_MAX, data_size, &size);
    expect_refused_image(image, size, SPARQ_ERROR_INVALID_FORMAT, expect);
    free(image);
}

/* ---- accepted layouts --------------------------------------------------------------- */

/* A file as the reference implementation writes it (hand-made): header first. */
static void reads_reference_layout(void **state)
{
    (void)state;
    const char *json = "{\"__metadata__\":{\"format\":\"pt\"},"
                       "\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[8,12]},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}  ";
    size_t size;
    unsigned char *image = make_image(json, UINT64_MAX, 12, &size);
    const float a[2] = {1.0f, -2.5f};
    memcpy(image + size - 12, a, 8);
    const uint16_t b[2] = {0x3C00, 0xC100};
    memcpy(image + size - 4, b, 4);
    sparq_safetensors *file = NULL;
    assert_int_equal(sparq_safetensors_open_memory(image, size, &file), SPARQ_OK);
    assert_int_equal(sparq_safetensors_count(file), 2);
    sparq_safetensors_tensor_info info;
    float out[2];
    assert_int_equal(sparq_safetensors_find(file, "a", &info), SPARQ_OK);
    assert_int_equal(sparq_safetensors_to_f32(&info, out, 2), SPARQ_OK);
    assert_true(out[0] == 1.0f && out[1] == -2.5f);
    assert_int_equal(sparq_safetensors_find(file, "b", &info), SPARQ_OK);
    assert_int_equal(sparq_safetensors_to_f32(&info, out, 2), SPARQ_OK);
    assert_true(out[0] == 1.0f && out[1] == -2.5f);
    assert_int_equal(sparq_safetensors_to_f32(&info, out, 1), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(sparq_last_error(), "has 2 elements, not 1"));
    sparq_safetensors_close(file);
    free(image);
}

static void accepted_edge_cases(void **state)
{
    (void)state;
    /* empty tensors may sit anywhere (even at the end), gaps are accepted, and zero
     * dimensions make a product of 0 even beside huge ones */
    const char *json =
        "{\"e\":{\"dtype\":\"F32\",\"shape\":[0,4611686018427387904],\"data_offsets\":[16,16]},"
        "\"g\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]},"
        "\"z\":{\"dtype\":\"I8\",\"shape\":[0],\"data_offsets\":[2,2]},"
        "\"s\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[12,16]}}";
    size_t size;
    unsigned char *image = make_image(json, UINT64_MAX, 16, &size);
    sparq_safetensors *file = NULL;
    assert_int_equal(sparq_safetensors_open_memory(image, size, &file), SPARQ_OK);
    assert_int_equal(sparq_safetensors_count(file), 4);
    sparq_safetensors_tensor_info info;
    assert_int_equal(sparq_safetensors_find(file, "e", &info), SPARQ_OK);
    assert_int_equal(info.count, 0);
    assert_int_equal(info.bytes, 0);
    assert_int_equal(sparq_safetensors_to_f32(&info, NULL, 0), SPARQ_OK);
    assert_int_equal(sparq_safetensors_find(file, "s", &info), SPARQ_OK);
    assert_int_equal(info.ndim, 0);
    assert_null(info.shape);
    assert_int_equal(info.count, 1);
    sparq_safetensors_close(file);
    free(image);

    /* an empty header object with trailing spaces, and no data */
    image = make_image("{}      ", UINT64_MAX, 0, &size);
    assert_int_equal(sparq_safetensors_open_memory(image, size, &file), SPARQ_OK);
    assert_int_equal(sparq_safetensors_count(file), 0);
    sparq_safetensors_close(file);
    free(image);
}

/* ---- hostile files ------------------------------------------------------------------ */

#define ENTRY_F32_4(begin, end) \
    "{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[" #begin "," #end "]}"

static void hostile_length_field(void **state)
{
    (void)state;
    unsigned char bytes[16] = {0};
    /* empty file, and a file shorter than the 8-byte length */
    expect_refused_image(bytes, 0, SPARQ_ERROR_INVALID_FORMAT, "shorter than the 8-byte");
    expect_refused_image(bytes, 5, SPARQ_ERROR_INVALID_FORMAT, "shorter than the 8-byte");
    /* header length past the end of the file */
    size_t size;
    unsigned char *image = make_image("{}", 3, 0, &size);
    expect_refused_image(image, size, SPARQ_ERROR_INVALID_FORMAT, "beyond the end of the file");
    free(image);
    /* huge header lengths: 2^63, 2^64-1, and just over the limit */
    image = make_image("{}", (uint64_t)1 << 63, 0, &size);
    expect_refused_image(image, size, SPARQ_ERROR_INVALID_FORMAT, "exceeds the limit");
    free(image);
    image = make_image("{}", UINT64_MAX - 1, 0, &size);
    image[0] = 0xFF;
    expect_refused_image(image, size, SPARQ_ERROR_INVALID_FORMAT, "exceeds the limit");
    free(image);
    image = make_image("{}", SPARQ_SAFETENSORS_MAX_HEADER_BYTES + 1ull, 0, &size);
    expect_refused_image(image, size, SPARQ_ERROR_INVALID_FORMAT, "exceeds the limit");
    free(image);
    /* a zero-length header is not JSON */
    image = make_image("", UINT64_MAX, 0, &size);
    expect_refused_image(image, size, SPARQ_ERROR_INVALID_FORMAT, "not valid JSON");
    free(image);
}

static void hostile_json(void **state)
{
    (void)state;
    expect_refused("{\"a\": ", 0, "not valid JSON");
    expect_refused("{\"a\":" ENTRY_F32_4(0, 16) "} trailing", 16, "not valid JSON");
    expect_refused("{\"a\":1,,}", 0, "not valid JSON");
    expect_refused("{\"a\\u0000b\":" ENTRY_F32_4(0, 16) "}", 16, "not valid JSON");
    expect_refused("\xff\xfe{}", 0, "not valid JSON");
    /* nesting far deeper than the parser allows */
    char deep[20016];
    memcpy(deep, "{\"a\":", 5);
    memset(deep + 5, '[', 10000);
    memset(deep + 10005, ']', 10000);
    memcpy(deep + 20005, "}", 2);
    expect_refused(deep, 0, "not valid JSON");
    expect_refused("[1, 2]", 0, "not a JSON object");
    expect_refused("\"text\"", 0, "not a JSON object");
    expect_refused("42", 0, "not a JSON object");
    expect_refused("{\"a\":" ENTRY_F32_4(0, 16) ",\"a\":" ENTRY_F32_4(0, 16) "}", 16,
                   "duplicate name");
}

static void hostile_entries(void **state)
{
    (void)state;
    expect_refused("{\"a\":5}", 0, "tensor 'a': entry is not an object");
    expect_refused("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                   "tensor 'a': missing field \"dtype\"");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4,
                   "tensor 'a': missing field \"shape\"");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4,
                   "tensor 'a': missing field \"data_offsets\"");
    expect_refused("{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                   "dtype is not a string");
    expect_refused("{\"a\":{\"dtype\":\"F4\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
                   "tensor 'a': unknown dtype \"F4\"");
    expect_refused("{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                   "unknown dtype \"f32\"");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,16]}}", 16,
                   "shape is not an array");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8,
                   "shape[0] is not an integer");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8,
                   "shape[0] is not an integer");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,8]}}", 8,
                   "shape[1] = -3 is negative");
    /* 2^32 * 2^32 overflows a 64-bit size_t; a zero does not rescue it, before or after */
    expect_refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],"
                   "\"data_offsets\":[0,0]}}",
                   0, "the product of the shape overflows size_t");
    expect_refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,0],"
                   "\"data_offsets\":[0,0]}}",
                   0, "the product of the shape overflows size_t");
    expect_refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[0,4294967296,4294967296],"
                   "\"data_offsets\":[0,0]}}",
                   0, "the product of the shape overflows size_t");
    /* the count fits but count * 8 bytes does not */
    expect_refused("{\"a\":{\"dtype\":\"I64\",\"shape\":[4611686018427387904],"
                   "\"data_offsets\":[0,0]}}",
                   0, "overflow size_t bytes");
    /* beyond what jansson (and int64) can hold */
    expect_refused("{\"a\":{\"dtype\":\"U8\",\"shape\":[99999999999999999999],"
                   "\"data_offsets\":[0,0]}}",
                   0, "not valid JSON");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0]}}", 16,
                   "data_offsets is not an array of two integers");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":{}}}", 16,
                   "data_offsets is not an array of two integers");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[-4,12]}}", 16,
                   "not two non-negative integers");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,1.6e1]}}", 16,
                   "not two non-negative integers");
    expect_refused("{\"a\":" ENTRY_F32_4(16, 0) "}", 16, "data_offsets [16, 0] end before begin");
    expect_refused("{\"a\":" ENTRY_F32_4(0, 16) "}", 12, "out of range: the data section has 12");
    expect_refused("{\"a\":" ENTRY_F32_4(100, 116) "}", 16, "out of range");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],"
                   "\"data_offsets\":[0,9223372036854775807]}}",
                   16, "out of range");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 16,
                   "data_offsets give 12 bytes but 4 elements of F32 need 16");
    expect_refused("{\"a\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[0,4]}}", 16,
                   "data_offsets give 4 bytes but 1 elements of BF16 need 2");
    expect_refused("{\"a\":" ENTRY_F32_4(0, 16) ",\"b\":" ENTRY_F32_4(8, 24) "}", 32,
                   "tensors 'a' [0, 16) and 'b' [8, 24) overlap");
    expect_refused("{\"a\":" ENTRY_F32_4(0, 16) ",\"b\":" ENTRY_F32_4(0, 16) "}", 32,
                   "overlap");
    /* a small tensor inside a big one */
    expect_refused("{\"big\":{\"dtype\":\"U8\",\"shape\":[32],\"data_offsets\":[0,32]},"
                   "\"small\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[10,12]}}",
                   32, "overlap");
}

static void hostile_metadata(void **state)
{
    (void)state;
    expect_refused("{\"__metadata__\":{\"k\":1}}", 0,
                   "__metadata__ value for key 'k' is not a string");
    expect_refused("{\"__metadata__\":{\"k\":\"v\",\"n\":null}}", 0,
                   "__metadata__ value for key 'n' is not a string");
    expect_refused("{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", 0, "is not a string");
    expect_refused("{\"__metadata__\":[\"k\"]}", 0, "__metadata__ is not an object");
    expect_refused("{\"__metadata__\":{\"k\":\"v\",\"k\":\"w\"}}", 0, "duplicate name");
}

static void missing_and_unreadable(void **state)
{
    (void)state;
    sparq_safetensors *file = NULL;
    const char *dir = testing_tmpdir("safetensors_missing");
    char path[1100];
    snprintf(path, sizeof path, "%s/absent.safetensors", dir);
    assert_int_equal(sparq_safetensors_open(path, &file), SPARQ_ERROR_IO);
    assert_non_null(strstr(sparq_last_error(), "cannot open"));
    assert_non_null(strstr(sparq_last_error(), "absent.safetensors"));
    assert_null(file);
    assert_int_equal(sparq_safetensors_open(dir, &file), SPARQ_ERROR_IO);
    assert_non_null(strstr(sparq_last_error(), "not a regular file"));
    /* a FIFO with no writer is refused at once, not waited on (the test would hang) */
    snprintf(path, sizeof path, "%s/fifo.safetensors", dir);
    unlink(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(sparq_safetensors_open(path, &file), SPARQ_ERROR_IO);
    assert_non_null(strstr(sparq_last_error(), "not a regular file"));
    snprintf(path, sizeof path, "%s/absent.safetensors", dir);
    assert_int_equal(sparq_safetensors_open(NULL, &file), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_safetensors_open(path, NULL), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_safetensors_open_memory(NULL, 8, &file),
                     SPARQ_ERROR_INVALID_ARGUMENT);
}

/* ---- conversion --------------------------------------------------------------------- */

static uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static void convert_check(sparq_dtype dtype, const void *data, size_t count, size_t elem,
                          const uint32_t *expect_bits)
{
    sparq_safetensors_tensor_info info = {.name = "t", .dtype = dtype, .ndim = 1,
                                          .count = count, .data = data,
                                          .bytes = count * elem};
    float out[16];
    assert_true(count <= 16);
    assert_int_equal(sparq_safetensors_to_f32(&info, out, count), SPARQ_OK);
    for (size_t i = 0; i < count; i++) {
        if (float_bits(out[i]) != expect_bits[i]) {
            fail_msg("dtype %d element %zu: got 0x%08x (%g), expected 0x%08x", (int)dtype,
                     i, float_bits(out[i]), (double)out[i], expect_bits[i]);
        }
    }
}

static void half_and_bfloat_widen_exactly(void **state)
{
    (void)state;
    const uint16_t f16[] = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x03FF, 0x0400, 0x7C00, 0xFC00,
                            0x8000, 0x3555, 0x8001, 0x7E00, 0x0000};
    const uint32_t f16_expect[] = {
        0x3F800000, /* 1                         */
        0xC0000000, /* -2                        */
        0x477FE000, /* 65504                     */
        0x33800000, /* 2^-24, smallest subnormal */
        0x387FC000, /* largest subnormal         */
        0x38800000, /* 2^-14, smallest normal    */
        0x7F800000, /* +inf                      */
        0xFF800000, /* -inf                      */
        0x80000000, /* -0                        */
        0x3EAAA000, /* 0.333251953125            */
        0xB3800000, /* -2^-24                    */
        0x7FC00000, /* quiet NaN                 */
        0x00000000};
    convert_check(SPARQ_DTYPE_F16, f16, 13, 2, f16_expect);

    const uint16_t bf16[] = {0x3F80, 0xC040, 0x7F80, 0x0001, 0x3EAB, 0x8000, 0x7FC1, 0xFF7F};
    const uint32_t bf16_expect[] = {0x3F800000, 0xC0400000, 0x7F800000, 0x00010000,
                                    0x3EAB0000, 0x80000000, 0x7FC10000, 0xFF7F0000};
    convert_check(SPARQ_DTYPE_BF16, bf16, 8, 2, bf16_expect);

    const int8_t i8[] = {-128, 127, 0, -1};
    const uint32_t i8_expect[] = {float_bits(-128.0f), float_bits(127.0f), 0,
                                  float_bits(-1.0f)};
    convert_check(SPARQ_DTYPE_I8, i8, 4, 1, i8_expect);
    const uint8_t u8[] = {0, 255};
    const uint32_t u8_expect[] = {0, float_bits(255.0f)};
    convert_check(SPARQ_DTYPE_U8, u8, 2, 1, u8_expect);
    const int32_t i32[] = {INT32_MIN, 16777217};
    const uint32_t i32_expect[] = {float_bits(-2147483648.0f), float_bits(16777216.0f)};
    convert_check(SPARQ_DTYPE_I32, i32, 2, 4, i32_expect);
    const int64_t i64[] = {INT64_MIN, (int64_t)1 << 40};
    const uint32_t i64_expect[] = {float_bits(-9223372036854775808.0f),
                                   float_bits(1099511627776.0f)};
    convert_check(SPARQ_DTYPE_I64, i64, 2, 8, i64_expect);
    const uint64_t u64[] = {UINT64_MAX};
    const uint32_t u64_expect[] = {float_bits(18446744073709551616.0f)};
    convert_check(SPARQ_DTYPE_U64, u64, 1, 8, u64_expect);
    const uint32_t u32[] = {4000000000u};
    const uint32_t u32_expect[] = {float_bits(4000000000.0f)};
    convert_check(SPARQ_DTYPE_U32, u32, 1, 4, u32_expect);
    const uint16_t u16[] = {65535};
    const uint32_t u16_expect[] = {float_bits(65535.0f)};
    convert_check(SPARQ_DTYPE_U16, u16, 1, 2, u16_expect);
    const int16_t i16[] = {INT16_MIN, INT16_MAX};
    const uint32_t i16_expect[] = {0xC7000000, 0x46FFFE00};
    convert_check(SPARQ_DTYPE_I16, i16, 2, 2, i16_expect);
    const uint8_t bools[] = {0, 1, 2};
    const uint32_t bool_expect[] = {0, 0x3F800000, 0x3F800000};
    convert_check(SPARQ_DTYPE_BOOL, bools, 3, 1, bool_expect);
    /* FP8, exactly: 1, -1, the largest (448), the smallest subnormal and normal, NaN, -0 */
    const uint8_t e4m3[] = {0x38, 0xB8, 0x7E, 0x01, 0x08, 0x7F, 0xFF, 0x80};
    const uint32_t e4m3_expect[] = {0x3F800000, 0xBF800000, 0x43E00000, 0x3B000000,
                                    0x3C800000, 0x7FC00000, 0x7FC00000, 0x80000000};
    convert_check(SPARQ_DTYPE_F8_E4M3, e4m3, 8, 1, e4m3_expect);
    /* 1, the largest (57344), +-inf, NaN, the smallest subnormal and normal */
    const uint8_t e5m2[] = {0x3C, 0x7B, 0x7C, 0xFC, 0x7D, 0x01, 0x04};
    const uint32_t e5m2_expect[] = {0x3F800000, 0x47600000, 0x7F800000, 0xFF800000,
                                    0x7FC00000, 0x37800000, 0x38800000};
    convert_check(SPARQ_DTYPE_F8_E5M2, e5m2, 7, 1, e5m2_expect);

    /* unaligned source data works */
    unsigned char raw[9];
    const float two = 2.0f;
    memcpy(raw + 1, &two, 4);
    memcpy(raw + 5, &two, 4);
    const uint32_t two_expect[] = {0x40000000, 0x40000000};
    convert_check(SPARQ_DTYPE_F32, raw + 1, 2, 4, two_expect);

    /* an info whose bytes do not match its count is refused, not read past */
    sparq_safetensors_tensor_info bad = {.name = "bad", .dtype = SPARQ_DTYPE_F32,
                                         .count = 4, .data = raw, .bytes = 8};
    float out[4];
    assert_int_equal(sparq_safetensors_to_f32(&bad, out, 4), SPARQ_ERROR_INVALID_ARGUMENT);
}

static void evict_gives_pages_back(void **state)
{
    (void)state;
    enum { N = 4 << 20 }; /* 16 MiB of f32 */
    float *v = malloc(N * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < N; i++) {
        v[i] = (float)(i % 1000);
    }
    sparq_safetensors_writer *w = NULL;
    assert_int_equal(sparq_safetensors_writer_create(&w), SPARQ_OK);
    const size_t shape[1] = {N};
    assert_int_equal(sparq_safetensors_writer_add(w, "big", SPARQ_DTYPE_F32, 1, shape, v,
                                                  N * sizeof *v),
                     SPARQ_OK);
    char path[1100];
    snprintf(path, sizeof path, "%s/big.safetensors", testing_tmpdir("safetensors_evict"));
    assert_int_equal(sparq_safetensors_writer_write(w, path), SPARQ_OK);
    sparq_safetensors_writer_free(w);
    free(v);

    sparq_safetensors *file = NULL;
    assert_int_equal(sparq_safetensors_open(path, &file), SPARQ_OK);
    sparq_safetensors_tensor_info info;
    assert_int_equal(sparq_safetensors_find(file, "big", &info), SPARQ_OK);
    double mb = (double)info.bytes / (1 << 20);
    double before = testing_rss_mb();
    double sum = 0;
    for (size_t i = 0; i < info.bytes; i += 512) {
        sum += ((const unsigned char *)info.data)[i];
    }
    double touched = testing_rss_mb();
    sparq_safetensors_evict(file, &info);
    double after = testing_rss_mb();
    /* reading the tensor made it resident; evicting gave (nearly) all of it back */
    assert_true(touched >= before + 0.9 * mb);
    assert_true(after + 0.9 * mb <= touched);
    /* and it reads the same afterwards */
    double again = 0;
    for (size_t i = 0; i < info.bytes; i += 512) {
        again += ((const unsigned char *)info.data)[i];
    }
    assert_true(sum == again);
    sparq_safetensors_evict(NULL, &info); /* no-ops */
    sparq_safetensors_evict(file, NULL);
    sparq_safetensors_close(file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_reference_layout),
        cmocka_unit_test(evict_gives_pages_back),
        cmocka_unit_test(hostile_length_field),
        cmocka_unit_test(hostile_json),
        cmocka_unit_test(hostile_entries),
        cmocka_unit_test(hostile_metadata),
        cmocka_unit_test(accepted_edge_cases),
        cmocka_unit_test(missing_and_unreadable),
        cmocka_unit_test(half_and_bfloat_widen_exactly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
