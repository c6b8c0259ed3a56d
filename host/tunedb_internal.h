/* tunedb_internal.h - what tunedb.c (entries, text, lookups) and tunedb_file.c (files,
 * locked merges, the user's path) share: the database's layout and two helpers.
 * Internal to autotune/; the rest of the library uses tunedb.h.
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

#endif /* SPARQ_TUNEDB_INTERNAL_H */
