/* SPDX-License-Identifier: Apache-2.0 */
/* context.c - sparq_context: creating one on a chosen device or wrapping the
 * caller's cl_context, its default queue, accessors and launch counters, and the
 * tuning databases its dispatch reads.
 */
#include "internal.h"
#include "tunedb.h"

#ifdef SPARQ_HAVE_CLBLAST
#include <clblast_c.h>
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void sparq_cache_resolve(const sparq_context_options *options, char *dir, size_t dir_size,
                         bool *enabled)
{
    const char *env_cache = getenv("SPARQ_CACHE");
    *enabled = !(options && options->disable_disk_cache) &&
               !(env_cache && (strcasecmp(env_cache, "off") == 0 || strcmp(env_cache, "0") == 0));
    const char *explicit_dir = options && options->cache_dir ? options->cache_dir
                                                             : getenv("SPARQ_CACHE_DIR");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (explicit_dir && *explicit_dir)
        snprintf(dir, dir_size, "%s", explicit_dir);
    else if (xdg && *xdg)
        snprintf(dir, dir_size, "%s/sparq", xdg);
    else if (home && *home)
        snprintf(dir, dir_size, "%s/.cache/sparq", home);
    else {
        snprintf(dir, dir_size, "%s", "");
        *enabled = false; /* nowhere to put it */
    }
}

sparq_status sparq_check_reserved(const uint64_t reserved[SPARQ_RESERVED_WORDS],
                                  const char *call, const char *type)
{
    for (size_t i = 0; i < SPARQ_RESERVED_WORDS; i++)
        if (reserved[i] != 0)
            return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                              "%s: %s.reserved[%zu] is 0x%llx, not 0 (a field of a sparq "
                              "newer than this %s, or the struct was not zeroed)",
                              call, type, i, (unsigned long long)reserved[i],
                              SPARQ_VERSION_STRING);
    return SPARQ_OK;
}

/* Fills everything but the OpenCL handles; shared by create and wrap. */
static sparq_status context_init(sparq_context *ctx, const sparq_context_options *options)
{
    sparq_status st = sparq_device_caps_probe(ctx->device, &ctx->caps);
    if (st != SPARQ_OK)
        return st;
    cl_platform_id platform = NULL;
    if (clGetDeviceInfo(ctx->device, CL_DEVICE_PLATFORM, sizeof platform, &platform, NULL) ==
            CL_SUCCESS &&
        platform)
        clGetPlatformInfo(platform, CL_PLATFORM_VERSION, sizeof ctx->platform_version - 1,
                          ctx->platform_version, NULL);
    sparq_cache_resolve(options, ctx->cache_dir, sizeof ctx->cache_dir, &ctx->disk_cache);
    sparq_log(SPARQ_LOG_INFO, "device \"%s\" (%s, %s, driver %s): %s", ctx->caps.name,
              ctx->caps.vendor, ctx->caps.platform_name, ctx->caps.driver_version,
              ctx->choice);
    sparq_log(SPARQ_LOG_INFO, "program cache %s%s", ctx->disk_cache ? "at " : "off",
              ctx->disk_cache ? ctx->cache_dir : "");
    return SPARQ_OK;
}

static sparq_context *context_alloc(void)
{
    sparq_context *ctx = calloc(1, sizeof *ctx);
    if (ctx && pthread_mutex_init(&ctx->lock, NULL) != 0) {
        free(ctx);
        return NULL;
    }
    if (ctx)
        atomic_init(&ctx->holders, 1);
    return ctx;
}

void sparq_context_hold(sparq_context *ctx)
{
    atomic_fetch_add(&ctx->holders, 1);
}

sparq_status sparq_context_create(const sparq_context_options *options,
                                  sparq_context **context)
{
    if (!context)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "context_create: NULL context pointer");
    *context = NULL;
    if (options && sparq_check_reserved(options->reserved, "context_create",
                                        "sparq_context_options") != SPARQ_OK)
        return SPARQ_ERROR_INVALID_ARGUMENT;
    sparq_device_entry *entries = NULL;
    size_t count = 0;
    sparq_status st = sparq_device_list(&entries, &count);
    if (st != SPARQ_OK)
        return st;
    const char *selector = options && options->device ? options->device : getenv("SPARQ_DEVICE");
    size_t chosen = 0;
    char reason[512];
    st = sparq_device_choose(entries, count, selector, &chosen, reason, sizeof reason);
    if (st != SPARQ_OK) {
        sparq_device_list_free(entries);
        return st;
    }
    sparq_context *ctx = context_alloc();
    if (!ctx) {
        sparq_device_list_free(entries);
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "context_create: out of memory");
    }
    ctx->device = entries[chosen].device;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM,
                                     (cl_context_properties)entries[chosen].platform, 0};
    snprintf(ctx->choice, sizeof ctx->choice, "%s", reason);
    sparq_device_list_free(entries);

    cl_int err = CL_SUCCESS;
    ctx->cl_ctx = clCreateContext(props, 1, &ctx->device, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        ctx->cl_ctx = NULL;
        sparq_context_free(ctx);
        return sparq_fail_cl(err, "clCreateContext");
    }
    st = context_init(ctx, options);
    if (st != SPARQ_OK) {
        sparq_context_free(ctx);
        return st;
    }
    *context = ctx;
    return SPARQ_OK;
}

sparq_status sparq_context_wrap(cl_context cl_ctx, cl_device_id device,
                                const sparq_context_options *options, sparq_context **context)
{
    if (!context)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "context_wrap: NULL context pointer");
    *context = NULL;
    if (!cl_ctx || !device)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "context_wrap: NULL %s",
                          cl_ctx ? "device" : "cl_context");
    if (options && sparq_check_reserved(options->reserved, "context_wrap",
                                        "sparq_context_options") != SPARQ_OK)
        return SPARQ_ERROR_INVALID_ARGUMENT;
    cl_uint num_devices = 0;
    cl_int err = clGetContextInfo(cl_ctx, CL_CONTEXT_NUM_DEVICES, sizeof num_devices,
                                  &num_devices, NULL);
    if (err != CL_SUCCESS)
        return sparq_fail_cl(err, "context_wrap: clGetContextInfo");
    cl_device_id *devices = calloc(num_devices ? num_devices : 1, sizeof *devices);
    if (!devices)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "context_wrap: out of memory");
    err = clGetContextInfo(cl_ctx, CL_CONTEXT_DEVICES, num_devices * sizeof *devices, devices,
                           NULL);
    bool member = false;
    for (cl_uint i = 0; err == CL_SUCCESS && i < num_devices; i++)
        member = member || devices[i] == device;
    free(devices);
    if (err != CL_SUCCESS)
        return sparq_fail_cl(err, "context_wrap: clGetContextInfo");
    if (!member)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "context_wrap: the device does not belong to the cl_context");

    sparq_context *ctx = context_alloc();
    if (!ctx)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "context_wrap: out of memory");
    clRetainContext(cl_ctx);
    clRetainDevice(device);
    ctx->cl_ctx = cl_ctx;
    ctx->device = device;
    snprintf(ctx->choice, sizeof ctx->choice, "wrapped by the caller");
    sparq_status st = context_init(ctx, options);
    if (st != SPARQ_OK) {
        sparq_context_free(ctx);
        return st;
    }
    *context = ctx;
    return SPARQ_OK;
}

void sparq_context_tune_chain(sparq_context *ctx, sparq_tune_chain *chain)
{
    pthread_mutex_lock(&ctx->lock);
    if (!ctx->tune_loaded) {
        ctx->tune_loaded = true;
        const char *env = getenv("SPARQ_TUNE");
        ctx->tune_off = env && strcmp(env, "off") == 0;
        char path[1024] = "";
        if (!ctx->tune_off && sparq_tunedb_user_path(path, sizeof path) &&
            sparq_tunedb_load_file(path, &ctx->tune_user) != SPARQ_OK)
            ctx->tune_user = NULL;
        sparq_log(SPARQ_LOG_INFO, "tuning: %s%s", ctx->tune_off ? "off (SPARQ_TUNE=off)" :
                  path[0] ? "user database " : "no user database", ctx->tune_off ? "" : path);
    }
    chain->user = ctx->tune_off ? NULL : ctx->tune_user;
    chain->shipped = ctx->tune_off ? NULL : sparq_tunedb_shipped();
    pthread_mutex_unlock(&ctx->lock);
}

void sparq_context_tune_forget(sparq_context *ctx)
{
    pthread_mutex_lock(&ctx->lock);
    sparq_tunedb_free(ctx->tune_user);
    ctx->tune_user = NULL;
    ctx->tune_loaded = false;
    pthread_mutex_unlock(&ctx->lock);
}

void sparq_context_free(sparq_context *ctx)
{
    if (!ctx || atomic_fetch_sub(&ctx->holders, 1) > 1)
        return; /* a matrix still holds it */
#ifdef SPARQ_HAVE_CLBLAST
    /* CLBlast keeps the programs it built (each holding the cl_context) in a process-wide
     * cache that only a clear of all of it empties: without it the caller's context
     * would never go. An engine's own CLBlast calls rebuild theirs (sparq.h). */
    if (atomic_load(&ctx->peer_calls) > 0)
        CLBlastClearCache();
#endif
    sparq_tunedb_free(ctx->tune_user);
    for (size_t i = 0; i < ctx->program_count; i++)
        clReleaseProgram(ctx->programs[i].program);
    free(ctx->programs);
    if (ctx->queue)
        clReleaseCommandQueue(ctx->queue);
    if (ctx->cl_ctx)
        clReleaseContext(ctx->cl_ctx);
    if (ctx->device)
        clReleaseDevice(ctx->device);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
}

cl_context sparq_context_cl_context(const sparq_context *ctx)
{
    return ctx ? ctx->cl_ctx : NULL;
}

cl_device_id sparq_context_cl_device(const sparq_context *ctx)
{
    return ctx ? ctx->device : NULL;
}

const sparq_device_caps *sparq_context_caps(const sparq_context *ctx)
{
    return ctx ? &ctx->caps : NULL;
}

const char *sparq_context_choice(const sparq_context *ctx)
{
    return ctx ? ctx->choice : "";
}

sparq_status sparq_context_queue_get(sparq_context *ctx, cl_command_queue *queue)
{
    sparq_status st = SPARQ_OK;
    pthread_mutex_lock(&ctx->lock);
    if (!ctx->queue) {
        cl_int err = CL_SUCCESS;
        ctx->queue = clCreateCommandQueue(ctx->cl_ctx, ctx->device, CL_QUEUE_PROFILING_ENABLE,
                                          &err);
        if (err != CL_SUCCESS) {
            ctx->queue = NULL;
            st = sparq_fail_cl(err, "context_queue: clCreateCommandQueue");
        }
    }
    *queue = ctx->queue;
    pthread_mutex_unlock(&ctx->lock);
    return st;
}

cl_command_queue sparq_context_queue(sparq_context *ctx)
{
    if (!ctx) {
        sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "context_queue: NULL context");
        return NULL;
    }
    cl_command_queue q = NULL;
    sparq_context_queue_get(ctx, &q);
    return q;
}

uint64_t sparq_context_kernel_launches(const sparq_context *ctx, const char *kernel)
{
    size_t row = sparq_kernel_index(kernel);
    return ctx && row < SPARQ_MAX_KERNELS ? atomic_load(&ctx->row_launches[row]) : 0;
}

sparq_status sparq_context_get_stats(const sparq_context *ctx, sparq_context_stats *stats)
{
    if (!ctx || !stats)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "context_get_stats: NULL %s",
                          ctx ? "stats" : "context");
    stats->kernel_launches = atomic_load(&ctx->kernel_launches);
    stats->peer_calls = atomic_load(&ctx->peer_calls);
    stats->programs_built = atomic_load(&ctx->programs_built);
    stats->program_memory_hits = atomic_load(&ctx->program_memory_hits);
    stats->program_disk_hits = atomic_load(&ctx->program_disk_hits);
    stats->program_disk_rejects = atomic_load(&ctx->program_disk_rejects);
    return SPARQ_OK;
}
