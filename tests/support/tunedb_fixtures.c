/* SPDX-License-Identifier: Apache-2.0 */
/* tunedb_fixtures.c - the tuning-database tests' shared entries and lookups (see
 * tunedb_fixtures.h).
 */
#include "tunedb_fixtures.h"

#include <string.h>

const sparq_tune_device testing_cpu = {"Acme", "Rocket CPU", "4.0", SPARQ_DEVICE_TYPE_CPU};

char *testing_key_of(void (*make)(const sparq_tune_device *, char *, size_t),
                     const sparq_tune_device *device)
{
    static char keys[4][1024];
    static int next;
    char *key = keys[next++ % 4];
    make(device, key, 1024);
    return key;
}

sparq_tune_params_entry testing_batchtile(const char *shape_class, unsigned wg, unsigned tb,
                                          unsigned kt)
{
    sparq_tune_params_entry e;
    memset(&e, 0, sizeof e);
    strcpy(e.kernel, "spmm_csr_batchtile");
    e.encoding = SPARQ_ENCODING_I8;
    strcpy(e.shape_class, shape_class);
    e.params.value[0] = wg;
    e.params.value[1] = tb;
    e.params.value[2] = kt;
    e.time_us = 812.5;
    e.default_us = 1040.0;
    strcpy(e.source_hash, HASH);
    strcpy(e.sparq_version, "0.1.0");
    strcpy(e.strategy, "anneal");
    e.evaluations = 14;
    e.seed = 1;
    return e;
}

sparq_tune_choice_entry testing_choice(const char *shape_class, bool dense, double sparse_us)
{
    sparq_tune_choice_entry c;
    memset(&c, 0, sizeof c);
    c.structure = SPARQ_STRUCTURE_CSR;
    c.encoding = SPARQ_ENCODING_F32;
    strcpy(c.shape_class, shape_class);
    c.dense = dense;
    strcpy(c.kernel, "spmm_csr_rowvec");
    c.sparse_us = sparse_us;
    strcpy(c.dense_name, "linear_dense_rowdot");
    c.dense_us = 4100.0;
    strcpy(c.source_hash, HASH);
    strcpy(c.sparq_version, "0.1.0");
    return c;
}

sparq_tunedb *testing_empty_db(void)
{
    sparq_tunedb *db = NULL;
    assert_int_equal(sparq_tunedb_create(&db), SPARQ_OK);
    return db;
}

void testing_put(sparq_tunedb *db, const char *key, sparq_tune_params_entry e)
{
    assert_int_equal(sparq_tunedb_put_params(db, &testing_cpu, key, &e), SPARQ_OK);
}

void testing_put_choice(sparq_tunedb *db, const char *key, const sparq_tune_choice_entry *c)
{
    assert_int_equal(sparq_tunedb_put_choice(db, &testing_cpu, key, c), SPARQ_OK);
}

sparq_tunedb *testing_db_from_text_n(const char *text, size_t size)
{
    sparq_tunedb *db = NULL;
    assert_int_equal(sparq_tunedb_load_text(text, size, "test", &db), SPARQ_OK);
    return db;
}

sparq_tunedb *testing_db_from_text(const char *text)
{
    return testing_db_from_text_n(text, strlen(text));
}

const sparq_kernel_info *testing_batchtile_kernel(void)
{
    const sparq_kernel_info *k = sparq_kernel_find("spmm_csr_batchtile");
    assert_non_null(k);
    return k;
}

sparq_param_source testing_lookup(const sparq_tunedb *user, const sparq_tunedb *shipped,
                                  const sparq_tune_device *d, const char *shape_class,
                                  const char *hash, sparq_kernel_params *p, char *detail)
{
    sparq_tune_chain chain = {user, shipped};
    return sparq_tune_lookup_params(&chain, d, testing_batchtile_kernel(), SPARQ_ENCODING_I8, 0,
                                    0, shape_class, hash, p, detail, 256);
}
