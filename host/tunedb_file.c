/* SPDX-License-Identifier: Apache-2.0 */
/* tunedb_file.c - the tuning database on disk: loading a file (a bad one is an empty
 * database with a warning), locked merges written atomically (files.h), and the
 * user's database path.
 */
#include "files.h"
#include "tunedb_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILE_BYTES ((size_t)64 << 20) /* no real database comes near this */
#define MAX_PATH 4096

sparq_status sparq_tunedb_load_file(const char *path, sparq_tunedb **db)
{
    if (!path || !db)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "sparq_tunedb_load_file: NULL argument");
    /* non-blocking: a FIFO must not hang the open (under the context's lock) before fstat
     * refuses it */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return sparq_tunedb_create(db);
    struct stat info;
    const char *problem = NULL;
    char *text = NULL;
    size_t size = 0;
    if (fd < 0)
        problem = strerror(errno);
    else if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode))
        problem = "not a regular file";
    else if ((size_t)info.st_size > MAX_FILE_BYTES)
        problem = "larger than 64 MiB";
    else if (!(text = malloc((size_t)info.st_size + 1)))
        problem = "out of memory";
    while (!problem && size < (size_t)info.st_size) {
        ssize_t n = read(fd, text + size, (size_t)info.st_size - size);
        if (n < 0 && errno != EINTR)
            problem = strerror(errno);
        else if (n == 0)
            break; /* shorter than fstat said: parse what is there */
        else if (n > 0)
            size += (size_t)n;
    }
    if (fd >= 0)
        close(fd);
    sparq_status st;
    if (problem) {
        st = sparq_tunedb_create(db);
        if (st == SPARQ_OK)
            sparq_tunedb_set_warning(*db, "tuning database %s can't be read (%s); ignored",
                                     path, problem);
    } else {
        st = sparq_tunedb_load_text(text, size, path, db);
    }
    free(text);
    return st;
}

static sparq_status io_fail(const char *path, const char *step, const char *what)
{
    return sparq_fail(SPARQ_ERROR_IO, "tuning database %s: %s %s failed: %s", path, step, what,
                      strerror(errno));
}

sparq_status sparq_tunedb_merge_into_file(const sparq_tunedb *db, const char *path)
{
    if (!db || !path || !path[0])
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "sparq_tunedb_merge_into_file: NULL argument or empty path");
    char lock_path[MAX_PATH + 8], dir[MAX_PATH];
    if (strlen(path) >= MAX_PATH) {
        errno = ENAMETOOLONG;
        return io_fail(path, "naming", "the file");
    }
    snprintf(lock_path, sizeof lock_path, "%s.lock", path);
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir)
        *slash = '\0'; /* the folder that holds path, created when missing */
    sparq_status st = slash && slash != dir ? sparq_dir_create(dir, "tuning database") : SPARQ_OK;
    if (st != SPARQ_OK)
        return st;
    int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock < 0)
        return io_fail(path, "opening lock file", lock_path);
    int locked;
    while ((locked = flock(lock, LOCK_EX)) != 0 && errno == EINTR)
        ;
    if (locked != 0) {
        st = io_fail(path, "locking", lock_path);
        close(lock);
        return st;
    }
    sparq_tunedb *file = NULL;
    char *text = NULL;
    st = sparq_tunedb_load_file(path, &file); /* a corrupt file counts as empty */
    if (st == SPARQ_OK && db->devices && !sparq_tunedb_merge_devices(file->devices, db->devices))
        st = sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "tuning database %s: out of memory", path);
    if (st == SPARQ_OK)
        st = sparq_tunedb_to_text(file, &text);
    if (st == SPARQ_OK)
        st = sparq_file_write_atomic(path, text, strlen(text), "tuning database");
    free(text);
    sparq_tunedb_free(file);
    flock(lock, LOCK_UN);
    close(lock);
    return st;
}

bool sparq_tunedb_user_path(char *out, size_t size)
{
    if (!out || size == 0)
        return false;
    const char *env = getenv("SPARQ_TUNE_DB");
    int n = -1;
    if (env && env[0])
        n = snprintf(out, size, "%s", env);
    else if ((env = getenv("XDG_CACHE_HOME")) && env[0] == '/') /* XDG: relative is invalid */
        n = snprintf(out, size, "%s/sparq/tune.json", env);
    else if ((env = getenv("HOME")) && env[0])
        n = snprintf(out, size, "%s/.cache/sparq/tune.json", env);
    if (n < 0 || (size_t)n >= size) {
        out[0] = '\0';
        return false;
    }
    return true;
}

