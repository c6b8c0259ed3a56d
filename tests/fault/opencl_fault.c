/* SPDX-License-Identifier: Apache-2.0 */
/* opencl_fault.c - OpenCL fault injection, loaded with LD_PRELOAD (tests/fault).
 *
 * Interposes the fallible OpenCL entry points sparq (and the workload) call: each one
 * counts the call, then passes it on to the ICD loader (dlsym(RTLD_NEXT)), except the
 * Nth counted call of the process, which fails with an error that entry point may
 * plausibly return (NULL and *errcode_ret for creators).
 *
 *   SPARQ_FAULT_AT=N          the Nth counted call fails (1-based; unset or 0: none)
 *   SPARQ_FAULT_COUNT_FILE=p  at exit, writes "<counted calls> <fired 0/1> <name>\n"
 *   SPARQ_FAULT_ONLY=a,b,...  counts (and so fails) only the entry points named
 *   SPARQ_FAULT_VERBOSE=1     names the failed call on stderr
 *
 * Calls are counted process-wide with an atomic counter, in the order they happen. A
 * thread may stop counting its own calls (the workload's buffers, reads and waits) with
 * opencl_fault_pause(1), found with dlsym(RTLD_DEFAULT).
 *
 * The shim also follows the OpenCL objects made through it (contexts, queues, buffers,
 * programs, kernels, events: created +1, retained +1, released -1), so that a test can
 * ask at the end, after freeing everything, which are still held: a leak LeakSanitizer
 * cannot see, because PoCL allocates them (tests/lsan.supp hides libpocl).
 */
#define _GNU_SOURCE
#define CL_TARGET_OPENCL_VERSION 300
#define CL_USE_DEPRECATED_OPENCL_1_1_APIS
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

/* ---- counting and failing ------------------------------------------------------ */

static unsigned long fault_at;      /* 0: never fail */
static atomic_ulong counted;        /* calls counted so far */
static atomic_int fired;            /* 1 once the Nth call has failed */
static const char *fired_name = ""; /* which entry point it was */
static int fired_error;             /* and the error it returned */
static int verbose;
static char only[1024];             /* ",a,b,": the entry points counted ("": all) */
static _Thread_local int paused;

/* Counts one call of `name`; true when it is the one to fail (with `error`). */
static int fault(const char *name, int error)
{
    if (paused)
        return 0;
    if (only[0]) {
        char key[128];
        snprintf(key, sizeof key, ",%s,", name);
        if (!strstr(only, key))
            return 0;
    }
    unsigned long n = atomic_fetch_add(&counted, 1) + 1;
    if (fault_at == 0 || n != fault_at)
        return 0;
    fired_name = name;
    fired_error = error;
    atomic_store(&fired, 1);
    if (verbose)
        fprintf(stderr, "opencl_fault: call %lu (%s) fails\n", n, name);
    return 1;
}

static void *resolve(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (!f) {
        fprintf(stderr, "opencl_fault: %s not found after the shim (%s)\n", name, dlerror());
        abort();
    }
    return f;
}

/* The loader's fn, looked up once (a race only looks it up twice). */
#define REAL(fn)                                                                             \
    static __typeof__(&fn) real_##fn;                                                        \
    if (!real_##fn)                                                                          \
        real_##fn = (__typeof__(&fn))resolve(#fn)

/* ---- following objects ------------------------------------------------------------ */

enum { K_CONTEXT, K_QUEUE, K_MEM, K_PROGRAM, K_KERNEL, K_EVENT, K_COUNT };
static const char *const kind_names[K_COUNT] = {"context", "queue", "mem", "program",
                                                "kernel", "event"};

typedef struct held {
    const void *handle;
    int kind;
    long refs;
    unsigned long call; /* the counted call that made it */
} held;

#define MAX_HELD 8192
static held table[MAX_HELD];
static size_t held_count;
static int table_overflow;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static void track_created(const void *handle, int kind)
{
    if (!handle)
        return;
    pthread_mutex_lock(&table_lock);
    size_t i = 0;
    while (i < held_count && table[i].handle != handle)
        i++;
    held h = {handle, kind, 1, atomic_load(&counted)};
    if (i < held_count) /* an address reused after a release we did not see */
        table[i] = h;
    else if (held_count < MAX_HELD)
        table[held_count++] = h;
    else
        table_overflow = 1;
    pthread_mutex_unlock(&table_lock);
}

static void track_change(const void *handle, long delta)
{
    pthread_mutex_lock(&table_lock);
    for (size_t i = 0; i < held_count; i++)
        if (table[i].handle == handle) {
            table[i].refs += delta;
            if (table[i].refs <= 0)
                table[i] = table[--held_count];
            break;
        }
    pthread_mutex_unlock(&table_lock);
}

/* ---- hooks for the workload (dlsym(RTLD_DEFAULT, ...)) ---------------------------- */

/* Stops (1) or resumes (0) counting this thread's calls; returns the previous state. */
EXPORT int opencl_fault_pause(int on)
{
    int was = paused;
    paused = on;
    return was;
}

EXPORT unsigned long opencl_fault_calls(void)
{
    return atomic_load(&counted);
}

/* 1 once the injected fault has happened; *name and *error (if not NULL) get the entry
 * point and the error it returned. */
EXPORT int opencl_fault_fired(const char **name, int *error)
{
    int f = atomic_load(&fired);
    if (name)
        *name = f ? fired_name : "";
    if (error)
        *error = f ? fired_error : 0;
    return f;
}

/* The objects made through the shim and not released: their number, and in text a list
 * ("mem made at call 12 (2 references), ..."). */
EXPORT size_t opencl_fault_live(char *text, size_t size)
{
    pthread_mutex_lock(&table_lock);
    size_t used = 0;
    if (size)
        text[0] = '\0';
    for (size_t i = 0; i < held_count && used + 1 < size; i++) {
        int n = snprintf(text + used, size - used, "%s%s made after call %lu (%ld reference%s)",
                         i ? ", " : "", kind_names[table[i].kind], table[i].call,
                         table[i].refs, table[i].refs == 1 ? "" : "s");
        if (n < 0)
            break;
        used += (size_t)n < size - used ? (size_t)n : size - used - 1;
    }
    if (table_overflow && used + 1 < size)
        snprintf(text + used, size - used, "%sover %d objects: not all followed",
                 used ? ", " : "", MAX_HELD);
    size_t n = held_count + (table_overflow ? 1 : 0);
    pthread_mutex_unlock(&table_lock);
    return n;
}

__attribute__((constructor)) static void fault_init(void)
{
    /* The loader has read LD_PRELOAD by now. Children (PoCL runs the linker to build
     * kernels) must not inherit it: neither the shim nor, under ASan, the ASan runtime. */
    unsetenv("LD_PRELOAD");
    const char *at = getenv("SPARQ_FAULT_AT");
    fault_at = at && *at ? strtoul(at, NULL, 10) : 0;
    const char *o = getenv("SPARQ_FAULT_ONLY");
    if (o && *o)
        snprintf(only, sizeof only, ",%s,", o);
    const char *v = getenv("SPARQ_FAULT_VERBOSE");
    verbose = v && *v && strcmp(v, "0") != 0;
}

__attribute__((destructor)) static void fault_fini(void)
{
    const char *path = getenv("SPARQ_FAULT_COUNT_FILE");
    if (!path || !*path)
        return;
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fprintf(f, "%lu %d %s\n", atomic_load(&counted), atomic_load(&fired),
            atomic_load(&fired) ? fired_name : "-");
    fclose(f);
}

/* ---- the entry points -------------------------------------------------------------- */

/* A call returning cl_int: fails with `error`, else passes on. */
#define PASS(fn, error, ...)                                                                 \
    REAL(fn);                                                                                \
    if (fault(#fn, error))                                                                   \
        return error;                                                                        \
    return real_##fn(__VA_ARGS__)

/* A creator: fails with NULL and *errcode_ret = error, else passes on and follows what
 * it made as `kind`. */
#define CREATE(fn, kind, error, errcode_ret, ...)                                            \
    REAL(fn);                                                                                \
    if (fault(#fn, error)) {                                                                 \
        if (errcode_ret)                                                                     \
            *errcode_ret = error;                                                            \
        return NULL;                                                                         \
    }                                                                                        \
    __typeof__(real_##fn(__VA_ARGS__)) made = real_##fn(__VA_ARGS__);                        \
    track_created(made, kind);                                                               \
    return made

/* An enqueue with an event out: fails with `error` (event untouched), else passes on
 * and follows the event it returned. */
#define ENQUEUE(fn, error, event, ...)                                                       \
    REAL(fn);                                                                                \
    if (fault(#fn, error))                                                                   \
        return error;                                                                        \
    cl_int err = real_##fn(__VA_ARGS__);                                                     \
    if (err == CL_SUCCESS && event)                                                          \
        track_created(*event, K_EVENT);                                                      \
    return err

/* Retain and release: not counted, never failed, followed. */
#define RETAIN(fn, type, delta)                                                              \
    CL_API_ENTRY cl_int CL_API_CALL fn(type object)                                          \
    {                                                                                        \
        REAL(fn);                                                                            \
        cl_int err = real_##fn(object);                                                      \
        if (err == CL_SUCCESS)                                                               \
            track_change(object, delta);                                                     \
        return err;                                                                          \
    }

RETAIN(clRetainContext, cl_context, 1)
RETAIN(clReleaseContext, cl_context, -1)
RETAIN(clRetainCommandQueue, cl_command_queue, 1)
RETAIN(clReleaseCommandQueue, cl_command_queue, -1)
RETAIN(clRetainMemObject, cl_mem, 1)
RETAIN(clReleaseMemObject, cl_mem, -1)
RETAIN(clRetainProgram, cl_program, 1)
RETAIN(clReleaseProgram, cl_program, -1)
RETAIN(clRetainKernel, cl_kernel, 1)
RETAIN(clReleaseKernel, cl_kernel, -1)
RETAIN(clRetainEvent, cl_event, 1)
RETAIN(clReleaseEvent, cl_event, -1)

/* platforms and devices */

CL_API_ENTRY cl_int CL_API_CALL clGetPlatformIDs(cl_uint num_entries, cl_platform_id *platforms,
                                                 cl_uint *num_platforms)
{
    PASS(clGetPlatformIDs, CL_OUT_OF_HOST_MEMORY, num_entries, platforms, num_platforms);
}

CL_API_ENTRY cl_int CL_API_CALL clGetPlatformInfo(cl_platform_id platform,
                                                  cl_platform_info param_name,
                                                  size_t param_value_size, void *param_value,
                                                  size_t *param_value_size_ret)
{
    PASS(clGetPlatformInfo, CL_OUT_OF_HOST_MEMORY, platform, param_name, param_value_size,
         param_value, param_value_size_ret);
}

CL_API_ENTRY cl_int CL_API_CALL clGetDeviceIDs(cl_platform_id platform,
                                               cl_device_type device_type, cl_uint num_entries,
                                               cl_device_id *devices, cl_uint *num_devices)
{
    PASS(clGetDeviceIDs, CL_OUT_OF_RESOURCES, platform, device_type, num_entries, devices,
         num_devices);
}

CL_API_ENTRY cl_int CL_API_CALL clGetDeviceInfo(cl_device_id device, cl_device_info param_name,
                                                size_t param_value_size, void *param_value,
                                                size_t *param_value_size_ret)
{
    PASS(clGetDeviceInfo, CL_OUT_OF_RESOURCES, device, param_name, param_value_size,
         param_value, param_value_size_ret);
}

/* contexts and queues */

CL_API_ENTRY cl_context CL_API_CALL
clCreateContext(const cl_context_properties *properties, cl_uint num_devices,
                const cl_device_id *devices,
                void(CL_CALLBACK *pfn_notify)(const char *, const void *, size_t, void *),
                void *user_data, cl_int *errcode_ret)
{
    CREATE(clCreateContext, K_CONTEXT, CL_OUT_OF_HOST_MEMORY, errcode_ret, properties,
           num_devices, devices, pfn_notify, user_data, errcode_ret);
}

CL_API_ENTRY cl_context CL_API_CALL
clCreateContextFromType(const cl_context_properties *properties, cl_device_type device_type,
                        void(CL_CALLBACK *pfn_notify)(const char *, const void *, size_t, void *),
                        void *user_data, cl_int *errcode_ret)
{
    CREATE(clCreateContextFromType, K_CONTEXT, CL_OUT_OF_HOST_MEMORY, errcode_ret, properties,
           device_type, pfn_notify, user_data, errcode_ret);
}

CL_API_ENTRY cl_int CL_API_CALL clGetContextInfo(cl_context context, cl_context_info param_name,
                                                 size_t param_value_size, void *param_value,
                                                 size_t *param_value_size_ret)
{
    PASS(clGetContextInfo, CL_OUT_OF_HOST_MEMORY, context, param_name, param_value_size,
         param_value, param_value_size_ret);
}

CL_API_ENTRY cl_command_queue CL_API_CALL clCreateCommandQueue(cl_context context,
                                                               cl_device_id device,
                                                               cl_command_queue_properties props,
                                                               cl_int *errcode_ret)
{
    CREATE(clCreateCommandQueue, K_QUEUE, CL_OUT_OF_RESOURCES, errcode_ret, context, device,
           props, errcode_ret);
}

CL_API_ENTRY cl_command_queue CL_API_CALL
clCreateCommandQueueWithProperties(cl_context context, cl_device_id device,
                                   const cl_queue_properties *properties, cl_int *errcode_ret)
{
    CREATE(clCreateCommandQueueWithProperties, K_QUEUE, CL_OUT_OF_RESOURCES, errcode_ret,
           context, device, properties, errcode_ret);
}

CL_API_ENTRY cl_int CL_API_CALL clGetCommandQueueInfo(cl_command_queue queue,
                                                      cl_command_queue_info param_name,
                                                      size_t param_value_size, void *param_value,
                                                      size_t *param_value_size_ret)
{
    PASS(clGetCommandQueueInfo, CL_OUT_OF_RESOURCES, queue, param_name, param_value_size,
         param_value, param_value_size_ret);
}

/* memory */

CL_API_ENTRY cl_mem CL_API_CALL clCreateBuffer(cl_context context, cl_mem_flags flags,
                                               size_t size, void *host_ptr, cl_int *errcode_ret)
{
    CREATE(clCreateBuffer, K_MEM, CL_MEM_OBJECT_ALLOCATION_FAILURE, errcode_ret, context, flags,
           size, host_ptr, errcode_ret);
}

CL_API_ENTRY cl_mem CL_API_CALL clCreateSubBuffer(cl_mem buffer, cl_mem_flags flags,
                                                  cl_buffer_create_type type, const void *info,
                                                  cl_int *errcode_ret)
{
    CREATE(clCreateSubBuffer, K_MEM, CL_MEM_OBJECT_ALLOCATION_FAILURE, errcode_ret, buffer,
           flags, type, info, errcode_ret);
}

CL_API_ENTRY cl_int CL_API_CALL clGetMemObjectInfo(cl_mem memobj, cl_mem_info param_name,
                                                   size_t param_value_size, void *param_value,
                                                   size_t *param_value_size_ret)
{
    PASS(clGetMemObjectInfo, CL_OUT_OF_RESOURCES, memobj, param_name, param_value_size,
         param_value, param_value_size_ret);
}

/* programs and kernels */

CL_API_ENTRY cl_program CL_API_CALL clCreateProgramWithSource(cl_context context, cl_uint count,
                                                              const char **strings,
                                                              const size_t *lengths,
                                                              cl_int *errcode_ret)
{
    CREATE(clCreateProgramWithSource, K_PROGRAM, CL_OUT_OF_HOST_MEMORY, errcode_ret, context,
           count, strings, lengths, errcode_ret);
}

CL_API_ENTRY cl_program CL_API_CALL
clCreateProgramWithBinary(cl_context context, cl_uint num_devices, const cl_device_id *device_list,
                          const size_t *lengths, const unsigned char **binaries,
                          cl_int *binary_status, cl_int *errcode_ret)
{
    REAL(clCreateProgramWithBinary);
    if (fault("clCreateProgramWithBinary", CL_INVALID_BINARY)) {
        for (cl_uint i = 0; binary_status && i < num_devices; i++)
            binary_status[i] = CL_INVALID_BINARY;
        if (errcode_ret)
            *errcode_ret = CL_INVALID_BINARY;
        return NULL;
    }
    cl_program made = real_clCreateProgramWithBinary(context, num_devices, device_list, lengths,
                                                     binaries, binary_status, errcode_ret);
    track_created(made, K_PROGRAM);
    return made;
}

CL_API_ENTRY cl_int CL_API_CALL clBuildProgram(cl_program program, cl_uint num_devices,
                                               const cl_device_id *device_list,
                                               const char *options,
                                               void(CL_CALLBACK *pfn_notify)(cl_program, void *),
                                               void *user_data)
{
    PASS(clBuildProgram, CL_BUILD_PROGRAM_FAILURE, program, num_devices, device_list, options,
         pfn_notify, user_data);
}

CL_API_ENTRY cl_int CL_API_CALL clGetProgramInfo(cl_program program, cl_program_info param_name,
                                                 size_t param_value_size, void *param_value,
                                                 size_t *param_value_size_ret)
{
    PASS(clGetProgramInfo, CL_OUT_OF_RESOURCES, program, param_name, param_value_size,
         param_value, param_value_size_ret);
}

CL_API_ENTRY cl_int CL_API_CALL clGetProgramBuildInfo(cl_program program, cl_device_id device,
                                                      cl_program_build_info param_name,
                                                      size_t param_value_size, void *param_value,
                                                      size_t *param_value_size_ret)
{
    PASS(clGetProgramBuildInfo, CL_OUT_OF_RESOURCES, program, device, param_name,
         param_value_size, param_value, param_value_size_ret);
}

CL_API_ENTRY cl_kernel CL_API_CALL clCreateKernel(cl_program program, const char *kernel_name,
                                                  cl_int *errcode_ret)
{
    CREATE(clCreateKernel, K_KERNEL, CL_OUT_OF_RESOURCES, errcode_ret, program, kernel_name,
           errcode_ret);
}

CL_API_ENTRY cl_int CL_API_CALL clSetKernelArg(cl_kernel kernel, cl_uint arg_index,
                                               size_t arg_size, const void *arg_value)
{
    PASS(clSetKernelArg, CL_OUT_OF_RESOURCES, kernel, arg_index, arg_size, arg_value);
}

CL_API_ENTRY cl_int CL_API_CALL clGetKernelWorkGroupInfo(cl_kernel kernel, cl_device_id device,
                                                         cl_kernel_work_group_info param_name,
                                                         size_t param_value_size,
                                                         void *param_value,
                                                         size_t *param_value_size_ret)
{
    PASS(clGetKernelWorkGroupInfo, CL_OUT_OF_RESOURCES, kernel, device, param_name,
         param_value_size, param_value, param_value_size_ret);
}

/* enqueues */

CL_API_ENTRY cl_int CL_API_CALL clEnqueueNDRangeKernel(cl_command_queue queue, cl_kernel kernel,
                                                       cl_uint work_dim, const size_t *offset,
                                                       const size_t *global, const size_t *local,
                                                       cl_uint num_wait, const cl_event *wait_list,
                                                       cl_event *event)
{
    ENQUEUE(clEnqueueNDRangeKernel, CL_OUT_OF_RESOURCES, event, queue, kernel, work_dim, offset,
            global, local, num_wait, wait_list, event);
}

CL_API_ENTRY cl_int CL_API_CALL clEnqueueWriteBuffer(cl_command_queue queue, cl_mem buffer,
                                                     cl_bool blocking, size_t offset, size_t size,
                                                     const void *ptr, cl_uint num_wait,
                                                     const cl_event *wait_list, cl_event *event)
{
    ENQUEUE(clEnqueueWriteBuffer, CL_MEM_OBJECT_ALLOCATION_FAILURE, event, queue, buffer,
            blocking, offset, size, ptr, num_wait, wait_list, event);
}

CL_API_ENTRY cl_int CL_API_CALL clEnqueueReadBuffer(cl_command_queue queue, cl_mem buffer,
                                                    cl_bool blocking, size_t offset, size_t size,
                                                    void *ptr, cl_uint num_wait,
                                                    const cl_event *wait_list, cl_event *event)
{
    ENQUEUE(clEnqueueReadBuffer, CL_MEM_OBJECT_ALLOCATION_FAILURE, event, queue, buffer,
            blocking, offset, size, ptr, num_wait, wait_list, event);
}

CL_API_ENTRY cl_int CL_API_CALL clEnqueueFillBuffer(cl_command_queue queue, cl_mem buffer,
                                                    const void *pattern, size_t pattern_size,
                                                    size_t offset, size_t size, cl_uint num_wait,
                                                    const cl_event *wait_list, cl_event *event)
{
    ENQUEUE(clEnqueueFillBuffer, CL_MEM_OBJECT_ALLOCATION_FAILURE, event, queue, buffer,
            pattern, pattern_size, offset, size, num_wait, wait_list, event);
}

CL_API_ENTRY cl_int CL_API_CALL clEnqueueCopyBuffer(cl_command_queue queue, cl_mem src,
                                                    cl_mem dst, size_t src_offset,
                                                    size_t dst_offset, size_t size,
                                                    cl_uint num_wait, const cl_event *wait_list,
                                                    cl_event *event)
{
    ENQUEUE(clEnqueueCopyBuffer, CL_MEM_OBJECT_ALLOCATION_FAILURE, event, queue, src, dst,
            src_offset, dst_offset, size, num_wait, wait_list, event);
}

CL_API_ENTRY void *CL_API_CALL clEnqueueMapBuffer(cl_command_queue queue, cl_mem buffer,
                                                  cl_bool blocking, cl_map_flags flags,
                                                  size_t offset, size_t size, cl_uint num_wait,
                                                  const cl_event *wait_list, cl_event *event,
                                                  cl_int *errcode_ret)
{
    REAL(clEnqueueMapBuffer);
    if (fault("clEnqueueMapBuffer", CL_MAP_FAILURE)) {
        if (errcode_ret)
            *errcode_ret = CL_MAP_FAILURE;
        return NULL;
    }
    cl_int err = CL_SUCCESS;
    void *mapped = real_clEnqueueMapBuffer(queue, buffer, blocking, flags, offset, size, num_wait,
                                           wait_list, event, &err);
    if (err == CL_SUCCESS && event)
        track_created(*event, K_EVENT);
    if (errcode_ret)
        *errcode_ret = err;
    return mapped;
}

CL_API_ENTRY cl_int CL_API_CALL clEnqueueUnmapMemObject(cl_command_queue queue, cl_mem memobj,
                                                        void *mapped, cl_uint num_wait,
                                                        const cl_event *wait_list,
                                                        cl_event *event)
{
    ENQUEUE(clEnqueueUnmapMemObject, CL_OUT_OF_RESOURCES, event, queue, memobj, mapped, num_wait,
            wait_list, event);
}

CL_API_ENTRY cl_int CL_API_CALL clEnqueueBarrierWithWaitList(cl_command_queue queue,
                                                             cl_uint num_wait,
                                                             const cl_event *wait_list,
                                                             cl_event *event)
{
    ENQUEUE(clEnqueueBarrierWithWaitList, CL_OUT_OF_HOST_MEMORY, event, queue, num_wait,
            wait_list, event);
}

CL_API_ENTRY cl_int CL_API_CALL clEnqueueMarkerWithWaitList(cl_command_queue queue,
                                                            cl_uint num_wait,
                                                            const cl_event *wait_list,
                                                            cl_event *event)
{
    ENQUEUE(clEnqueueMarkerWithWaitList, CL_OUT_OF_HOST_MEMORY, event, queue, num_wait,
            wait_list, event);
}

/* waiting and events */

CL_API_ENTRY cl_int CL_API_CALL clWaitForEvents(cl_uint num_events, const cl_event *event_list)
{
    PASS(clWaitForEvents, CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST, num_events, event_list);
}

CL_API_ENTRY cl_int CL_API_CALL clFinish(cl_command_queue queue)
{
    PASS(clFinish, CL_OUT_OF_RESOURCES, queue);
}

CL_API_ENTRY cl_int CL_API_CALL clFlush(cl_command_queue queue)
{
    PASS(clFlush, CL_OUT_OF_RESOURCES, queue);
}

CL_API_ENTRY cl_int CL_API_CALL clGetEventInfo(cl_event event, cl_event_info param_name,
                                               size_t param_value_size, void *param_value,
                                               size_t *param_value_size_ret)
{
    PASS(clGetEventInfo, CL_OUT_OF_RESOURCES, event, param_name, param_value_size, param_value,
         param_value_size_ret);
}

CL_API_ENTRY cl_int CL_API_CALL clGetEventProfilingInfo(cl_event event,
                                                        cl_profiling_info param_name,
                                                        size_t param_value_size,
                                                        void *param_value,
                                                        size_t *param_value_size_ret)
{
    PASS(clGetEventProfilingInfo, CL_PROFILING_INFO_NOT_AVAILABLE, event, param_name,
         param_value_size, param_value, param_value_size_ret);
}
