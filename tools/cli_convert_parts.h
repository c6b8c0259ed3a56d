/* SPDX-License-Identifier: Apache-2.0 */
/* cli_convert_parts.h - what the files of `sparq convert` share: the command line as
 * parsed (cli_convert.c), one converted layer and the run's totals, the model's
 * conversion (cli_convert_model.c), the table and JSON report (cli_convert_report.c),
 * recipes and the output folder (cli_convert_layout.c).
 */
#ifndef SPARQ_CLI_CONVERT_PARTS_H
#define SPARQ_CLI_CONVERT_PARTS_H

#include "cli.h"

#include <jansson.h>
#include <regex.h>

/* One --tensor-type REGEX=FORMAT rule (FORMAT "keep": the tensor is copied as it is). */
typedef struct convert_rule {
    const char *text;          /* as given                                             */
    regex_t re;
    bool compiled;
    bool keep;
    sparq_pack_options format;
    double sparsity;           /* written after the structure ("csr0.9"), if has_sparsity */
    bool has_sparsity;
} convert_rule;

/* The recipe a tensor gets, and why. */
typedef struct convert_recipe {
    int rule;                  /* 1-based --tensor-type rule that matched, else 0      */
    bool keep;                 /* copy it as it is                                     */
    sparq_pack_options format;
    double sparsity;
    char why[192];
} convert_recipe;

/* What the command line asked for. */
typedef struct convert_args {
    const char *in, *out;
    sparq_convert_options layer;
    const char *structure_text, *quant_text, *calib_text, *stats, *gate_text;
    const char *include, *exclude;
    regex_t include_re, exclude_re, default_re;
    bool have_include, have_exclude, have_default;
    bool force; /* --force: an existing regular file at OUT (or its report) is replaced */
    bool have_gate; /* --max-nmse or --min-sqnr given */
    convert_rule *rules;   /* --tensor-type, in the order given (first match wins)     */
    size_t rule_count;
    regex_t output_re;     /* the output projection's names (the default rule)        */
    bool have_output_re;
    bool keep_split;       /* --keep-split: OUT is a folder with IN's shards, index, config */
    unsigned threads;      /* --threads: tensors converted at once                      */
} convert_args;

/* One converted layer, for the table and the report. */
typedef struct layer_row {
    const char *name;
    const char *shard;         /* the file it came from and went to (NULL: one file)    */
    size_t rows, cols;         /* its GEMM form                                         */
    size_t ndim;               /* its shape in the file: 2, or 3+ for a convolution     */
    size_t shape[8];
    sparq_dtype dtype;
    size_t bytes_in;
    convert_recipe recipe;
    sparq_convert_result result;
} layer_row;

/* Totals of one run. */
typedef struct convert_totals {
    uint64_t bytes_before, bytes_after;
    size_t converted, rolled_back, last_rung, copied;
    double seconds;
} convert_totals;

/* The per-layer table (format, bits, NMSE, NMSE_out, SQNR, bytes, seconds, rollbacks)
 * and each refused layer's trail, on stdout. */
void cli_convert_print_table(const layer_row *rows, size_t count);

/* The JSON report of a run: options, one entry per layer, the copied tensors, totals. */
json_t *cli_convert_report_json(const convert_args *a, const layer_row *rows, size_t count,
                                json_t *copied, const convert_totals *t);

/* Writes text to a new temporary file beside path (path + ".XXXXXX"), flushed to disk;
 * *tmp_path (malloc'ed) names it. Returns 0, or 1 after printing why. */
int cli_convert_write_temp(const char *path, const char *text, char **tmp_path);

/* A JSON array of the ndim extents of shape. */
json_t *cli_convert_shape_json(size_t ndim, const size_t *shape);

/* "12.3 MiB" */
void cli_convert_human_bytes(uint64_t bytes, char *out, size_t size);

/* The format's one spelling (sparq_format_name): "csr+i8-row", "bsr4x4+i4-g128-asym",
 * "2:4+f16", "dense+f32"; "?" for a format that is not one. */
void cli_convert_format_name(const sparq_pack_options *f, char *out, size_t size);

/* ---- cli_convert_model.c: the model's tensors, converted or copied ---- */

/* Every shard of the model into the output: one writer for all (writer, OUT a file),
 * or, with folder (--keep-split), a writer per shard spooled there and written there
 * under the shard's name. Tensors not selected are copied; the selected ones are
 * converted on a->threads workers. Fills rows (one per converted tensor; *row_count of
 * them), copied, weight_map (output tensor -> shard; NULL for one file) and totals.
 * Returns 0, or the exit code after printing why. */
int cli_convert_model(const convert_args *a, const sparq_model *model,
                      const sparq_safetensors *stats, const char *folder,
                      sparq_safetensors_writer *writer, json_t *weight_map, layer_row *rows,
                      size_t *row_count, json_t *copied, convert_totals *totals);

/* The tensors of every shard of the model (the most rows a run can have). */
size_t cli_convert_tensor_count(const sparq_model *model);

/* ---- cli_convert_layout.c: recipes, the output folder, index and config ---- */

/* Parses --tensor-type REGEX=FORMAT (FORMAT a spelling such as csr0.9+i8-row, 2:4+i4-g128,
 * dense+f16, or keep) into *rule; quant gives --calib/--percentile. 0, or 2 after a
 * usage message. */
int cli_convert_rule_parse(const char *text, const sparq_quant_options *quant,
                           convert_rule *rule);
void cli_convert_rule_free(convert_rule *rule);

/* Compiles the default rules' patterns into *a. 0, or 1 after printing why. */
int cli_convert_recipes_compile(convert_args *a);

/* The recipe of tensor name into *r: the first --tensor-type rule that matches, else the
 * default for the output projection (dense, 8 bits or more), else the command line's. */
void cli_convert_recipe_for(const convert_args *a, const char *name, convert_recipe *r);

/* An output folder: out must be absent, or (with force) a folder of regular files and
 * folders of them only.
 * begin makes "<out>.tmp-XXXXXX" beside it (*tmp, malloc'ed), commit renames it to out
 * (an earlier out moved aside and removed once the new one is in place), abort removes
 * it. Each returns 0, or 1 after printing why; commit and abort free tmp. */
int cli_convert_folder_check(const char *out, bool force);
int cli_convert_folder_begin(const char *out, char **tmp);
int cli_convert_folder_commit(char *tmp, const char *out, bool force);
void cli_convert_folder_abort(char *tmp);

/* Writes value as indented JSON to path, its objects' keys sorted or in the order they
 * were set. 0, or 1 after printing why. */
int cli_convert_write_json(const char *path, json_t *value, bool sort_keys);

/* model.safetensors.index.json of an output: {"metadata": {"total_size", "producer",
 * "sparq_version"}, "weight_map": weight_map}. */
json_t *cli_convert_index_json(json_t *weight_map, uint64_t total_size);

/* folder/config.json into *config (NULL when there is none). A config with a
 * quantization_config already (a quantized model) is refused. 0, or 1 after printing
 * why. */
int cli_convert_config_read(const char *folder, json_t **config);

/* Copies the regular files of the model's folder that the conversion does not write
 * anew (tokenizer, generation config...) and its folders of files (sentence-transformers'
 * 1_Pooling/) into folder to. 0, or 1 after printing why. */
int cli_convert_copy_side_files(const sparq_model *model, const char *to);

/* config's "quantization_config" for a run: quant_method "sparq", the recipe, every
 * converted tensor ("modules") and the tensors left as they were. */
json_t *cli_convert_quantization_config(const convert_args *a, const layer_row *rows,
                                        size_t count, const json_t *copied);

#endif
