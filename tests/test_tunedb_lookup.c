/* SPDX-License-Identifier: Apache-2.0 */
/* test_tunedb_lookup.c - the tuning database's lookup chain with no device: parameters
 * falling back at each level (user, shipped, vendor/type default, built-in), per BSR
 * block shape, the nearest class and stale source hashes, and the dense/sparse choices.
 */
#include "tunedb_fixtures.h"

#include <string.h>

static const sparq_pack_options csr_f32 = {.structure = SPARQ_STRUCTURE_CSR};
static const sparq_pack_options bsr16_f32 = {.structure = SPARQ_STRUCTURE_BSR,
                                             .block_rows = 16, .block_cols = 16};
static const sparq_pack_options bsr4_f32 = {.structure = SPARQ_STRUCTURE_BSR,
                                            .block_rows = 4, .block_cols = 4};

static void chain_falls_back_at_each_level(void **state)
{
    (void)state;
    const char *exact = testing_key_of(sparq_tunedb_device_key, &testing_cpu);
    const char *vendor = testing_key_of(sparq_tunedb_vendor_key, &testing_cpu);
    const char *type = testing_key_of(sparq_tunedb_type_key, &testing_cpu);
    sparq_tunedb *user = testing_empty_db(), *shipped = testing_empty_db(),
                 *defaults = testing_empty_db(), *type_only = testing_empty_db();
    testing_put(user, exact, testing_batchtile(CLASS, 32, 4, 256));
    testing_put(shipped, exact, testing_batchtile(CLASS, 64, 4, 256));
    testing_put(shipped, vendor, testing_batchtile(CLASS, 128, 4, 256));
    testing_put(shipped, type, testing_batchtile(CLASS, 256, 4, 256));
    testing_put(defaults, vendor, testing_batchtile(CLASS, 128, 4, 256));
    testing_put(defaults, type, testing_batchtile(CLASS, 256, 4, 256));
    testing_put(type_only, type, testing_batchtile(CLASS, 256, 4, 256));

    sparq_kernel_params p;
    char detail[256];
    assert_int_equal(testing_lookup(user, shipped, &testing_cpu, CLASS, HASH, &p, detail),
                     SPARQ_PARAM_SOURCE_USER);
    assert_int_equal(p.value[0], 32);
    assert_string_equal(detail, "user tuning, class " CLASS);
    assert_int_equal(testing_lookup(NULL, shipped, &testing_cpu, CLASS, HASH, &p, detail),
                     SPARQ_PARAM_SOURCE_SHIPPED);
    assert_int_equal(p.value[0], 64);
    assert_string_equal(detail, "shipped tuning, class " CLASS);
    assert_int_equal(testing_lookup(NULL, defaults, &testing_cpu, CLASS, HASH, &p, detail),
                     SPARQ_PARAM_SOURCE_TYPE_DEFAULT);
    assert_int_equal(p.value[0], 128);
    assert_int_equal(testing_lookup(NULL, type_only, &testing_cpu, CLASS, HASH, &p, detail),
                     SPARQ_PARAM_SOURCE_TYPE_DEFAULT);
    assert_int_equal(p.value[0], 256);

    /* a new driver misses the exact entries but keeps the vendor default */
    sparq_tune_device new_driver = testing_cpu;
    strcpy(new_driver.driver, "5.0");
    assert_int_equal(testing_lookup(user, shipped, &new_driver, CLASS, HASH, &p, detail),
                     SPARQ_PARAM_SOURCE_TYPE_DEFAULT);
    assert_int_equal(p.value[0], 128);
    /* another vendor's CPU gets the type default; a GPU nothing: built-in GPU defaults */
    sparq_tune_device other = new_driver, gpu = testing_cpu;
    strcpy(other.vendor, "Other");
    assert_int_equal(testing_lookup(user, shipped, &other, CLASS, HASH, &p, NULL),
                     SPARQ_PARAM_SOURCE_TYPE_DEFAULT);
    assert_int_equal(p.value[0], 256);
    strcpy(gpu.name, "Rocket GPU");
    gpu.type = SPARQ_DEVICE_TYPE_GPU;
    sparq_kernel_params defaults_gpu, defaults_cpu;
    sparq_device_caps caps;
    memset(&caps, 0, sizeof caps);
    caps.type = SPARQ_DEVICE_TYPE_GPU;
    sparq_kernel_type_defaults(testing_batchtile_kernel(), &caps, &defaults_gpu);
    caps.type = SPARQ_DEVICE_TYPE_CPU;
    sparq_kernel_type_defaults(testing_batchtile_kernel(), &caps, &defaults_cpu);
    assert_int_equal(testing_lookup(user, shipped, &gpu, CLASS, HASH, &p, detail),
                     SPARQ_PARAM_SOURCE_DEFAULT);
    assert_memory_equal(&p, &defaults_gpu, sizeof p);
    assert_string_equal(detail, "built-in default");
    assert_int_equal(testing_lookup(NULL, NULL, &testing_cpu, CLASS, HASH, &p, detail),
                     SPARQ_PARAM_SOURCE_DEFAULT);
    assert_memory_equal(&p, &defaults_cpu, sizeof p);
    assert_int_equal(sparq_tune_lookup_params(NULL, NULL, testing_batchtile_kernel(),
                                              SPARQ_ENCODING_I8, 0, 0, CLASS, HASH, &p, NULL, 0),
                     SPARQ_PARAM_SOURCE_DEFAULT);
    /* another encoding or a malformed class is not found */
    sparq_tune_chain chain = {user, shipped};
    assert_int_equal(sparq_tune_lookup_params(&chain, &testing_cpu, testing_batchtile_kernel(),
                                              SPARQ_ENCODING_F16, 0, 0, CLASS, HASH, &p, NULL, 0),
                     SPARQ_PARAM_SOURCE_DEFAULT);
    assert_int_equal(testing_lookup(user, shipped, &testing_cpu, "m4096", HASH, &p, NULL),
                     SPARQ_PARAM_SOURCE_DEFAULT);

    /* a changed kernel (another source hash) skips every entry, at every level */
    assert_int_equal(
        testing_lookup(user, shipped, &testing_cpu, CLASS, "fedcba9876543210", &p, NULL),
        SPARQ_PARAM_SOURCE_DEFAULT);
    sparq_tune_params_entry fresh = testing_batchtile(CLASS, 512, 4, 256);
    strcpy(fresh.source_hash, "fedcba9876543210");
    testing_put(shipped, type, fresh);
    assert_int_equal(
        testing_lookup(user, shipped, &testing_cpu, CLASS, "fedcba9876543210", &p, NULL),
        SPARQ_PARAM_SOURCE_TYPE_DEFAULT);
    assert_int_equal(p.value[0], 512);
    sparq_tunedb_free(user);
    sparq_tunedb_free(shipped);
    sparq_tunedb_free(defaults);
    sparq_tunedb_free(type_only);
}

/* A BSR kernel's parameters are tuned per block shape: its key names the block
 * ("spmm_bsr_tile@16x16/f32/..."), and a lookup for another block finds none. */
static void bsr_params_per_block(void **state)
{
    (void)state;
    const sparq_kernel_info *k = sparq_kernel_find("spmm_bsr_tile");
    assert_non_null(k);
    sparq_tunedb *db = testing_empty_db();
    const char *exact = testing_key_of(sparq_tunedb_device_key, &testing_cpu);
    sparq_tune_params_entry e = testing_batchtile(CLASS, 64, 4, 256);
    strcpy(e.kernel, "spmm_bsr_tile");
    e.encoding = SPARQ_ENCODING_F32;
    e.params.value[0] = 4, e.params.value[1] = 6, e.params.value[2] = 8, e.params.value[3] = 4;
    assert_int_equal(sparq_tunedb_put_params(db, &testing_cpu, exact, &e),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    e.block_rows = e.block_cols = 16;
    assert_int_equal(sparq_tunedb_put_params(db, &testing_cpu, exact, &e), SPARQ_OK);
    sparq_tune_params_entry csr = testing_batchtile(CLASS, 64, 4, 256);
    csr.block_rows = csr.block_cols = 16; /* a block on a CSR kernel */
    assert_int_equal(sparq_tunedb_put_params(db, &testing_cpu, exact, &csr),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    csr.block_rows = csr.block_cols = 0;
    assert_int_equal(sparq_tunedb_put_params(db, &testing_cpu, exact, &csr), SPARQ_OK);

    char *text = NULL;
    assert_int_equal(sparq_tunedb_to_text(db, &text), SPARQ_OK);
    assert_non_null(strstr(text, "\"spmm_bsr_tile@16x16/f32/" CLASS "\""));
    sparq_tunedb *back = testing_db_from_text(text);
    assert_int_equal(sparq_tunedb_skipped(back), 0);
    sparq_tune_chain chain = {back, NULL};
    sparq_kernel_params p;
    assert_int_equal(sparq_tune_lookup_params(&chain, &testing_cpu, k, SPARQ_ENCODING_F32, 16, 16,
                                              CLASS, HASH, &p, NULL, 0),
                     SPARQ_PARAM_SOURCE_USER);
    assert_true(p.value[0] == 4 && p.value[1] == 6 && p.value[2] == 8 && p.value[3] == 4);
    assert_int_equal(sparq_tune_lookup_params(&chain, &testing_cpu, k, SPARQ_ENCODING_F32, 4, 4,
                                              CLASS, HASH, &p, NULL, 0),
                     SPARQ_PARAM_SOURCE_DEFAULT);
    assert_int_equal(sparq_tune_lookup_params(&chain, &testing_cpu, k, SPARQ_ENCODING_F32, 0, 0,
                                              CLASS, HASH, &p, NULL, 0),
                     SPARQ_PARAM_SOURCE_DEFAULT);
    /* a kernel of another structure ignores the block (a BSR matrix's dense path) */
    assert_int_equal(sparq_tune_lookup_params(&chain, &testing_cpu, testing_batchtile_kernel(),
                                              SPARQ_ENCODING_I8, 16, 16, CLASS, HASH, &p, NULL, 0),
                     SPARQ_PARAM_SOURCE_USER);
    free(text);
    sparq_tunedb_free(back);
    sparq_tunedb_free(db);

    /* in a file: BSR kernel keys without a block, or with a malformed one, are skipped */
    const char *bad =
        "{\"schema\": 1, \"devices\": {\"type:cpu\": {\"type\": \"cpu\", \"params\": {"
        "\"spmm_bsr_tile/f32/" CLASS "\": {\"values\": {\"BSR_TILE_TSR\": 4, \"BSR_TILE_TB\": 6, "
        "\"BSR_TILE_WGB\": 8, \"BSR_TILE_RPG\": 4}, \"source_hash\": \"" HASH "\"},"
        "\"spmm_bsr_tile@16/f32/" CLASS "\": {\"values\": {\"BSR_TILE_TSR\": 4, \"BSR_TILE_TB\": "
        "6, "
        "\"BSR_TILE_WGB\": 8, \"BSR_TILE_RPG\": 4}, \"source_hash\": \"" HASH "\"},"
        "\"spmm_bsr_tile@3x4/f32/" CLASS "\": {\"values\": {\"BSR_TILE_TSR\": 4, \"BSR_TILE_TB\": "
        "6, "
        "\"BSR_TILE_WGB\": 8, \"BSR_TILE_RPG\": 4}, \"source_hash\": \"" HASH "\"},"
        "\"spmm_bsr_tile@4x4/f32/" CLASS "\": {\"values\": {\"BSR_TILE_TSR\": 4, \"BSR_TILE_TB\": "
        "6, "
        "\"BSR_TILE_WGB\": 8, \"BSR_TILE_RPG\": 4}, \"source_hash\": \"" HASH "\"}}}}}";
    db = testing_db_from_text(bad);
    assert_int_equal(sparq_tunedb_count(db), 1);
    assert_int_equal(sparq_tunedb_skipped(db), 3);
    sparq_tunedb_free(db);
}

static void nearest_class(void **state)
{
    (void)state;
    const char *exact = testing_key_of(sparq_tunedb_device_key, &testing_cpu);
    sparq_tunedb *user = testing_empty_db(), *shipped = testing_empty_db();
    testing_put(user, exact, testing_batchtile("m4096.k4096.b64.z512", 64, 4, 256));
    testing_put(user, exact, testing_batchtile("m4096.k4096.b16.z512", 32, 4, 256));
    testing_put(user, exact, testing_batchtile("m64.k64.b32.z512", 128, 4, 256));
    testing_put(shipped, exact, testing_batchtile(CLASS, 256, 4, 256));
    sparq_kernel_params p;
    char detail[256];
    /* the exact class at any level beats a nearest class at an earlier one */
    assert_int_equal(testing_lookup(user, shipped, &testing_cpu, CLASS, HASH, &p, detail),
                     SPARQ_PARAM_SOURCE_SHIPPED);
    assert_int_equal(p.value[0], 256);
    assert_string_equal(detail, "shipped tuning, class " CLASS);
    /* without it, b16 and b64 are both one step away: the first in key order wins */
    assert_int_equal(testing_lookup(user, NULL, &testing_cpu, CLASS, HASH, &p, detail),
                     SPARQ_PARAM_SOURCE_USER);
    assert_int_equal(p.value[0], 32);
    assert_string_equal(detail, "user tuning, nearest class m4096.k4096.b16.z512 to " CLASS);
    assert_int_equal(
        testing_lookup(user, shipped, &testing_cpu, "m128.k64.b32.z512", HASH, &p, detail),
        SPARQ_PARAM_SOURCE_USER);
    assert_int_equal(p.value[0], 128);
    assert_int_equal(
        testing_lookup(user, shipped, &testing_cpu, "m4096.k4096.b64.z512", HASH, &p, detail),
        SPARQ_PARAM_SOURCE_USER);
    assert_int_equal(p.value[0], 64);
    /* batch 1 never borrows a batch > 1 entry (nor the reverse): built-in defaults */
    assert_int_equal(
        testing_lookup(user, shipped, &testing_cpu, "m4096.k4096.b1.z512", HASH, &p, detail),
        SPARQ_PARAM_SOURCE_DEFAULT);
    /* a stale nearer entry is passed over for a current farther one */
    sparq_tune_params_entry stale = testing_batchtile("m4096.k4096.b16.z512", 512, 4, 256);
    strcpy(stale.source_hash, "00000000deadbeef");
    testing_put(user, exact, stale);
    assert_int_equal(testing_lookup(user, NULL, &testing_cpu, CLASS, HASH, &p, detail),
                     SPARQ_PARAM_SOURCE_USER);
    assert_int_equal(p.value[0], 64);
    sparq_tunedb_free(user);
    sparq_tunedb_free(shipped);
}

static void choices_chain(void **state)
{
    (void)state;
    sparq_tunedb *user = testing_empty_db(), *shipped = testing_empty_db();
    sparq_tune_choice_entry mine = testing_choice(CLASS, true, 900.0);
    sparq_tune_choice_entry vendor = testing_choice("m4096.k4096.b128.z512", false, 300.0);
    testing_put_choice(user, testing_key_of(sparq_tunedb_device_key, &testing_cpu), &mine);
    testing_put_choice(shipped, testing_key_of(sparq_tunedb_vendor_key, &testing_cpu), &vendor);
    sparq_tune_chain chain = {user, shipped};
    sparq_tune_choice_entry got;
    sparq_param_source source;
    char detail[256];
    assert_true(sparq_tune_lookup_choice(&chain, &testing_cpu, &csr_f32,
                                         CLASS, &got, &source, detail, sizeof detail));
    assert_int_equal(source, SPARQ_PARAM_SOURCE_USER);
    assert_true(got.dense);
    assert_string_equal(got.kernel, "spmm_csr_rowvec");
    assert_string_equal(got.dense_name, "linear_dense_rowdot");
    assert_true(got.sparse_us == 900.0 && got.dense_us == 4100.0);
    assert_string_equal(detail, "user tuning, class " CLASS);
    /* a new driver: the vendor default, at its nearest class */
    sparq_tune_device new_driver = testing_cpu;
    strcpy(new_driver.driver, "5.0");
    assert_true(sparq_tune_lookup_choice(&chain, &new_driver, &csr_f32, CLASS, &got, &source,
                                         detail, sizeof detail));
    assert_int_equal(source, SPARQ_PARAM_SOURCE_TYPE_DEFAULT);
    assert_false(got.dense);
    assert_string_equal(detail,
                        "vendor/type default, nearest class m4096.k4096.b128.z512 to " CLASS);
    /* a choice is never borrowed across batch 1 and batch > 1, nor across densities */
    sparq_tune_choice_entry single = testing_choice("m4096.k4096.b1.z512", true, 300.0);
    testing_put_choice(shipped, testing_key_of(sparq_tunedb_vendor_key, &testing_cpu), &single);
    assert_true(sparq_tune_lookup_choice(&chain, &new_driver, &csr_f32, "m2048.k4096.b1.z512", &got,
                                         &source, detail, sizeof detail));
    assert_true(got.dense);
    assert_false(sparq_tune_lookup_choice(&chain, &new_driver, &csr_f32, "m4096.k4096.b1.z4096",
                                          &got, &source, detail, sizeof detail));
    assert_false(sparq_tune_lookup_choice(&chain, &new_driver, &csr_f32, "m4096.k4096.b1.z256",
                                          &got, &source, detail, sizeof detail));
    /* a near tie (4100 vs 3900 us) serves its own class ... */
    sparq_tune_choice_entry tie = testing_choice("m1024.k1024.b1.z256", false, 3900.0);
    testing_put_choice(shipped, testing_key_of(sparq_tunedb_vendor_key, &testing_cpu), &tie);
    assert_true(sparq_tune_lookup_choice(&chain, &new_driver, &csr_f32, "m1024.k1024.b1.z256", &got,
                                         &source, detail, sizeof detail));
    assert_true(got.sparse_us == 3900.0);
    /* ... other classes only as the last resort, when no level has a decisive one */
    assert_true(sparq_tune_lookup_choice(&chain, &new_driver, &csr_f32, "m2048.k1024.b1.z256", &got,
                                         &source, detail, sizeof detail));
    assert_true(got.sparse_us == 3900.0);
    assert_int_equal(source, SPARQ_PARAM_SOURCE_TYPE_DEFAULT);
    assert_string_equal(detail, "vendor/type default, nearest class m1024.k1024.b1.z256 to "
                                "m2048.k1024.b1.z256 (a near tie, no clear choice nearer)");
    /* ... a clear win further away does not overrule it */
    sparq_tune_choice_entry far = testing_choice("m8192.k1024.b1.z256", false, 1000.0);
    testing_put_choice(shipped, testing_key_of(sparq_tunedb_vendor_key, &testing_cpu), &far);
    assert_true(sparq_tune_lookup_choice(&chain, &new_driver, &csr_f32, "m2048.k1024.b1.z256", &got,
                                         &source, detail, sizeof detail));
    assert_true(got.sparse_us == 3900.0);
    assert_true(sparq_tune_lookup_choice(&chain, &new_driver, &csr_f32, "m16384.k1024.b1.z256",
                                         &got, &source, detail, sizeof detail));
    assert_true(got.sparse_us == 1000.0);
    /* ... nor one as near at a later level (the tie is the vendor's, this is the type's) */
    sparq_tune_choice_entry sibling = testing_choice("m4096.k1024.b1.z256", true, 9000.0);
    testing_put_choice(shipped, testing_key_of(sparq_tunedb_type_key, &testing_cpu), &sibling);
    assert_true(sparq_tune_lookup_choice(&chain, &new_driver, &csr_f32, "m2048.k1024.b1.z256",
                                         &got, &source, detail, sizeof detail));
    assert_true(got.sparse_us == 3900.0);
    /* ... but a nearer one at a later level does */
    sparq_tune_choice_entry nearer = testing_choice("m512.k1024.b1.z256", true, 8000.0);
    testing_put_choice(shipped, testing_key_of(sparq_tunedb_type_key, &testing_cpu), &nearer);
    assert_true(sparq_tune_lookup_choice(&chain, &new_driver, &csr_f32, "m256.k1024.b1.z256",
                                         &got, &source, detail, sizeof detail));
    assert_true(got.sparse_us == 8000.0 && got.dense);
    assert_string_equal(detail, "vendor/type default, nearest class m512.k1024.b1.z256 to "
                                "m256.k1024.b1.z256");
    /* a BSR choice serves its own block shape only */
    sparq_tune_choice_entry blocks = testing_choice(CLASS, true, 9000.0);
    blocks.structure = SPARQ_STRUCTURE_BSR, blocks.block_rows = blocks.block_cols = 16;
    testing_put_choice(user, testing_key_of(sparq_tunedb_device_key, &testing_cpu), &blocks);
    assert_true(sparq_tune_lookup_choice(&chain, &testing_cpu, &bsr16_f32, CLASS, &got, &source,
                                         detail, sizeof detail));
    assert_true(got.dense && got.block_rows == 16 && got.block_cols == 16);
    /* no level has one: false, BUILTIN */
    assert_false(sparq_tune_lookup_choice(&chain, &testing_cpu, &bsr4_f32,
                                          CLASS, &got, &source, detail, sizeof detail));
    assert_int_equal(source, SPARQ_PARAM_SOURCE_DEFAULT);
    assert_false(sparq_tune_lookup_choice(NULL, NULL, &csr_f32,
                                          CLASS, NULL, NULL, NULL, 0));
    sparq_tunedb_free(user);
    sparq_tunedb_free(shipped);
}

int main(void)
{
    testing_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chain_falls_back_at_each_level),
        cmocka_unit_test(nearest_class),
        cmocka_unit_test(bsr_params_per_block),
        cmocka_unit_test(choices_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
