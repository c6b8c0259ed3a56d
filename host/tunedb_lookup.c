/* SPDX-License-Identifier: Apache-2.0 */
/* tunedb_lookup.c - the lookup chain of tunedb.h: where a kernel's parameters and a
 * format's dense/sparse choice come from (user tuning, shipped tuning, vendor/type
 * default, the nearest shape class, else the built-in default), and the shipped
 * databases of host/db/ embedded at build time.
 */
#include "tunedb_internal.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The JSON files of host/db/, embedded at build time (cmake/embed_kernels.cmake). */
extern const sparq_embedded_source sparq_shipped_tunedbs[];
extern const size_t sparq_shipped_tunedb_count;

/* A dense/sparse choice serves other classes than its own only when the loser was at least
 * this much slower. */
#define CHOICE_BORROW_MARGIN 1.25

/* ---- shipped databases ------------------------------------------------------------ */

static pthread_once_t shipped_once = PTHREAD_ONCE_INIT;
static sparq_tunedb *shipped_db;
static sparq_tunedb shipped_empty; /* when even an empty database can't be made */

static void shipped_load(void)
{
    if (sparq_tunedb_create(&shipped_db) != SPARQ_OK)
        return;
    for (size_t i = 0; i < sparq_shipped_tunedb_count; i++) {
        char origin[300];
        sparq_tunedb *one = NULL;
        snprintf(origin, sizeof origin, "host/db/%s (shipped)", sparq_shipped_tunedbs[i].name);
        if (sparq_tunedb_load_text(sparq_shipped_tunedbs[i].text, sparq_shipped_tunedbs[i].size,
                                   origin, &one) != SPARQ_OK)
            continue;
        if (!sparq_tunedb_merge_devices(shipped_db->devices, one->devices))
            sparq_log(SPARQ_LOG_INFO, "%s: out of memory while merging; partly loaded", origin);
        if (!shipped_db->warning[0])
            memcpy(shipped_db->warning, one->warning, sizeof one->warning);
        shipped_db->skipped += one->skipped;
        sparq_tunedb_free(one);
    }
}

const sparq_tunedb *sparq_tunedb_shipped(void)
{
    pthread_once(&shipped_once, shipped_load);
    return shipped_db ? shipped_db : &shipped_empty;
}

/* ---- lookup chain ----------------------------------------------------------------- */

const char *sparq_tune_source_name(sparq_param_source source)
{
    switch (source) {
    case SPARQ_PARAM_SOURCE_USER: return "user tuning";
    case SPARQ_PARAM_SOURCE_SHIPPED: return "shipped tuning";
    case SPARQ_PARAM_SOURCE_TYPE_DEFAULT: return "vendor/type default";
    default: return "built-in default";
    }
}

/* What one lookup searches for; hash NULL or "" skips the source_hash check. */
typedef struct lookup_query {
    const sparq_tunedb_kind *kind;
    char prefix[MAX_KEY]; /* "<kernel or structure>/<encoding>/" */
    unsigned target[4];   /* the wanted class's exponents */
    const char *hash;
} lookup_query;

/* Whether a tuned class may stand in for the wanted one: never across batch 1 and batch
 * > 1 (different kernels win there), and for dense/sparse choices only at the same
 * density (log2 k - log2 z), which decides the break-even more than the size does. */
static bool same_regime(const lookup_query *q, const unsigned exponent[4])
{
    if ((exponent[2] == 0) != (q->target[2] == 0))
        return false;
    return q->kind != &sparq_tunedb_choices_kind ||
           (int)exponent[1] - (int)exponent[3] == (int)q->target[1] - (int)q->target[3];
}

/* Whether a measured dense/sparse choice is clear enough to serve other shape classes:
 * the loser at least CHOICE_BORROW_MARGIN times slower. */
static bool decisive(const sparq_tune_choice_entry *c)
{
    double slow = c->dense_us > c->sparse_us ? c->dense_us : c->sparse_us;
    double fast = c->dense_us > c->sparse_us ? c->sparse_us : c->dense_us;
    return fast > 0 && slow >= CHOICE_BORROW_MARGIN * fast;
}

/* What nearest_entry found. */
typedef enum nearest_kind {
    NEAREST_NONE,  /* no entry in reach                                                 */
    NEAREST_FOUND, /* the class itself, or a nearest one that may serve it              */
    NEAREST_TIE    /* a dense/sparse choice of another class that is not decisive       */
} nearest_kind;

/* The entry under device_key nearest to the query's class, at most max_distance away
 * (0: the class itself; ties: the first key in order), into *out, its class into found
 * and its distance into *distance. */
static nearest_kind nearest_entry(const sparq_tunedb *db, const char *device_key,
                                  const lookup_query *q, unsigned max_distance,
                                  sparq_tunedb_entry *out, char *found, size_t found_size,
                                  unsigned *distance_found)
{
    json_t *section = json_object_get(json_object_get(db->devices, device_key), q->kind->section);
    const char *key, *best_key = NULL;
    json_t *value;
    unsigned best = UINT_MAX, exponent[4];
    size_t prefix_length = strlen(q->prefix);
    char why[256];
    json_object_foreach(section, key, value) {
        if (strncmp(key, q->prefix, prefix_length) != 0 ||
            !sparq_tune_class_parse(key + prefix_length, exponent) ||
            !same_regime(q, exponent))
            continue;
        unsigned distance = 0;
        for (int i = 0; i < 4; i++)
            distance += exponent[i] > q->target[i] ? exponent[i] - q->target[i]
                                                   : q->target[i] - exponent[i];
        if (distance > max_distance || distance > best ||
            (distance == best && strcmp(key, best_key) > 0))
            continue;
        sparq_tunedb_entry entry;
        if (!q->kind->from_json(key, value, &entry, why, sizeof why) ||
            (q->kind == &sparq_tunedb_params_kind && q->hash && q->hash[0] &&
             strcmp(entry.params.source_hash, q->hash) != 0))
            continue; /* a kernel changed since this entry was tuned */
        *out = entry;
        best = distance;
        best_key = key;
    }
    if (!best_key)
        return NEAREST_NONE;
    snprintf(found, found_size, "%s", best_key + prefix_length);
    *distance_found = best;
    return q->kind == &sparq_tunedb_choices_kind && best > 0 && !decisive(&out->choice)
               ? NEAREST_TIE
               : NEAREST_FOUND;
}

/* Walks the chain's levels for the entries of kind under "<first>/<encoding>/": first
 * for the class itself at every level, then for the nearest class at every level (an
 * entry measured at this very shape on a sibling device predicts better than one
 * borrowed from another shape on this device: on PoCL a 2:4 4096 x 4096 batch-32 plan
 * borrowed from 3072 x 768 batch 8 ran at 1.4x the dense path, the type default's own
 * class at 0.9-1.1x). A dense/sparse choice borrowed from another class must be
 * decisive; a near tie at the nearest class of a level is not overruled by a clear win
 * further away at that level (2:4 at 11008 x 4096 batch 32 took a 3072 x 768 batch-8 win
 * over the 4096 x 4096 batch-32 tie, and ran 1.47x slower than dense), nor by one no
 * nearer at a later level (a sibling device's clear win at the very class this device
 * measured as a tie: the same 2:4 case ran the Zen 3 type default's sparse choice 1.15x
 * slower than dense on Zen 4), and when none nearer is found it serves itself, before
 * the built-in rule: a measured near tie predicts the winner better than the byte count
 * does above batch 1 (CSR 50 % at 11008 x 4096 batch 128 took the built-in rule's sparse
 * path next to a 4096 x 4096 tie for dense, and ran 1.29x slower than dense). BUILTIN
 * when none has one (or the query is malformed). */
static sparq_param_source chain_lookup(const sparq_tune_chain *chain,
                                      const sparq_tune_device *device,
                                      const sparq_tunedb_kind *kind, const char *first,
                                      sparq_encoding encoding, const char *shape_class,
                                      const char *hash, sparq_tunedb_entry *out, char *detail,
                                      size_t detail_size)
{
    lookup_query q = {kind, "", {0}, hash};
    bool ok = chain && device && shape_class &&
              sparq_tune_class_parse(shape_class, q.target) &&
              strcmp(sparq_encoding_name(encoding), "?") != 0 &&
              sparq_tunedb_entry_key(first, encoding, "", q.prefix, sizeof q.prefix);
    struct {
        const sparq_tunedb *db;
        void (*key)(const sparq_tune_device *device, char *out, size_t size);
        sparq_param_source source;
    } levels[4] = {{ok ? chain->user : NULL, sparq_tunedb_device_key, SPARQ_PARAM_SOURCE_USER},
                   {ok ? chain->shipped : NULL, sparq_tunedb_device_key,
                    SPARQ_PARAM_SOURCE_SHIPPED},
                   {ok ? chain->shipped : NULL, sparq_tunedb_vendor_key,
                    SPARQ_PARAM_SOURCE_TYPE_DEFAULT},
                   {ok ? chain->shipped : NULL, sparq_tunedb_type_key,
                    SPARQ_PARAM_SOURCE_TYPE_DEFAULT}};
    char key[MAX_KEY], found[64], tie_found[64];
    sparq_tunedb_entry tie;
    int tie_level = -1; /* the first level whose nearest class was a near tie */
    unsigned distance = 0, tie_distance = 0;
    for (int pass = 0; pass < 2 * 4; pass++) {
        int i = pass % 4;
        if (!levels[i].db)
            continue;
        levels[i].key(device, key, sizeof key);
        /* after a near tie, later levels lend only from nearer classes */
        unsigned reach = pass < 4 ? 0 : tie_level >= 0 ? tie_distance - 1 : UINT_MAX;
        nearest_kind got =
            nearest_entry(levels[i].db, key, &q, reach, out, found, sizeof found, &distance);
        if (got == NEAREST_TIE && tie_level < 0) {
            tie = *out;
            tie_level = i;
            tie_distance = distance;
            snprintf(tie_found, sizeof tie_found, "%s", found);
        }
        if (got != NEAREST_FOUND)
            continue;
        const char *name = sparq_tune_source_name(levels[i].source);
        if (detail && detail_size && strcmp(found, shape_class) == 0)
            snprintf(detail, detail_size, "%s, class %s", name, found);
        else if (detail && detail_size)
            snprintf(detail, detail_size, "%s, nearest class %s to %s", name, found, shape_class);
        return levels[i].source;
    }
    if (tie_level >= 0) {
        *out = tie;
        if (detail && detail_size)
            snprintf(detail, detail_size, "%s, nearest class %s to %s (a near tie, no clear "
                     "choice nearer)", sparq_tune_source_name(levels[tie_level].source),
                     tie_found, shape_class);
        return levels[tie_level].source;
    }
    if (detail && detail_size)
        snprintf(detail, detail_size, "%s",
                 sparq_tune_source_name(SPARQ_PARAM_SOURCE_DEFAULT));
    return SPARQ_PARAM_SOURCE_DEFAULT;
}

sparq_param_source sparq_tune_lookup_params(const sparq_tune_chain *chain,
                                            const sparq_tune_device *device,
                                            const sparq_kernel_info *k, sparq_encoding encoding,
                                            unsigned block_rows, unsigned block_cols,
                                            const char *shape_class, const char *source_hash,
                                            sparq_kernel_params *params, char *detail,
                                            size_t detail_size)
{
    sparq_tunedb_entry entry;
    char word[80];
    bool bsr = k && k->structure == SPARQ_STRUCTURE_BSR;
    bool ok = k && sparq_tunedb_kernel_word(k->name, bsr ? block_rows : 0,
                                            bsr ? block_cols : 0, word, sizeof word);
    sparq_param_source source =
        chain_lookup(ok ? chain : NULL, device, &sparq_tunedb_params_kind, ok ? word : "",
                     encoding, shape_class, source_hash, &entry, detail, detail_size);
    if (params && source != SPARQ_PARAM_SOURCE_DEFAULT) {
        *params = entry.params.params;
    } else if (params && k) {
        sparq_device_caps caps;
        memset(&caps, 0, sizeof caps);
        caps.type = device ? device->type : SPARQ_DEVICE_TYPE_CPU;
        sparq_kernel_type_defaults(k, &caps, params);
    } else if (params) {
        memset(params, 0, sizeof *params);
    }
    return source;
}

bool sparq_tune_lookup_choice(const sparq_tune_chain *chain, const sparq_tune_device *device,
                              const sparq_pack_options *format,
                              const char *shape_class, sparq_tune_choice_entry *choice,
                              sparq_param_source *source, char *detail, size_t detail_size)
{
    sparq_tunedb_entry entry;
    char word[16];
    bool ok = format && sparq_tunedb_structure_word(format, word, sizeof word);
    sparq_param_source found =
        chain_lookup(ok ? chain : NULL, device, &sparq_tunedb_choices_kind, ok ? word : "",
                     format ? format->quant.encoding : SPARQ_ENCODING_F32, shape_class, NULL,
                     &entry, detail, detail_size);
    if (source)
        *source = found;
    if (found != SPARQ_PARAM_SOURCE_DEFAULT && choice)
        *choice = entry.choice;
    return found != SPARQ_PARAM_SOURCE_DEFAULT;
}
