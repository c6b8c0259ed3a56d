/* SPDX-License-Identifier: Apache-2.0 */
/* tunedb_fixtures.h - what the tuning-database tests (test_tunedb, test_tunedb_lookup)
 * share: one CPU, valid params and choice entries, databases made empty or from text,
 * and a spmm_csr_batchtile lookup through a user/shipped chain.
 */
#ifndef SPARQ_TUNEDB_FIXTURES_H
#define SPARQ_TUNEDB_FIXTURES_H

#include "testing.h"
#include "tunedb.h"

#include <stdbool.h>

/* The kernel source hash of every fixture entry, and the shape class most tests use. */
#define HASH "0123456789abcdef"
#define CLASS "m4096.k4096.b32.z512"

/* "Acme" "Rocket CPU", driver "4.0". */
extern const sparq_tune_device testing_cpu;

/* The key make (sparq_tunedb_device_key, _vendor_key or _type_key) gives device, in one
 * of four buffers used in turn. */
char *testing_key_of(void (*make)(const sparq_tune_device *, char *, size_t),
                     const sparq_tune_device *device);

/* A valid spmm_csr_batchtile i8 entry (tunables CSR_BATCHTILE_WG, _TB, _KT). */
sparq_tune_params_entry testing_batchtile(const char *shape_class, unsigned wg, unsigned tb,
                                          unsigned kt);
/* A valid CSR f32 choice: dense or not, spmm_csr_rowvec at sparse_us, dense 4100 us. */
sparq_tune_choice_entry testing_choice(const char *shape_class, bool dense, double sparse_us);

sparq_tunedb *testing_empty_db(void);
/* Puts e (a choice c) for testing_cpu under key; fails the test when it is refused. */
void testing_put(sparq_tunedb *db, const char *key, sparq_tune_params_entry e);
void testing_put_choice(sparq_tunedb *db, const char *key, const sparq_tune_choice_entry *c);
/* A database loaded from size bytes of text (or a NUL-terminated text). */
sparq_tunedb *testing_db_from_text_n(const char *text, size_t size);
sparq_tunedb *testing_db_from_text(const char *text);

/* The registered spmm_csr_batchtile kernel. */
const sparq_kernel_info *testing_batchtile_kernel(void);
/* Looks up spmm_csr_batchtile i8 at shape_class for device d through user then shipped;
 * returns the source, the values in p and (if not NULL) the detail in 256 bytes. */
sparq_param_source testing_lookup(const sparq_tunedb *user, const sparq_tunedb *shipped,
                                  const sparq_tune_device *d, const char *shape_class,
                                  const char *hash, sparq_kernel_params *p, char *detail);

#endif
