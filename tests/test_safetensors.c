/* SPDX-License-Identifier: Apache-2.0 */
/* test_safetensors.c - writing safetensors files: round trips of every dtype (from a
 * file and from memory, deterministic bytes), refused arguments, atomic writes that leave
 * nothing behind on failure, and read-back by an independent Python reader. Reading
 * hostile files and the conversion to float are tested in test_safetensors_read.c.
 */
#include "testing.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------------------ */

/* Number of entries in folder dir, not counting . and .. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            n++;
        }
    }
    closedir(d);
    return n;
}

/* ---- round trip --------------------------------------------------------------------- */

typedef struct sample {
    const char *name;
    sparq_dtype dtype;
    size_t ndim;
    size_t shape[3];
    size_t bytes;
    unsigned char data[64];
} sample;

static void fill_samples(sample *s, size_t n)
{
    static const sparq_dtype dtypes[] = {
        SPARQ_DTYPE_F32, SPARQ_DTYPE_F16, SPARQ_DTYPE_BF16, SPARQ_DTYPE_I8,  SPARQ_DTYPE_U8,
        SPARQ_DTYPE_U16, SPARQ_DTYPE_I32, SPARQ_DTYPE_U32,  SPARQ_DTYPE_I64, SPARQ_DTYPE_U64};
    static const char *names[] = {"w.f32", "w.f16", "w.bf16", "w.i8", "w.u8",
                                  "w.u16", "w.i32", "w.u32",  "w.i64", "w.u64"};
    static const size_t sizes[] = {4, 2, 2, 1, 1, 2, 4, 4, 8, 8};
    assert_true(n >= 13);
    for (size_t i = 0; i < 10; i++) {
        s[i].name = names[i];
        s[i].dtype = dtypes[i];
        s[i].ndim = 2;
        s[i].shape[0] = 2;
        s[i].shape[1] = 3;
        s[i].bytes = 6 * sizes[i];
        for (size_t b = 0; b < s[i].bytes; b++) {
            s[i].data[b] = (unsigned char)(i * 31 + b * 7 + 1);
        }
    }
    /* a scalar, an empty tensor, and a 3-d one with an odd byte count */
    s[10] = (sample){.name = "scalar", .dtype = SPARQ_DTYPE_F32, .ndim = 0, .bytes = 4,
                     .data = {0, 0, 0x80, 0x3F}};
    s[11] = (sample){.name = "empty", .dtype = SPARQ_DTYPE_I64, .ndim = 2,
                     .shape = {0, 5}, .bytes = 0};
    s[12] = (sample){.name = "a/b.c d\xc3\xa9", .dtype = SPARQ_DTYPE_U8, .ndim = 3,
                     .shape = {1, 1, 3}, .bytes = 3, .data = {9, 8, 7}};
}

/* A writer of the samples, added in reverse order or not; with spool_dir, the second
 * half of them is spooled to a file there (sparq_safetensors_writer_spool). */
static sparq_safetensors_writer *sample_writer(const sample *s, size_t n, int reverse,
                                               const char *spool_dir)
{
    sparq_safetensors_writer *w = NULL;
    assert_int_equal(sparq_safetensors_writer_create(&w), SPARQ_OK);
    for (size_t k = 0; k < n; k++) {
        if (spool_dir && k == n / 2) {
            assert_int_equal(sparq_safetensors_writer_spool(w, spool_dir), SPARQ_OK);
        }
        const sample *t = &s[reverse ? n - 1 - k : k];
        assert_int_equal(sparq_safetensors_writer_add(w, t->name, t->dtype, t->ndim,
                                                      t->ndim ? t->shape : NULL, t->data,
                                                      t->bytes),
                         SPARQ_OK);
    }
    assert_int_equal(sparq_safetensors_writer_set_metadata(w, "format", "pt"), SPARQ_OK);
    assert_int_equal(sparq_safetensors_writer_set_metadata(w, "note", "first"), SPARQ_OK);
    assert_int_equal(sparq_safetensors_writer_set_metadata(w, "note", "quote \" and \xc3\xa9"),
                     SPARQ_OK);
    return w;
}

static void check_samples(const sparq_safetensors *file, const sample *s, size_t n)
{
    assert_int_equal(sparq_safetensors_count(file), n);
    for (size_t i = 0; i < n; i++) {
        sparq_safetensors_tensor_info info;
        assert_int_equal(sparq_safetensors_find(file, s[i].name, &info), SPARQ_OK);
        assert_string_equal(info.name, s[i].name);
        assert_int_equal(info.dtype, s[i].dtype);
        assert_int_equal(info.ndim, s[i].ndim);
        size_t count = 1;
        for (size_t d = 0; d < s[i].ndim; d++) {
            assert_int_equal(info.shape[d], s[i].shape[d]);
            count *= s[i].shape[d];
        }
        assert_int_equal(info.count, count);
        assert_int_equal(info.bytes, s[i].bytes);
        if (s[i].bytes > 0) {
            assert_memory_equal(info.data, s[i].data, s[i].bytes);
        }
    }
    /* listing is ordered by name */
    for (size_t i = 1; i < n; i++) {
        sparq_safetensors_tensor_info a, b;
        assert_int_equal(sparq_safetensors_tensor(file, i - 1, &a), SPARQ_OK);
        assert_int_equal(sparq_safetensors_tensor(file, i, &b), SPARQ_OK);
        assert_true(strcmp(a.name, b.name) < 0);
    }
    sparq_safetensors_tensor_info info;
    assert_int_equal(sparq_safetensors_tensor(file, n, &info), SPARQ_ERROR_OUT_OF_BOUNDS);
    assert_int_equal(sparq_safetensors_find(file, "absent", &info),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(sparq_last_error(), "no tensor named 'absent'"));

    assert_string_equal(sparq_safetensors_metadata(file, "format"), "pt");
    assert_string_equal(sparq_safetensors_metadata(file, "note"), "quote \" and \xc3\xa9");
    assert_null(sparq_safetensors_metadata(file, "absent"));
    assert_int_equal(sparq_safetensors_metadata_count(file), 2);
    const char *key, *value;
    assert_int_equal(sparq_safetensors_metadata_entry(file, 0, &key, &value), SPARQ_OK);
    assert_string_equal(key, "format");
    assert_int_equal(sparq_safetensors_metadata_entry(file, 1, &key, &value), SPARQ_OK);
    assert_string_equal(key, "note");
    assert_int_equal(sparq_safetensors_metadata_entry(file, 2, &key, &value),
                     SPARQ_ERROR_OUT_OF_BOUNDS);
}

static void round_trip_every_dtype(void **state)
{
    (void)state;
    sample s[13];
    fill_samples(s, 13);
    sparq_safetensors_writer *w = sample_writer(s, 13, 0, NULL);
    const char *dir = testing_tmpdir("safetensors_round_trip");
    char path[1100], path2[1100];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    snprintf(path2, sizeof path2, "%s/model2.safetensors", dir);
    assert_int_equal(sparq_safetensors_writer_write(w, path), SPARQ_OK);
    sparq_safetensors_writer_free(w);

    sparq_safetensors *file = NULL;
    assert_int_equal(sparq_safetensors_open(path, &file), SPARQ_OK);
    check_samples(file, s, 13);
    /* every tensor starts at a multiple of its element size (the map is page aligned) */
    for (size_t i = 0; i < 13; i++) {
        sparq_safetensors_tensor_info info;
        assert_int_equal(sparq_safetensors_tensor(file, i, &info), SPARQ_OK);
        size_t elem = info.count ? info.bytes / info.count : 1;
        assert_int_equal((uintptr_t)info.data % elem, 0);
    }
    sparq_safetensors_close(file);

    /* the layout: header length a multiple of 8, padded with spaces */
    size_t size;
    unsigned char *image = testing_read_file(path, &size);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) {
        header_len = (header_len << 8) | image[i];
    }
    assert_int_equal(header_len % 8, 0);
    assert_true(header_len + 8 <= size);
    assert_int_equal(image[8], '{');

    /* the same bytes from memory */
    assert_int_equal(sparq_safetensors_open_memory(image, size, &file), SPARQ_OK);
    check_samples(file, s, 13);
    sparq_safetensors_close(file);

    /* deterministic: the same tensors added in another order give the same bytes, and so
     * do tensors kept in a spool file instead of memory (which leaves nothing in dir) */
    w = sample_writer(s, 13, 1, dir);
    assert_int_equal(sparq_safetensors_writer_write(w, path2), SPARQ_OK);
    sparq_safetensors_writer_free(w);
    size_t size2;
    unsigned char *image2 = testing_read_file(path2, &size2);
    assert_int_equal(size, size2);
    assert_memory_equal(image, image2, size);
    free(image);
    free(image2);

    /* an empty writer gives a valid file with no tensors */
    assert_int_equal(sparq_safetensors_writer_create(&w), SPARQ_OK);
    assert_int_equal(sparq_safetensors_writer_write(w, path2), SPARQ_OK);
    sparq_safetensors_writer_free(w);
    assert_int_equal(sparq_safetensors_open(path2, &file), SPARQ_OK);
    assert_int_equal(sparq_safetensors_count(file), 0);
    assert_int_equal(sparq_safetensors_metadata_count(file), 0);
    assert_null(sparq_safetensors_metadata(file, "format"));
    sparq_safetensors_close(file);
    assert_int_equal(count_entries(dir), 2);

    sparq_safetensors_close(NULL);
    sparq_safetensors_writer_free(NULL);
    assert_int_equal(sparq_safetensors_count(NULL), 0);
}

/* ---- writer ------------------------------------------------------------------------- */

static void writer_checks_arguments(void **state)
{
    (void)state;
    sparq_safetensors_writer *w = NULL;
    assert_int_equal(sparq_safetensors_writer_create(&w), SPARQ_OK);
    const float v[6] = {1, 2, 3, 4, 5, 6};
    const size_t shape[2] = {2, 3};
    assert_int_equal(sparq_safetensors_writer_add(w, "x", SPARQ_DTYPE_F32, 2, shape, v, 24),
                     SPARQ_OK);
    assert_int_equal(sparq_safetensors_writer_add(w, "x", SPARQ_DTYPE_F32, 2, shape, v, 24),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(sparq_last_error(), "duplicate name 'x'"));
    assert_int_equal(sparq_safetensors_writer_add(w, "y", SPARQ_DTYPE_F32, 2, shape, v, 20),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(sparq_last_error(), "need 24 bytes, got 20"));
    assert_int_equal(sparq_safetensors_writer_add(w, "y", SPARQ_DTYPE_F16, 2, shape, v, 24),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_safetensors_writer_add(w, "y", (sparq_dtype)42, 2, shape, v, 24),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(sparq_last_error(), "dtype value 42"));
    assert_int_equal(sparq_safetensors_writer_add(w, "", SPARQ_DTYPE_F32, 2, shape, v, 24),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(
        sparq_safetensors_writer_add(w, "__metadata__", SPARQ_DTYPE_F32, 2, shape, v, 24),
        SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_safetensors_writer_add(w, "\xff", SPARQ_DTYPE_F32, 2, shape, v, 24),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_safetensors_writer_add(w, "y", SPARQ_DTYPE_F32, 2, NULL, v, 24),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_safetensors_writer_add(w, "y", SPARQ_DTYPE_F32, 2, shape, NULL, 24),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    const size_t huge[3] = {SIZE_MAX / 2, 4, 1};
    assert_int_equal(sparq_safetensors_writer_add(w, "y", SPARQ_DTYPE_U8, 3, huge, v, 24),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(sparq_last_error(), "overflows"));
    const size_t big[2] = {(size_t)1 << 40, (size_t)1 << 40};
    assert_int_equal(sparq_safetensors_writer_add(w, "y", SPARQ_DTYPE_U8, 2, big, v, 24),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(sparq_last_error(), "overflows"));
    assert_int_equal(sparq_safetensors_writer_set_metadata(w, "k", "\xc3"),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_safetensors_writer_set_metadata(w, NULL, "v"),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    /* the data was copied: changing the source after add changes nothing */
    float mutable[6] = {1, 2, 3, 4, 5, 6};
    assert_int_equal(sparq_safetensors_writer_add(w, "m", SPARQ_DTYPE_F32, 2, shape, mutable,
                                                  sizeof mutable),
                     SPARQ_OK);
    mutable[0] = 100;
    const char *path = testing_tmpfile("safetensors_writer_args", "w.safetensors");
    assert_int_equal(sparq_safetensors_writer_write(w, path), SPARQ_OK);
    sparq_safetensors_writer_free(w);
    sparq_safetensors *file = NULL;
    assert_int_equal(sparq_safetensors_open(path, &file), SPARQ_OK);
    sparq_safetensors_tensor_info info;
    float out[6];
    assert_int_equal(sparq_safetensors_find(file, "m", &info), SPARQ_OK);
    assert_int_equal(sparq_safetensors_to_f32(&info, out, 6), SPARQ_OK);
    assert_true(out[0] == 1.0f && out[5] == 6.0f);
    sparq_safetensors_close(file);
}

static void writer_failure_leaves_nothing(void **state)
{
    (void)state;
    const char *dir_tmp = testing_tmpdir("safetensors_atomic");
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s", dir_tmp);
    sparq_safetensors_writer *w = NULL;
    assert_int_equal(sparq_safetensors_writer_create(&w), SPARQ_OK);
    const int32_t v[3] = {1, 2, 3};
    const size_t shape[1] = {3};
    assert_int_equal(sparq_safetensors_writer_add(w, "v", SPARQ_DTYPE_I32, 1, shape, v, 12),
                     SPARQ_OK);

    /* a folder that does not exist */
    snprintf(path, sizeof path, "%s/no/such/folder/x.safetensors", dir);
    assert_int_equal(sparq_safetensors_writer_write(w, path), SPARQ_ERROR_IO);
    assert_non_null(strstr(sparq_last_error(), "cannot create a temporary file"));
    assert_int_equal(count_entries(dir), 0);
    /* nor can a spool be made there; the writer stays as it was */
    snprintf(path, sizeof path, "%s/no/such/folder", dir);
    assert_int_equal(sparq_safetensors_writer_spool(w, path), SPARQ_ERROR_IO);
    assert_non_null(strstr(sparq_last_error(), "spool in"));
    assert_int_equal(sparq_safetensors_writer_spool(NULL, dir), SPARQ_ERROR_INVALID_ARGUMENT);

    /* the rename fails (path is a non-empty folder): the temp file is removed */
    snprintf(path, sizeof path, "%s/occupied", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    char inner[1200];
    snprintf(inner, sizeof inner, "%s/keep", path);
    testing_write_file(inner, "x", 1);
    assert_int_equal(sparq_safetensors_writer_write(w, path), SPARQ_ERROR_IO);
    assert_non_null(strstr(sparq_last_error(), "renaming"));
    assert_int_equal(count_entries(dir), 1);
    assert_int_equal(count_entries(path), 1);

    /* replacing an existing file: afterwards it holds exactly the new content */
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    testing_write_file(path, "old contents", 12);
    assert_int_equal(sparq_safetensors_writer_write(w, path), SPARQ_OK);
    assert_int_equal(count_entries(dir), 2);
    sparq_safetensors *file = NULL;
    assert_int_equal(sparq_safetensors_open(path, &file), SPARQ_OK);
    assert_int_equal(sparq_safetensors_count(file), 1);
    sparq_safetensors_close(file);

    /* a relative path (no folder part) is written in the current folder */
    char cwd[1024];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    assert_int_equal(sparq_safetensors_writer_write(w, "relative.safetensors"), SPARQ_OK);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(count_entries(dir), 3);

    assert_int_equal(sparq_safetensors_writer_write(w, ""), SPARQ_ERROR_INVALID_ARGUMENT);
    sparq_safetensors_writer_free(w);
}

/* ---- read back by an independent reader --------------------------------------------- */

static void python_reads_our_files(void **state)
{
    (void)state;
    testing_skip_without_numpy();
    sparq_safetensors_writer *w = NULL;
    assert_int_equal(sparq_safetensors_writer_create(&w), SPARQ_OK);
    const size_t s2x2[2] = {2, 2}, s3[1] = {3}, s2[1] = {2};
    const float f32[4] = {1.5f, -2.25f, 0.0f, 1024.0f};
    const uint16_t f16[3] = {0x3C00, 0xB800, 0x7BFF};  /* 1, -0.5, 65504 */
    const uint16_t bf16[3] = {0x3F80, 0xC040, 0x3F00}; /* 1, -3, 0.5 */
    const int8_t i8[2] = {-128, 127};
    const uint8_t u8[3] = {0, 7, 255};
    const int32_t i32[2] = {INT32_MIN, 7};
    const int64_t i64[2] = {-((int64_t)1 << 40), (int64_t)1 << 62};
    const uint16_t u16[2] = {0, 65535};
    const uint32_t u32[2] = {4000000000u, 1};
    const uint64_t u64[2] = {(uint64_t)1 << 63, 3};
    assert_int_equal(sparq_safetensors_writer_add(w, "f32", SPARQ_DTYPE_F32, 2, s2x2, f32, 16), 0);
    assert_int_equal(sparq_safetensors_writer_add(w, "f16", SPARQ_DTYPE_F16, 1, s3, f16, 6), 0);
    assert_int_equal(sparq_safetensors_writer_add(w, "bf16", SPARQ_DTYPE_BF16, 1, s3, bf16, 6), 0);
    assert_int_equal(sparq_safetensors_writer_add(w, "i8", SPARQ_DTYPE_I8, 1, s2, i8, 2), 0);
    assert_int_equal(sparq_safetensors_writer_add(w, "u8", SPARQ_DTYPE_U8, 1, s3, u8, 3), 0);
    assert_int_equal(sparq_safetensors_writer_add(w, "i32", SPARQ_DTYPE_I32, 1, s2, i32, 8), 0);
    assert_int_equal(sparq_safetensors_writer_add(w, "i64", SPARQ_DTYPE_I64, 1, s2, i64, 16), 0);
    assert_int_equal(sparq_safetensors_writer_add(w, "u16", SPARQ_DTYPE_U16, 1, s2, u16, 4), 0);
    assert_int_equal(sparq_safetensors_writer_add(w, "u32", SPARQ_DTYPE_U32, 1, s2, u32, 8), 0);
    assert_int_equal(sparq_safetensors_writer_add(w, "u64", SPARQ_DTYPE_U64, 1, s2, u64, 16), 0);
    const float scalar = -0.125f;
    assert_int_equal(
        sparq_safetensors_writer_add(w, "scalar", SPARQ_DTYPE_F32, 0, NULL, &scalar, 4), 0);
    assert_int_equal(sparq_safetensors_writer_set_metadata(w, "format", "pt"), 0);
    assert_int_equal(sparq_safetensors_writer_set_metadata(w, "sparq", "0.1.0"), 0);
    const char *path = testing_tmpfile("safetensors_python", "py.safetensors");
    assert_int_equal(sparq_safetensors_writer_write(w, path), SPARQ_OK);
    sparq_safetensors_writer_free(w);

    char out[4096];
    int rc = testing_python("tests/read_safetensors.py", path, NULL, out, sizeof out);
    const char *expect = "meta format=pt\n"
                         "meta sparq=0.1.0\n"
                         "tensor bf16 BF16 3 1.0,-3.0,0.5\n"
                         "tensor f16 F16 3 1.0,-0.5,65504.0\n"
                         "tensor f32 F32 2x2 1.5,-2.25,0.0,1024.0\n"
                         "tensor i32 I32 2 -2147483648,7\n"
                         "tensor i64 I64 2 -1099511627776,4611686018427387904\n"
                         "tensor i8 I8 2 -128,127\n"
                         "tensor scalar F32 scalar -0.125\n"
                         "tensor u16 U16 2 0,65535\n"
                         "tensor u32 U32 2 4000000000,1\n"
                         "tensor u64 U64 2 9223372036854775808,3\n"
                         "tensor u8 U8 3 0,7,255\n";
    if (rc != 0 || strcmp(out, expect) != 0) {
        fail_msg("read_safetensors.py exited with %d and printed:\n%s\nexpected:\n%s", rc, out,
                 expect);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_every_dtype),
        cmocka_unit_test(writer_checks_arguments),
        cmocka_unit_test(writer_failure_leaves_nothing),
        cmocka_unit_test(python_reads_our_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
