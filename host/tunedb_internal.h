/* SPDX-License-Identifier: Apache-2.0 */
/* tunedb_internal.h - what tunedb.c (entries, keys, text), tunedb_lookup.c (the lookup
 * chain, the shipped databases) and tunedb_file.c (files, locked merges, the user's path)
 * share: the database's layout, the two kinds of entries and their keys' helpers.
 * Internal to the tunedb files; the rest of the library uses tunedb.h.
 */
#ifndef SPARQ_TUNEDB_INTERNAL_H
#define SPARQ_TUNEDB_INTERNAL_H

#include "tunedb.h"

#include <jansson.h>

#define MAX_KEY 1024 /* device keys and entry keys */

struct sparq_tunedb {
    /* device key -> {"vendor", "name", "driver", "type" (each optional), "params": {},
     * "choices": {}}; holds only valid entries, exactly as kind->to_json writes them.
     * NULL only in the fallback shipped database (then empty). */
    json_t *devices;
    char warning[512];
    size_t skipped;
};

/* Sets db's one warning (a sentence) and logs it at info level. */
void sparq_tunedb_set_warning(sparq_tunedb *db, const char *fmt, ...) SPARQ_PRINTF(2, 3);

/* Adds src's devices and entries to dst (src's replace equal keys); false when out of
 * memory. Entries are shared, never modified in place. */
bool sparq_tunedb_merge_devices(json_t *dst, json_t *src);

/* What params and choices share: their section of a device, conversion and keys. */
typedef struct sparq_tunedb_kind {
    const char *section; /* "params" or "choices" */
    bool (*valid)(const void *entry, char *why, size_t size);
    bool (*key)(const void *entry, char *out, size_t size);
    bool (*from_json)(const char *key, json_t *obj, void *entry, char *why, size_t size);
    json_t *(*to_json)(const void *entry);
} sparq_tunedb_kind;

extern const sparq_tunedb_kind sparq_tunedb_params_kind;
extern const sparq_tunedb_kind sparq_tunedb_choices_kind;

typedef union sparq_tunedb_entry {
    sparq_tune_params_entry params;
    sparq_tune_choice_entry choice;
} sparq_tunedb_entry;

/* The four exponents of a shape class; false unless s is exactly what
 * sparq_tune_shape_class writes (powers of two, no leading zeros). */
bool sparq_tune_class_parse(const char *s, unsigned exponent[4]);

/* The <structure> word of a choice key: the structure half of the format spelling of f's
 * structure fields ("dense", "csr", "bsr16x16", "2:4"); false when it does not fit. */
bool sparq_tunedb_structure_word(const sparq_pack_options *f, char *out, size_t size);

/* The <kernel> word of a params key: the kernel's name, a BSR kernel's with its block
 * ("spmm_bsr_tile@16x16"); false when it does not fit. */
bool sparq_tunedb_kernel_word(const char *kernel, unsigned block_rows, unsigned block_cols,
                              char *out, size_t size);

/* "<first>/<encoding>/<class>"; false when it does not fit. */
bool sparq_tunedb_entry_key(const char *first, sparq_encoding encoding,
                            const char *shape_class, char *out, size_t size);

#endif /* SPARQ_TUNEDB_INTERNAL_H */
