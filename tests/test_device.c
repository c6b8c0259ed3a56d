/* SPDX-License-Identifier: Apache-2.0 */
/* test_device.c - device listing, caps probing, and the choice rules (automatic
 * order, "P:D" index, name substring, no match) on real and synthetic device lists.
 */
#include "testing.h"

#include <string.h>

static sparq_device_entry fake(unsigned p, unsigned d, sparq_device_type type, cl_uint units,
                               const char *name, const char *platform)
{
    sparq_device_entry e;
    memset(&e, 0, sizeof e);
    e.platform_index = p;
    e.device_index = d;
    e.caps.type = type;
    e.caps.compute_units = units;
    strcpy(e.caps.name, name);
    strcpy(e.caps.platform_name, platform);
    return e;
}

static void choose_rules(void **state)
{
    (void)state;
    sparq_device_entry list[] = {
        fake(0, 0, SPARQ_DEVICE_TYPE_CPU, 16, "pthread-haswell", "Portable Computing Language"),
        fake(1, 0, SPARQ_DEVICE_TYPE_GPU, 40, "Intel Iris Xe", "Intel OpenCL"),
        fake(2, 0, SPARQ_DEVICE_TYPE_GPU, 132, "NVIDIA H100", "NVIDIA CUDA"),
        fake(2, 1, SPARQ_DEVICE_TYPE_ACCELERATOR, 200, "FPGA thing", "NVIDIA CUDA"),
    };
    size_t n = sizeof list / sizeof list[0], chosen = 99;
    char reason[512];

    /* automatic: GPU before accelerator before CPU, then most compute units */
    assert_int_equal(sparq_device_choose(list, n, NULL, &chosen, reason, sizeof reason), SPARQ_OK);
    assert_int_equal(chosen, 2);
    assert_non_null(strstr(reason, "GPU"));
    assert_int_equal(sparq_device_choose(list, n, "", &chosen, NULL, 0), SPARQ_OK);
    assert_int_equal(chosen, 2);
    /* without GPUs the accelerator wins over the bigger CPU */
    sparq_device_entry no_gpu[] = {list[0], list[3]};
    assert_int_equal(sparq_device_choose(no_gpu, 2, NULL, &chosen, NULL, 0), SPARQ_OK);
    assert_int_equal(chosen, 1);

    /* by index */
    assert_int_equal(sparq_device_choose(list, n, "0:0", &chosen, reason, sizeof reason), SPARQ_OK);
    assert_int_equal(chosen, 0);
    assert_non_null(strstr(reason, "index"));
    assert_int_equal(sparq_device_choose(list, n, "2:1", &chosen, NULL, 0), SPARQ_OK);
    assert_int_equal(chosen, 3);
    assert_int_equal(sparq_device_choose(list, n, "3:0", &chosen, NULL, 0), SPARQ_ERROR_NO_DEVICE);
    assert_non_null(strstr(sparq_last_error(), "no platform 3 device 0"));

    /* by name, case-insensitive, device or platform name */
    assert_int_equal(sparq_device_choose(list, n, "iris", &chosen, NULL, 0), SPARQ_OK);
    assert_int_equal(chosen, 1);
    assert_int_equal(sparq_device_choose(list, n, "portable", &chosen, reason, sizeof reason),
                     SPARQ_OK);
    assert_int_equal(chosen, 0);
    assert_non_null(strstr(reason, "platform"));
    assert_int_equal(sparq_device_choose(list, n, "radeon", &chosen, NULL, 0),
                     SPARQ_ERROR_NO_DEVICE);
    assert_non_null(strstr(sparq_last_error(), "\"radeon\" matches no device"));

    /* bad arguments */
    assert_int_equal(sparq_device_choose(NULL, n, NULL, &chosen, NULL, 0),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_device_choose(list, n, NULL, NULL, NULL, 0),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_device_choose(list, 0, NULL, &chosen, NULL, 0), SPARQ_ERROR_NO_DEVICE);
}

static void list_and_probe(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL); /* fails under CI when there is no device */
    sparq_context_free(ctx);
    sparq_device_entry *list = NULL;
    size_t count = 0;
    assert_int_equal(sparq_device_list(&list, &count), SPARQ_OK);
    assert_true(count >= 1);
    for (size_t i = 0; i < count; i++) {
        const sparq_device_caps *c = &list[i].caps;
        assert_true(strlen(c->name) > 0);
        assert_true(c->compute_units >= 1);
        assert_true(c->global_mem_bytes > 0);
        assert_true(c->max_alloc_bytes > 0 && c->max_alloc_bytes <= c->global_mem_bytes);
        assert_true(c->max_work_group_size >= 1);
        assert_true(c->opencl_c_major >= 1);
        assert_true(c->base_addr_align_bytes >= 4);
        /* re-probing gives the same answer */
        sparq_device_caps again;
        assert_int_equal(sparq_device_caps_probe(list[i].device, &again), SPARQ_OK);
        assert_memory_equal(c, &again, sizeof again);
    }
    sparq_device_list_free(list);
    sparq_device_list_free(NULL);
    assert_int_equal(sparq_device_list(NULL, &count), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_device_caps_probe(NULL, NULL), SPARQ_ERROR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(choose_rules),
        cmocka_unit_test(list_and_probe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
