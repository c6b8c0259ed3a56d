/* SPDX-License-Identifier: Apache-2.0 */
/* files.c - the shared file operations of files.h: mkdir -p, and atomic writes
 * (unique temporary file beside the target, full write, fsync, rename, folder fsync)
 * that the safetensors writer, the program cache and the tuning database all use, and
 * the unlinked spool files that keep a writer's tensors out of memory.
 */
#include "files.h"
#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The start of every error sentence: "<what> " or nothing. */
#define WHAT(what) (what) ? (what) : "", (what) ? " " : ""

char *sparq_path_folder(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    return strndup(path, slash == path ? 1 : (size_t)(slash - path));
}

sparq_status sparq_dir_create(const char *dir, const char *what)
{
    if (!dir || !dir[0])
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s%sfolder: the name is %s",
                          WHAT(what), dir ? "empty" : "NULL");
    char *path = strdup(dir);
    if (!path)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "%s%s%s: out of memory", WHAT(what), dir);
    sparq_status st = SPARQ_OK;
    for (char *p = path + 1; st == SPARQ_OK; p++) {
        bool last = *p == '\0';
        if (*p != '/' && !last)
            continue;
        *p = '\0';
        struct stat info;
        int err = mkdir(path, 0700) == 0 ? 0 : errno;
        if (err == EEXIST && last && (stat(path, &info) != 0 || !S_ISDIR(info.st_mode)))
            err = ENOTDIR; /* something else is at dir */
        if (err != 0 && err != EEXIST)
            st = sparq_fail(SPARQ_ERROR_IO, "%s%s%s: creating folder %s failed: %s", WHAT(what),
                            dir, path, strerror(err));
        if (last)
            break;
        *p = '/';
    }
    free(path);
    return st;
}

int sparq_file_write_all(int fd, const void *bytes, size_t size)
{
    const unsigned char *data = bytes;
    while (size > 0) {
        ssize_t n = write(fd, data, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO; /* no progress on a regular file: do not spin */
            return -1;
        }
        data += n;
        size -= (size_t)n;
    }
    return 0;
}

/* Creates a new file named "<path>.tmp.<pid>.<counter>.<ns>" (size bytes at temp) with
 * mode (less the umask); its fd, or -1 with errno set. */
static int create_temp(const char *path, mode_t mode, char *temp, size_t size)
{
    static atomic_uint counter;
    for (int attempt = 0; attempt < 100; attempt++) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        unsigned n = atomic_fetch_add(&counter, 1u);
        int len = snprintf(temp, size, "%s.tmp.%ld.%u.%ld", path, (long)getpid(), n,
                           (long)now.tv_nsec);
        if (len < 0 || (size_t)len >= size) {
            errno = ENAMETOOLONG;
            return -1;
        }
        int fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1;
}

/* Appends piece's size bytes, read from its fd at its offset in 1 MiB steps, to fd;
 * 0, or -1 with errno set (EIO when the spool is shorter than the piece). */
static int copy_from_fd(int fd, const sparq_file_piece *piece)
{
    enum { STEP = 1 << 20 };
    unsigned char *buffer = malloc(piece->size < STEP ? (piece->size ? piece->size : 1) : STEP);
    if (!buffer) {
        errno = ENOMEM;
        return -1;
    }
    size_t done = 0;
    int rc = 0;
    while (rc == 0 && done < piece->size) {
        size_t want = piece->size - done < STEP ? piece->size - done : STEP;
        ssize_t n = pread(piece->fd, buffer, want, piece->offset + (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            rc = -1;
        } else {
            rc = sparq_file_write_all(fd, buffer, (size_t)n);
            done += (size_t)n;
        }
    }
    free(buffer);
    return rc;
}

int sparq_file_spool_create(const char *dir, const char *what)
{
    size_t len = strlen(dir);
    char *name = malloc(len + 32);
    if (!name) {
        sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "%s%sspool in %s: out of memory", WHAT(what), dir);
        return -1;
    }
    snprintf(name, len + 32, "%s/.sparq-spool-XXXXXX", dir);
    int fd = mkstemp(name);
    if (fd >= 0)
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (fd < 0) {
        sparq_fail(SPARQ_ERROR_IO, "%s%sspool in %s: cannot create a temporary file: %s",
                   WHAT(what), dir, strerror(errno));
    } else {
        unlink(name); /* the open fd keeps it until closed */
    }
    free(name);
    return fd;
}

/* fsyncs the folder that holds path, so that a rename into it is durable; best effort. */
static void sync_folder(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

sparq_status sparq_file_write_pieces(const char *path, mode_t mode,
                                     const sparq_file_piece *pieces, size_t count,
                                     const char *what)
{
    if (!path || !path[0] || (!pieces && count))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s%swrite: %s", WHAT(what),
                          !path || !path[0] ? "path is NULL or empty" : "pieces is NULL");
    for (size_t i = 0; i < count; i++)
        if (!pieces[i].from_fd && !pieces[i].data && pieces[i].size)
            return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s%s%s: piece %zu has no data",
                              WHAT(what), path, i);
    /* the folder of path, where the temporary file goes so that rename() is atomic */
    size_t path_len = strlen(path);
    size_t temp_size = path_len < SIZE_MAX - 80 ? path_len + 80 : 0;
    char *dir = temp_size ? sparq_path_folder(path) : NULL;
    char *temp = dir ? malloc(temp_size) : NULL;
    if (!temp) {
        free(dir);
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "%s%s%s: out of memory", WHAT(what), path);
    }

    sparq_status st = SPARQ_OK;
    int fd = create_temp(path, mode, temp, temp_size);
    if (fd < 0) {
        st = sparq_fail(SPARQ_ERROR_IO, "%s%s%s: cannot create a temporary file in %s: %s",
                        WHAT(what), path, dir, strerror(errno));
    } else {
        bool bad = false;
        for (size_t i = 0; !bad && i < count; i++) {
            const sparq_file_piece *piece = &pieces[i];
            bad = (piece->from_fd ? copy_from_fd(fd, piece)
                                  : sparq_file_write_all(fd, piece->data, piece->size)) != 0;
        }
        if (bad)
            st = sparq_fail(SPARQ_ERROR_IO, "%s%s%s: writing %s failed: %s", WHAT(what), path,
                            temp, strerror(errno));
        else if (fsync(fd) != 0)
            st = sparq_fail(SPARQ_ERROR_IO, "%s%s%s: fsync of %s failed: %s", WHAT(what), path,
                            temp, strerror(errno));
        if (close(fd) != 0 && st == SPARQ_OK)
            st = sparq_fail(SPARQ_ERROR_IO, "%s%s%s: closing %s failed: %s", WHAT(what), path,
                            temp, strerror(errno));
        if (st == SPARQ_OK && rename(temp, path) != 0)
            st = sparq_fail(SPARQ_ERROR_IO, "%s%s%s: renaming %s over it failed: %s",
                            WHAT(what), path, temp, strerror(errno));
        if (st != SPARQ_OK)
            unlink(temp);
        else
            sync_folder(dir);
    }
    free(temp);
    free(dir);
    return st;
}

sparq_status sparq_file_write_atomic(const char *path, const void *data, size_t size,
                                     const char *what)
{
    sparq_file_piece piece = {.data = data, .size = size};
    return sparq_file_write_pieces(path, 0666, &piece, 1, what);
}
