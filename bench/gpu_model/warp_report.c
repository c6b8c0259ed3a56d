/* SPDX-License-Identifier: Apache-2.0 */
/* warp_report.c - reading the warp model's report lines and the metrics derived from
 * their counts (see warp_report.h).
 */
#include "warp_report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The [3][2] count arrays by their field names: <stream><width>_<name>. */
static double *count_field(warp_counts *c, const char *key)
{
    static const char streams[] = "wxo";
    const char *s = strchr(streams, key[0]);
    int width = strncmp(key + 1, "32_", 3) == 0 ? WARP_32
                : strncmp(key + 1, "64_", 3) == 0 ? WARP_64 : -1;
    if (!key[0] || !s || width < 0)
        return NULL;
    size_t i = (size_t)(s - streams);
    const char *name = key + 4;
    double(*arrays[])[2] = {c->req, c->lanes, c->lane_bytes, c->used, c->sectors, c->lines};
    static const char *const names[] = {"req", "lanes", "lane_bytes", "used", "sectors",
                                        "lines"};
    for (size_t a = 0; a < sizeof names / sizeof names[0]; a++)
        if (strcmp(name, names[a]) == 0)
            return &arrays[a][i][width];
    return NULL;
}

static double *scalar_field(warp_counts *c, const char *key)
{
    static const char *const names[] = {"groups", "work_items", "instructions", "barriers",
                                        "weight_bytes", "x_bytes", "local_req", "local_wave",
                                        "local_ideal", "x_group_loaded", "x_group_distinct"};
    double *fields[] = {&c->groups, &c->work_items, &c->instructions, &c->barriers,
                        &c->weight_bytes, &c->x_bytes, &c->local_req, &c->local_wave,
                        &c->local_ideal, &c->x_group_loaded, &c->x_group_distinct};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(key, names[i]) == 0)
            return fields[i];
    return count_field(c, key);
}

static void copy_text(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src);
}

int warp_parse_line(const char *line, warp_counts *c)
{
    memset(c, 0, sizeof *c);
    char buf[8192];
    copy_text(buf, sizeof buf, line);
    buf[strcspn(buf, "\n")] = '\0';
    int named = 0;
    for (char *save = NULL, *f = strtok_r(buf, "\t", &save); f; f = strtok_r(NULL, "\t", &save)) {
        char *eq = strchr(f, '=');
        if (!eq)
            continue;
        *eq = '\0';
        const char *value = eq + 1;
        if (strcmp(f, "kernel") == 0) {
            copy_text(c->kernel, sizeof c->kernel, value);
            named = 1;
        } else if (strcmp(f, "global") == 0) {
            copy_text(c->global, sizeof c->global, value);
        } else if (strcmp(f, "local") == 0) {
            copy_text(c->local, sizeof c->local, value);
        } else {
            double *d = scalar_field(c, f);
            if (d)
                *d = strtod(value, NULL);
        }
    }
    return named;
}

size_t warp_read_new(const char *path, long *pos, warp_counts *out, size_t max)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = 0;
    char line[8192];
    if (fseek(f, *pos, SEEK_SET) == 0) {
        while (fgets(line, sizeof line, f)) {
            if (n < max && warp_parse_line(line, &out[n]))
                n++;
        }
        *pos = ftell(f);
    }
    fclose(f);
    return n;
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : NAN;
}

double warp_sector_efficiency(const warp_counts *c, warp_stream s, int width)
{
    return ratio(c->used[s][width], c->sectors[s][width] * 32.0);
}

double warp_lines_per_request(const warp_counts *c, warp_stream s)
{
    return ratio(c->lines[s][WARP_32], c->req[s][WARP_32]);
}

double warp_active_lanes(const warp_counts *c, warp_stream s)
{
    return ratio(c->lanes[s][WARP_32], c->req[s][WARP_32]);
}

double warp_weight_reads(const warp_counts *c)
{
    return ratio(c->lane_bytes[WARP_WEIGHTS][WARP_32], c->weight_bytes);
}

double warp_lanes_per_byte(const warp_counts *c, warp_stream s)
{
    return ratio(c->lane_bytes[s][WARP_32], c->used[s][WARP_32]);
}

double warp_x_group_loads(const warp_counts *c)
{
    return ratio(c->x_group_loaded, c->x_group_distinct);
}

double warp_bank_extra(const warp_counts *c)
{
    return ratio(c->local_wave - c->local_ideal, c->local_req);
}

double warp_local_requests_per_group(const warp_counts *c)
{
    return ratio(c->local_req, c->groups);
}

double warp_instructions_per_weight_byte(const warp_counts *c)
{
    return ratio(c->instructions, c->weight_bytes);
}

double warp_barriers_per_group(const warp_counts *c)
{
    return ratio(c->barriers, c->groups);
}
