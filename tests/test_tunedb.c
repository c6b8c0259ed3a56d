/* SPDX-License-Identifier: Apache-2.0 */
/* test_tunedb.c - the tuning database with no device, as a store: shape classes and
 * keys, the text round trip, refused values, corrupt/truncated/foreign files, merges,
 * concurrent writers (processes and threads), the user path and the shipped database.
 * The lookup chain is tested in test_tunedb_lookup.c.
 */
#include "tunedb_fixtures.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void shape_classes(void **state)
{
    (void)state;
    char c[64];
    sparq_tune_shape_class(1, 1, 1, 1.4, c, sizeof c);
    assert_string_equal(c, "m1.k1.b1.z1");
    sparq_tune_shape_class(0, 3, 5, 1.5, c, sizeof c);
    assert_string_equal(c, "m1.k4.b4.z2");
    sparq_tune_shape_class(4096, 4096, 32, 512.0, c, sizeof c);
    assert_string_equal(c, CLASS);
    /* the boundary is 2^11.5 = 2896.3 */
    sparq_tune_shape_class(2890, 2900, 1, 0.2, c, sizeof c);
    assert_string_equal(c, "m2048.k4096.b1.z1");
    sparq_tune_shape_class(SIZE_MAX, SIZE_MAX, SIZE_MAX, 1e300, c, sizeof c);
    assert_string_equal(c, "m1099511627776.k1099511627776.b1099511627776.z1099511627776");
    sparq_tune_shape_class(4096, 4096, 32, 512.0, c, 8);
    assert_string_equal(c, "m4096.k");

    char key[1024];
    sparq_tunedb_device_key(&testing_cpu, key, sizeof key);
    assert_string_equal(key, "Acme|Rocket CPU|4.0");
    sparq_tunedb_vendor_key(&testing_cpu, key, sizeof key);
    assert_string_equal(key, "vendor:Acme|type:cpu");
    sparq_tunedb_type_key(&testing_cpu, key, sizeof key);
    assert_string_equal(key, "type:cpu");
    assert_string_equal(sparq_tune_source_name(SPARQ_PARAM_SOURCE_USER), "user tuning");
    assert_string_equal(sparq_tune_source_name(SPARQ_PARAM_SOURCE_DEFAULT), "built-in default");
}

static void round_trip(void **state)
{
    (void)state;
    sparq_tunedb *db = testing_empty_db();
    const char *exact = testing_key_of(sparq_tunedb_device_key, &testing_cpu);
    testing_put(db, exact, testing_batchtile(CLASS, 64, 8, 512));
    testing_put(db, exact, testing_batchtile("m1024.k1024.b8.z64", 256, 16, 4096));
    testing_put(db, testing_key_of(sparq_tunedb_type_key, &testing_cpu),
                testing_batchtile(CLASS, 32, 4, 256));
    sparq_tune_params_entry big_seed = testing_batchtile("m1.k1.b1.z1", 32, 4, 256);
    big_seed.seed = UINT64_MAX;
    big_seed.time_us = 0.1; /* not exact in binary: must still come back bit for bit */
    testing_put(db, exact, big_seed);
    sparq_tune_choice_entry c = testing_choice(CLASS, true, 640.0);
    testing_put_choice(db, exact, &c);
    c.structure = SPARQ_STRUCTURE_BSR, c.block_rows = 4, c.block_cols = 16;
    testing_put_choice(db, exact, &c);
    assert_int_equal(sparq_tunedb_count(db), 6);

    char *text = NULL;
    assert_int_equal(sparq_tunedb_to_text(db, &text), SPARQ_OK);
    assert_non_null(strstr(text, "\"schema\": 1"));
    assert_non_null(strstr(text, "\"spmm_csr_batchtile/i8/" CLASS "\""));
    assert_non_null(strstr(text, "\"csr/f32/" CLASS "\""));
    assert_non_null(strstr(text, "\"bsr4x16/f32/" CLASS "\""));
    assert_non_null(strstr(text, "\"seed\": \"18446744073709551615\""));
    /* sorted keys: at the top, inside a device, inside an entry */
    assert_true(strstr(text, "\"devices\"") < strstr(text, "\"schema\""));
    assert_true(strstr(text, "\"choices\"") < strstr(text, "\"driver\""));
    assert_true(strstr(text, "\"driver\"") < strstr(text, "\"params\""));
    assert_true(strstr(text, "\"default_us\"") < strstr(text, "\"evaluations\""));
    assert_true(strstr(text, "\"CSR_BATCHTILE_KT\"") < strstr(text, "\"CSR_BATCHTILE_TB\""));
    assert_true(strstr(text, "\"CSR_BATCHTILE_TB\"") < strstr(text, "\"CSR_BATCHTILE_WG\""));

    sparq_tunedb *back = testing_db_from_text(text);
    assert_string_equal(sparq_tunedb_warning(back), "");
    assert_int_equal(sparq_tunedb_skipped(back), 0);
    assert_int_equal(sparq_tunedb_count(back), 6);
    char *again = NULL;
    assert_int_equal(sparq_tunedb_to_text(back, &again), SPARQ_OK);
    assert_string_equal(text, again);

    /* the same lookups from both */
    const char *classes[] = {CLASS, "m1024.k1024.b8.z64", "m1.k1.b1.z1", "m2048.k1024.b8.z64"};
    for (int i = 0; i < 4; i++) {
        sparq_kernel_params a, b;
        char da[256], dbuf[256];
        assert_int_equal(testing_lookup(db, NULL, &testing_cpu, classes[i], HASH, &a, da),
                         testing_lookup(back, NULL, &testing_cpu, classes[i], HASH, &b, dbuf));
        assert_memory_equal(&a, &b, sizeof a);
        assert_string_equal(da, dbuf);
    }
    sparq_tune_chain chain = {back, NULL};
    sparq_tune_choice_entry got;
    sparq_param_source source;
    const sparq_pack_options bsr4x16 = {.structure = SPARQ_STRUCTURE_BSR, .block_rows = 4,
                                        .block_cols = 16};
    assert_true(
        sparq_tune_lookup_choice(&chain, &testing_cpu, &bsr4x16, CLASS, &got, &source, NULL, 0));
    assert_memory_equal(&got, &c, sizeof c);
    free(text);
    free(again);
    sparq_tunedb_free(db);
    sparq_tunedb_free(back);
}

static void invalid_values_refused_and_skipped(void **state)
{
    (void)state;
    sparq_tunedb *db = testing_empty_db();
    const char *exact = testing_key_of(sparq_tunedb_device_key, &testing_cpu);
    sparq_tune_params_entry e = testing_batchtile(CLASS, 48, 4, 256); /* 48: not a candidate */
    assert_int_equal(sparq_tunedb_put_params(db, &testing_cpu, exact, &e),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(sparq_last_error(), "CSR_BATCHTILE_WG=48"));
    e = testing_batchtile(CLASS, 64, 4, 256);
    strcpy(e.kernel, "spmm_csr_nonesuch");
    assert_int_equal(sparq_tunedb_put_params(db, &testing_cpu, exact, &e),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    e = testing_batchtile("m4000.k4096.b32.z512", 64, 4, 256);
    assert_int_equal(sparq_tunedb_put_params(db, &testing_cpu, exact, &e),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    e = testing_batchtile(CLASS, 64, 4, 256);
    strcpy(e.source_hash, "xyz");
    assert_int_equal(sparq_tunedb_put_params(db, &testing_cpu, exact, &e),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    sparq_tune_choice_entry c = testing_choice(CLASS, false, -1.0);
    assert_int_equal(sparq_tunedb_put_choice(db, &testing_cpu, exact, &c),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    c = testing_choice(CLASS, false, 100.0);
    c.structure = SPARQ_STRUCTURE_BSR; /* a BSR choice without its block */
    assert_int_equal(sparq_tunedb_put_choice(db, &testing_cpu, exact, &c),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    c.block_rows = 3, c.block_cols = 4;
    assert_int_equal(sparq_tunedb_put_choice(db, &testing_cpu, exact, &c),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    c.structure = SPARQ_STRUCTURE_CSR, c.block_rows = 4; /* a block on CSR */
    assert_int_equal(sparq_tunedb_put_choice(db, &testing_cpu, exact, &c),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_tunedb_count(db), 0);
    sparq_tunedb_free(db);

    /* in a file: one good entry, each bad one skipped and counted */
    const char *text =
        "{\"schema\": 1, \"devices\": {\"type:cpu\": {\"type\": \"cpu\", \"params\": {"
        "\"spmm_csr_batchtile/i8/" CLASS "\": {\"values\": {\"CSR_BATCHTILE_WG\": 64, "
        "\"CSR_BATCHTILE_TB\": 4, "
        "\"CSR_BATCHTILE_KT\": 256}, \"source_hash\": \"" HASH "\"},"
        "\"spmm_csr_batchtile/i8/m1.k1.b1.z1\": {\"values\": {\"CSR_BATCHTILE_WG\": 65536, "
        "\"CSR_BATCHTILE_TB\": "
        "4, \"CSR_BATCHTILE_KT\": 256}, \"source_hash\": \"" HASH "\"},"
        "\"spmm_csr_batchtile/i8/m2.k1.b1.z1\": {\"values\": {\"CSR_BATCHTILE_WG\": -64, "
        "\"CSR_BATCHTILE_TB\": "
        "4, \"CSR_BATCHTILE_KT\": 256}, \"source_hash\": \"" HASH "\"},"
        "\"spmm_csr_batchtile/i8/m4.k1.b1.z1\": {\"values\": {\"CSR_BATCHTILE_WG\": \"64\", "
        "\"CSR_BATCHTILE_TB\": "
        "4, \"CSR_BATCHTILE_KT\": 256}, \"source_hash\": \"" HASH "\"},"
        "\"spmm_csr_batchtile/i8/m8.k1.b1.z1\": {\"values\": {\"CSR_BATCHTILE_WG\": 64, "
        "\"CSR_BATCHTILE_TB\": 4}, "
        "\"source_hash\": \"" HASH "\"},"
        "\"spmm_csr_batchtile/i8/m16.k1.b1.z1\": {\"values\": {\"CSR_BATCHTILE_WG\": 64, "
        "\"CSR_BATCHTILE_TB\": 4, "
        "\"CSR_BATCHTILE_KT\": 256, \"EXTRA\": 1}, \"source_hash\": \"" HASH "\"},"
        "\"spmm_csr_batchtile/i8/m32.k1.b1.z1\": {\"values\": {\"CSR_BATCHTILE_WG\": 64, "
        "\"CSR_BATCHTILE_TB\": 4, "
        "\"CSR_BATCHTILE_KT\": 256}},"
        "\"spmm_csr_batchtile/i8/m64.k1.b1.z1\": {\"values\": {\"CSR_BATCHTILE_WG\": 64, "
        "\"CSR_BATCHTILE_TB\": 4, "
        "\"CSR_BATCHTILE_KT\": 256}, \"source_hash\": \"" HASH "\", \"strategy\": "
        "\"a strategy name far too long\"},"
        "\"spmm_csr_batchtile/i9/" CLASS "\": {},"
        "\"nonesuch/i8/" CLASS "\": {},"
        "\"spmm_csr_batchtile/i8/m3.k1.b1.z1\": {},"
        "\"spmm_csr_batchtile\": 7},"
        "\"choices\": {\"csr/f32/" CLASS "\": {\"path\": \"sideways\"}, \"coo/f32/" CLASS
        "\": {\"path\": \"dense\"}, \"csr/f32/m1.k1.b1.z1\": {\"path\": \"dense\", "
        "\"dense_us\": \"fast\"}, \"bsr/f32/" CLASS "\": {\"path\": \"dense\"}, \"bsr16x/f32/"
        CLASS "\": {\"path\": \"dense\"}, \"bsr 4x4/f32/" CLASS "\": {\"path\": \"dense\"}, "
        "\"bsr64x4/f32/" CLASS "\": {\"path\": \"dense\"}, \"bsr4x4z/f32/" CLASS "\": {\"path\": "
        "\"dense\"}, \"bsr4x4/f32/" CLASS "\": {\"path\": \"dense\"}}},"
        "\"type:gpu\": [1, 2], \"type:other\": {\"type\": \"toaster\"}}}";
    db = testing_db_from_text(text);
    assert_string_equal(sparq_tunedb_warning(db), "");
    assert_int_equal(sparq_tunedb_count(db), 2);
    assert_int_equal(sparq_tunedb_skipped(db), 21); /* 11 params, 8 choices, 2 devices */
    sparq_kernel_params p;
    assert_int_equal(testing_lookup(NULL, db, &testing_cpu, "m1.k1.b2.z1", HASH, &p, NULL),
                     SPARQ_PARAM_SOURCE_TYPE_DEFAULT);
    assert_int_equal(p.value[0], 64); /* the one valid entry, never the 65536 */
    sparq_tunedb_free(db);
}

/* Sends stderr (the library's log) to the file at path, logging at level; returns what
 * stop_logging needs to put both back. */
typedef struct logging {
    int saved_fd;
    sparq_log_level level;
} logging;

static logging start_logging(const char *path, sparq_log_level level)
{
    logging l = {dup(2), sparq_log_level_get()};
    fflush(stderr);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(l.saved_fd >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    sparq_log_set_level(level);
    return l;
}

static void stop_logging(logging l)
{
    sparq_log_set_level(l.level);
    fflush(stderr);
    dup2(l.saved_fd, 2);
    close(l.saved_fd);
}

/* Loads the file at path with logging at info level; returns how many lines it logged. */
static int load_counting_log_lines(const char *path, sparq_tunedb **db)
{
    char log_path[1200];
    snprintf(log_path, sizeof log_path, "%s/test_tunedb.log", SPARQ_TEST_TMP_ROOT);
    logging l = start_logging(log_path, SPARQ_LOG_INFO);
    sparq_status st = sparq_tunedb_load_file(path, db);
    stop_logging(l);
    assert_int_equal(st, SPARQ_OK);
    FILE *f = fopen(log_path, "r");
    assert_non_null(f);
    int lines = 0;
    for (int c; (c = fgetc(f)) != EOF;)
        lines += c == '\n';
    fclose(f);
    return lines;
}

/* Loads text with logging at debug level; what it logged goes into log (size bytes). */
static sparq_tunedb *load_text_logging(const char *text, char *log, size_t size)
{
    char log_path[1200];
    snprintf(log_path, sizeof log_path, "%s/debug.log", testing_tmpdir("tunedb_keys"));
    logging l = start_logging(log_path, SPARQ_LOG_DEBUG);
    sparq_tunedb *db = NULL;
    sparq_status st = sparq_tunedb_load_text(text, strlen(text), "test", &db);
    stop_logging(l);
    assert_int_equal(st, SPARQ_OK);
    FILE *f = fopen(log_path, "r");
    assert_non_null(f);
    size_t n = fread(log, 1, size - 1, f);
    log[n] = '\0';
    fclose(f);
    return db;
}

/* A choice key's <structure> word is the structure half of the format spelling ("dense",
 * "csr", "bsr4x16", "2:4"); a file's other words (an older "nm" among them) are skipped
 * entry by entry, each with its reason. */
static void choice_keys_spell_formats(void **state)
{
    (void)state;
    sparq_tunedb *db = testing_empty_db();
    const char *exact = testing_key_of(sparq_tunedb_device_key, &testing_cpu);
    static const sparq_structure structures[] = {SPARQ_STRUCTURE_DENSE, SPARQ_STRUCTURE_CSR,
                                                 SPARQ_STRUCTURE_BSR, SPARQ_STRUCTURE_NM};
    static const char *const words[] = {"dense", "csr", "bsr4x16", "2:4"};
    for (size_t i = 0; i < 4; i++) {
        sparq_tune_choice_entry c = testing_choice(CLASS, false, 100.0);
        c.structure = structures[i];
        if (c.structure == SPARQ_STRUCTURE_BSR)
            c.block_rows = 4, c.block_cols = 16;
        if (c.structure == SPARQ_STRUCTURE_NM)
            c.nm_n = 2, c.nm_m = 4;
        testing_put_choice(db, exact, &c);
    }
    char *text = NULL;
    assert_int_equal(sparq_tunedb_to_text(db, &text), SPARQ_OK);
    for (size_t i = 0; i < 4; i++) {
        char key[128];
        snprintf(key, sizeof key, "\"%s/f32/%s\"", words[i], CLASS);
        assert_non_null(strstr(text, key));
    }
    free(text);
    sparq_tunedb_free(db);

    char log[8192];
    db = load_text_logging(
        "{\"schema\": 1, \"devices\": {\"type:cpu\": {\"type\": \"cpu\", \"choices\": {"
        "\"dense/f32/" CLASS "\": {\"path\": \"dense\"}, \"nm/f32/" CLASS "\": {\"path\": "
        "\"sparse\"}, \"2:4/f32/" CLASS "\": {\"path\": \"sparse\"}, \"csr+f32/f32/" CLASS
        "\": {\"path\": \"dense\"}, \"bsr16/f32/" CLASS "\": {\"path\": \"dense\"}, "
        "\"bsr016x16/f32/" CLASS "\": {\"path\": \"dense\"}}}}}",
        log, sizeof log);
    assert_int_equal(sparq_tunedb_count(db), 2);
    assert_int_equal(sparq_tunedb_skipped(db), 4);
    assert_non_null(strstr(log, "\"nm/f32/" CLASS "\" skipped: the key is not "
                                "<structure>/<encoding>/<shape class>"));
    assert_non_null(strstr(log, "\"bsr16/f32/" CLASS "\" skipped"));
    assert_non_null(strstr(log, "\"csr+f32/f32/" CLASS "\" skipped"));
    assert_non_null(strstr(log, "\"bsr016x16/f32/" CLASS "\" skipped: the key is not as sparq "
                                "spells it (bsr16x16/f32/" CLASS ")"));
    sparq_tunedb_free(db);
}

/* Loads text both ways (as text and as a file) and checks an empty db with one warning. */
static void expect_ignored(const char *text, size_t size, const char *what)
{
    sparq_tunedb *db = NULL;
    assert_int_equal(sparq_tunedb_load_text(text, size, "test", &db), SPARQ_OK);
    assert_int_equal(sparq_tunedb_count(db), 0);
    assert_non_null(strstr(sparq_tunedb_warning(db), what));
    sparq_tunedb_free(db);

    char path[1100];
    snprintf(path, sizeof path, "%s/tune.json", testing_tmpdir("tunedb_ignored"));
    testing_write_file(path, text, size);
    assert_int_equal(load_counting_log_lines(path, &db), 1);
    assert_int_equal(sparq_tunedb_count(db), 0);
    assert_non_null(strstr(sparq_tunedb_warning(db), path));
    assert_non_null(strstr(sparq_tunedb_warning(db), what));
    sparq_tunedb_free(db);
    /* a merge replaces the bad file with a good one */
    sparq_tunedb *one = testing_empty_db();
    testing_put(one, "type:cpu", testing_batchtile(CLASS, 64, 4, 256));
    assert_int_equal(sparq_tunedb_merge_into_file(one, path), SPARQ_OK);
    sparq_tunedb_free(one);
    assert_int_equal(sparq_tunedb_load_file(path, &db), SPARQ_OK);
    assert_int_equal(sparq_tunedb_count(db), 1);
    assert_string_equal(sparq_tunedb_warning(db), "");
    sparq_tunedb_free(db);
}

static void corrupt_truncated_foreign_files(void **state)
{
    (void)state;
    static const char garbage[] = "\x7f" "ELF\x01\x02\x00\xff\xfe{\"schema\": 1";
    expect_ignored(garbage, sizeof garbage, "not valid JSON");
    expect_ignored("", 0, "not valid JSON");

    sparq_tunedb *db = testing_empty_db();
    testing_put(db, "type:cpu", testing_batchtile(CLASS, 64, 4, 256));
    testing_put(db, "type:cpu", testing_batchtile("m1.k1.b1.z1", 64, 4, 256));
    char *text = NULL;
    assert_int_equal(sparq_tunedb_to_text(db, &text), SPARQ_OK);
    for (size_t cut = 0; cut < strlen(text) - 1; cut += 7) { /* every truncation */
        sparq_tunedb *part = testing_db_from_text_n(text, cut);
        assert_int_equal(sparq_tunedb_count(part), 0);
        assert_non_null(strstr(sparq_tunedb_warning(part), "not valid JSON"));
        sparq_tunedb_free(part);
    }
    expect_ignored(text, strlen(text) / 2, "not valid JSON");
    free(text);
    sparq_tunedb_free(db);

    expect_ignored("[1, 2]", 6, "not a sparq tuning database");
    expect_ignored("{\"devices\": {}}", 15, "not a sparq tuning database");
    expect_ignored("{\"schema\": 1, \"devices\": []}", 28, "not a sparq tuning database");
    expect_ignored("{\"schema\": \"1\", \"devices\": {}}", 30, "not a sparq tuning database");
    const char *future = "{\"schema\": 99, \"devices\": [\"another layout\"]}";
    expect_ignored(future, strlen(future), "schema 99");

    /* a missing file is an empty database with no warning */
    char path[1100];
    snprintf(path, sizeof path, "%s/none/tune.json", testing_tmpdir("tunedb_missing"));
    assert_int_equal(load_counting_log_lines(path, &db), 0);
    assert_int_equal(sparq_tunedb_count(db), 0);
    assert_string_equal(sparq_tunedb_warning(db), "");
    sparq_tunedb_free(db);
    /* a folder where the file should be: a warning, no crash */
    assert_int_equal(load_counting_log_lines(testing_tmpdir("tunedb_folder"), &db), 1);
    assert_non_null(strstr(sparq_tunedb_warning(db), "not a regular file"));
    sparq_tunedb_free(db);
    /* a FIFO (SPARQ_TUNE_DB pointing at one): refused at once, not waited on */
    snprintf(path, sizeof path, "%s/tune.fifo", testing_tmpdir("tunedb_fifo"));
    unlink(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(load_counting_log_lines(path, &db), 1);
    assert_non_null(strstr(sparq_tunedb_warning(db), "not a regular file"));
    sparq_tunedb_free(db);
}

static void merge_creates_folders_and_replaces(void **state)
{
    (void)state;
    char path[1100];
    snprintf(path, sizeof path, "%s/a/b/sparq/tune.json", testing_tmpdir("tunedb_merge"));
    const char *exact = testing_key_of(sparq_tunedb_device_key, &testing_cpu);
    sparq_tunedb *first = testing_empty_db(), *second = testing_empty_db(), *db = NULL;
    testing_put(first, exact, testing_batchtile(CLASS, 64, 4, 256));
    testing_put(first, exact, testing_batchtile("m1.k1.b1.z1", 64, 4, 256));
    testing_put(second, exact, testing_batchtile(CLASS, 128, 8, 512)); /* replaces the first's */
    sparq_tune_choice_entry c = testing_choice(CLASS, false, 10.0);
    assert_int_equal(sparq_tunedb_put_choice(second, NULL, "type:cpu", &c), SPARQ_OK);
    assert_int_equal(sparq_tunedb_merge_into_file(first, path), SPARQ_OK);
    assert_int_equal(sparq_tunedb_merge_into_file(second, path), SPARQ_OK);
    assert_int_equal(sparq_tunedb_load_file(path, &db), SPARQ_OK);
    assert_int_equal(sparq_tunedb_count(db), 3);
    sparq_kernel_params p;
    assert_int_equal(testing_lookup(db, NULL, &testing_cpu, CLASS, HASH, &p, NULL),
                     SPARQ_PARAM_SOURCE_USER);
    assert_int_equal(p.value[0], 128);
    assert_int_equal(p.value[2], 512);
    char *text = NULL;
    assert_int_equal(sparq_tunedb_to_text(db, &text), SPARQ_OK);
    assert_non_null(strstr(text, "\"vendor\": \"Acme\""));
    free(text);
    sparq_tunedb_free(db);
    /* no temporary files are left behind */
    char cmd[1300];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls '%s'.tmp.* 2>/dev/null)\"", path);
    assert_int_equal(system(cmd), 0);
    /* a path that can't be made fails with an I/O error */
    assert_int_equal(sparq_tunedb_merge_into_file(first, "/proc/version/sparq/tune.json"),
                     SPARQ_ERROR_IO);
    assert_non_null(strstr(sparq_last_error(), "/proc/version"));
    sparq_tunedb_free(first);
    sparq_tunedb_free(second);
}

/* Writer w merges 25 entries of its own into path, one merge each. */
static int write_entries(const char *path, int w)
{
    for (int i = 0; i < 25; i++) {
        sparq_tunedb *db = NULL;
        char shape_class[64];
        sparq_tune_shape_class((size_t)1 << w, (size_t)1 << i, 1, 1.0, shape_class,
                               sizeof shape_class);
        sparq_tune_params_entry e = testing_batchtile(shape_class, 64, 4, 256);
        if (sparq_tunedb_create(&db) != SPARQ_OK ||
            sparq_tunedb_put_params(db, &testing_cpu, "type:cpu", &e) != SPARQ_OK ||
            sparq_tunedb_merge_into_file(db, path) != SPARQ_OK)
            return 1;
        sparq_tunedb_free(db);
    }
    return 0;
}

static void expect_all_entries(const char *path)
{
    sparq_tunedb *db = NULL;
    assert_int_equal(sparq_tunedb_load_file(path, &db), SPARQ_OK);
    assert_string_equal(sparq_tunedb_warning(db), "");
    assert_int_equal(sparq_tunedb_count(db), 100);
    sparq_tunedb_free(db);
}

static void concurrent_processes(void **state)
{
    (void)state;
    char path[1100];
    snprintf(path, sizeof path, "%s/tune.json", testing_tmpdir("tunedb_processes"));
    pid_t pids[4];
    for (int w = 0; w < 4; w++) {
        pids[w] = fork();
        assert_true(pids[w] >= 0);
        if (pids[w] == 0)
            _exit(write_entries(path, w));
    }
    for (int w = 0; w < 4; w++) {
        int status = 0;
        assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    expect_all_entries(path);
}

typedef struct writer_job {
    const char *path;
    int w, result;
} writer_job;

static void *writer_thread(void *arg)
{
    writer_job *job = arg;
    job->result = write_entries(job->path, job->w);
    return NULL;
}

static void concurrent_threads(void **state)
{
    (void)state;
    char path[1100];
    snprintf(path, sizeof path, "%s/tune.json", testing_tmpdir("tunedb_threads"));
    pthread_t threads[4];
    writer_job jobs[4];
    for (int w = 0; w < 4; w++) {
        jobs[w] = (writer_job){path, w, -1};
        assert_int_equal(pthread_create(&threads[w], NULL, writer_thread, &jobs[w]), 0);
    }
    for (int w = 0; w < 4; w++) {
        pthread_join(threads[w], NULL);
        assert_int_equal(jobs[w].result, 0);
    }
    expect_all_entries(path);
}

static void user_path_and_shipped(void **state)
{
    (void)state;
    char *saved[3];
    const char *names[3] = {"SPARQ_TUNE_DB", "XDG_CACHE_HOME", "HOME"};
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(names[i]);
        saved[i] = v ? strdup(v) : NULL;
    }
    char path[256];
    setenv("SPARQ_TUNE_DB", "/somewhere/my.json", 1);
    assert_true(sparq_tunedb_user_path(path, sizeof path));
    assert_string_equal(path, "/somewhere/my.json");
    unsetenv("SPARQ_TUNE_DB");
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    assert_true(sparq_tunedb_user_path(path, sizeof path));
    assert_string_equal(path, "/xdg/sparq/tune.json");
    assert_false(sparq_tunedb_user_path(path, 8)); /* does not fit */
    setenv("XDG_CACHE_HOME", "relative", 1);       /* XDG: ignored unless absolute */
    setenv("HOME", "/home/me", 1);
    assert_true(sparq_tunedb_user_path(path, sizeof path));
    assert_string_equal(path, "/home/me/.cache/sparq/tune.json");
    unsetenv("XDG_CACHE_HOME");
    unsetenv("HOME");
    assert_false(sparq_tunedb_user_path(path, sizeof path));
    for (int i = 0; i < 3; i++) {
        if (saved[i])
            setenv(names[i], saved[i], 1);
        free(saved[i]);
    }

    /* the shipped database: parsed once, clean, whatever autotune/db/ holds */
    const sparq_tunedb *shipped = sparq_tunedb_shipped();
    assert_non_null(shipped);
    assert_ptr_equal(shipped, sparq_tunedb_shipped());
    assert_string_equal(sparq_tunedb_warning(shipped), "");
    assert_int_equal(sparq_tunedb_skipped(shipped), 0);
}

/* Every source_hash in the shipped databases (the JSON files of host/db) is the hash of
 * a kernel file as it is now: an entry whose kernel changed is skipped at lookup, silently
 * turning tuned plans into defaults, so a kernel change must move the hashes too. */
static void shipped_hashes_current(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    char current[32][17];
    size_t sources = 0;
    for (size_t i = 0; i < sparq_kernel_registry_size() && sources < 32; i++) {
        char hex[17];
        sparq_source_hash_get(ctx, sparq_kernel_row(i)->source, hex);
        assert_true(hex[0] != '\0');
        memcpy(current[sources++], hex, 17);
    }
    static const char *const files[] = {"pocl-cpu.json"};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/host/db/%s", SPARQ_SOURCE_DIR, files[f]);
        size_t size = 0;
        char *text = (char *)testing_read_file(path, &size);
        assert_non_null(text);
        size_t found = 0;
        for (const char *at = strstr(text, "\"source_hash\""); at;
             at = strstr(at + 1, "\"source_hash\"")) {
            const char *open = strchr(at + strlen("\"source_hash\""), '"');
            assert_non_null(open);
            bool known = false;
            for (size_t i = 0; i < sources && !known; i++)
                known = strncmp(open + 1, current[i], 16) == 0;
            if (!known)
                fail_msg("%s: source_hash %.16s is no kernel file's hash now (a kernel "
                         "changed: move its entries' hashes, or retune)", files[f], open + 1);
            found++;
        }
        assert_true(found > 0);
        free(text);
    }
    sparq_context_free(ctx);
}

int main(void)
{
    testing_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shape_classes),
        cmocka_unit_test(round_trip),
        cmocka_unit_test(invalid_values_refused_and_skipped),
        cmocka_unit_test(choice_keys_spell_formats),
        cmocka_unit_test(corrupt_truncated_foreign_files),
        cmocka_unit_test(merge_creates_folders_and_replaces),
        cmocka_unit_test(concurrent_processes),
        cmocka_unit_test(concurrent_threads),
        cmocka_unit_test(user_path_and_shipped),
        cmocka_unit_test(shipped_hashes_current),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
