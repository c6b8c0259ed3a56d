/* SPDX-License-Identifier: Apache-2.0 */
/* cli_convert_layout.c - what `sparq convert` decides and writes around the tensors: the
 * recipe of each tensor (--tensor-type REGEX=FORMAT rules, then the defaults that keep
 * the output projection dense at 8 bits, then the command line's format), an output
 * folder that appears whole (filled under a temporary name, renamed at the end), and
 * the folder's model.safetensors.index.json and config.json with its
 * "quantization_config" (docs/converted_models.md lists the fields).
 */
#include "cli_convert_parts.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- recipes ----------------------------------------------------------------------- */

/* The output projection (a GEMM the whole vocabulary wide, where errors reach the
 * logits directly): llama.cpp and most serving engines keep it at 8 bits or more. */
#define OUTPUT_PROJECTION "(^|\\.)(lm_head|output|embed_out)\\.weight$"

/* "csr0.9" -> "csr" and 0.9; "bsr4x40.5" -> "bsr4x4" and 0.5 (the spelling sparq.pack
 * takes in Python): the sparsity written after a structure that prunes. Returns 0, or 1
 * when the number is not one in [0, 1]. */
static int split_sparsity(const char *structure, char *word, size_t size, double *sparsity,
                          bool *given)
{
    *given = false;
    snprintf(word, size, "%s", structure);
    const char *digits = NULL;
    if (strncmp(structure, "csr", 3) == 0 && structure[3])
        digits = structure + 3;
    else if (strncmp(structure, "bsr", 3) == 0) {
        /* bsrRxC then the sparsity: R and C are 1, 2, 4, 8, 16 or 32 */
        const char *x = strchr(structure, 'x');
        const char *p = x ? x + 1 : NULL;
        if (p && (strncmp(p, "16", 2) == 0 || strncmp(p, "32", 2) == 0))
            p += 2;
        else if (p && strchr("1248", *p) && *p)
            p += 1;
        if (p && *p)
            digits = p;
    }
    if (!digits)
        return 0;
    word[digits - structure] = '\0';
    if (!cli_parse_double(digits, sparsity) || *sparsity < 0.0 || *sparsity > 1.0)
        return 1;
    *given = true;
    return 0;
}

int cli_convert_rule_parse(const char *text, const sparq_quant_options *quant,
                           convert_rule *rule)
{
    memset(rule, 0, sizeof *rule);
    rule->text = text;
    const char *eq = strrchr(text, '=');
    if (!eq || eq == text || !eq[1])
        return cli_usage_error("--tensor-type '%s' is not REGEX=FORMAT", text);
    const char *format = eq + 1;
    char pattern[1024];
    snprintf(pattern, sizeof pattern, "%.*s", (int)(eq - text), text);
    if (strcmp(format, "keep") == 0) {
        rule->keep = true;
    } else {
        char structure[128], word[128], spelled[300];
        const char *plus = strchr(format, '+');
        snprintf(structure, sizeof structure, "%.*s", plus ? (int)(plus - format) : 0, format);
        if (!plus || split_sparsity(structure, word, sizeof word, &rule->sparsity,
                                    &rule->has_sparsity) != 0)
            return cli_usage_error("--tensor-type '%s': '%s' is not keep or STRUCTURE+ENCODING "
                                   "(e.g. csr0.9+i8-row, 2:4+i4-g128, dense+f16)",
                                   text, format);
        snprintf(spelled, sizeof spelled, "%s%s", word, plus);
        if (sparq_format_parse(spelled, &rule->format) != SPARQ_OK)
            return cli_usage_error("--tensor-type '%s': '%s' is not a format: %s", text, format,
                                   cli_library_error());
        /* how the scales are chosen comes from --calib and --percentile */
        rule->format.quant.calibration = quant->calibration;
        rule->format.quant.percentile = quant->percentile;
    }
    int rc = regcomp(&rule->re, pattern, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char why[256];
        regerror(rc, &rule->re, why, sizeof why);
        return cli_usage_error("--tensor-type '%s': '%s' is not a valid regular expression: %s",
                               text, pattern, why);
    }
    rule->compiled = true;
    return 0;
}

void cli_convert_rule_free(convert_rule *rule)
{
    if (rule->compiled)
        regfree(&rule->re);
    rule->compiled = false;
}

/* The default rule for the output projection: dense, the command line's encoding when
 * it has 8 bits or more, else i8 per row. */
static void output_projection_recipe(const convert_args *a, convert_recipe *r)
{
    r->format = a->layer.format;
    r->format.structure = SPARQ_STRUCTURE_DENSE;
    r->format.block_rows = r->format.block_cols = r->format.nm_n = r->format.nm_m = 0;
    if (r->format.quant.encoding == SPARQ_ENCODING_I4) {
        r->format.quant.encoding = SPARQ_ENCODING_I8;
        r->format.quant.granularity = SPARQ_SCALE_ROW;
        r->format.quant.group_size = 0;
    }
    r->sparsity = 0.0;
    snprintf(r->why, sizeof r->why,
             "default: the output projection stays dense with 8 bits or more (override with "
             "--tensor-type)");
}

void cli_convert_recipe_for(const convert_args *a, const char *name, convert_recipe *r)
{
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < a->rule_count; i++) {
        const convert_rule *rule = &a->rules[i];
        if (regexec(&rule->re, name, 0, NULL, 0) != 0)
            continue;
        r->rule = (int)i + 1;
        r->keep = rule->keep;
        r->format = rule->format;
        r->sparsity = rule->has_sparsity ? rule->sparsity : a->layer.sparsity;
        snprintf(r->why, sizeof r->why, "--tensor-type '%s' (rule %zu)", rule->text, i + 1);
        return;
    }
    if (a->have_output_re && regexec(&a->output_re, name, 0, NULL, 0) == 0) {
        output_projection_recipe(a, r);
        return;
    }
    r->format = a->layer.format;
    r->sparsity = a->layer.sparsity;
    snprintf(r->why, sizeof r->why, "the command line's recipe");
}

int cli_convert_recipes_compile(convert_args *a)
{
    int rc = regcomp(&a->output_re, OUTPUT_PROJECTION, REG_EXTENDED | REG_NOSUB);
    a->have_output_re = rc == 0;
    return rc == 0 ? 0 : cli_error("internal: the output projection's pattern");
}

/* ---- the output folder --------------------------------------------------------------- */

/* How deep a model folder's own folders go (sentence-transformers: 1_Pooling/). */
#define MAX_DEPTH 4

/* Removes folder dir: its files and folders (links themselves, never what they point
 * to), then dir; best effort. */
static void remove_folder(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[4352];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            struct stat sb;
            if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode) && depth < MAX_DEPTH)
                remove_folder(path, depth + 1);
            else
                unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* 1 when dir holds regular files and folders of them only (what a converted model is). */
static int holds_files_only(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int ok = 1;
    struct dirent *e;
    char path[4352];
    while (ok && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ok = lstat(path, &sb) == 0 &&
             (S_ISREG(sb.st_mode) ||
              (S_ISDIR(sb.st_mode) && depth < MAX_DEPTH && holds_files_only(path, depth + 1)));
    }
    closedir(d);
    return ok;
}

int cli_convert_folder_check(const char *out, bool force)
{
    struct stat sb;
    if (lstat(out, &sb) != 0)
        return errno == ENOENT ? 0 : cli_error("cannot write %s: %s", out, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return cli_error("%s exists and is not a folder: refusing to replace it with the "
                         "converted model's folder", out);
    if (!force)
        return cli_error("%s exists; pass --force to replace it", out);
    if (!holds_files_only(out, 0))
        return cli_error("%s holds more than files and folders of them (a link, a device): "
                         "refusing to replace it even with --force", out);
    return 0;
}

int cli_convert_folder_begin(const char *out, char **tmp)
{
    size_t n = strlen(out);
    *tmp = malloc(n + 16);
    if (!*tmp)
        return cli_error("out of memory");
    snprintf(*tmp, n + 16, "%s.tmp-XXXXXX", out);
    if (!mkdtemp(*tmp)) {
        cli_error("cannot create a folder beside %s: %s", out, strerror(errno));
        free(*tmp);
        *tmp = NULL;
        return 1;
    }
    return 0;
}

void cli_convert_folder_abort(char *tmp)
{
    if (tmp)
        remove_folder(tmp, 0);
    free(tmp);
}

int cli_convert_folder_commit(char *tmp, const char *out, bool force)
{
    int rc = cli_convert_folder_check(out, force);
    char *old = NULL;
    struct stat sb;
    if (rc == 0 && lstat(out, &sb) == 0) {
        /* --force over an earlier output: moved aside first, removed once the new one is
         * in place (a failed rename puts it back) */
        size_t n = strlen(out);
        old = malloc(n + 16);
        if (!old)
            rc = cli_error("out of memory");
        else {
            snprintf(old, n + 16, "%s.old-XXXXXX", out);
            if (!mkdtemp(old) || rmdir(old) != 0 || rename(out, old) != 0)
                rc = cli_error("cannot move %s aside: %s", out, strerror(errno));
        }
    }
    if (rc == 0 && rename(tmp, out) != 0) {
        rc = cli_error("cannot rename %s to %s: %s", tmp, out, strerror(errno));
        if (old)
            rename(old, out);
    }
    if (rc != 0)
        cli_convert_folder_abort(tmp);
    else {
        free(tmp);
        if (old)
            remove_folder(old, 0);
    }
    free(old);
    return rc;
}

/* ---- index and config ---------------------------------------------------------------- */

int cli_convert_write_json(const char *path, json_t *value, bool sort_keys)
{
    size_t flags = JSON_INDENT(2) | JSON_REAL_PRECISION(10) | (sort_keys ? JSON_SORT_KEYS : 0);
    if (json_dump_file(value, path, flags) != 0)
        return cli_error("cannot write %s", path);
    return 0;
}

json_t *cli_convert_index_json(json_t *weight_map, uint64_t total_size)
{
    json_t *index = json_object();
    json_t *metadata = json_object();
    json_object_set_new(metadata, "total_size", json_integer((json_int_t)total_size));
    json_object_set_new(metadata, "producer", json_string("sparq convert"));
    json_object_set_new(metadata, "sparq_version", json_string(sparq_version_string()));
    json_object_set_new(index, "metadata", metadata);
    json_object_set(index, "weight_map", weight_map);
    return index;
}

int cli_convert_config_read(const char *folder, json_t **config)
{
    *config = NULL;
    char path[4352];
    snprintf(path, sizeof path, "%s/config.json", folder);
    struct stat sb;
    if (stat(path, &sb) != 0)
        return 0; /* no config.json: none is written */
    json_error_t err;
    *config = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!*config || !json_is_object(*config)) {
        json_decref(*config);
        *config = NULL;
        return cli_error("%s: line %d: %s", path, err.line,
                         *err.text ? err.text : "not a JSON object");
    }
    json_t *q = json_object_get(*config, "quantization_config");
    if (q) {
        const char *method = json_string_value(json_object_get(q, "quant_method"));
        cli_error("%s: the model is already quantized (quantization_config, quant_method "
                  "'%s'): convert the original weights instead", path, method ? method : "?");
        json_decref(*config);
        *config = NULL;
        return 1;
    }
    return 0;
}

json_t *cli_convert_quantization_config(const convert_args *a, const layer_row *rows,
                                        size_t count, const json_t *copied)
{
    char text[96];
    json_t *q = json_object();
    json_object_set_new(q, "quant_method", json_string("sparq"));
    json_object_set_new(q, "sparq_version", json_string(sparq_version_string()));
    json_object_set_new(q, "packed_format", json_string("sparq-packed"));
    /* the recipe: the command line's format, the rules in order, method and gate */
    json_t *recipe = json_object();
    cli_convert_format_name(&a->layer.format, text, sizeof text);
    json_object_set_new(recipe, "format", json_string(text));
    json_object_set_new(recipe, "sparsity", json_real(a->layer.sparsity));
    json_object_set_new(recipe, "method", json_string(sparq_method_name(a->layer.method)));
    json_object_set_new(recipe, "max_nmse", json_real(a->layer.max_nmse));
    json_object_set_new(recipe, "min_sqnr_db", json_real(a->layer.min_sqnr_db));
    json_t *rules = json_array();
    for (size_t i = 0; i < a->rule_count; i++)
        json_array_append_new(rules, json_string(a->rules[i].text));
    json_object_set_new(recipe, "tensor_type", rules);
    json_object_set_new(q, "recipe", recipe);
    /* every converted tensor: what it became */
    json_t *modules = json_object();
    for (size_t i = 0; i < count; i++) {
        const layer_row *r = &rows[i];
        json_t *m = json_object();
        cli_convert_format_name(&r->result.format, text, sizeof text);
        json_object_set_new(m, "format", json_string(text));
        json_object_set_new(m, "sparsity", json_real(r->result.sparsity));
        json_object_set_new(m, "bits_per_weight", json_real(r->result.bits_per_weight));
        json_object_set_new(m, "rows", json_integer((json_int_t)r->rows));
        json_object_set_new(m, "cols", json_integer((json_int_t)r->cols));
        json_object_set_new(m, "original_dtype", json_string(sparq_dtype_name(r->dtype)));
        json_object_set_new(m, "original_shape", cli_convert_shape_json(r->ndim, r->shape));
        json_object_set_new(m, "recipe", json_string(r->recipe.why));
        json_object_set_new(m, "rollbacks", json_integer(r->result.rollbacks));
        json_object_set_new(modules, r->name, m);
    }
    json_object_set_new(q, "modules", modules);
    json_t *kept = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(copied, i, c)
        json_array_append(kept, json_object_get(c, "name"));
    json_object_set_new(q, "modules_to_not_convert", kept);
    return q;
}

/* Copies file from into to (a new file); 0, or 1 after printing why. */
static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    FILE *out = in ? fopen(to, "wb") : NULL;
    int rc = 0;
    if (!in || !out)
        rc = cli_error("cannot copy %s to %s: %s", from, to, strerror(errno));
    char buffer[1 << 16];
    size_t n;
    while (rc == 0 && (n = fread(buffer, 1, sizeof buffer, in)) > 0)
        if (fwrite(buffer, 1, n, out) != n)
            rc = cli_error("cannot write %s: %s", to, strerror(errno));
    if (rc == 0 && ferror(in))
        rc = cli_error("cannot read %s", from);
    if (out && fclose(out) != 0 && rc == 0)
        rc = cli_error("cannot write %s: %s", to, strerror(errno));
    if (in)
        fclose(in);
    return rc;
}

/* Copies the regular files of folder from, and its folders of them (links and other
 * things are left out), into the existing folder to; with skip (top level only), not the
 * files the conversion writes anew. 0, or 1 after printing why. */
static int copy_tree(const char *from, const char *to, const sparq_model *skip, int depth)
{
    DIR *d = opendir(from);
    if (!d)
        return cli_error("cannot read folder %s: %s", from, strerror(errno));
    int rc = 0;
    struct dirent *e;
    char source[4352], target[4352];
    while (rc == 0 && (e = readdir(d)) != NULL) {
        bool ours = e->d_name[0] == '.';
        if (skip) {
            ours = ours || strcmp(e->d_name, "model.safetensors.index.json") == 0 ||
                   strcmp(e->d_name, "config.json") == 0;
            for (size_t s = 0; !ours && s < sparq_model_shard_count(skip); s++)
                ours = strcmp(e->d_name, sparq_model_shard_name(skip, s)) == 0;
        }
        struct stat sb;
        snprintf(source, sizeof source, "%s/%s", from, e->d_name);
        snprintf(target, sizeof target, "%s/%s", to, e->d_name);
        if (ours || lstat(source, &sb) != 0)
            continue;
        if (S_ISREG(sb.st_mode))
            rc = copy_file(source, target);
        else if (S_ISDIR(sb.st_mode) && depth < MAX_DEPTH) {
            if (mkdir(target, 0755) != 0)
                rc = cli_error("cannot create %s: %s", target, strerror(errno));
            else
                rc = copy_tree(source, target, NULL, depth + 1);
        }
    }
    closedir(d);
    return rc;
}

int cli_convert_copy_side_files(const sparq_model *model, const char *to)
{
    return copy_tree(sparq_model_folder(model), to, model, 0);
}
