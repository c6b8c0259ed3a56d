/* SPDX-License-Identifier: Apache-2.0 */
/* cli_model_parts.h - what `sparq inspect` (cli_inspect.c, which implements it) and
 * `sparq bench` (cli_bench.c) share: a converted model opened with the packed matrices of
 * each shard listed, and byte counts in words. */
#ifndef SPARQ_CLI_MODEL_PARTS_H
#define SPARQ_CLI_MODEL_PARTS_H

#include "cli.h"

#include <stddef.h>
#include <stdint.h>

/* A model (sparq_model_open: a file, or a folder with model.safetensors or a sharded
 * layout) and sparq_packed_list of each of its shards. */
typedef struct packed_model {
    sparq_model *model;
    size_t nshards;
    sparq_packed_entry **entries; /* entries[s]: shard s's packed matrices, sorted by name */
    size_t *counts;               /* counts[s] of them                                      */
    size_t total;                 /* packed matrices in all shards                          */
} packed_model;

/* Opens path into *pm; returns 0, or 1 after printing why (naming path). */
int packed_model_open(const char *path, packed_model *pm);
void packed_model_close(packed_model *pm);

/* bytes in words into text: "812 B", "92.4 kB", "21.3 MB", "1.25 GB" (powers of 1000). */
void bytes_in_words(uint64_t bytes, char *text, size_t text_size);

#endif /* SPARQ_CLI_MODEL_PARTS_H */
