/* SPDX-License-Identifier: Apache-2.0 */
/* files.h - the file operations every writer in sparq shares: creating folders
 * (mkdir -p), writing a file atomically (temporary file beside it, fsync, rename,
 * folder fsync) from one buffer or from several pieces without copying them, and
 * unlinked spool files that hold pieces out of memory until then.
 */
#ifndef SPARQ_FILES_H
#define SPARQ_FILES_H

#include "sparq.h"

#include <stddef.h>
#include <sys/types.h>

/* One piece of a file's content: size bytes at data (data may be NULL when size is 0),
 * or, with from_fd set, size bytes read from file descriptor fd at offset (a spool). */
typedef struct sparq_file_piece {
    const void *data;
    size_t size;
    int from_fd;
    int fd;
    off_t offset;
} sparq_file_piece;

/* The folder part of path, malloc'ed: "." when it has no '/', "/" for a file at the
 * root; NULL when out of memory. */
char *sparq_path_folder(const char *path);

/* mkdir -p: creates dir and every missing folder above it (mode 0700 less the umask:
 * the folders sparq makes, the program cache and the tuning database's, are the user's
 * own). A folder that already exists is fine, whatever its mode; anything else at dir is
 * not. what (may be NULL)
 * starts the error sentence, e.g. "tuning database". SPARQ_ERROR_IO names the folder
 * that could not be made and the OS error: "<what> <dir>: creating folder <f> failed:
 * <strerror>". */
sparq_status sparq_dir_create(const char *dir, const char *what);

/* Writes the pieces, in order, to path atomically: to a new temporary file in the same
 * folder ("<path>.tmp.<pid>.<counter>.<ns>", O_EXCL, mode less the umask), every
 * byte written (EINTR and short writes retried), fsync'ed, closed, renamed over path,
 * then the folder fsync'ed (best effort: the file is complete by then). On any failure
 * the temporary file is removed and path is left as it was. The folder must exist.
 * SPARQ_ERROR_IO names the step, the path and the OS error: "<what> <path>: cannot
 * create a temporary file in <dir>: ...", "...: writing <temp> failed: ...", "fsync of",
 * "closing", "renaming <temp> over it failed". what may be NULL. */
sparq_status sparq_file_write_pieces(const char *path, mode_t mode,
                                     const sparq_file_piece *pieces, size_t count,
                                     const char *what);

/* sparq_file_write_pieces() with one piece, mode 0666. */
sparq_status sparq_file_write_atomic(const char *path, const void *data, size_t size,
                                     const char *what);

/* A new temporary file in dir, already unlinked (nothing is left behind whatever happens
 * to the process; the space is freed when fd is closed), open for reading and writing:
 * its fd, or -1 with a SPARQ_ERROR_IO sentence set ("<what> spool in <dir>: ..."). */
int sparq_file_spool_create(const char *dir, const char *what);

/* Appends size bytes at data to fd (EINTR and short writes retried); 0, or -1 with
 * errno set. */
int sparq_file_write_all(int fd, const void *data, size_t size);

#endif /* SPARQ_FILES_H */
