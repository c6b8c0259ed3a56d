/* SPDX-License-Identifier: Apache-2.0 */
/* warp_report.h - the warp model's report lines (bench/gpu_model/warp_model.cpp appends
 * one per kernel run): reading a line into its raw counts, and the metrics derived from
 * them that the gpu_model table and the plugin's smoke check show. Every metric is a
 * model of memory behaviour under oclgrind, not a GPU measurement.
 */
#ifndef SPARQ_WARP_REPORT_H
#define SPARQ_WARP_REPORT_H

#include <stddef.h>

/* What a global load reads (the plugin's classes): the matrix arrays, the activations
 * (x, or W8A8's quantized xq), anything else (y, bias, ...). */
typedef enum warp_stream { WARP_WEIGHTS = 0, WARP_X = 1, WARP_OTHER = 2 } warp_stream;

/* index of the width in the [2] arrays: warps of 32, waves of 64 */
enum { WARP_32 = 0, WARP_64 = 1 };

/* One kernel run's counts. Requests: one per warp, instruction and execution count;
 * lanes: accesses in them; lane_bytes: bytes the lanes asked for; used: distinct bytes;
 * sectors / lines: distinct 32-byte / 128-byte segments. */
typedef struct warp_counts {
    char kernel[128];
    char global[64], local[64]; /* "NxMxK" */
    double groups, work_items, instructions, barriers, weight_bytes, x_bytes;
    double req[3][2], lanes[3][2], lane_bytes[3][2], used[3][2], sectors[3][2], lines[3][2];
    double local_req, local_wave, local_ideal; /* local memory, warps of 32, 32 banks */
    double x_group_loaded, x_group_distinct;   /* x bytes loaded per group, distinct */
} warp_counts;

/* Reads one report line; 0 when it is not one (no kernel= field). */
int warp_parse_line(const char *line, warp_counts *c);

/* The report lines appended to path since byte *pos (0: the start); *pos moves past
 * them. Returns how many were read, at most max, into out. */
size_t warp_read_new(const char *path, long *pos, warp_counts *out, size_t max);

/* Global-load sector efficiency of stream s: distinct bytes used / (sectors x 32). */
double warp_sector_efficiency(const warp_counts *c, warp_stream s, int width);
/* 128-byte lines per warp request of stream s (warps of 32). */
double warp_lines_per_request(const warp_counts *c, warp_stream s);
/* Active lanes per warp request of stream s (warps of 32; 32 = all lanes load). */
double warp_active_lanes(const warp_counts *c, warp_stream s);
/* Times the kernel loads each byte of the weight stream (bytes the lanes asked for /
 * the weight arrays' bytes): 1 when each weight is read once. */
double warp_weight_reads(const warp_counts *c);
/* Lanes of a warp request that load each byte of s (1: no duplicates; 32: broadcast). */
double warp_lanes_per_byte(const warp_counts *c, warp_stream s);
/* Times a work-group loads each x byte it uses, summed over its work-items. */
double warp_x_group_loads(const warp_counts *c);
/* Local memory: extra wavefronts per request over the conflict-free count. */
double warp_bank_extra(const warp_counts *c);
/* Local memory requests per work-group (warps of 32). */
double warp_local_requests_per_group(const warp_counts *c);
/* Dynamic (LLVM IR) instructions, all work-items, per byte of the weight stream. */
double warp_instructions_per_weight_byte(const warp_counts *c);
/* Barriers per work-group. */
double warp_barriers_per_group(const warp_counts *c);

#endif
