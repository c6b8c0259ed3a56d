/* SPDX-License-Identifier: Apache-2.0 */
/* cli_convert.c - `sparq convert IN OUT`: the command line, the outputs' checks, and the
 * run: opens the model, has cli_convert_model.c convert it, and writes OUT and
 * OUT.report.json (or, with --keep-split, the folder OUT), each atomically: on any
 * failure nothing is left behind. Table and report: cli_convert_report.c; recipes, the
 * output folder, index and config: cli_convert_layout.c.
 */
#include "cli_convert_parts.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <malloc.h>
#include <math.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Names converted by default: not embeddings, norms or biases (case-insensitive). */
#define DEFAULT_EXCLUDE "embed|norm|ln_|layernorm|bias"
/* The gate when neither --max-nmse nor --min-sqnr is given. */
#define DEFAULT_MAX_NMSE 0.05

static void usage(FILE *out)
{
    fprintf(out,
        "Usage: sparq convert [OPTION]... IN OUT\n"
        "\n"
        "Prunes and quantizes the weight matrices of IN, checks each against its original,\n"
        "rolls a layer that fails the gate back to safer settings (less sparsity, then no\n"
        "pruning, then more bits, finally dense f32), and writes OUT plus a JSON report,\n"
        "OUT.report.json. Other tensors (any dtype) and the metadata are copied through\n"
        "byte for byte. IN is a safetensors file or a model folder: Hugging Face's sharded\n"
        "layout (model.safetensors.index.json and its shards) or model.safetensors; OUT is\n"
        "one safetensors file, or with --keep-split a folder of the same layout.\n"
        "Convolution weights (3 to 5 dimensions, out x in x k...) are converted in their\n"
        "GEMM form, out x (in * k...), and their shape is recorded (NAME.original_shape).\n"
        "Tensors are converted one at a time per thread and written through a spool file\n"
        "beside OUT: memory stays near a few times the largest tensor.\n"
        "OUT and OUT.report.json are checked before any work: a regular file at either is\n"
        "replaced only with --force; anything else there (a symbolic link, even to a\n"
        "regular file, a folder, a FIFO, a device) is refused and left as it is.\n"
        "\n"
        "Options:\n"
        "  --sparsity S      prune target in [0, 1] for csr and bsr (default 0.5)\n"
        "  --structure S     dense | csr | bsrRxC (R, C in 1, 2, 4, 8, 16, 32; e.g. bsr4x4)\n"
        "                    | N:M (1 <= N < M <= 16; e.g. 2:4)        (default csr)\n"
        "  --quant Q         f32 | f16 | i8-tensor | i8-row | i8-gG | i4-tensor | i4-row |\n"
        "                    i4-gG (G in 32, 64, 128, 256; e.g. i4-g128) (default i8-row)\n"
        "  --asymmetric      zero points for i8/i4 (default symmetric)\n"
        "  --calib C         minmax | percentile | mse                 (default minmax)\n"
        "  --percentile P    for --calib percentile, P in [50, 100]    (default 99.99)\n"
        "  --include REGEX   convert the 2-D float tensors whose name matches (POSIX\n"
        "                    extended); replaces the default selection, which is 2-D\n"
        "                    F32/F16/BF16 tensors, both sizes >= 2, whose name does not\n"
        "                    match /" DEFAULT_EXCLUDE "/ (ignoring case)\n"
        "  --exclude REGEX   never convert tensors whose name matches\n"
        "  --tensor-type REGEX=FORMAT\n"
        "                    the recipe of the tensors whose name matches (POSIX extended;\n"
        "                    repeatable, the first match wins): FORMAT a spelling such as\n"
        "                    csr0.9+i8-row, bsr4x40.5+i8-row, 2:4+i4-g128, dense+f16, or\n"
        "                    keep (copied as it is); a matching float tensor of 2 to 5\n"
        "                    dimensions is converted even when --include/--exclude leave it\n"
        "                    out. Default rule, after yours: the output projection (lm_head,\n"
        "                    output, embed_out .weight) stays dense with 8 bits or more\n"
        "  --keep-split      OUT is a folder with IN's shards (same file names), a new\n"
        "                    model.safetensors.index.json, IN's config.json with a\n"
        "                    \"quantization_config\" (docs/converted_models.md) and\n"
        "                    sparq_report.json; it appears whole or not at all\n"
        "  --threads N       tensors converted at once, N >= 1 (default: the cores); the\n"
        "                    output is the same bytes for any N\n"
        "  --max-nmse X      gate: NMSE vs the original <= X (0: no NMSE gate)\n"
        "  --min-sqnr DB     gate: SQNR vs the original >= DB (0: no SQNR gate)\n"
        "                    (default gate, when neither is given: --max-nmse %g)\n"
        "  --no-rollback     a layer failing the gate is an error (nothing is written);\n"
        "                    the requested format is made even when it is no smaller than\n"
        "                    dense (which the ladder otherwise refuses)\n"
        "  --method M        rtn | wanda | gptq | sparsegpt            (default rtn)\n"
        "                    rtn: magnitude pruning, round to nearest; wanda: prune by\n"
        "                    |w| * ||x||; gptq: rounding with error feedback through the\n"
        "                    inverse Hessian of the inputs; sparsegpt: masks chosen and\n"
        "                    pruned with error feedback, quantized jointly. All but rtn need\n"
        "                    --stats (sparq.h, \"Calibration statistics\")\n"
        "  --stats FILE      calibration statistics of the layers' inputs (a safetensors\n"
        "                    file, e.g. from tools/eval/calibrate.py): with H, the gate\n"
        "                    compares the layers' output error (NMSE_out)\n"
        "  --gate G          auto | weights | outputs: which NMSE --max-nmse compares\n"
        "                    (default auto: outputs for layers with statistics)\n"
        "  --damp X          gptq/sparsegpt dampening, a fraction of mean(H_jj) (0.01)\n"
        "  --block-size N    gptq/sparsegpt panel width in columns (128)\n"
        "  --act-order       gptq: columns by decreasing H_jj (scales fixed up front)\n"
        "  --force           replace OUT and OUT.report.json if they are regular files\n"
        "  -h, --help        this text\n",
        DEFAULT_MAX_NMSE);
}

/* --structure and --quant as one format (sparq_format_parse, the spelling every sparq
 * tool shares: "<structure>+<encoding>"); 1: the structure is not one, 2: the encoding.
 * --asymmetric, given apart, stays. */
static int parse_format(const convert_args *a, sparq_pack_options *f)
{
    char text[160];
    sparq_pack_options parsed;
    if (strchr(a->structure_text, '+') || sparq_format_parse(a->structure_text, &parsed))
        return 1;
    snprintf(text, sizeof text, "%s+%s", a->structure_text, a->quant_text);
    if (strchr(a->quant_text, '+') || sparq_format_parse(text, &parsed))
        return 2;
    int asymmetric = f->quant.asymmetric || parsed.quant.asymmetric;
    f->structure = parsed.structure;
    f->block_rows = parsed.block_rows;
    f->block_cols = parsed.block_cols;
    f->nm_n = parsed.nm_n;
    f->nm_m = parsed.nm_m;
    f->quant.encoding = parsed.quant.encoding;
    f->quant.granularity = parsed.quant.granularity;
    f->quant.group_size = parsed.quant.group_size;
    f->quant.asymmetric = asymmetric;
    return 0;
}

static bool parse_calib(const char *text, sparq_quant_options *q)
{
    if (strcmp(text, "minmax") == 0)
        q->calibration = SPARQ_CALIBRATION_MINMAX;
    else if (strcmp(text, "percentile") == 0)
        q->calibration = SPARQ_CALIBRATION_PERCENTILE;
    else if (strcmp(text, "mse") == 0)
        q->calibration = SPARQ_CALIBRATION_MSE;
    else
        return false;
    return true;
}

static bool parse_gate(const char *text, sparq_gate_metric *gate)
{
    static const char *const names[] = { "auto", "weights", "outputs" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(text, names[i]) == 0) {
            *gate = (sparq_gate_metric)i;
            return true;
        }
    }
    return false;
}

static int compile_regex(regex_t *re, const char *pattern, int flags, const char *option)
{
    int rc = regcomp(re, pattern, REG_EXTENDED | REG_NOSUB | flags);
    if (rc == 0)
        return 0;
    char why[256];
    regerror(rc, re, why, sizeof why);
    return cli_usage_error("%s '%s' is not a valid regular expression: %s", option, pattern,
                           why);
}

static void free_args(convert_args *a)
{
    if (a->have_include)
        regfree(&a->include_re);
    if (a->have_exclude)
        regfree(&a->exclude_re);
    if (a->have_default)
        regfree(&a->default_re);
    if (a->have_output_re)
        regfree(&a->output_re);
    for (size_t i = 0; i < a->rule_count; i++)
        cli_convert_rule_free(&a->rules[i]);
    free(a->rules);
}

/* The long options' codes (above any character getopt_long returns for itself). */
enum {
    OPT_SPARSITY = 256, OPT_STRUCTURE, OPT_QUANT, OPT_ASYM, OPT_CALIB, OPT_PERCENTILE,
    OPT_INCLUDE, OPT_EXCLUDE, OPT_MAX_NMSE, OPT_MIN_SQNR, OPT_NO_ROLLBACK, OPT_METHOD,
    OPT_STATS, OPT_GATE, OPT_DAMP, OPT_BLOCK_SIZE, OPT_ACT_ORDER, OPT_FORCE, OPT_TENSOR_TYPE,
    OPT_KEEP_SPLIT, OPT_THREADS
};

/* One option (getopt_long's c, optarg) into the convert_args at user. Returns 0 to go
 * on, or 2 on a usage error. Texts that need the other options (--structure, --quant,
 * --calib) are checked later. */
static int apply_option(int c, void *user)
{
    convert_args *a = user;
    double v;
    switch (c) {
    case OPT_SPARSITY:
        if (!cli_parse_double(optarg, &v) || v < 0.0 || v > 1.0)
            return cli_usage_error("--sparsity '%s' is not a number in [0, 1]", optarg);
        a->layer.sparsity = v;
        break;
    case OPT_STRUCTURE:
        a->structure_text = optarg;
        break;
    case OPT_QUANT:
        a->quant_text = optarg;
        break;
    case OPT_ASYM:
        a->layer.format.quant.asymmetric = 1;
        break;
    case OPT_CALIB:
        a->calib_text = optarg;
        break;
    case OPT_PERCENTILE:
        if (!cli_parse_double(optarg, &v) || v < 50.0 || v > 100.0)
            return cli_usage_error("--percentile '%s' is not a number in [50, 100]", optarg);
        a->layer.format.quant.percentile = v;
        break;
    case OPT_INCLUDE:
        a->include = optarg;
        break;
    case OPT_EXCLUDE:
        a->exclude = optarg;
        break;
    case OPT_MAX_NMSE:
        if (!cli_parse_double(optarg, &v) || v < 0.0)
            return cli_usage_error("--max-nmse '%s' is not a number >= 0", optarg);
        a->layer.max_nmse = v;
        a->have_gate = true;
        break;
    case OPT_MIN_SQNR:
        if (!cli_parse_double(optarg, &v))
            return cli_usage_error("--min-sqnr '%s' is not a number (dB)", optarg);
        a->layer.min_sqnr_db = v;
        a->have_gate = true;
        break;
    case OPT_NO_ROLLBACK:
        a->layer.no_rollback = 1;
        break;
    case OPT_METHOD:
        if (sparq_method_parse(optarg, &a->layer.method) != SPARQ_OK)
            return cli_usage_error("--method '%s' is not rtn, wanda, gptq or sparsegpt", optarg);
        break;
    case OPT_STATS:
        a->stats = optarg;
        break;
    case OPT_GATE:
        a->gate_text = optarg;
        if (!parse_gate(optarg, &a->layer.gate_metric))
            return cli_usage_error("--gate '%s' is not auto, weights or outputs", optarg);
        break;
    case OPT_DAMP:
        if (!cli_parse_double(optarg, &v) || v <= 0.0 || v > 10.0)
            return cli_usage_error("--damp '%s' is not a number in (0, 10]", optarg);
        a->layer.damp = v;
        break;
    case OPT_BLOCK_SIZE:
        if (!cli_parse_double(optarg, &v) || v < 1.0 || v > 65536.0 || v != floor(v))
            return cli_usage_error("--block-size '%s' is not a whole number in [1, 65536]",
                               optarg);
        a->layer.block_size = (size_t)v;
        break;
    case OPT_ACT_ORDER:
        a->layer.act_order = 1;
        break;
    case OPT_FORCE:
        a->force = true;
        break;
    case OPT_TENSOR_TYPE: {
        /* parsed once --calib is known (check_options); the text is kept for now */
        convert_rule *grown = realloc(a->rules, (a->rule_count + 1) * sizeof *grown);
        if (!grown)
            return cli_error("out of memory");
        a->rules = grown;
        memset(&a->rules[a->rule_count], 0, sizeof *a->rules);
        a->rules[a->rule_count++].text = optarg;
        break;
    }
    case OPT_KEEP_SPLIT:
        a->keep_split = true;
        break;
    case OPT_THREADS:
        if (!cli_parse_double(optarg, &v) || v < 1.0 || v > 1024.0 || v != floor(v))
            return cli_usage_error("--threads '%s' is not a whole number in [1, 1024]", optarg);
        a->threads = (unsigned)v;
        break;
    }
    return 0;
}

/* What can be checked only once every option is read: the texts of --structure, --quant
 * and --calib, and what --method, --act-order and --gate need. Returns 0 or 2. */
static int check_options(convert_args *a)
{
    int bad = parse_format(a, &a->layer.format);
    if (bad == 1)
        return cli_usage_error("--structure '%s' is not dense, csr, bsrRxC (R, C in 1, 2, 4, 8, "
                           "16, 32) or N:M (1 <= N < M <= 16)", a->structure_text);
    if (bad == 2)
        return cli_usage_error("--quant '%s' is not f32, f16, i8-tensor, i8-row, i8-gG, "
                           "i4-tensor, i4-row or i4-gG (G in 32, 64, 128, 256)", a->quant_text);
    if (!parse_calib(a->calib_text, &a->layer.format.quant))
        return cli_usage_error("--calib '%s' is not minmax, percentile or mse", a->calib_text);
    if (a->layer.method != SPARQ_METHOD_RTN && !a->stats)
        return cli_usage_error("--method %s needs --stats FILE (calibration statistics)",
                           sparq_method_name(a->layer.method));
    if (a->layer.act_order && a->layer.method != SPARQ_METHOD_GPTQ)
        return cli_usage_error("--act-order is for --method gptq, not %s",
                           sparq_method_name(a->layer.method));
    if (a->layer.gate_metric == SPARQ_GATE_OUTPUTS && !a->stats)
        return cli_usage_error("--gate %s needs --stats FILE", a->gate_text);
    for (size_t i = 0; i < a->rule_count; i++) {
        int rc = cli_convert_rule_parse(a->rules[i].text, &a->layer.format.quant,
                                        &a->rules[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* The selection's regular expressions: --include (or the default exclusion when there is
 * none) and --exclude. Returns 0 or 2. */
static int compile_selection(convert_args *a)
{
    int rc = 0;
    if (a->include) {
        rc = compile_regex(&a->include_re, a->include, 0, "--include");
        a->have_include = rc == 0;
    } else {
        rc = compile_regex(&a->default_re, DEFAULT_EXCLUDE, REG_ICASE, "default");
        a->have_default = rc == 0;
    }
    if (rc == 0 && a->exclude) {
        rc = compile_regex(&a->exclude_re, a->exclude, 0, "--exclude");
        a->have_exclude = rc == 0;
    }
    return rc;
}

/* Fills *a from argv; returns 0, or the exit code (2 usage, or -1 for --help). */
static int parse_args(int argc, char **argv, convert_args *a)
{
    static const struct option longs[] = {
        { "sparsity", required_argument, NULL, OPT_SPARSITY },
        { "structure", required_argument, NULL, OPT_STRUCTURE },
        { "quant", required_argument, NULL, OPT_QUANT },
        { "asymmetric", no_argument, NULL, OPT_ASYM },
        { "calib", required_argument, NULL, OPT_CALIB },
        { "percentile", required_argument, NULL, OPT_PERCENTILE },
        { "include", required_argument, NULL, OPT_INCLUDE },
        { "exclude", required_argument, NULL, OPT_EXCLUDE },
        { "max-nmse", required_argument, NULL, OPT_MAX_NMSE },
        { "min-sqnr", required_argument, NULL, OPT_MIN_SQNR },
        { "no-rollback", no_argument, NULL, OPT_NO_ROLLBACK },
        { "method", required_argument, NULL, OPT_METHOD },
        { "stats", required_argument, NULL, OPT_STATS },
        { "gate", required_argument, NULL, OPT_GATE },
        { "damp", required_argument, NULL, OPT_DAMP },
        { "block-size", required_argument, NULL, OPT_BLOCK_SIZE },
        { "act-order", no_argument, NULL, OPT_ACT_ORDER },
        { "force", no_argument, NULL, OPT_FORCE },
        { "tensor-type", required_argument, NULL, OPT_TENSOR_TYPE },
        { "keep-split", no_argument, NULL, OPT_KEEP_SPLIT },
        { "threads", required_argument, NULL, OPT_THREADS },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    memset(a, 0, sizeof *a);
    a->layer.sparsity = 0.5;
    a->structure_text = "csr";
    a->quant_text = "i8-row";
    a->calib_text = "minmax";
    a->gate_text = "auto";
    int rc = cli_parse_options(argc, argv, longs, apply_option, a, usage, 2);
    if (rc != 0)
        return rc;
    if (!a->have_gate)
        a->layer.max_nmse = DEFAULT_MAX_NMSE;
    if ((rc = check_options(a)) != 0)
        return rc;
    if (argc - optind != 2) {
        return cli_usage_error("expected IN and OUT, got %d argument%s", argc - optind,
                               argc - optind == 1 ? "" : "s");
    }
    a->in = argv[optind];
    a->out = argv[optind + 1];
    if (a->threads == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        a->threads = cores > 0 ? (unsigned)cores : 1;
    }
    rc = compile_selection(a);
    return rc != 0 ? rc : cli_convert_recipes_compile(a);
}

/* The folder part of path into folder: "." when none, "/" at the root. */
static void folder_of(const char *path, char *folder, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(folder, size, ".");
    else if (slash == path)
        snprintf(folder, size, "/");
    else
        snprintf(folder, size, "%.*s", (int)(slash - path), path);
}

static int check_output_folder(const char *path)
{
    char folder[4096];
    folder_of(path, folder, sizeof folder);
    if (access(folder, W_OK | X_OK) != 0)
        return cli_error("cannot write %s: folder %s: %s", path, folder, strerror(errno));
    return 0;
}

/* What lstat finds at path, which the atomic write would replace: nothing is fine, a
 * regular file only with force; anything else (a symbolic link, even to a regular file,
 * a folder, a FIFO, a device, a socket) never. Returns 0, or 1 after printing why. */
static int check_output_path(const char *path, bool force)
{
    struct stat info;
    if (lstat(path, &info) != 0) {
        if (errno == ENOENT)
            return 0;
        return cli_error("cannot write %s: %s", path, strerror(errno));
    }
    mode_t m = info.st_mode;
    const char *kind = S_ISREG(m)                 ? NULL
                       : S_ISLNK(m)               ? "a symbolic link"
                       : S_ISDIR(m)               ? "a folder"
                       : S_ISFIFO(m)              ? "a FIFO"
                       : S_ISCHR(m) || S_ISBLK(m) ? "a device node"
                       : S_ISSOCK(m)              ? "a socket"
                                                  : "something other than a file";
    if (kind)
        return cli_error("%s is %s, not a regular file: refusing to replace it (remove it "
                         "or choose another output)", path, kind);
    if (!force)
        return cli_error("%s exists; pass --force to replace it", path);
    return 0;
}

/* Whether OUT and its report may be written: each path is free or (with --force) a
 * regular file, and their folder is writable. Checked before any work, and again just
 * before writing. Returns 0, or 1 after printing why. */
static int check_outputs(const convert_args *a, const char *report_path)
{
    if (check_output_path(a->out, a->force) != 0 ||
        check_output_path(report_path, a->force) != 0)
        return 1;
    return check_output_folder(a->out);
}

/* Opens IN (a file or a model folder: sparq_model_open) and, with --stats, the
 * statistics; returns 0, or 1 after printing why. */
static int open_inputs(const convert_args *a, sparq_model **model, sparq_safetensors **stats)
{
    char what[4200];
    sparq_status st = sparq_model_open(a->in, model);
    if (st != SPARQ_OK) {
        snprintf(what, sizeof what, "reading %s", a->in);
        return cli_fail(what, st);
    }
    if (a->stats && (st = sparq_safetensors_open(a->stats, stats)) != SPARQ_OK) {
        snprintf(what, sizeof what, "reading the statistics %s", a->stats);
        sparq_model_close(*model);
        *model = NULL;
        return cli_fail(what, st);
    }
    return 0;
}

/* OUT + ".report.json" (malloc'ed), or NULL when out of memory. */
static char *report_path_of(const char *out)
{
    size_t n = strlen(out);
    char *path = malloc(n + sizeof ".report.json");
    if (path) {
        memcpy(path, out, n);
        memcpy(path + n, ".report.json", sizeof ".report.json");
    }
    return path;
}

/* Writes OUT and its report so that both are there or neither: the paths are checked
 * again (something may have appeared there during the conversion), the report goes to a
 * temporary file first (if it cannot be written, nothing is), then OUT (atomically, by
 * sparq_safetensors_writer_write), then the report is renamed into place (OUT removed
 * again if that fails). Returns 0, or 1 after printing why. */
static int write_outputs(const convert_args *a, const sparq_safetensors_writer *writer,
                         const char *report_text, const char *report_path)
{
    char *report_tmp = NULL;
    if (check_outputs(a, report_path) != 0 ||
        cli_convert_write_temp(report_path, report_text, &report_tmp) != 0)
        return 1;
    int rc = 0;
    sparq_status st = sparq_safetensors_writer_write(writer, a->out);
    if (st != SPARQ_OK) {
        char what[4200];
        snprintf(what, sizeof what, "writing %s", a->out);
        rc = cli_fail(what, st);
    } else if (rename(report_tmp, report_path) != 0) {
        cli_error("cannot rename %s to %s: %s", report_tmp, report_path, strerror(errno));
        unlink(a->out);
        rc = 1;
    }
    if (rc != 0)
        unlink(report_tmp);
    free(report_tmp);
    return rc;
}

/* When most layers (more than half) were rolled back from the recipe asked for (they
 * failed the gate, or were no smaller than dense), a warning on stderr with safer recipes
 * to try; the output is valid all the same. */
static void print_rollback_warning(const convert_args *a, const convert_totals *totals)
{
    if (totals->converted == 0 || 2 * totals->rolled_back <= totals->converted)
        return;
    const sparq_convert_options *l = &a->layer;
    if (totals->last_rung == totals->converted)
        cli_error("warning: every layer failed the gate down to dense f32: the recipe (%s "
                  "%s, method %s) is unsuitable for this model; the output is uncompressed "
                  "(see the refusals above)", a->structure_text, a->quant_text,
                  sparq_method_name(l->method));
    else
        cli_error("warning: %zu of %zu layers were rolled back from the recipe (%s %s, "
                  "method %s): they failed the gate or were no smaller than dense (see the "
                  "refusals above); the output is valid but less compressed than asked",
                  totals->rolled_back, totals->converted, a->structure_text, a->quant_text,
                  sparq_method_name(l->method));
    fprintf(stderr, "  safer recipes to try:\n");
    if (l->format.structure == SPARQ_STRUCTURE_CSR || l->format.structure == SPARQ_STRUCTURE_BSR)
        fprintf(stderr, "  - less pruning: --sparsity %g (now %g), or --structure dense\n",
                l->sparsity / 2, l->sparsity);
    else if (l->format.structure != SPARQ_STRUCTURE_DENSE)
        fprintf(stderr, "  - no pruning: --structure dense\n");
    if (l->format.quant.encoding == SPARQ_ENCODING_I4)
        fprintf(stderr, "  - more bits: --quant i8-row, or i4 with small groups (i4-g32)\n");
    if (l->method == SPARQ_METHOD_RTN)
        fprintf(stderr, "  - a calibrated method, which compensates the error: --method "
                        "sparsegpt (pruning) or gptq (quantization) with --stats FILE\n");
    fprintf(stderr, "  - or accept more error: a looser gate (--max-nmse, --min-sqnr)\n");
}

/* What a finished run says: the table, the totals, the files written, and a warning when
 * most layers were rolled back. */
static void print_summary(const convert_args *a, const layer_row *rows, size_t row_count,
                          const convert_totals *totals, const char *wrote)
{
    if (row_count == 0)
        cli_error("note: no tensor was selected for conversion; the output is a copy (see "
                  "--include in sparq convert --help)");
    cli_convert_print_table(rows, row_count);
    char before[24], after[24];
    cli_convert_human_bytes(totals->bytes_before, before, sizeof before);
    cli_convert_human_bytes(totals->bytes_after, after, sizeof after);
    printf("\n%zu layers converted (%zu rolled back), %zu tensors copied unchanged\n",
           totals->converted, totals->rolled_back, totals->copied);
    printf("total: %s -> %s (%llu -> %llu bytes), compression %.2fx, %.1f s\n", before, after,
           (unsigned long long)totals->bytes_before, (unsigned long long)totals->bytes_after,
           totals->bytes_after ? (double)totals->bytes_before / (double)totals->bytes_after
                               : 0.0,
           totals->seconds);
    printf("wrote %s\n", wrote);
    print_rollback_warning(a, totals);
}

/* --keep-split's folder, filled at tmp: the shards (written already), the index, IN's
 * config.json with the quantization_config, IN's other files, and the report. Returns 0,
 * or 1 after printing why. */
static int write_folder(const convert_args *a, const sparq_model *model, const char *tmp,
                        json_t *weight_map, json_t *config, const layer_row *rows,
                        size_t row_count, json_t *copied, const convert_totals *totals,
                        const char *report_text)
{
    char path[4352];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", tmp);
    json_t *index = cli_convert_index_json(weight_map, totals->bytes_after);
    int rc = index ? cli_convert_write_json(path, index, true) : cli_error("out of memory");
    json_decref(index);
    if (rc == 0 && config) {
        json_object_set_new(config, "quantization_config",
                            cli_convert_quantization_config(a, rows, row_count, copied));
        snprintf(path, sizeof path, "%s/config.json", tmp);
        rc = cli_convert_write_json(path, config, false);
    }
    struct stat sb;
    if (rc == 0 && stat(a->in, &sb) == 0 && S_ISDIR(sb.st_mode))
        rc = cli_convert_copy_side_files(model, tmp);
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/sparq_report.json", tmp);
        FILE *f = fopen(path, "w");
        if (!f || fputs(report_text, f) < 0 || fclose(f) != 0)
            rc = cli_error("cannot write %s: %s", path, strerror(errno));
    }
    return rc;
}

/* Opens, converts, and writes; returns the exit code. */
static int run(const convert_args *a)
{
    double started = cli_now_seconds();
    char *report_path = report_path_of(a->out);
    char wrote[4400];
    if (!report_path)
        return cli_error("out of memory");
    sparq_model *model = NULL;
    sparq_safetensors *stats = NULL;
    json_t *config = NULL;
    char *tmp = NULL;
    int rc = a->keep_split ? cli_convert_folder_check(a->out, a->force)
                           : check_outputs(a, report_path);
    if (rc == 0)
        rc = open_inputs(a, &model, &stats);
    if (rc == 0 && a->keep_split)
        rc = cli_convert_config_read(sparq_model_folder(model), &config);
    if (rc == 0 && a->keep_split)
        rc = cli_convert_folder_begin(a->out, &tmp);
    if (rc != 0) {
        json_decref(config);
        sparq_safetensors_close(stats);
        sparq_model_close(model);
        free(report_path);
        return 1;
    }
    sparq_safetensors_writer *writer = NULL;
    layer_row *rows = calloc(cli_convert_tensor_count(model) + 1, sizeof *rows);
    json_t *copied = json_array();
    json_t *weight_map = a->keep_split ? json_object() : NULL;
    json_t *report = NULL;
    char *text = NULL;
    convert_totals totals = { 0 };
    size_t row_count = 0;
    sparq_status st;
    rc = 1;
    if (!rows || !copied || (a->keep_split && !weight_map)) {
        cli_error("out of memory");
        goto done;
    }
    if (!a->keep_split) {
        /* one file: one writer, its tensors spooled beside OUT */
        char folder[4096];
        folder_of(a->out, folder, sizeof folder);
        if ((st = sparq_safetensors_writer_create(&writer)) != SPARQ_OK ||
            (st = sparq_safetensors_writer_spool(writer, folder)) != SPARQ_OK) {
            rc = cli_fail("creating the writer", st);
            goto done;
        }
    }
    rc = cli_convert_model(a, model, stats, tmp, writer, weight_map, rows, &row_count, copied,
                           &totals);
    if (rc != 0)
        goto done;
    rc = 1;
    totals.seconds = cli_now_seconds() - started;
    report = cli_convert_report_json(a, rows, row_count, copied, &totals);
    size_t flags = JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10);
    text = report ? json_dumps(report, flags) : NULL;
    if (!text) {
        cli_error("out of memory for the report");
        goto done;
    }
    if (a->keep_split) {
        if (write_folder(a, model, tmp, weight_map, config, rows, row_count, copied, &totals,
                         text) != 0)
            goto done;
        rc = cli_convert_folder_commit(tmp, a->out, a->force);
        tmp = NULL; /* committed or removed */
        if (rc != 0)
            goto done;
        snprintf(wrote, sizeof wrote, "%s/ (%zu shard%s, model.safetensors.index.json, %s"
                 "sparq_report.json)", a->out, sparq_model_shard_count(model),
                 sparq_model_shard_count(model) == 1 ? "" : "s", config ? "config.json, " : "");
    } else {
        if (write_outputs(a, writer, text, report_path) != 0)
            goto done;
        snprintf(wrote, sizeof wrote, "%s and %s", a->out, report_path);
    }
    print_summary(a, rows, row_count, &totals, wrote);
    rc = 0;
done:
    cli_convert_folder_abort(tmp);
    free(report_path);
    free(text);
    json_decref(report);
    json_decref(copied);
    json_decref(weight_map);
    json_decref(config);
    sparq_safetensors_writer_free(writer);
    free(rows);
    sparq_safetensors_close(stats);
    sparq_model_close(model);
    return rc;
}

int cli_convert_main(int argc, char **argv)
{
#ifdef M_MMAP_THRESHOLD
    /* Each tensor's buffers (megabytes) come and go: served by mmap they go back to the
     * system when freed. glibc's default raises this threshold after the first such free,
     * after which they come from the heap and its fragments stay: 186 MiB instead of
     * 50 MiB for a 2 GB model on one thread (docs/converted_models.md). */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
    convert_args args;
    int rc = parse_args(argc, argv, &args);
    if (rc == 0)
        rc = run(&args);
    else if (rc < 0)
        rc = 0;
    free_args(&args);
    return rc;
}
