/* SPDX-License-Identifier: Apache-2.0 */
/* tunedb.h - the tuning database: tuned kernel parameters and measured dense/sparse
 * choices per device and shape class, as JSON (jansson) in memory and on disk, and the
 * lookup chain dispatch reads (user db -> shipped db for this device -> vendor/type
 * default -> built-in default). Internal to the library; the tuner writes it.
 */
#ifndef SPARQ_TUNEDB_H
#define SPARQ_TUNEDB_H

#include "internal.h"

/* The file format, version 1 (keys sorted, two-space indent):
 *
 * {
 *   "schema": 1,
 *   "devices": {
 *     "<vendor>|<name>|<driver>": {               exact device (tuned on it)
 *       "vendor": "...", "name": "...", "driver": "...", "type": "cpu|gpu|accelerator|other",
 *       "params": {
 *         "<kernel>/<encoding>/<shape class>": {   BSR kernels with their block:
 *                                                  "spmm_bsr_tile@16x16/f32/..."
 *           "values": {"<TUNABLE>": 64, ...},     every tunable of the kernel
 *           "time_us": 812.5, "default_us": 1040.0,
 *           "source_hash": "<16 hex digits>",      XXH64 of the kernel's source text
 *           "sparq_version": "0.1.0",
 *           "strategy": "anneal", "evaluations": 14, "seed": 1
 *         }, ...                                  (a seed >= 2^63 is a decimal string)
 *       },
 *       "choices": {
 *         "<structure>/<encoding>/<shape class>": {
 *           "path": "sparse" | "dense",
 *           "kernel": "spmm_csr_rowvec",           the fastest sparse kernel
 *           "sparse_us": 640.0,
 *           "dense": "linear_dense_rowdot" | "linear_dense_q_tiled" | "clblast" | ...,
 *           "dense_us": 4100.0,                    the fastest dense path
 *           "source_hash": "<16 hex digits>",      of the sparse kernel's source
 *           "sparq_version": "0.1.0"
 *         }, ...
 *       }
 *     },
 *     "vendor:<vendor>|type:<type>": {...},      a default for a vendor's devices of a type
 *     "type:<type>": {...}                       a default for a device type
 *   }
 * }
 *
 * <encoding> is sparq_encoding_name() ("f32", "f16", "i8", "i4"); <structure> is
 * sparq_structure_name(), for BSR with its block shape ("bsr16x16", "bsr4x4": the
 * break-even moves with the block, on PoCL 4x4 blocks at 50 % beat the dense path where
 * 16x16 ones lose to it). A shape class is what sparq_tune_shape_class() writes.
 */

#define SPARQ_TUNEDB_SCHEMA 1

/* Which device a lookup or an entry is for (the fields of sparq_device_caps). */
typedef struct sparq_tune_device {
    char vendor[256];
    char name[256];
    char driver[128];
    sparq_device_type type;
} sparq_tune_device;

void sparq_tune_device_from_caps(const sparq_device_caps *caps, sparq_tune_device *device);

/* The shape class of a call: rows, cols, batch and nonzeros per row (dense: cols), each
 * rounded to the nearest power of two in log space (1.4 -> 1, 1.5 -> 2, 3 -> 4, 5 -> 4;
 * 0 -> 1; at most 2^40), written "m4096.k4096.b32.z512". out gets at most size bytes,
 * NUL-terminated. */
void sparq_tune_shape_class(size_t rows, size_t cols, size_t batch, double nnz_per_row,
                            char *out, size_t size);

/* One tuned kernel (a "params" entry). */
typedef struct sparq_tune_params_entry {
    char kernel[64];
    unsigned block_rows, block_cols; /* a BSR kernel's block shape; 0 for the others      */
    sparq_encoding encoding;
    char shape_class[64];
    sparq_kernel_params params; /* in the order of the kernel's tunables              */
    double time_us, default_us;
    char source_hash[17];
    char sparq_version[16];
    char strategy[16];
    unsigned evaluations;
    uint64_t seed;
} sparq_tune_params_entry;

/* One measured dense/sparse choice (a "choices" entry). */
typedef struct sparq_tune_choice_entry {
    sparq_structure structure;
    unsigned block_rows, block_cols; /* BSR: the block shape; 0 otherwise              */
    unsigned nm_n, nm_m;             /* N:M: N and M; 0 otherwise                       */
    sparq_encoding encoding;
    char shape_class[64];
    bool dense;             /* "path": "dense"                                     */
    char kernel[64];        /* the fastest sparse kernel                           */
    double sparse_us;
    char dense_name[64];    /* the fastest dense path                              */
    double dense_us;
    char source_hash[17];
    char sparq_version[16];
} sparq_tune_choice_entry;

typedef struct sparq_tunedb sparq_tunedb;

/* An empty database. */
sparq_status sparq_tunedb_create(sparq_tunedb **db);
void sparq_tunedb_free(sparq_tunedb *db);

/* Parses a database from text (origin names it in messages). Never fails on bad
 * content: a file that is not JSON, is truncated, has another schema or is not a
 * sparq database gives an empty database whose sparq_tunedb_warning() says why (one
 * sentence, also logged once at info level); malformed entries inside an otherwise
 * good file are skipped, each counted. Fails only for NULL arguments or out of memory. */
sparq_status sparq_tunedb_load_text(const char *text, size_t size, const char *origin,
                                    sparq_tunedb **db);
/* As load_text on the file at path; a missing file is an empty database, no warning. */
sparq_status sparq_tunedb_load_file(const char *path, sparq_tunedb **db);
/* "" when the load was clean, else the one warning. */
const char *sparq_tunedb_warning(const sparq_tunedb *db);
/* Entries skipped while loading (malformed, unknown kernel, values not among the
 * kernel's candidates). */
size_t sparq_tunedb_skipped(const sparq_tunedb *db);

/* Adds or replaces an entry for this device key (sparq_tunedb_device_key(), or a
 * default key below); device (may be NULL) sets the key's vendor/name/driver/type. A params
 * entry whose kernel is not in the registry, or whose values are not each among the
 * kernel's candidates, is refused with SPARQ_ERROR_INVALID_ARGUMENT. */
sparq_status sparq_tunedb_put_params(sparq_tunedb *db, const sparq_tune_device *device,
                                     const char *device_key,
                                     const sparq_tune_params_entry *entry);
sparq_status sparq_tunedb_put_choice(sparq_tunedb *db, const sparq_tune_device *device,
                                     const char *device_key,
                                     const sparq_tune_choice_entry *entry);

/* The exact key "<vendor>|<name>|<driver>", and the two default keys
 * "vendor:<vendor>|type:<type>" and "type:<type>" (type: "cpu", "gpu", ...). */
void sparq_tunedb_device_key(const sparq_tune_device *device, char *out, size_t size);
void sparq_tunedb_vendor_key(const sparq_tune_device *device, char *out, size_t size);
void sparq_tunedb_type_key(const sparq_tune_device *device, char *out, size_t size);

/* Serialises (sorted keys, schema version); *text is malloc'ed. */
sparq_status sparq_tunedb_to_text(const sparq_tunedb *db, char **text);

/* Merges db's entries into the file at path and writes it atomically: takes an
 * exclusive lock (flock on "<path>.lock", waiting), re-reads the file (a corrupt one
 * counts as empty), adds db's entries (replacing equal keys), writes a temporary file
 * in the same folder, fsyncs, renames it over path, unlocks. Creates missing folders.
 * Concurrent writers from threads or processes lose no entries. SPARQ_ERROR_IO with the
 * step and OS error on failure; path is then unchanged. */
sparq_status sparq_tunedb_merge_into_file(const sparq_tunedb *db, const char *path);

/* Number of params and choices entries over all devices. */
size_t sparq_tunedb_count(const sparq_tunedb *db);

/* ---- lookup chain ---------------------------------------------------------------- */

/* Where a value came from is sparq.h's sparq_param_source (a "vendor:..|type:.." or
 * "type:.." entry of the shipped db is SPARQ_PARAM_SOURCE_TYPE_DEFAULT).
 * "built-in default", "vendor/type default", "shipped tuning", "user tuning". */
const char *sparq_tune_source_name(sparq_param_source source);

/* The databases a lookup reads; either may be NULL. */
typedef struct sparq_tune_chain {
    const sparq_tunedb *user;
    const sparq_tunedb *shipped;
} sparq_tune_chain;

/* The chain dispatch reads for a context (defined in host/context.c, which loads the
 * user's database at first use): the user's and the shipped one; both NULL under
 * SPARQ_TUNE=off. */
void sparq_context_tune_chain(sparq_context *ctx, sparq_tune_chain *chain);
/* Drops the context's loaded user database so the next lookup reads the file again
 * (after the tuner wrote it). Not while other threads run sparq_linear on it. */
void sparq_context_tune_forget(sparq_context *ctx);

/* Parameters for kernel k with this encoding, BSR block shape (block_rows x block_cols,
 * the matrix's; ignored for kernels of other structures) and shape class. Levels in
 * order: user db (device key), shipped db (device key), shipped db (vendor key, then type
 * key). The exact shape class is looked for at every level first; only when no level has it, the
 * nearest tuned class of the same kernel and encoding (least sum of |log2| differences
 * of m, k, b, z; ties: the first in key order) within the same batch regime (batch 1,
 * or batch > 1), again level by level. Entries whose
 * source_hash differs from source_hash (the current kernel's) are skipped (source_hash
 * NULL or "": no check). When no level has one: the registry
 * defaults (BUILTIN). Never fails. detail (may be NULL) gets e.g. "user tuning, class
 * m4096.k4096.b32.z512" or "user tuning, nearest class m4096.k4096.b16.z512 to
 * m4096.k4096.b32.z512". */
sparq_param_source sparq_tune_lookup_params(const sparq_tune_chain *chain,
                                            const sparq_tune_device *device,
                                            const sparq_kernel_info *k, sparq_encoding encoding,
                                            unsigned block_rows, unsigned block_cols,
                                            const char *shape_class, const char *source_hash,
                                            sparq_kernel_params *params, char *detail,
                                            size_t detail_size);

/* The measured dense/sparse choice for this format (structure, BSR block shape,
 * encoding) and shape class, with the same levels and nearest-class rule, further
 * limited to classes of the same density (log2 k - log2 z equal) and, for another class
 * than the exact one, to choices the loser lost by at least 1.25x; a closer call at a
 * level's nearest class keeps that level and the later ones from lending a clear win no
 * nearer, and then serves itself (the first such level's). No hash
 * check: the choice is a path; dispatch follows its kernel only while that kernel's
 * file hash matches. Returns false when no level has one. */
bool sparq_tune_lookup_choice(const sparq_tune_chain *chain, const sparq_tune_device *device,
                              const sparq_pack_options *format,
                              const char *shape_class, sparq_tune_choice_entry *choice,
                              sparq_param_source *source, char *detail, size_t detail_size);

/* The shipped database: the JSON files of autotune/db/ embedded at build time, parsed once per
 * process (thread-safe); never NULL (empty if none ships). */
const sparq_tunedb *sparq_tunedb_shipped(void);

/* The user's database path: $SPARQ_TUNE_DB if set, else $XDG_CACHE_HOME/sparq/tune.json,
 * else $HOME/.cache/sparq/tune.json. Returns false when none can be formed. */
bool sparq_tunedb_user_path(char *out, size_t size);

#endif /* SPARQ_TUNEDB_H */
