/* SPDX-License-Identifier: Apache-2.0 */
/* program.c - kernel sources (embedded or SPARQ_KERNEL_DIR), the program cache
 * (in memory per context, on disk as checksummed binaries written atomically, used only
 * in a folder that only this user can write), and the small helpers every op uses to
 * create, bind and enqueue kernels.
 */
#include "files.h"
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

/* ---- sources --------------------------------------------------------------------- */

/* The rest of the file open at fd (closed here), NUL-terminated; path names it in errors. */
static sparq_status read_fd(int fd, const char *path, char **text, size_t *size)
{
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return sparq_fail(SPARQ_ERROR_IO, "cannot open %s: %s", path, strerror(errno));
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 16384;
            char *grown = realloc(buf, cap);
            if (!grown) {
                free(buf);
                fclose(f);
                return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "reading %s: out of memory", path);
            }
            buf = grown;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return sparq_fail(SPARQ_ERROR_IO, "error reading %s", path);
    }
    buf[len] = '\0';
    *text = buf;
    *size = len;
    return SPARQ_OK;
}

/* A regular file's bytes (opened non-blocking, so that a FIFO is refused, not waited on). */
static sparq_status read_whole_file(const char *path, char **text, size_t *size)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return sparq_fail(SPARQ_ERROR_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat info;
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        close(fd);
        return sparq_fail(SPARQ_ERROR_IO, "%s is not a regular file", path);
    }
    return read_fd(fd, path, text, size);
}

/* The raw text of kernels/<name>, without include expansion. */
static sparq_status source_raw(const char *name, char **text, size_t *size)
{
    const char *dir = getenv("SPARQ_KERNEL_DIR");
    if (dir && *dir) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        return read_whole_file(path, text, size);
    }
    for (size_t i = 0; i < sparq_embedded_source_count; i++) {
        if (strcmp(sparq_embedded_sources[i].name, name) == 0) {
            char *copy = malloc(sparq_embedded_sources[i].size + 1);
            if (!copy)
                return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "source %s: out of memory", name);
            memcpy(copy, sparq_embedded_sources[i].text, sparq_embedded_sources[i].size);
            copy[sparq_embedded_sources[i].size] = '\0';
            *text = copy;
            *size = sparq_embedded_sources[i].size;
            return SPARQ_OK;
        }
    }
    return sparq_fail(SPARQ_ERROR_INTERNAL, "no embedded kernel source named %s", name);
}

/* Shrinks text (size bytes) in place to its code: each comment becomes a space, each
 * run of spaces and tabs one space, each run of line breaks (with the blanks around
 * them) one newline, so that line structure (preprocessor lines) is kept; string and
 * character literals are copied as they are. Returns the new size. */
static size_t code_only(char *text, size_t size)
{
    size_t out = 0;
    char pending = 0; /* whitespace owed before the next character: ' ' or '\n' */
    for (size_t i = 0; i < size; i++) {
        char c = text[i];
        if (c == '/' && i + 1 < size && (text[i + 1] == '/' || text[i + 1] == '*')) {
            if (text[i + 1] == '/') {
                while (i + 1 < size && text[i + 1] != '\n')
                    i++;
            } else {
                for (i += 2; i + 1 < size && !(text[i] == '*' && text[i + 1] == '/'); i++)
                    ;
                i++;
            }
            pending = pending ? pending : ' ';
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            pending = c == '\n' || pending == '\n' ? '\n' : ' ';
            continue;
        }
        if (pending && out > 0)
            text[out++] = pending;
        pending = 0;
        text[out++] = c;
        if (c == '"' || c == '\'') { /* a literal, escapes and all */
            for (i++; i < size && text[i] != c; i++) {
                text[out++] = text[i];
                if (text[i] == '\\' && i + 1 < size)
                    text[out++] = text[++i];
            }
            if (i < size)
                text[out++] = c;
        }
    }
    return out;
}

void sparq_source_hash_get(sparq_context *ctx, const char *source, char hex[17])
{
    hex[0] = '\0';
    pthread_mutex_lock(&ctx->lock);
    for (size_t i = 0; i < ctx->source_hash_count; i++)
        if (strcmp(ctx->source_hashes[i].source, source) == 0) {
            memcpy(hex, ctx->source_hashes[i].hex, 17);
            pthread_mutex_unlock(&ctx->lock);
            return;
        }
    char *text = NULL;
    size_t size = 0;
    if (sparq_source_load(source, &text, &size) == SPARQ_OK) {
        size_t code_size = code_only(text, size);
        snprintf(hex, 17, "%016llx", (unsigned long long)XXH64(text, code_size, 0));
        free(text);
        size_t n = ctx->source_hash_count;
        if (n < sizeof ctx->source_hashes / sizeof ctx->source_hashes[0]) {
            ctx->source_hashes[n].source = source;
            memcpy(ctx->source_hashes[n].hex, hex, 17);
            ctx->source_hash_count = n + 1;
        }
    }
    pthread_mutex_unlock(&ctx->lock);
}

sparq_status sparq_source_load(const char *name, char **text, size_t *size)
{
    char *raw = NULL;
    size_t raw_size = 0;
    sparq_status st = source_raw(name, &raw, &raw_size);
    if (st != SPARQ_OK)
        return st;
    /* Replace each line `#include "x.clh"` with x.clh's text (one level deep: the
     * shared prelude includes nothing). */
    char *out = NULL;
    size_t out_len = 0;
    FILE *mem = open_memstream(&out, &out_len);
    if (!mem) {
        free(raw);
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "source %s: out of memory", name);
    }
    const char *line = raw;
    while (*line && st == SPARQ_OK) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) + 1 : strlen(line);
        char included[256];
        if (sscanf(line, "#include \"%255[^\"]\"", included) == 1) {
            char *inc = NULL;
            size_t inc_size = 0;
            st = source_raw(included, &inc, &inc_size);
            if (st == SPARQ_OK) {
                fprintf(mem, "%s\n", inc);
                free(inc);
            }
        } else {
            fwrite(line, 1, len, mem);
        }
        line += len;
    }
    fclose(mem);
    free(raw);
    if (st != SPARQ_OK) {
        free(out);
        return st;
    }
    *text = out;
    *size = out_len;
    return SPARQ_OK;
}

/* ---- disk cache ------------------------------------------------------------------ */

#define CACHE_MAGIC "SPARQBIN"
#define CACHE_FORMAT 1u

typedef struct cache_header {
    char magic[8];
    uint32_t format;
    uint32_t reserved;
    uint64_t key_lo, key_hi;
    uint64_t payload_size;
    uint64_t payload_hash; /* XXH64 of the payload */
} cache_header;
_Static_assert(sizeof(cache_header) == 48, "cache header layout is part of the file format");

/* The entry's file name under key (lo, hi): 32 hex digits and ".bin". */
static void cache_name(uint64_t lo, uint64_t hi, char *out, size_t size)
{
    snprintf(out, size, "%016llx%016llx.bin", (unsigned long long)hi, (unsigned long long)lo);
}

/* Logs that the cache folder dir is not used, naming path and why, unless the last such
 * warning (in this process) was about the same folder: once, not once per program. */
static void cache_warn_once(const char *dir, const char *path, const char *why)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static char warned[1024];
    pthread_mutex_lock(&lock);
    bool first = strcmp(warned, dir) != 0;
    if (first)
        snprintf(warned, sizeof warned, "%s", dir);
    pthread_mutex_unlock(&lock);
    if (first)
        sparq_log(SPARQ_LOG_INFO,
                  "warning: program cache %s: %s %s, so it is not trusted and programs are "
                  "built from source (the cache holds native code: the folder and its "
                  "entries must belong to uid %u and not be writable by group or others)",
                  dir, path, why, (unsigned)geteuid());
}

/* Whether the cache folder or entry open at fd (path names it) may be trusted, as ssh
 * trusts ~/.ssh: owned by this process's effective user, not writable by group or
 * others, and an entry a regular file. When not, warns once (cache_warn_once). */
static bool cache_trusted(const sparq_context *ctx, int fd, const char *path, bool entry)
{
    struct stat info;
    char why[160] = "";
    if (fstat(fd, &info) != 0)
        snprintf(why, sizeof why, "cannot be examined: %s", strerror(errno));
    else if (entry && !S_ISREG(info.st_mode))
        snprintf(why, sizeof why, "is not a regular file");
    else if (info.st_uid != geteuid())
        snprintf(why, sizeof why, "is owned by uid %u", (unsigned)info.st_uid);
    else if (info.st_mode & (S_IWGRP | S_IWOTH))
        snprintf(why, sizeof why, "has mode %04o: writable by group or others",
                 (unsigned)(info.st_mode & 07777));
    if (!why[0])
        return true;
    cache_warn_once(ctx->cache_dir, path, why);
    return false;
}

/* The cache folder, opened, when it exists and may be trusted; else -1 (warned once when
 * it exists but may not be trusted). */
static int cache_dir_open(const sparq_context *ctx)
{
    int dir = open(ctx->cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0 && !cache_trusted(ctx, dir, ctx->cache_dir, false)) {
        close(dir);
        dir = -1;
    }
    return dir;
}

/* Reads a cached binary; NULL when absent, not to be trusted (cache_trusted: the entry
 * is opened inside the folder that was checked, without following a symbolic link) or
 * invalid (then *corrupt says which). */
static unsigned char *cache_read(const sparq_context *ctx, uint64_t lo, uint64_t hi,
                                 size_t *size, bool *corrupt)
{
    char name[40], path[1100];
    cache_name(lo, hi, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", ctx->cache_dir, name);
    *corrupt = false;
    int dir = cache_dir_open(ctx);
    if (dir < 0)
        return NULL; /* no folder yet, or one not to be trusted */
    int fd = openat(dir, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    int err = errno;
    close(dir);
    if (fd < 0 && err == ELOOP)
        cache_warn_once(ctx->cache_dir, path, "is a symbolic link");
    if (fd < 0)
        return NULL; /* not cached yet */
    if (!cache_trusted(ctx, fd, path, true)) {
        close(fd);
        return NULL;
    }
    char *data = NULL;
    size_t len = 0;
    if (read_fd(fd, path, &data, &len) != SPARQ_OK)
        return NULL;
    cache_header h;
    *corrupt = true;
    if (len < sizeof h) {
        free(data);
        return NULL;
    }
    memcpy(&h, data, sizeof h);
    if (memcmp(h.magic, CACHE_MAGIC, 8) != 0 || h.format != CACHE_FORMAT || h.key_lo != lo ||
        h.key_hi != hi || h.payload_size != len - sizeof h || h.payload_size == 0 ||
        XXH64(data + sizeof h, (size_t)h.payload_size, 0) != h.payload_hash) {
        free(data);
        return NULL;
    }
    *corrupt = false;
    unsigned char *payload = malloc((size_t)h.payload_size);
    if (payload)
        memcpy(payload, data + sizeof h, (size_t)h.payload_size);
    *size = (size_t)h.payload_size;
    free(data);
    return payload;
}

/* Writes a binary atomically (files.h: a unique temporary file in the same folder,
 * fsync, rename), mode 0600, into a folder made 0700 if missing and trusted
 * (cache_trusted). Failure only costs a rebuild next time, so it is logged, not
 * returned. */
static void cache_write(const sparq_context *ctx, uint64_t lo, uint64_t hi,
                        const unsigned char *payload, size_t size)
{
    char name[40], path[1100];
    cache_name(lo, hi, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", ctx->cache_dir, name);
    cache_header h;
    memcpy(h.magic, CACHE_MAGIC, 8);
    h.format = CACHE_FORMAT;
    h.reserved = 0;
    h.key_lo = lo;
    h.key_hi = hi;
    h.payload_size = size;
    h.payload_hash = XXH64(payload, size, 0);
    const sparq_file_piece pieces[] = {{.data = &h, .size = sizeof h},
                                       {.data = payload, .size = size}};
    if (sparq_dir_create(ctx->cache_dir, "program cache") != SPARQ_OK) {
        sparq_log(SPARQ_LOG_INFO, "%s", sparq_last_error());
        return;
    }
    int dir = cache_dir_open(ctx);
    if (dir < 0)
        return; /* not to be trusted: warned */
    close(dir);
    if (sparq_file_write_pieces(path, 0600, pieces, 2, "program cache") != SPARQ_OK) {
        sparq_log(SPARQ_LOG_INFO, "%s", sparq_last_error());
        return;
    }
    sparq_log(SPARQ_LOG_DEBUG, "program cache: stored %s (%zu bytes)", path, size);
}

sparq_status sparq_cache_get_info(const sparq_context_options *options, sparq_cache_info *info)
{
    if (!info)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "cache_get_info: NULL info");
    memset(info, 0, sizeof *info);
    if (options && sparq_check_reserved(options->reserved, "cache_get_info",
                                        "sparq_context_options") != SPARQ_OK)
        return SPARQ_ERROR_INVALID_ARGUMENT;
    bool enabled = false;
    sparq_cache_resolve(options, info->path, sizeof info->path, &enabled);
    info->enabled = enabled;
    DIR *d = info->path[0] ? opendir(info->path) : NULL;
    if (!d)
        return SPARQ_OK; /* not created yet: empty */
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 4, ".bin") != 0)
            continue;
        char path[2048];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", info->path, e->d_name);
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
            info->entries++;
            info->bytes += (uint64_t)sb.st_size;
        }
    }
    closedir(d);
    return SPARQ_OK;
}

/* ---- building -------------------------------------------------------------------- */

/* XXH3-128 over count NUL-terminated strings, each with its terminator (so that
 * ("ab", "c") and ("a", "bc") differ). */
static XXH128_hash_t hash_strings(const char *const *parts, size_t count)
{
    XXH3_state_t state;
    XXH3_INITSTATE(&state);
    XXH3_128bits_reset(&state);
    for (size_t i = 0; i < count; i++)
        XXH3_128bits_update(&state, parts[i], strlen(parts[i]) + 1);
    return XXH3_128bits_digest(&state);
}

static sparq_status build_failed(sparq_context *ctx, cl_program program, cl_int err,
                                 const char *source)
{
    size_t log_size = 0;
    clGetProgramBuildInfo(program, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &log_size);
    char *log = calloc(log_size + 1, 1);
    if (log)
        clGetProgramBuildInfo(program, ctx->device, CL_PROGRAM_BUILD_LOG, log_size, log, NULL);
    sparq_log(SPARQ_LOG_INFO, "build of %s failed (%s):\n%s", source, sparq_status_string(err),
              log ? log : "");
    sparq_status st = sparq_fail(SPARQ_ERROR_BUILD_FAILED, "kernels/%s did not build (%s): %.600s",
                                 source, sparq_status_string(err), log ? log : "");
    free(log);
    return st;
}

static bool features_missing(const sparq_device_caps *caps, unsigned need, const char **what)
{
    *what = (need & SPARQ_FEATURE_FP16) && !caps->has_fp16             ? "cl_khr_fp16"
            : (need & SPARQ_FEATURE_FP64) && !caps->has_fp64           ? "cl_khr_fp64"
            : (need & SPARQ_FEATURE_SUBGROUPS) && !caps->has_subgroups ? "subgroups"
            : (need & SPARQ_FEATURE_INT_DOT) && !caps->has_int_dot_product
                ? "cl_khr_integer_dot_product"
                : NULL;
    return *what != NULL;
}

/* Builds a program from a cached binary; NULL when the driver refuses it. */
static cl_program build_from_binary(sparq_context *ctx, const unsigned char *bin, size_t size,
                                    const char *options)
{
    cl_int err = CL_SUCCESS, bin_status = CL_SUCCESS;
    cl_program p = clCreateProgramWithBinary(ctx->cl_ctx, 1, &ctx->device, &size, &bin,
                                             &bin_status, &err);
    if (err != CL_SUCCESS || bin_status != CL_SUCCESS)
        return NULL;
    if (clBuildProgram(p, 1, &ctx->device, options, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(p);
        return NULL;
    }
    return p;
}

static void save_binary(sparq_context *ctx, cl_program p, uint64_t lo, uint64_t hi)
{
    size_t size = 0;
    if (clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) != CL_SUCCESS ||
        size == 0)
        return;
    unsigned char *bin = malloc(size);
    if (bin && clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) == CL_SUCCESS)
        cache_write(ctx, lo, hi, bin, size);
    free(bin);
}

bool sparq_device_int_dot(const sparq_device_caps *caps)
{
    /* The packed dot products of cl_khr_integer_dot_product are OpenCL C 3.0 features
     * (drivers hide them from -cl-std=CL1.2): taken on OpenCL 3.0 devices only. */
    return caps->has_int_dot_product && strncmp(caps->device_version, "OpenCL 3", 8) == 0;
}

void sparq_program_options(const sparq_device_caps *caps, const char *options, char *out,
                           size_t size)
{
    bool int_dot = sparq_device_int_dot(caps);
    const char *std = int_dot ? "-cl-std=CL3.0 "
                      : caps->opencl_c_major > 1 || caps->opencl_c_minor >= 2 ? "-cl-std=CL1.2 "
                                                                               : "";
    snprintf(out, size, "%s%s%s%s%s", std,
             caps->type == SPARQ_DEVICE_TYPE_CPU ? "-DSPARQ_CPU_PREFETCH=1 " : "",
             caps->has_subgroups ? "-DSPARQ_HAS_SUBGROUPS=1 " : "",
             int_dot ? "-DSPARQ_HAS_INTEGER_DOT=1 " : "", options ? options : "");
}

/* The program kept in memory under key, or NULL; the caller holds ctx->lock. */
static cl_program memory_find(const sparq_context *ctx, XXH128_hash_t key)
{
    for (size_t i = 0; i < ctx->program_count; i++)
        if (ctx->programs[i].key_lo == key.low64 && ctx->programs[i].key_hi == key.high64)
            return ctx->programs[i].program;
    return NULL;
}

/* The program from the disk cache under key; NULL (counted and logged) when it holds none
 * the driver accepts. t0: when the search began. */
static cl_program disk_load(sparq_context *ctx, const char *source, const char *full_options,
                            XXH128_hash_t key, double t0)
{
    size_t bin_size = 0;
    bool corrupt = false;
    cl_program p = NULL;
    unsigned char *bin = cache_read(ctx, key.low64, key.high64, &bin_size, &corrupt);
    if (bin)
        p = build_from_binary(ctx, bin, bin_size, full_options);
    free(bin);
    if (p) {
        atomic_fetch_add(&ctx->program_disk_hits, 1);
        sparq_log(SPARQ_LOG_INFO, "program cache hit: %s [%s] loaded in %.1f ms", source,
                  full_options, 1e3 * (sparq_now_seconds() - t0));
    } else if (bin || corrupt) {
        atomic_fetch_add(&ctx->program_disk_rejects, 1);
        sparq_log(SPARQ_LOG_INFO, "program cache: entry for %s is corrupt, rebuilding", source);
    } else {
        sparq_log(SPARQ_LOG_INFO, "program cache miss: %s [%s]", source, full_options);
    }
    return p;
}

/* Builds the program from its source text, and saves its binary to the disk cache under
 * key. t0: when the search began. */
static sparq_status build_from_source(sparq_context *ctx, const char *source, const char *text,
                                      size_t text_size, const char *full_options,
                                      XXH128_hash_t key, double t0, cl_program *program)
{
    cl_int err = CL_SUCCESS;
    cl_program p = clCreateProgramWithSource(ctx->cl_ctx, 1, &text, &text_size, &err);
    if (err != CL_SUCCESS)
        return sparq_fail_cl(err, "clCreateProgramWithSource");
    err = clBuildProgram(p, 1, &ctx->device, full_options, NULL, NULL);
    if (err != CL_SUCCESS) {
        sparq_status st = build_failed(ctx, p, err, source);
        clReleaseProgram(p);
        return st;
    }
    atomic_fetch_add(&ctx->programs_built, 1);
    sparq_log(SPARQ_LOG_INFO, "built %s [%s] in %.1f ms", source, full_options,
              1e3 * (sparq_now_seconds() - t0));
    if (ctx->disk_cache)
        save_binary(ctx, p, key.low64, key.high64);
    *program = p;
    return SPARQ_OK;
}

/* A program not in memory: from the disk cache, else built from source (outside the
 * lock, so other threads keep launching meanwhile). */
static sparq_status program_load(sparq_context *ctx, const char *source,
                                 const char *full_options, cl_program *program)
{
    char *text = NULL;
    size_t text_size = 0;
    sparq_status st = sparq_source_load(source, &text, &text_size);
    if (st != SPARQ_OK)
        return st;
    /* On disk, the key is everything that changes the compiled binary. */
    const char *parts[] = {text, full_options, ctx->caps.name, ctx->caps.vendor,
                           ctx->caps.driver_version, ctx->platform_version,
                           SPARQ_VERSION_STRING};
    XXH128_hash_t key = hash_strings(parts, sizeof parts / sizeof parts[0]);
    double t0 = sparq_now_seconds();
    cl_program p = ctx->disk_cache ? disk_load(ctx, source, full_options, key, t0) : NULL;
    if (!p)
        st = build_from_source(ctx, source, text, text_size, full_options, key, t0, &p);
    free(text);
    if (st == SPARQ_OK)
        *program = p;
    return st;
}

/* Keeps p in memory under name_key, unless another thread kept one first: then that one
 * (p released). */
static sparq_status memory_keep(sparq_context *ctx, XXH128_hash_t name_key, cl_program p,
                                cl_program *program)
{
    pthread_mutex_lock(&ctx->lock);
    cl_program kept = memory_find(ctx, name_key);
    if (kept) {
        /* another thread won the race: use its program */
        clReleaseProgram(p);
        *program = kept;
        pthread_mutex_unlock(&ctx->lock);
        return SPARQ_OK;
    }
    if (ctx->program_count == ctx->program_capacity) {
        size_t cap = ctx->program_capacity ? 2 * ctx->program_capacity : 16;
        sparq_program_entry *grown = realloc(ctx->programs, cap * sizeof *grown);
        if (!grown) {
            pthread_mutex_unlock(&ctx->lock);
            clReleaseProgram(p);
            return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "program_get: out of memory");
        }
        ctx->programs = grown;
        ctx->program_capacity = cap;
    }
    ctx->programs[ctx->program_count++] =
        (sparq_program_entry){.key_lo = name_key.low64, .key_hi = name_key.high64,
                              .program = p};
    pthread_mutex_unlock(&ctx->lock);
    *program = p;
    return SPARQ_OK;
}

sparq_status sparq_program_get(sparq_context *ctx, const char *source, const char *options,
                               unsigned required_features, cl_program *program)
{
    if (!ctx || !source || !program)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "program_get: NULL argument");
    const char *missing = NULL;
    if (features_missing(&ctx->caps, required_features, &missing))
        return sparq_fail(SPARQ_ERROR_UNSUPPORTED,
                          "kernels/%s needs %s, which device \"%s\" does not have", source,
                          missing, ctx->caps.name);
    char full_options[1024];
    sparq_program_options(&ctx->caps, options, full_options, sizeof full_options);

    /* In memory, a program is found by what names it: the source file, the options and
     * the folder sources come from (SPARQ_KERNEL_DIR, or the embedded copies), so a
     * launch never reloads or hashes source text. */
    const char *kernel_dir = getenv("SPARQ_KERNEL_DIR");
    const char *name_parts[] = {source, full_options, kernel_dir ? kernel_dir : ""};
    XXH128_hash_t name_key = hash_strings(name_parts, 3);
    pthread_mutex_lock(&ctx->lock);
    cl_program found = memory_find(ctx, name_key);
    pthread_mutex_unlock(&ctx->lock);
    if (found) {
        *program = found;
        atomic_fetch_add(&ctx->program_memory_hits, 1);
        return SPARQ_OK;
    }
    cl_program p = NULL;
    sparq_status st = program_load(ctx, source, full_options, &p);
    if (st != SPARQ_OK)
        return st;
    return memory_keep(ctx, name_key, p, program);
}

/* ---- kernels --------------------------------------------------------------------- */

sparq_status sparq_kernel_create(sparq_context *ctx, const char *name, const char *options,
                                 cl_kernel *kernel)
{
    const sparq_kernel_info *info = sparq_kernel_find(name);
    if (!info)
        return sparq_fail(SPARQ_ERROR_INTERNAL, "no registered kernel named %s", name);
    cl_program program = NULL;
    sparq_status st = sparq_program_get(ctx, info->source, options, info->required_features,
                                        &program);
    if (st != SPARQ_OK)
        return st;
    cl_int err = CL_SUCCESS;
    *kernel = clCreateKernel(program, name, &err);
    if (err != CL_SUCCESS) {
        *kernel = NULL;
        return sparq_fail_cl(err, name);
    }
    sparq_log(SPARQ_LOG_DEBUG, "kernel %s [%s]", name, options ? options : "");
    return SPARQ_OK;
}

void sparq_kernel_limit_note(sparq_context *ctx, size_t row, size_t limit)
{
    if (row >= SPARQ_MAX_KERNELS || limit == 0)
        return;
    size_t seen = atomic_load(&ctx->row_work_group_limit[row]);
    while ((seen == 0 || limit < seen) &&
           !atomic_compare_exchange_weak(&ctx->row_work_group_limit[row], &seen, limit))
        ;
}

void sparq_kernel_caps(sparq_context *ctx, const sparq_kernel_info *k, sparq_device_caps *caps)
{
    *caps = ctx->caps;
    size_t row = sparq_kernel_index(k->name);
    size_t limit = row < SPARQ_MAX_KERNELS ? atomic_load(&ctx->row_work_group_limit[row]) : 0;
    if (limit && limit < caps->max_work_group_size)
        caps->max_work_group_size = limit;
}

/* Whether a work-group of `local` fits what this build of the kernel allows
 * (CL_KERNEL_WORK_GROUP_SIZE: a GPU lowers it for a kernel that needs many registers)
 * and what earlier builds of its row allowed; if not, notes the limit for the row's
 * plans and fails saying so. */
static sparq_status work_group_check(sparq_context *ctx, cl_kernel kernel, const char *name,
                                     size_t row, cl_uint dims, const size_t *local)
{
    if (!local)
        return SPARQ_OK;
    size_t items = 1;
    for (cl_uint d = 0; d < dims; d++)
        items *= local[d];
    size_t allowed = 0;
    cl_int err = clGetKernelWorkGroupInfo(kernel, ctx->device, CL_KERNEL_WORK_GROUP_SIZE,
                                          sizeof allowed, &allowed, NULL);
    if (err != CL_SUCCESS)
        return sparq_fail_cl(err, "clGetKernelWorkGroupInfo");
    size_t learned = row < SPARQ_MAX_KERNELS ? atomic_load(&ctx->row_work_group_limit[row]) : 0;
    if (learned && learned < allowed)
        allowed = learned;
    if (items <= allowed)
        return SPARQ_OK;
    sparq_kernel_limit_note(ctx, row, allowed);
    atomic_fetch_add(&ctx->work_group_refusals, 1);
    return sparq_fail(SPARQ_ERROR_UNSUPPORTED,
                      "%s: work-groups of %zu work-items, but this build of it allows %zu on "
                      "the device (CL_KERNEL_WORK_GROUP_SIZE)", name, items, allowed);
}

sparq_status sparq_kernel_enqueue(sparq_context *ctx, cl_command_queue queue, cl_kernel kernel,
                                  const char *name, cl_uint dims, const size_t *global,
                                  const size_t *local, cl_uint num_wait,
                                  const cl_event *wait_list, cl_event *event)
{
    size_t row = sparq_kernel_index(name);
    sparq_status st = work_group_check(ctx, kernel, name, row, dims, local);
    if (st != SPARQ_OK)
        return st;
    cl_int err = clEnqueueNDRangeKernel(queue, kernel, dims, NULL, global, local, num_wait,
                                        num_wait ? wait_list : NULL, event);
    if (err != CL_SUCCESS)
        return sparq_fail_cl(err, name);
    atomic_fetch_add(&ctx->kernel_launches, 1);
    if (row < SPARQ_MAX_KERNELS) /* test_registry_rows checks that every row is counted */
        atomic_fetch_add(&ctx->row_launches[row], 1);
    sparq_log(SPARQ_LOG_DEBUG, "launch %s global %zu x %zu local %zu x %zu", name, global[0],
              dims > 1 ? global[1] : 1, local ? local[0] : 0,
              dims > 1 && local ? local[1] : 1);
    return SPARQ_OK;
}

sparq_status sparq_check_buffer(const char *op, const char *what, cl_mem buffer, size_t offset,
                                size_t count, size_t elem_size)
{
    if (!buffer)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: %s buffer is NULL", op, what);
    size_t bytes = 0;
    cl_int err = clGetMemObjectInfo(buffer, CL_MEM_SIZE, sizeof bytes, &bytes, NULL);
    if (err != CL_SUCCESS)
        return sparq_fail(err, "%s: %s is not a valid buffer (%s)", op, what,
                          sparq_status_string(err));
    size_t capacity = bytes / elem_size;
    if (offset > capacity || count > capacity - offset)
        return sparq_fail(SPARQ_ERROR_OUT_OF_BOUNDS,
                          "%s: %s needs %zu elements from offset %zu but the buffer holds %zu",
                          op, what, count, offset, capacity);
    return SPARQ_OK;
}

/* The buffer a range of mem lies in, and the range's first byte there: a sub-buffer's
 * parent and its origin added; the driver's error when it cannot say. */
static cl_int memory_root(cl_mem mem, cl_mem *root, size_t *offset)
{
    cl_mem parent = NULL;
    size_t origin = 0;
    cl_int err = clGetMemObjectInfo(mem, CL_MEM_ASSOCIATED_MEMOBJECT, sizeof parent, &parent,
                                    NULL);
    if (err == CL_SUCCESS && parent)
        err = clGetMemObjectInfo(mem, CL_MEM_OFFSET, sizeof origin, &origin, NULL);
    *root = parent ? parent : mem;
    *offset += origin;
    return err;
}

sparq_status sparq_check_disjoint(const char *op, const char *read_what, cl_mem read,
                                  size_t read_offset, size_t read_count, const char *write_what,
                                  cl_mem write, size_t write_offset, size_t write_count,
                                  size_t elem_size)
{
    size_t r0 = read_offset * elem_size, w0 = write_offset * elem_size;
    cl_mem r_root = NULL, w_root = NULL;
    cl_int err = memory_root(read, &r_root, &r0);
    if (err == CL_SUCCESS)
        err = memory_root(write, &w_root, &w0);
    if (err != CL_SUCCESS) /* not known, so not passed as disjoint */
        return sparq_fail(err, "%s: whether %s and %s overlap is unknown: clGetMemObjectInfo "
                          "failed with %s", op, read_what, write_what, sparq_status_string(err));
    size_t r1 = r0 + read_count * elem_size, w1 = w0 + write_count * elem_size;
    if (r_root != w_root || r1 <= w0 || w1 <= r0)
        return SPARQ_OK;
    return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                      "%s: %s (bytes %zu..%zu) and %s (bytes %zu..%zu) overlap in one buffer: "
                      "%s is written while %s is read", op, read_what, r0, r1, write_what, w0,
                      w1, write_what, read_what);
}

sparq_status sparq_set_arg(cl_kernel kernel, cl_uint index, size_t size, const void *value)
{
    cl_int err = clSetKernelArg(kernel, index, size, value);
    if (err != CL_SUCCESS)
        return sparq_fail(err, "clSetKernelArg(%u) failed with %s", index,
                          sparq_status_string(err));
    return SPARQ_OK;
}
