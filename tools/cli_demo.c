/* SPDX-License-Identifier: Apache-2.0 */
/* cli_demo.c - `sparq demo`, the top of its files: options, the conversion table (each
 * recipe converted without and with the quality gate) with held-out accuracy computed by
 * sparq's kernels on the device, then the speed part and the plots. Uses cli_demo_model.c,
 * cli_demo_plot.c, cli_demo_speed.c and cli_demo_common.c; none of them uses it. */
#include "cli_demo_parts.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_NMSE 0.05 /* the gate, as `sparq convert` defaults to               */
#define DEFAULT_REPEATS 9     /* timed calls per measurement                            */
#define MAX_SPEED_LAYERS 2    /* distinct shapes of a --model timed                      */
#define WEIGHT_SEED 0x5a4bu   /* Gaussian layers of the speed part                        */
#define WEIGHT_SIGMA 0.02f    /* their spread, as transformers initialise                */

/* ---------------------------------------------------------------------------------- */
/* The MLP on the device                                                              */
/* ---------------------------------------------------------------------------------- */

/* Runs the whole test split through the layers (sparq_linear with bias + ReLU fused, the
 * last layer without ReLU), chained by events; pred gets each digit's argmax. */
static sparq_status mlp_predict(demo_device *dev, const demo_model *m,
                                sparq_packed *const *packed, int *pred)
{
    size_t n = m->ntest, L = m->nlayers, classes = m->layers[L - 1].rows;
    sparq_matrix *mat[MAX_MLP_LAYERS] = {0};
    cl_mem bias[MAX_MLP_LAYERS] = {0}, act[MAX_MLP_LAYERS + 1] = {0};
    sparq_status st = SPARQ_OK;
    act[0] = demo_buffer(dev, m->test_x, n * m->layers[0].cols, &st);
    for (size_t i = 0; i < L && st == SPARQ_OK; i++) {
        st = sparq_matrix_create(dev->ctx, packed[i], NULL, &mat[i]);
        bias[i] = demo_buffer(dev, m->layers[i].bias, m->layers[i].rows, &st);
        act[i + 1] = demo_buffer(dev, NULL, n * m->layers[i].rows, &st);
    }
    cl_event prev = NULL;
    for (size_t i = 0; i < L && st == SPARQ_OK; i++) {
        sparq_epilogue ep = {.bias = bias[i],
                             .activation = i + 1 < L ? SPARQ_ACTIVATION_RELU
                                                     : SPARQ_ACTIVATION_NONE};
        cl_event ev = NULL;
        st = sparq_linear(mat[i], dev->queue, act[i], 0, act[i + 1], 0, n, &ep, prev ? 1 : 0,
                          prev ? &prev : NULL, &ev);
        if (prev)
            clReleaseEvent(prev);
        prev = ev;
    }
    float *logits = st == SPARQ_OK ? malloc(n * classes * sizeof *logits) : NULL;
    if (st == SPARQ_OK && !logits)
        st = SPARQ_ERROR_OUT_OF_MEMORY;
    if (st == SPARQ_OK)
        st = clEnqueueReadBuffer(dev->queue, act[L], CL_TRUE, 0, n * classes * sizeof *logits,
                                 logits, 1, &prev, NULL);
    for (size_t s = 0; st == SPARQ_OK && s < n; s++) {
        const float *row = logits + s * classes;
        size_t best = 0;
        for (size_t c = 1; c < classes; c++)
            best = row[c] > row[best] ? c : best; /* ties: the lowest index, as numpy */
        pred[s] = (int)best;
    }
    free(logits);
    if (prev)
        clReleaseEvent(prev);
    for (size_t i = 0; i <= L; i++) {
        if (i < L)
            sparq_matrix_free(mat[i]);
        if (i < L && bias[i])
            clReleaseMemObject(bias[i]);
        if (act[i])
            clReleaseMemObject(act[i]);
    }
    return st;
}

static size_t count_equal(const int *a, const int *b, size_t n)
{
    size_t same = 0;
    for (size_t i = 0; i < n; i++)
        same += a[i] == b[i];
    return same;
}

/* ---------------------------------------------------------------------------------- */
/* Recipes over the whole model                                                       */
/* ---------------------------------------------------------------------------------- */

/* Calibration of the activation-aware methods: each layer's statistics (H = X^T X, with
 * the sums of squares) over its inputs X when calib.x runs through the model on the host:
 * fc1 sees calib.x, fc2 ReLU(fc1 calib.x + b1), and so on. The inputs of layer L come
 * from the earlier layers as already compressed by the same recipe (and gate), as the
 * GPTQ and SparseGPT reference code runs layer by layer: the statistics then include the
 * error the earlier layers made, which L's own sweep compensates. Measured on the digits
 * MLP (held-out accuracy, no gate, against the original model's activations): csr 90%
 * sparsegpt 85.3 % from compressed vs 74.4 % from original activations, csr 90% + i8-row
 * sparsegpt 59.8 vs 40.2 (before its row scales were chosen after the sweep), 2:4
 * sparsegpt 96.9 vs 97.3, csr 90% wanda 22.4 vs 41.1 (Wanda updates no weight, so it
 * gains nothing from seeing the earlier layers' error), i4-g128 gptq 97.8 both. The
 * compressed activations win where it matters most (SparseGPT at 90 %), so they are used
 * for every method. */

static bool recipe_calibrated(const demo_recipe *r)
{
    return r->method != SPARQ_METHOD_RTN;
}

/* A recipe runs when it needs no statistics, or the model has calib.x to make them. */
static bool recipe_usable(const demo_model *m, const demo_recipe *r)
{
    return !recipe_calibrated(r) || (m->mlp && m->calib_x);
}

/* "magnitude" for a pruned format made by RTN, "rtn" for a quantized dense one, "-" for
 * dense f32 (nothing done), else the method's own name. */
static const char *method_label(const demo_recipe *r)
{
    if (recipe_calibrated(r))
        return sparq_method_name(r->method);
    if (r->structure != SPARQ_STRUCTURE_DENSE)
        return "magnitude";
    return r->encoding == SPARQ_ENCODING_F32 ? "-" : "rtn";
}

/* out (n x l->rows) = in (n x l->cols) w^T + l->bias, ReLU when relu: w is the layer's
 * weights, original or as converted; sums in double (the training script's reference). */
static void host_layer(const model_layer *l, const float *w, const float *in, size_t n,
                       bool relu, float *out)
{
    for (size_t t = 0; t < n; t++) {
        const float *x = in + t * l->cols;
        for (size_t r = 0; r < l->rows; r++) {
            const float *wr = w + r * l->cols;
            double acc = l->bias ? l->bias[r] : 0.0;
            for (size_t k = 0; k < l->cols; k++)
                acc += (double)wr[k] * x[k];
            out[t * l->rows + r] = (float)(relu && acc < 0 ? 0.0 : acc);
        }
    }
}

/* One recipe on every layer, with or without the gate. */
typedef struct outcome {
    size_t correct;        /* test digits right (MLP only)                            */
    double worst_nmse;     /* the largest layer NMSE the gate compares: of the weights,
                            * or of the outputs (NMSE_out) for calibrated methods     */
    uint64_t weight_bytes; /* packed bytes of every layer                             */
    uint64_t bytes;        /* plus biases (f32)                                        */
    size_t weights;
    unsigned rollbacks;    /* in all layers                                           */
    sparq_convert_result *layer; /* per layer                                          */
} outcome;

/* The buffers of the calibration forward pass: inputs of the layer being converted, of
 * the next one, and the converted weights. */
typedef struct calib_pass {
    float *act, *next, *w;
} calib_pass;

static sparq_status calib_pass_create(const demo_model *m, calib_pass *p)
{
    size_t widest = m->layers[0].cols, largest = 1;
    for (size_t i = 0; i < m->nlayers; i++) {
        widest = m->layers[i].rows > widest ? m->layers[i].rows : widest;
        size_t size = m->layers[i].rows * m->layers[i].cols;
        largest = size > largest ? size : largest;
    }
    p->act = malloc(m->ncalib * widest * sizeof(float));
    p->next = malloc(m->ncalib * widest * sizeof(float));
    p->w = malloc(largest * sizeof(float));
    if (!p->act || !p->next || !p->w)
        return SPARQ_ERROR_OUT_OF_MEMORY;
    memcpy(p->act, m->calib_x, m->ncalib * m->layers[0].cols * sizeof(float));
    return SPARQ_OK;
}

static void calib_pass_free(calib_pass *p)
{
    free(p->act), free(p->next), free(p->w);
}

/* Layer i converted into packed: its calibration inputs move on to layer i + 1. */
static sparq_status calib_pass_advance(const demo_model *m, size_t i,
                                       const sparq_packed *packed, calib_pass *p)
{
    const model_layer *l = &m->layers[i];
    sparq_status st = sparq_packed_unpack(packed, p->w);
    if (st != SPARQ_OK)
        return st;
    host_layer(l, p->w, p->act, m->ncalib, true, p->next);
    float *t = p->act;
    p->act = p->next, p->next = t;
    return SPARQ_OK;
}

static sparq_status run_recipe(demo_device *dev, const demo_model *m, const demo_recipe *r,
                               double gate, outcome *out, int *pred)
{
    sparq_convert_options opt = demo_convert_options(r, gate);
    bool calibrated = recipe_calibrated(r);
    sparq_packed **packed = calloc(m->nlayers, sizeof *packed);
    int *own_pred = m->mlp && !pred ? malloc(m->ntest * sizeof *own_pred) : NULL;
    calib_pass pass = {0};
    sparq_status st = packed && (!m->mlp || pred || own_pred) ? SPARQ_OK
                                                              : SPARQ_ERROR_OUT_OF_MEMORY;
    if (st == SPARQ_OK && calibrated)
        st = m->calib_x ? calib_pass_create(m, &pass) : SPARQ_ERROR_INVALID_ARGUMENT;
    for (size_t i = 0; i < m->nlayers && st == SPARQ_OK; i++) {
        const model_layer *l = &m->layers[i];
        sparq_convert_result *res = &out->layer[i];
        sparq_calib *calib = NULL;
        if (calibrated) {
            st = sparq_calib_create(l->cols, 1, &calib);
            if (st == SPARQ_OK)
                st = sparq_calib_accumulate(calib, pass.act, m->ncalib);
            opt.calib = calib;
        }
        if (st == SPARQ_OK)
            st = sparq_layer_convert(l->w, l->rows, l->cols, &opt, &packed[i], res);
        sparq_calib_free(calib);
        opt.calib = NULL;
        if (st != SPARQ_OK)
            break;
        if (calibrated && i + 1 < m->nlayers)
            st = calib_pass_advance(m, i, packed[i], &pass);
        out->worst_nmse = fmax(out->worst_nmse,
                               calibrated ? res->output_nmse : res->error.nmse);
        out->weight_bytes += res->bytes_after;
        out->bytes += res->bytes_after + (l->bias ? l->rows * sizeof(float) : 0);
        out->weights += l->rows * l->cols;
        out->rollbacks += res->rollbacks;
        if (!m->mlp) { /* only the table's numbers are needed */
            sparq_packed_free(packed[i]);
            packed[i] = NULL;
        }
    }
    if (st == SPARQ_OK && m->mlp) {
        st = mlp_predict(dev, m, packed, pred ? pred : own_pred);
        out->correct = st == SPARQ_OK ? count_equal(pred ? pred : own_pred, m->test_y, m->ntest)
                                      : 0;
    }
    for (size_t i = 0; packed && i < m->nlayers; i++)
        sparq_packed_free(packed[i]);
    free(packed);
    free(own_pred);
    calib_pass_free(&pass);
    return st;
}

static void print_outcome(const demo_model *m, const outcome *o)
{
    if (m->mlp)
        printf(" %6.2f", 100.0 * (double)o->correct / (double)m->ntest);
    printf(" %10.2e %9.1f %6.2f", o->worst_nmse, (double)o->bytes / 1024.0,
           8.0 * (double)o->weight_bytes / (double)o->weights);
}

/* "csr+f32 s=0.45", "2:4+i8-row", "dense+i4-g128": what a conversion made (its format's
 * spelling, and the sparsity of a structure that prunes). */
static void format_name(const sparq_pack_options *f, double sparsity, char *out, size_t size)
{
    char name[64];
    sparq_format_name(f, name, sizeof name);
    if (f->structure == SPARQ_STRUCTURE_CSR || f->structure == SPARQ_STRUCTURE_BSR)
        snprintf(out, size, "%s s=%.2f", name, sparsity);
    else
        snprintf(out, size, "%s", name);
}

/* "csr 90%" for RTN, "csr 90% sparsegpt" for a calibrated method. */
static void recipe_label(const demo_recipe *r, char *out, size_t size)
{
    if (recipe_calibrated(r))
        snprintf(out, size, "%s %s", r->name, sparq_method_name(r->method));
    else
        snprintf(out, size, "%s", r->name);
}

/* Every rolled-back layer of the gated runs: what was kept, and the trail. */
static void print_rollbacks(const demo_model *m, const outcome *gated)
{
    bool any = false;
    for (size_t r = 0; r < demo_recipe_count; r++)
        for (size_t i = 0; i < m->nlayers && recipe_usable(m, &demo_recipes[r]); i++) {
            const sparq_convert_result *res = &gated[r].layer[i];
            if (!res->rollbacks)
                continue;
            if (!any)
                printf("\nrolled back by the gate (the layer kept, then each refused step):\n");
            any = true;
            char kept[96], label[64];
            format_name(&res->format, res->sparsity, kept, sizeof kept);
            recipe_label(&demo_recipes[r], label, sizeof label);
            printf("  %-27s %-12s -> %s, NMSE %.2e; refused: %s\n", label, m->layers[i].name,
                   kept, recipe_calibrated(&demo_recipes[r]) ? res->output_nmse
                                                             : res->error.nmse,
                   res->trail);
        }
    if (!any)
        printf("\nno layer needed a rollback\n");
}

/* Calibrated methods against the magnitude / round-to-nearest row of the same format,
 * one line per format: "csr 90%: magnitude 33.6 % (-64.2 points), sparsegpt ...". */
static void print_methods(const demo_model *m, const outcome *plain)
{
    if (!m->mlp || !m->calib_x) {
        printf("\nno wanda/gptq/sparsegpt rows: %s\n",
               m->mlp ? "the model has no calibration inputs (calib.x)"
                      : "they need the demo's MLP layout (fc1..fcN, test.x/y) with calib.x");
        return;
    }
    double n = (double)m->ntest, base = 100.0 * (double)plain[0].correct / n;
    printf("\nwithout and with calibration (no gate): wanda, gptq and sparsegpt see calib.x,"
           " %zu\ntraining digits (never the test split); each layer's X^T X is over the"
           " inputs it gets\nfrom the earlier layers as compressed:\n",
           m->ncalib);
    for (size_t r = 0; r < demo_recipe_count; r++) {
        const demo_recipe *d = &demo_recipes[r];
        if (recipe_calibrated(d))
            continue;
        bool any = false;
        for (size_t c = 0; c < demo_recipe_count; c++) {
            const demo_recipe *e = &demo_recipes[c];
            if (!recipe_calibrated(e) || strcmp(e->name, d->name) != 0)
                continue;
            if (!any) {
                double acc = 100.0 * (double)plain[r].correct / n;
                printf("  %s: %s %.1f %% (%+.1f points)", d->name, method_label(d), acc,
                       acc - base);
            }
            any = true;
            double acc = 100.0 * (double)plain[c].correct / n;
            printf(", %s %.1f %% (%+.1f points)", method_label(e), acc, acc - base);
        }
        if (any)
            printf("\n");
    }
}

/* The lines that say what the table shows, from its own numbers. */
static void print_findings(const demo_model *m, const outcome *plain, const outcome *gated)
{
    double n = (double)m->ntest, base = 100.0 * (double)plain[0].correct / n;
    printf("\nwhat it shows:\n");
    for (size_t r = 1; r < demo_recipe_count; r++) {
        if (!recipe_usable(m, &demo_recipes[r]))
            continue;
        double acc = 100.0 * (double)plain[r].correct / n;
        double acc_g = 100.0 * (double)gated[r].correct / n;
        double smaller = (double)plain[0].bytes / (double)plain[r].bytes;
        char label[64];
        recipe_label(&demo_recipes[r], label, sizeof label);
        printf("  %-27s %5.1fx smaller, %+6.2f points", label, smaller, acc - base);
        if (gated[r].rollbacks)
            printf("; gated: %u rollback%s, %.1fx smaller, %+6.2f points", gated[r].rollbacks,
                   gated[r].rollbacks == 1 ? "" : "s",
                   (double)plain[0].bytes / (double)gated[r].bytes, acc_g - base);
        printf("\n");
    }
    double quant_loss = 0, prune_loss = 0, gated_loss = 0;
    for (size_t r = 1; r < demo_recipe_count; r++) {
        const demo_recipe *d = &demo_recipes[r];
        if (recipe_calibrated(d))
            continue;
        double loss = base - 100.0 * (double)plain[r].correct / n;
        if (d->structure == SPARQ_STRUCTURE_DENSE)
            quant_loss = fmax(quant_loss, loss);
        if (d->structure == SPARQ_STRUCTURE_CSR && d->sparsity >= 0.9 &&
            d->encoding == SPARQ_ENCODING_F32) {
            prune_loss = loss;
            gated_loss = base - 100.0 * (double)gated[r].correct / n;
        }
    }
    printf("  quantization alone (f16, i8, i4) costs at most %.2f points; pruning 90%% by\n"
           "  magnitude without fine-tuning costs %.2f; the gate sees it in each layer's NMSE,\n"
           "  rolls those layers back, and the loss is %.2f points.\n",
           quant_loss, prune_loss, gated_loss);
}

static int conversion_report(demo_device *dev, const demo_model *m, const char *source,
                             double gate)
{
    size_t R = demo_recipe_count, steps = 0;
    outcome *plain = calloc(R, sizeof *plain), *gated = calloc(R, sizeof *gated);
    sparq_convert_result *results = calloc(2 * R * m->nlayers, sizeof *results);
    int *dense_pred = m->mlp ? malloc(m->ntest * sizeof *dense_pred) : NULL;
    if (!plain || !gated || !results || (m->mlp && !dense_pred)) {
        free(plain), free(gated), free(results), free(dense_pred);
        return cli_fail("the conversion table", SPARQ_ERROR_OUT_OF_MEMORY);
    }
    for (size_t r = 0; r < R; r++)
        steps += recipe_usable(m, &demo_recipes[r]) ? 2 : 0;
    cli_progress progress;
    cli_progress_start(&progress, steps);
    sparq_status st = SPARQ_OK;
    char failed[64] = "";
    for (size_t r = 0, done = 0; r < R && st == SPARQ_OK; r++) {
        plain[r].layer = results + 2 * r * m->nlayers;
        gated[r].layer = plain[r].layer + m->nlayers;
        if (!recipe_usable(m, &demo_recipes[r]))
            continue;
        recipe_label(&demo_recipes[r], failed, sizeof failed);
        cli_progress_step(&progress, done++, failed);
        st = run_recipe(dev, m, &demo_recipes[r], 0.0, &plain[r], r == 0 ? dense_pred : NULL);
        cli_progress_step(&progress, done++, failed);
        if (st == SPARQ_OK)
            st = run_recipe(dev, m, &demo_recipes[r], gate, &gated[r], NULL);
    }
    cli_progress_step(&progress, steps, "done");
    cli_progress_done(&progress);
    int rc = 0;
    if (st != SPARQ_OK) {
        char what[128];
        snprintf(what, sizeof what, "demo: converting and running %s", failed);
        rc = cli_fail(what, st);
    } else {
        printf("\n== %s: %zu layers, %zu weights ==\n", m->mlp ? "Accuracy" : "Conversion",
               m->nlayers, plain[0].weights);
        printf("model: %s\n", source);
        if (m->mlp) {
            const char *acc = sparq_safetensors_metadata(m->file, "test_accuracy");
            size_t correct = plain[0].correct;
            printf("test split: %zu held-out digits; accuracy computed by sparq_linear on the"
                   " device (bias + ReLU fused)\n", m->ntest);
            if (acc)
                printf("training script: %.2f %%; ", 100.0 * strtod(acc, NULL));
            printf("sparq dense f32: %.2f %% (%zu/%zu)",
                   100.0 * (double)correct / (double)m->ntest, correct, m->ntest);
            if (m->test_pred)
                printf(", same predictions as the script for %zu/%zu digits",
                       count_equal(dense_pred, m->test_pred, m->ntest), m->ntest);
            printf("\n");
        }
        printf("gate: every layer's NMSE vs its original <= %g (--max-nmse); a layer that"
               " fails rolls\nback to less sparsity, then no pruning, then more bits.",
               gate);
        if (m->mlp && m->calib_x)
            printf(" Calibrated methods (wanda, gptq,\nsparsegpt) are gated on, and show as"
                   " worst NMSE, the NMSE of the layer's outputs on\ncalib.x (NMSE_out);"
                   " magnitude and rtn on the NMSE of the weights.");
        printf("\n\n");
        const char *acc_h = m->mlp ? "  acc %" : "";
        int half = m->mlp ? 34 : 27;
        printf("%-17s %-9s | %-*s | with the gate\n", "", "", half, "no gate");
        printf("%-17s %-9s |%s %10s %9s %6s |%s %10s %9s %6s %9s\n", "recipe", "method",
               acc_h, "worst NMSE", "KiB", "bits/w", acc_h, "worst NMSE", "KiB", "bits/w",
               "rollbacks");
        for (size_t r = 0; r < R; r++) {
            if (!recipe_usable(m, &demo_recipes[r]))
                continue;
            printf("%-17s %-9s |", demo_recipes[r].name, method_label(&demo_recipes[r]));
            print_outcome(m, &plain[r]);
            printf(" |");
            print_outcome(m, &gated[r]);
            printf(" %9u\n", gated[r].rollbacks);
        }
        print_methods(m, plain);
        print_rollbacks(m, gated);
        if (m->mlp)
            print_findings(m, plain, gated);
    }
    fflush(stdout);
    free(plain), free(gated), free(results), free(dense_pred);
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Options and the whole run                                                          */
/* ---------------------------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
        "Usage: sparq demo [OPTION]...\n"
        "\n"
        "The whole trade-off in one report. With no options it runs on an embedded model,\n"
        "an MLP trained on the UCI handwritten digits (tools/demo/train_digits.py): each\n"
        "format (dense f32, f16, i8-row, i4-g128, csr 50%%, csr 90%%, 2:4, csr 90%% + i8-row)\n"
        "is made by sparq_layer_convert without and with a quality gate, and the held-out\n"
        "digits run through sparq's kernels on the device: accuracy, size, rollbacks.\n"
        "When the model has calibration inputs (calib.x: the training digits), some formats\n"
        "are also made by GPTQ, SparseGPT and Wanda, with each layer's statistics taken on\n"
        "the host from the inputs it gets, and compared with magnitude pruning.\n"
        "Then it times the same formats on transformer-sized layers (768x3072, 4096x4096;\n"
        "batch 1 and 32) against dense CLBlast and, on a CPU device, OpenBLAS.\n"
        "\n"
        "Options:\n"
        "  --model FILE     a safetensors model instead: every 2-D F32/F16/BF16 tensor with\n"
        "                   both sizes >= 2 is converted (size, NMSE, rollbacks; accuracy\n"
        "                   only for the demo's own layout: fc1..fcN and test.x/test.y),\n"
        "                   and its %d largest distinct shapes are timed with its weights\n"
        "  --max-nmse X     the gate: each layer's NMSE vs its original <= X (default %g)\n"
        "  --repeats N      timed calls per measurement, median reported (default %d)\n"
        "  --quick          time 768x3072 only (and one shape of a --model)\n"
        "  --no-speed       skip the timing part\n"
        "  --plot DIR       also write PNG plots (and their data) into DIR through gnuplot:\n"
        "                   CSR speedup vs sparsity per batch on 4096x4096 (768x3072 with\n"
        "                   --quick), bytes per weight vs error per encoding\n"
        "  -h, --help       this text\n"
        "\n"
        "The device is chosen as everywhere in sparq (SPARQ_DEVICE=P:D or a name).\n",
        MAX_SPEED_LAYERS, DEFAULT_MAX_NMSE, DEFAULT_REPEATS);
}

typedef struct demo_args {
    const char *model, *plot_dir;
    double max_nmse;
    unsigned repeats;
    bool quick, no_speed;
} demo_args;

/* One option (getopt_long's c, optarg) into the demo_args at user; 0 to go on, 2 on a
 * usage error. */
static int apply_option(int c, void *user)
{
    demo_args *a = user;
    char *end = NULL;
    errno = 0;
    switch (c) {
    case 'm': a->model = optarg; break;
    case 'p': a->plot_dir = optarg; break;
    case 'q': a->quick = true; break;
    case 'n': a->no_speed = true; break;
    case 'g':
        if (!cli_parse_double(optarg, &a->max_nmse) || a->max_nmse < 0)
            return cli_usage_error("--max-nmse wants a number >= 0, not '%s'", optarg);
        break;
    case 'r': {
        unsigned long v = strtoul(optarg, &end, 10);
        if (errno || end == optarg || *end || v < 1 || v > 1000 || optarg[0] == '-')
            return cli_usage_error("--repeats wants a whole number from 1 to 1000, not '%s'",
                                   optarg);
        a->repeats = (unsigned)v;
        break;
    }
    }
    return 0;
}

/* 0 to go on, 2 on a usage error, -1 after --help. */
static int parse_args(int argc, char **argv, demo_args *a)
{
    static const struct option longs[] = {
        {"model", required_argument, NULL, 'm'}, {"max-nmse", required_argument, NULL, 'g'},
        {"repeats", required_argument, NULL, 'r'}, {"quick", no_argument, NULL, 'q'},
        {"no-speed", no_argument, NULL, 'n'},     {"plot", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    *a = (demo_args){.max_nmse = DEFAULT_MAX_NMSE, .repeats = DEFAULT_REPEATS};
    return cli_parse_options(argc, argv, longs, apply_option, a, usage, 0);
}

/* The speed part's layers: Gaussian 768x3072 and 4096x4096, or a --model's largest
 * distinct shapes with their own weights. *owned holds Gaussian weights to free. */
static size_t speed_layers(const demo_args *a, const demo_model *m, demo_layer *out,
                           float **owned)
{
    size_t want = a->quick ? 1 : MAX_SPEED_LAYERS, n = 0;
    if (a->model && !m->mlp) {
        for (size_t k = 0; k < want; k++) { /* the largest shape not taken yet */
            const model_layer *best = NULL;
            for (size_t i = 0; i < m->nlayers; i++) {
                const model_layer *l = &m->layers[i];
                bool taken = false;
                for (size_t j = 0; j < n; j++)
                    taken |= out[j].rows == l->rows && out[j].cols == l->cols;
                if (!taken && (!best || l->rows * l->cols > best->rows * best->cols))
                    best = l;
            }
            if (!best)
                break;
            out[n] = (demo_layer){.rows = best->rows, .cols = best->cols, .weights = best->w};
            snprintf(out[n++].label, sizeof out->label, "%s: %zu x %zu (the model's weights)",
                     best->name, best->rows, best->cols);
        }
        return n;
    }
    static const size_t shapes[MAX_SPEED_LAYERS][2] = {{768, 3072}, {4096, 4096}};
    for (; n < want; n++) {
        size_t rows = shapes[n][0], cols = shapes[n][1];
        if (!(owned[n] = malloc(rows * cols * sizeof(float))))
            return n;
        demo_fill_gaussian(owned[n], rows * cols, WEIGHT_SEED + n, WEIGHT_SIGMA);
        out[n] = (demo_layer){.rows = rows, .cols = cols, .weights = owned[n]};
        snprintf(out[n].label, sizeof out->label, "%zu x %zu (Gaussian weights, sigma %g)",
                 rows, cols, (double)WEIGHT_SIGMA);
    }
    return n;
}

int cli_demo_main(int argc, char **argv)
{
    demo_args args;
    int rc = parse_args(argc, argv, &args);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (args.plot_dir && (rc = demo_plot_prepare(args.plot_dir)) != 0)
        return rc;
    double t_start = cli_now_seconds();
    demo_model model;
    if (demo_model_open(args.model, &model))
        return 1;
    demo_device dev = {.repeats = args.repeats};
    sparq_status st = sparq_context_create(NULL, &dev.ctx);
    if (st != SPARQ_OK) {
        demo_model_free(&model);
        return cli_fail("creating a context", st);
    }
    const sparq_device_caps *caps = sparq_context_caps(dev.ctx);
    dev.cpu = caps->type == SPARQ_DEVICE_TYPE_CPU;
    dev.queue = sparq_context_queue(dev.ctx);
    printf("sparq %s demo\ndevice: %s (%s)\n", sparq_version_string(), caps->name,
           caps->platform_name);

    char source[1200];
    const char *recipe = sparq_safetensors_metadata(model.file, "recipe");
    snprintf(source, sizeof source, "%s%s%s", args.model ? args.model : "embedded digits MLP",
             recipe ? ", " : "", recipe ? recipe : "");
    rc = dev.queue ? conversion_report(&dev, &model, source, args.max_nmse)
                   : cli_fail("creating a queue", SPARQ_ERROR_INTERNAL);

    demo_layer layers[MAX_SPEED_LAYERS];
    float *owned[MAX_SPEED_LAYERS] = {0};
    size_t nlayers = rc || args.no_speed ? 0 : speed_layers(&args, &model, layers, owned);
    static const size_t batches[] = {1, 32};
    if (!rc && !args.no_speed)
        rc = nlayers ? demo_speed_report(&dev, layers, nlayers, batches, 2)
                     : cli_fail("weights of the speed part", SPARQ_ERROR_OUT_OF_MEMORY);
    for (size_t i = 0; i < MAX_SPEED_LAYERS; i++)
        free(owned[i]);
    if (!rc && args.plot_dir)
        rc = demo_plot_write(&dev, args.plot_dir, args.quick ? 768 : 4096,
                             args.quick ? 3072 : 4096);
    if (!rc)
        printf("\ndemo finished in %.1f s\n", cli_now_seconds() - t_start);
    demo_model_free(&model);
    sparq_context_free(dev.ctx);
    return rc;
}
