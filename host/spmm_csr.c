/* spmm_csr.c - the CSR kernels of sparq_linear (kernels/spmm_csr.cl): when each can
 * run (rank) and how each is launched (enqueue).
 */
#include "matrix.h"
#include "ops.h"

#include <stdio.h>

static size_t round_up(size_t n, size_t multiple)
{
    return (n + multiple - 1) / multiple * multiple;
}

int sparq_rank_csr_scalar(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                          char *why, size_t why_size)
{
    (void)m, (void)batch, (void)caps;
    snprintf(why, why_size, "spmm_csr_scalar is the general CSR kernel (any shape and batch)");
    return 1;
}

sparq_status sparq_enqueue_csr_scalar(sparq_context *ctx, const sparq_kernel_info *k,
                                      const sparq_linear_args *a, const sparq_kernel_params *p)
{
    const sparq_matrix *m = a->matrix;
    cl_kernel kernel = NULL;
    sparq_status st = sparq_matrix_kernel(m, k, p, &kernel);
    if (st != SPARQ_OK)
        return st;
    cl_uint rows = (cl_uint)m->rows, cols = (cl_uint)m->cols, batch = (cl_uint)a->batch;
    if (!(st = sparq_set_arg(kernel, 0, sizeof rows, &rows)) &&
        !(st = sparq_set_arg(kernel, 1, sizeof cols, &cols)) &&
        !(st = sparq_set_arg(kernel, 2, sizeof batch, &batch)) &&
        !(st = sparq_set_arg(kernel, 3, sizeof(cl_mem), &m->buf[SPARQ_ARRAY_ROW_PTR])) &&
        !(st = sparq_set_arg(kernel, 4, sizeof(cl_mem), &m->buf[SPARQ_ARRAY_COL_IDX])) &&
        !(st = sparq_set_arg(kernel, 5, sizeof(cl_mem), &m->buf[SPARQ_ARRAY_VALUES])) &&
        !(st = sparq_linear_set_tail_args(kernel, 6, a))) {
        size_t wg = sparq_kernel_param(k, p, "WG");
        size_t local[2] = {wg, 1}, global[2] = {round_up(m->rows, wg), a->batch};
        st = sparq_kernel_enqueue(ctx, a->queue, kernel, k->name, 2, global, local, a->num_wait,
                                  a->wait_list, a->event);
    }
    clReleaseKernel(kernel);
    return st;
}
