/* SPDX-License-Identifier: Apache-2.0 */
/* test_model.c - models as they are shipped (sparq_model_*): a sharded Hugging Face
 * layout read through its index, a folder with model.safetensors, a single file; and
 * hostile layouts (a shard outside the folder, a missing shard, a tensor in two shards,
 * a tensor the index does not name, an index naming a tensor its shard lacks, duplicate
 * names, no weight map) refused with a clear sentence.
 */
#include "testing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Writes a shard file dir/name holding tensors names[0..n) (2 floats each, the first
 * equal to the tensor's number in the list). */
static void write_shard(const char *dir, const char *name, const char *const *names, size_t n,
                        float base)
{
    sparq_safetensors_writer *w = NULL;
    assert_int_equal(sparq_safetensors_writer_create(&w), SPARQ_OK);
    for (size_t i = 0; i < n; i++) {
        const float v[2] = {base + (float)i, -1.0f};
        const size_t shape[1] = {2};
        assert_int_equal(sparq_safetensors_writer_add(w, names[i], SPARQ_DTYPE_F32, 1, shape, v,
                                                      sizeof v),
                         SPARQ_OK);
    }
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(sparq_safetensors_writer_write(w, path), SPARQ_OK);
    sparq_safetensors_writer_free(w);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    testing_write_file(path, text, strlen(text));
}

/* A folder with two shards and their index: a.weight, a.bias in shard 1; b.weight in 2. */
static const char *make_sharded(const char *label)
{
    const char *dir = testing_tmpdir(label);
    static const char *const one[] = {"a.bias", "a.weight"};
    static const char *const two[] = {"b.weight"};
    write_shard(dir, "model-00001-of-00002.safetensors", one, 2, 10.0f);
    write_shard(dir, "model-00002-of-00002.safetensors", two, 1, 20.0f);
    write_text(dir, "model.safetensors.index.json",
               "{\"metadata\": {\"total_size\": 24}, \"weight_map\": {"
               "\"a.weight\": \"model-00001-of-00002.safetensors\", "
               "\"a.bias\": \"model-00001-of-00002.safetensors\", "
               "\"b.weight\": \"model-00002-of-00002.safetensors\"}}");
    return dir;
}

static void reads_sharded_single_and_file(void **state)
{
    (void)state;
    const char *dir = make_sharded("model_sharded");
    sparq_model *m = NULL;
    assert_int_equal(sparq_model_open(dir, &m), SPARQ_OK);
    assert_int_equal(sparq_model_is_sharded(m), 1);
    assert_string_equal(sparq_model_folder(m), dir);
    assert_int_equal(sparq_model_shard_count(m), 2);
    assert_string_equal(sparq_model_shard_name(m, 0), "model-00001-of-00002.safetensors");
    assert_string_equal(sparq_model_shard_name(m, 1), "model-00002-of-00002.safetensors");
    assert_null(sparq_model_shard_name(m, 2));
    assert_int_equal(sparq_safetensors_count(sparq_model_shard(m, 0)), 2);
    sparq_safetensors_tensor_info info;
    size_t shard = 9;
    assert_int_equal(sparq_model_find(m, "b.weight", &shard, &info), SPARQ_OK);
    assert_int_equal(shard, 1);
    assert_true(((const float *)info.data)[0] == 20.0f);
    assert_int_equal(sparq_model_find(m, "a.weight", &shard, &info), SPARQ_OK);
    assert_int_equal(shard, 0);
    assert_true(((const float *)info.data)[0] == 11.0f);
    assert_int_equal(sparq_model_find(m, "c.weight", &shard, &info),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(sparq_last_error(), "no tensor named 'c.weight'"));
    sparq_model_close(m);

    /* a folder with model.safetensors, and that file by its path */
    const char *single = testing_tmpdir("model_single");
    static const char *const names[] = {"w"};
    write_shard(single, "model.safetensors", names, 1, 5.0f);
    assert_int_equal(sparq_model_open(single, &m), SPARQ_OK);
    assert_int_equal(sparq_model_is_sharded(m), 0);
    assert_int_equal(sparq_model_shard_count(m), 1);
    assert_string_equal(sparq_model_shard_name(m, 0), "model.safetensors");
    assert_int_equal(sparq_model_find(m, "w", &shard, &info), SPARQ_OK);
    assert_int_equal(shard, 0);
    sparq_model_close(m);
    char path[1200];
    snprintf(path, sizeof path, "%s/model.safetensors", single);
    assert_int_equal(sparq_model_open(path, &m), SPARQ_OK);
    assert_string_equal(sparq_model_folder(m), single);
    assert_string_equal(sparq_model_shard_name(m, 0), "model.safetensors");
    sparq_model_close(m);
    sparq_model_close(NULL);
}

/* The model in dir is refused with status and a sentence holding expect. */
static void expect_refused(const char *dir, sparq_status status, const char *expect)
{
    sparq_model *m = (sparq_model *)(uintptr_t)1;
    sparq_status st = sparq_model_open(dir, &m);
    if (st != status || !strstr(sparq_last_error(), expect))
        fail_msg("%s: got %s \"%s\", expected %s with \"%s\"", dir, sparq_status_string(st),
                 sparq_last_error(), sparq_status_string(status), expect);
    assert_null(m);
}

static void hostile_layouts_are_refused(void **state)
{
    (void)state;
    const char *dir = make_sharded("model_dotdot");
    write_text(dir, "model.safetensors.index.json",
               "{\"weight_map\": {\"a.weight\": \"../model-00001-of-00002.safetensors\"}}");
    expect_refused(dir, SPARQ_ERROR_INVALID_FORMAT,
                   "shard '../model-00001-of-00002.safetensors' (of tensor 'a.weight') is not "
                   "a file name in the model's folder");
    write_text(dir, "model.safetensors.index.json", "{\"weight_map\": {\"a.weight\": \"..\"}}");
    expect_refused(dir, SPARQ_ERROR_INVALID_FORMAT, "is not a file name");
    write_text(dir, "model.safetensors.index.json",
               "{\"weight_map\": {\"a.weight\": \"/etc/passwd\"}}");
    expect_refused(dir, SPARQ_ERROR_INVALID_FORMAT, "is not a file name");

    dir = make_sharded("model_missing_shard");
    write_text(dir, "model.safetensors.index.json",
               "{\"weight_map\": {\"a.weight\": \"model-00001-of-00002.safetensors\", "
               "\"a.bias\": \"model-00001-of-00002.safetensors\", "
               "\"b.weight\": \"model-00003-of-00002.safetensors\"}}");
    expect_refused(dir, SPARQ_ERROR_IO, "shard model-00003-of-00002.safetensors: ");

    /* b.weight in both shards: the index names the second */
    dir = make_sharded("model_two_shards");
    static const char *const both[] = {"a.bias", "a.weight", "b.weight"};
    write_shard(dir, "model-00001-of-00002.safetensors", both, 3, 10.0f);
    expect_refused(dir, SPARQ_ERROR_INVALID_FORMAT,
                   "tensor 'b.weight' is in shard model-00001-of-00002.safetensors, but "
                   "model.safetensors.index.json puts it in model-00002-of-00002.safetensors");

    /* a tensor no index entry names */
    dir = make_sharded("model_unindexed");
    static const char *const extra[] = {"b.weight", "c.weight"};
    write_shard(dir, "model-00002-of-00002.safetensors", extra, 2, 20.0f);
    expect_refused(dir, SPARQ_ERROR_INVALID_FORMAT,
                   "tensor 'c.weight' of shard model-00002-of-00002.safetensors is not in "
                   "model.safetensors.index.json");

    /* the index names a tensor its shard lacks */
    dir = make_sharded("model_lacking");
    write_text(dir, "model.safetensors.index.json",
               "{\"weight_map\": {\"a.weight\": \"model-00001-of-00002.safetensors\", "
               "\"a.bias\": \"model-00001-of-00002.safetensors\", "
               "\"b.weight\": \"model-00002-of-00002.safetensors\", "
               "\"z.weight\": \"model-00002-of-00002.safetensors\"}}");
    expect_refused(dir, SPARQ_ERROR_INVALID_FORMAT,
                   "puts tensor 'z.weight' in model-00002-of-00002.safetensors, which does not "
                   "hold it");

    /* duplicate names, no weight map, not JSON, a shard name that is not a string */
    dir = make_sharded("model_bad_index");
    write_text(dir, "model.safetensors.index.json",
               "{\"weight_map\": {\"a.weight\": \"model-00001-of-00002.safetensors\", "
               "\"a.weight\": \"model-00002-of-00002.safetensors\"}}");
    expect_refused(dir, SPARQ_ERROR_INVALID_FORMAT, "duplicate");
    write_text(dir, "model.safetensors.index.json", "{\"metadata\": {}}");
    expect_refused(dir, SPARQ_ERROR_INVALID_FORMAT, "has no \"weight_map\" object");
    write_text(dir, "model.safetensors.index.json", "{\"weight_map\": ");
    expect_refused(dir, SPARQ_ERROR_INVALID_FORMAT, "model.safetensors.index.json: line");
    write_text(dir, "model.safetensors.index.json", "{\"weight_map\": {\"a.weight\": 3}}");
    expect_refused(dir, SPARQ_ERROR_INVALID_FORMAT, "the shard of tensor 'a.weight' is not a");

    /* a corrupt shard: the reader's sentence, naming the shard */
    dir = make_sharded("model_corrupt_shard");
    write_text(dir, "model-00002-of-00002.safetensors", "not a safetensors file");
    expect_refused(dir, SPARQ_ERROR_INVALID_FORMAT, "shard model-00002-of-00002.safetensors: ");

    /* nothing to read */
    expect_refused(testing_tmpdir("model_empty"), SPARQ_ERROR_IO,
                   "holds neither model.safetensors.index.json nor model.safetensors");
    expect_refused("/nonexistent/model", SPARQ_ERROR_IO, "cannot open: No such file");
    sparq_model *m = NULL;
    assert_int_equal(sparq_model_open(NULL, &m), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_model_open(dir, NULL), SPARQ_ERROR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_sharded_single_and_file),
        cmocka_unit_test(hostile_layouts_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
