/* SPDX-License-Identifier: Apache-2.0 */
/* status.c - the bottom layer every other one uses: status names (OpenCL's codes by
 * name too, from its header's constants), the thread-local last-error sentence, opt-in
 * logging and the library's one monotonic clock.
 */
#include "status.h"

#include <CL/cl.h>
#include <stdatomic.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static _Thread_local char last_error[1024];

const char *sparq_version_string(void)
{
    return SPARQ_VERSION_STRING;
}

const char *sparq_last_error(void)
{
    return last_error;
}

sparq_status sparq_fail(sparq_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    sparq_log(SPARQ_LOG_DEBUG, "error %s: %s", sparq_status_string(status), last_error);
    return status;
}

const char *sparq_status_string(sparq_status status)
{
    switch (status) {
    case SPARQ_OK: return "SPARQ_OK";
    case SPARQ_ERROR_INVALID_ARGUMENT: return "SPARQ_ERROR_INVALID_ARGUMENT";
    case SPARQ_ERROR_OUT_OF_BOUNDS: return "SPARQ_ERROR_OUT_OF_BOUNDS";
    case SPARQ_ERROR_OUT_OF_MEMORY: return "SPARQ_ERROR_OUT_OF_MEMORY";
    case SPARQ_ERROR_NO_PLATFORM: return "SPARQ_ERROR_NO_PLATFORM";
    case SPARQ_ERROR_NO_DEVICE: return "SPARQ_ERROR_NO_DEVICE";
    case SPARQ_ERROR_UNSUPPORTED: return "SPARQ_ERROR_UNSUPPORTED";
    case SPARQ_ERROR_BUILD_FAILED: return "SPARQ_ERROR_BUILD_FAILED";
    case SPARQ_ERROR_IO: return "SPARQ_ERROR_IO";
    case SPARQ_ERROR_INVALID_FORMAT: return "SPARQ_ERROR_INVALID_FORMAT";
    case SPARQ_ERROR_INVALID_DATA: return "SPARQ_ERROR_INVALID_DATA";
    case SPARQ_ERROR_PEER: return "SPARQ_ERROR_PEER";
    case SPARQ_ERROR_INTERNAL: return "SPARQ_ERROR_INTERNAL";
    /* OpenCL's own codes, passed through */
    case CL_DEVICE_NOT_FOUND: return "CL_DEVICE_NOT_FOUND";
    case CL_DEVICE_NOT_AVAILABLE: return "CL_DEVICE_NOT_AVAILABLE";
    case CL_COMPILER_NOT_AVAILABLE: return "CL_COMPILER_NOT_AVAILABLE";
    case CL_MEM_OBJECT_ALLOCATION_FAILURE: return "CL_MEM_OBJECT_ALLOCATION_FAILURE";
    case CL_OUT_OF_RESOURCES: return "CL_OUT_OF_RESOURCES";
    case CL_OUT_OF_HOST_MEMORY: return "CL_OUT_OF_HOST_MEMORY";
    case CL_PROFILING_INFO_NOT_AVAILABLE: return "CL_PROFILING_INFO_NOT_AVAILABLE";
    case CL_MEM_COPY_OVERLAP: return "CL_MEM_COPY_OVERLAP";
    case CL_IMAGE_FORMAT_MISMATCH: return "CL_IMAGE_FORMAT_MISMATCH";
    case CL_IMAGE_FORMAT_NOT_SUPPORTED: return "CL_IMAGE_FORMAT_NOT_SUPPORTED";
    case CL_BUILD_PROGRAM_FAILURE: return "CL_BUILD_PROGRAM_FAILURE";
    case CL_MAP_FAILURE: return "CL_MAP_FAILURE";
    case CL_MISALIGNED_SUB_BUFFER_OFFSET: return "CL_MISALIGNED_SUB_BUFFER_OFFSET";
    case CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST:
        return "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST";
    case CL_COMPILE_PROGRAM_FAILURE: return "CL_COMPILE_PROGRAM_FAILURE";
    case CL_LINKER_NOT_AVAILABLE: return "CL_LINKER_NOT_AVAILABLE";
    case CL_LINK_PROGRAM_FAILURE: return "CL_LINK_PROGRAM_FAILURE";
    case CL_DEVICE_PARTITION_FAILED: return "CL_DEVICE_PARTITION_FAILED";
    case CL_KERNEL_ARG_INFO_NOT_AVAILABLE: return "CL_KERNEL_ARG_INFO_NOT_AVAILABLE";
    case CL_INVALID_VALUE: return "CL_INVALID_VALUE";
    case CL_INVALID_DEVICE_TYPE: return "CL_INVALID_DEVICE_TYPE";
    case CL_INVALID_PLATFORM: return "CL_INVALID_PLATFORM";
    case CL_INVALID_DEVICE: return "CL_INVALID_DEVICE";
    case CL_INVALID_CONTEXT: return "CL_INVALID_CONTEXT";
    case CL_INVALID_QUEUE_PROPERTIES: return "CL_INVALID_QUEUE_PROPERTIES";
    case CL_INVALID_COMMAND_QUEUE: return "CL_INVALID_COMMAND_QUEUE";
    case CL_INVALID_HOST_PTR: return "CL_INVALID_HOST_PTR";
    case CL_INVALID_MEM_OBJECT: return "CL_INVALID_MEM_OBJECT";
    case CL_INVALID_IMAGE_FORMAT_DESCRIPTOR: return "CL_INVALID_IMAGE_FORMAT_DESCRIPTOR";
    case CL_INVALID_IMAGE_SIZE: return "CL_INVALID_IMAGE_SIZE";
    case CL_INVALID_SAMPLER: return "CL_INVALID_SAMPLER";
    case CL_INVALID_BINARY: return "CL_INVALID_BINARY";
    case CL_INVALID_BUILD_OPTIONS: return "CL_INVALID_BUILD_OPTIONS";
    case CL_INVALID_PROGRAM: return "CL_INVALID_PROGRAM";
    case CL_INVALID_PROGRAM_EXECUTABLE: return "CL_INVALID_PROGRAM_EXECUTABLE";
    case CL_INVALID_KERNEL_NAME: return "CL_INVALID_KERNEL_NAME";
    case CL_INVALID_KERNEL_DEFINITION: return "CL_INVALID_KERNEL_DEFINITION";
    case CL_INVALID_KERNEL: return "CL_INVALID_KERNEL";
    case CL_INVALID_ARG_INDEX: return "CL_INVALID_ARG_INDEX";
    case CL_INVALID_ARG_VALUE: return "CL_INVALID_ARG_VALUE";
    case CL_INVALID_ARG_SIZE: return "CL_INVALID_ARG_SIZE";
    case CL_INVALID_KERNEL_ARGS: return "CL_INVALID_KERNEL_ARGS";
    case CL_INVALID_WORK_DIMENSION: return "CL_INVALID_WORK_DIMENSION";
    case CL_INVALID_WORK_GROUP_SIZE: return "CL_INVALID_WORK_GROUP_SIZE";
    case CL_INVALID_WORK_ITEM_SIZE: return "CL_INVALID_WORK_ITEM_SIZE";
    case CL_INVALID_GLOBAL_OFFSET: return "CL_INVALID_GLOBAL_OFFSET";
    case CL_INVALID_EVENT_WAIT_LIST: return "CL_INVALID_EVENT_WAIT_LIST";
    case CL_INVALID_EVENT: return "CL_INVALID_EVENT";
    case CL_INVALID_OPERATION: return "CL_INVALID_OPERATION";
    case CL_INVALID_GL_OBJECT: return "CL_INVALID_GL_OBJECT";
    case CL_INVALID_BUFFER_SIZE: return "CL_INVALID_BUFFER_SIZE";
    case CL_INVALID_MIP_LEVEL: return "CL_INVALID_MIP_LEVEL";
    case CL_INVALID_GLOBAL_WORK_SIZE: return "CL_INVALID_GLOBAL_WORK_SIZE";
    case CL_INVALID_PROPERTY: return "CL_INVALID_PROPERTY";
    case CL_INVALID_IMAGE_DESCRIPTOR: return "CL_INVALID_IMAGE_DESCRIPTOR";
    case CL_INVALID_COMPILER_OPTIONS: return "CL_INVALID_COMPILER_OPTIONS";
    case CL_INVALID_LINKER_OPTIONS: return "CL_INVALID_LINKER_OPTIONS";
    case CL_INVALID_DEVICE_PARTITION_COUNT: return "CL_INVALID_DEVICE_PARTITION_COUNT";
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "unknown status";
    }
}

/* ---- logging --------------------------------------------------------------------- */

static atomic_int log_level = -1; /* -1: not yet read from SPARQ_LOG */

sparq_log_level sparq_log_level_get(void)
{
    int level = atomic_load(&log_level);
    if (level < 0) {
        const char *env = getenv("SPARQ_LOG");
        level = SPARQ_LOG_OFF;
        if (env && (strcasecmp(env, "info") == 0 || strcmp(env, "1") == 0))
            level = SPARQ_LOG_INFO;
        else if (env && strcasecmp(env, "debug") == 0)
            level = SPARQ_LOG_DEBUG;
        int expected = -1;
        atomic_compare_exchange_strong(&log_level, &expected, level);
        level = atomic_load(&log_level);
    }
    return (sparq_log_level)level;
}

void sparq_log_set_level(sparq_log_level level)
{
    atomic_store(&log_level, (int)level);
}

void sparq_log(sparq_log_level level, const char *fmt, ...)
{
    if (level == SPARQ_LOG_OFF || sparq_log_level_get() < level)
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "sparq: %s\n", line);
}

double sparq_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
