/* SPDX-License-Identifier: Apache-2.0 */
/* warp_model.cpp - an oclgrind plugin that models a kernel's memory requests as a GPU's
 * warps (32 lanes) and waves (64) would issue them, and appends one line of raw counts per
 * kernel run to $SPARQ_WARP_REPORT (stderr if unset) for warp_report.c. A model of memory
 * behaviour under oclgrind, not a GPU measurement. */

/* A request: the lanes of a warp (consecutive local linear ids) that execute one
 * instruction in the same iteration of every loop around it (LLVM's LoopInfo on the
 * kernel's IR), as a SIMT machine that reconverges after divergent code issues them;
 * an instruction run twice in one iteration (a call in a loop) makes a request per run. */
#include "Context.h"
#include "Kernel.h"
#include "KernelInvocation.h"
#include "Memory.h"
#include "Plugin.h"
#include "WorkGroup.h"
#include "WorkItem.h"

#include "llvm/Analysis/LoopInfo.h"
#include "llvm/IR/Argument.h"
#include "llvm/IR/DataLayout.h"
#include "llvm/IR/DerivedTypes.h"
#include "llvm/IR/Dominators.h"
#include "llvm/IR/Function.h"
#include "llvm/IR/Module.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace
{

/* What a global load reads: the matrix arrays (the arguments named as host/dispatch.h's
 * arrays), the activations (the arguments named x, or xq: W8A8's quantized x), anything
 * else (y, bias, W8A8's per-row x parameters). Local memory accesses are their own kind. */
enum Stream { kWeights = 0, kX = 1, kOther = 2, kStreams = 3, kLocal = 3 };

const int kWidths[2] = {32, 64}; /* NVIDIA warp, AMD wave */

/* One lane's access, kept until every lane of its warp has passed the same point. Lanes
 * with the same inst, iter and k make one request. */
struct Access {
    uintptr_t inst;   /* the instruction, with bit 0 set for a store                */
    uint64_t iter;    /* hash of the iteration of each loop around it               */
    uint32_t k;       /* executions with the same inst and iter before this one     */
    uint32_t lane;    /* local linear id                                            */
    uint64_t address; /* oclgrind address: buffer bits, then offset                 */
    uint32_t size;
    uint8_t stream;
};

/* Raw counts of one kernel run (the report line's fields). */
struct Totals {
    uint64_t req[kStreams][2], lanes[kStreams][2], lane_bytes[kStreams][2];
    uint64_t used[kStreams][2], sectors[kStreams][2], lines[kStreams][2];
    uint64_t local_req, local_wave, local_ideal;
    uint64_t x_group_loaded, x_group_distinct;
    uint64_t instructions, barriers, groups, work_items;

    void add(const Totals &o)
    {
        const uint64_t *src = reinterpret_cast<const uint64_t *>(&o);
        uint64_t *dst = reinterpret_cast<uint64_t *>(this);
        for (size_t i = 0; i < sizeof(Totals) / sizeof(uint64_t); i++)
            dst[i] += src[i];
    }
};

/* Where one work-item is in the kernel's loops. */
struct ItemState {
    std::vector<uint32_t> iteration;                  /* per loop id: the current one */
    std::unordered_map<uint64_t, uint32_t> executions; /* per (inst, iter): count      */
    const llvm::Instruction *counted = nullptr; /* a header entry record() counted ahead
                                                 * of its instructionExecuted       */
};

/* One work-group in flight on this worker thread. */
struct GroupState {
    oclgrind::Size3 size;
    std::vector<Access> accesses;
    std::vector<ItemState> items;                               /* per work-item */
    std::vector<std::pair<uint64_t, uint32_t>> x_loads;          /* for group reuse */
    Totals totals;
};

thread_local GroupState *t_group = nullptr;
thread_local uint64_t t_instructions = 0;

/* Distinct units of 2^shift bytes that the address-sorted accesses [b, e) touch. */
uint64_t distinct_units(const Access *b, const Access *e, unsigned shift)
{
    uint64_t count = 0, next = 0; /* next: the first unit not counted yet */
    for (const Access *a = b; a != e; a++) {
        uint64_t u0 = std::max(a->address >> shift, next);
        uint64_t u1 = (a->address + a->size - 1) >> shift;
        if (u1 >= u0)
            count += u1 - u0 + 1;
        next = std::max(next, u1 + 1);
    }
    return count;
}

/* Local memory: 32 banks of 4 bytes, served as NVIDIA does: lanes moving up to 4 bytes
 * all at once, 8 bytes in half-warp phases, wider vectors 16 bytes per lane at a time in
 * quarter-warp phases. A phase takes as many wavefronts as the most distinct words one
 * bank serves (the same word is a broadcast); the conflict-free count is distinct words
 * / 32, rounded up. */
void local_request(const Access *b, const Access *e, Totals &t)
{
    uint32_t size = 0;
    for (const Access *a = b; a != e; a++)
        size = std::max(size, a->size);
    const uint32_t span = size <= 4 ? 4 : size <= 8 ? 8 : 16; /* bytes per lane per phase */
    const uint32_t lanes_per_phase = 128 / span;
    std::vector<std::pair<uint32_t, uint64_t>> words; /* (phase, word) */
    for (const Access *a = b; a != e; a++)
        for (uint32_t off = 0; off < a->size; off += span) {
            uint32_t phase = off / span * 32 + a->lane % 32 / lanes_per_phase;
            uint64_t w0 = (a->address + off) >> 2;
            uint64_t w1 = (a->address + std::min(off + span, a->size) - 1) >> 2;
            for (uint64_t w = w0; w <= w1; w++)
                words.emplace_back(phase, w);
        }
    std::sort(words.begin(), words.end());
    words.erase(std::unique(words.begin(), words.end()), words.end());
    for (size_t i = 0; i < words.size();) {
        unsigned per_bank[32] = {0};
        size_t j = i;
        for (; j < words.size() && words[j].first == words[i].first; j++)
            per_bank[words[j].second & 31]++;
        t.local_wave += *std::max_element(per_bank, per_bank + 32);
        t.local_ideal += (j - i + 31) / 32;
        i = j;
    }
    t.local_req++;
}

void global_request(const Access *b, const Access *e, int w, Totals &t)
{
    int s = b->stream;
    t.req[s][w]++;
    t.lanes[s][w] += (uint64_t)(e - b);
    for (const Access *a = b; a != e; a++)
        t.lane_bytes[s][w] += a->size;
    t.used[s][w] += distinct_units(b, e, 0);
    t.sectors[s][w] += distinct_units(b, e, 5);
    t.lines[s][w] += distinct_units(b, e, 7);
}

/* Groups the work-group's accesses into requests of warps of kWidths[w] lanes. */
void count_requests(std::vector<Access> &acc, int w, Totals &t)
{
    uint32_t width = (uint32_t)kWidths[w];
    auto key_less = [width](const Access &a, const Access &b) {
        uint32_t wa = a.lane / width, wb = b.lane / width;
        if (wa != wb)
            return wa < wb;
        if (a.inst != b.inst)
            return a.inst < b.inst;
        if (a.iter != b.iter)
            return a.iter < b.iter;
        if (a.k != b.k)
            return a.k < b.k;
        if (a.stream != b.stream)
            return a.stream < b.stream;
        return a.address < b.address;
    };
    std::sort(acc.begin(), acc.end(), key_less);
    for (size_t i = 0; i < acc.size();) {
        size_t j = i + 1;
        while (j < acc.size() && acc[j].lane / width == acc[i].lane / width &&
               acc[j].inst == acc[i].inst && acc[j].iter == acc[i].iter &&
               acc[j].k == acc[i].k && acc[j].stream == acc[i].stream)
            j++;
        if (acc[i].stream == kLocal) {
            if (w == 0)
                local_request(&acc[i], &acc[j], t);
        } else if (!(acc[i].inst & 1)) {
            global_request(&acc[i], &acc[j], w, t);
        }
        i = j;
    }
}

/* The loops of the kernel's program (LLVM's LoopInfo per function), built at kernel begin
 * and read-only while the kernel runs. */
class Loops
{
public:
    void analyse(const llvm::Module *module);
    size_t count() const { return m_ids.size(); }
    /* The loop whose header starts (first non-PHI instruction) with i, or null. */
    const llvm::Loop *header_of(const llvm::Instruction *i, uint32_t *id) const
    {
        auto it = m_headers.find(i);
        if (it == m_headers.end())
            return nullptr;
        *id = it->second.id;
        return it->second.loop;
    }
    /* A hash of the work-item's iteration of each loop around block b (0: none). */
    uint64_t iteration_hash(const llvm::BasicBlock *b, const ItemState &item) const;

private:
    struct Header {
        const llvm::Loop *loop;
        uint32_t id;
    };
    std::vector<std::unique_ptr<llvm::LoopInfo>> m_infos;
    std::vector<std::unique_ptr<llvm::DominatorTree>> m_trees;
    std::unordered_map<const llvm::Instruction *, Header> m_headers;
    std::unordered_map<const llvm::BasicBlock *, const llvm::Loop *> m_innermost;
    std::unordered_map<const llvm::Loop *, uint32_t> m_ids;
};

void Loops::analyse(const llvm::Module *module)
{
    m_headers.clear(), m_innermost.clear(), m_ids.clear();
    m_infos.clear(), m_trees.clear();
    for (const llvm::Function &f : *module) {
        if (f.isDeclaration())
            continue;
        m_trees.push_back(
            std::make_unique<llvm::DominatorTree>(const_cast<llvm::Function &>(f)));
        m_infos.push_back(std::make_unique<llvm::LoopInfo>(*m_trees.back()));
        const llvm::LoopInfo &info = *m_infos.back();
        for (const llvm::Loop *l : info.getLoopsInPreorder()) {
            uint32_t id = (uint32_t)m_ids.size();
            m_ids[l] = id;
            m_headers[l->getHeader()->getFirstNonPHI()] = Header{l, id};
        }
        for (const llvm::BasicBlock &b : f)
            if (const llvm::Loop *l = info.getLoopFor(&b))
                m_innermost[&b] = l;
    }
}

uint64_t Loops::iteration_hash(const llvm::BasicBlock *b, const ItemState &item) const
{
    auto it = m_innermost.find(b);
    if (it == m_innermost.end())
        return 0;
    const uint64_t prime = 0x100000001b3ull;
    uint64_t h = 0xcbf29ce484222325ull;
    for (const llvm::Loop *l = it->second; l; l = l->getParentLoop()) {
        uint32_t id = m_ids.at(l);
        h = (h ^ (id + 1)) * prime;
        h = (h ^ item.iteration[id]) * prime;
    }
    return h;
}

class WarpModel : public oclgrind::Plugin
{
public:
    explicit WarpModel(const oclgrind::Context *context) : oclgrind::Plugin(context) {}

    using oclgrind::Plugin::memoryLoad; /* the work-group overloads (async copies) */
    using oclgrind::Plugin::memoryStore;

    bool isThreadSafe() const override { return true; }

    void kernelBegin(const oclgrind::KernelInvocation *invocation) override;
    void kernelEnd(const oclgrind::KernelInvocation *invocation) override;
    void instructionExecuted(const oclgrind::WorkItem *item, const llvm::Instruction *inst,
                             const oclgrind::TypedValue &) override;
    void memoryLoad(const oclgrind::Memory *memory, const oclgrind::WorkItem *item,
                    size_t address, size_t size) override
    {
        record(memory, item, address, size, false);
    }
    void memoryStore(const oclgrind::Memory *memory, const oclgrind::WorkItem *item,
                     size_t address, size_t size, const uint8_t *) override
    {
        record(memory, item, address, size, true);
    }
    void workGroupBegin(const oclgrind::WorkGroup *group) override;
    void workGroupBarrier(const oclgrind::WorkGroup *, uint32_t) override;
    void workGroupComplete(const oclgrind::WorkGroup *group) override;

private:
    std::mutex m_lock;
    Totals m_totals = {};
    Loops m_loops;
    struct Region {
        uint64_t start; /* where a pointer argument's data starts */
        size_t buffer;  /* its oclgrind buffer */
        Stream stream;
    };
    std::vector<Region> m_regions; /* by start */
    uint64_t m_weight_bytes = 0, m_x_bytes = 0;

    void classify_arguments(const oclgrind::Kernel *kernel);
    Stream stream_of(const oclgrind::Memory *memory, size_t address) const;
    void record(const oclgrind::Memory *memory, const oclgrind::WorkItem *item,
                size_t address, size_t size, bool store);
    void enter_header(const oclgrind::WorkItem *item, const llvm::Instruction *inst,
                      ItemState &state);
    void flush(GroupState &g);
};

/* The matrix arrays' argument names (host/dispatch.h's arrays; linear_dense_rowdot's w). */
bool is_matrix_array(const std::string &name)
{
    static const char *const names[] = {"row_ptr",     "col_idx",   "values", "nm_meta", "scales",
                                        "zero_points", "row_order", "bins",   "w"};
    for (const char *n : names)
        if (name == n)
            return true;
    return false;
}

/* Where argument i's data starts: its pointer plus its "<name>_off" argument's elements
 * when there is one (W8A8's xq and xparams share one buffer at two offsets). */
uint64_t argument_start(const oclgrind::Kernel *kernel,
                        const std::vector<const llvm::Argument *> &args,
                        const std::vector<const oclgrind::TypedValue *> &values, unsigned i)
{
    uint64_t start = values[i]->getPointer();
    std::string off = kernel->getArgumentName(i).str() + "_off";
    for (unsigned j = 0; j < args.size(); j++)
        if (args[j] && values[j] && kernel->getArgumentName(j) == off) {
            const llvm::DataLayout &layout = args[i]->getParent()->getParent()->getDataLayout();
            llvm::Type *element = args[i]->getType()->getPointerElementType();
            start += values[j]->getUInt() * layout.getTypeAllocSize(element).getFixedSize();
        }
    return start;
}

void WarpModel::classify_arguments(const oclgrind::Kernel *kernel)
{
    unsigned n = kernel->getNumArguments();
    std::vector<const llvm::Argument *> args(n, nullptr);
    std::vector<const oclgrind::TypedValue *> values(n, nullptr);
    for (auto v = kernel->values_begin(); v != kernel->values_end(); v++)
        if (const llvm::Argument *arg = llvm::dyn_cast<llvm::Argument>(v->first))
            if (arg->getArgNo() < n)
                args[arg->getArgNo()] = arg, values[arg->getArgNo()] = &v->second;
    const oclgrind::Memory *global = m_context->getGlobalMemory();
    for (unsigned i = 0; i < n; i++) {
        if (!args[i] || !values[i] || !args[i]->getType()->isPointerTy())
            continue;
        unsigned space = args[i]->getType()->getPointerAddressSpace();
        if (space != oclgrind::AddrSpaceGlobal && space != oclgrind::AddrSpaceConstant)
            continue; /* a local argument's value is its size, not an address */
        if (values[i]->getPointer() == 0)
            continue;
        std::string name = kernel->getArgumentName(i).str();
        Stream s = name == "x" || name == "xq" ? kX : is_matrix_array(name) ? kWeights : kOther;
        uint64_t start = argument_start(kernel, args, values, i);
        m_regions.push_back(Region{start, global->extractBuffer(start), s});
        const oclgrind::Memory::Buffer *buffer = global->getBuffer(start);
        uint64_t offset = global->extractOffset(start);
        uint64_t bytes = buffer && buffer->size > offset ? buffer->size - offset : 0;
        if (s == kWeights)
            m_weight_bytes += bytes;
        else if (s == kX)
            m_x_bytes += bytes;
    }
    std::sort(m_regions.begin(), m_regions.end(),
              [](const Region &a, const Region &b) { return a.start < b.start; });
}

/* The stream of a global address: that of the argument starting last at or before it in
 * its buffer. */
Stream WarpModel::stream_of(const oclgrind::Memory *memory, size_t address) const
{
    auto it = std::upper_bound(m_regions.begin(), m_regions.end(), (uint64_t)address,
                               [](uint64_t a, const Region &r) { return a < r.start; });
    if (it == m_regions.begin())
        return kOther;
    --it;
    return it->buffer == memory->extractBuffer(address) ? it->stream : kOther;
}

void WarpModel::kernelBegin(const oclgrind::KernelInvocation *invocation)
{
    std::lock_guard<std::mutex> hold(m_lock);
    m_totals = Totals{};
    m_regions.clear();
    m_weight_bytes = m_x_bytes = 0;
    classify_arguments(invocation->getKernel());
    m_loops.analyse(invocation->getKernel()->getFunction()->getParent());
}

uint32_t lane_of(const oclgrind::WorkItem *item, const GroupState &g)
{
    oclgrind::Size3 id = item->getLocalID();
    return (uint32_t)(id.x + g.size.x * (id.y + g.size.y * id.z));
}

/* If inst starts a loop header: the work-item's iteration of that loop, 0 when it came
 * from outside the loop, one more when it came round (a back edge). */
void WarpModel::enter_header(const oclgrind::WorkItem *item, const llvm::Instruction *inst,
                             ItemState &state)
{
    uint32_t id = 0;
    const llvm::Loop *loop = m_loops.header_of(inst, &id);
    if (!loop)
        return;
    const llvm::BasicBlock *from = item->getPreviousBlock();
    state.iteration[id] = from && loop->contains(from) ? state.iteration[id] + 1 : 0;
}

void WarpModel::instructionExecuted(const oclgrind::WorkItem *item,
                                    const llvm::Instruction *inst, const oclgrind::TypedValue &)
{
    t_instructions++;
    GroupState *g = t_group;
    if (!g)
        return;
    ItemState &state = g->items[lane_of(item, *g)];
    if (state.counted == inst) /* record() saw this instruction first (a load) */
        state.counted = nullptr;
    else
        enter_header(item, inst, state);
}

void WarpModel::record(const oclgrind::Memory *memory, const oclgrind::WorkItem *item,
                       size_t address, size_t size, bool store)
{
    unsigned space = memory->getAddressSpace();
    GroupState *g = t_group;
    if (!g || space == oclgrind::AddrSpacePrivate || size == 0)
        return;
    Stream s = kLocal;
    if (space != oclgrind::AddrSpaceLocal) {
        s = stream_of(memory, address);
    }
    uint32_t lane = lane_of(item, *g);
    ItemState &state = g->items[lane];
    const llvm::Instruction *current = item->getCurrentInstruction();
    if (state.counted != current) { /* a header's first instruction may be this access */
        enter_header(item, current, state);
        state.counted = current;
    }
    uintptr_t inst = reinterpret_cast<uintptr_t>(current) | (store ? 1 : 0);
    uint64_t iter = m_loops.iteration_hash(current->getParent(), state);
    uint32_t k = state.executions[inst ^ (iter * 0x9E3779B97F4A7C15ull)]++;
    g->accesses.push_back(
        Access{inst, iter, k, lane, (uint64_t)address, (uint32_t)size, (uint8_t)s});
    if (s == kX && !store)
        g->x_loads.emplace_back((uint64_t)address, (uint32_t)size);
}

void WarpModel::workGroupBegin(const oclgrind::WorkGroup *group)
{
    delete t_group;
    t_group = new GroupState();
    t_group->size = group->getGroupSize();
    t_group->items.resize(t_group->size.x * t_group->size.y * t_group->size.z);
    for (ItemState &item : t_group->items)
        item.iteration.assign(m_loops.count(), 0);
    t_group->totals = Totals{};
    t_instructions = 0;
}

/* Every work-item of the group is at the same barrier (or done): each warp request so
 * far is complete. */
void WarpModel::flush(GroupState &g)
{
    for (int w = 0; w < 2; w++)
        count_requests(g.accesses, w, g.totals);
    g.accesses.clear();
}

void WarpModel::workGroupBarrier(const oclgrind::WorkGroup *, uint32_t)
{
    if (!t_group)
        return;
    flush(*t_group);
    t_group->totals.barriers++;
}

void WarpModel::workGroupComplete(const oclgrind::WorkGroup *)
{
    GroupState *g = t_group;
    if (!g)
        return;
    flush(*g);
    /* x reuse inside the group: x bytes loaded / distinct x bytes */
    std::sort(g->x_loads.begin(), g->x_loads.end());
    uint64_t next = 0;
    for (const auto &l : g->x_loads) {
        uint64_t b0 = std::max<uint64_t>(l.first, next), b1 = l.first + l.second;
        g->totals.x_group_loaded += l.second;
        g->totals.x_group_distinct += b1 > b0 ? b1 - b0 : 0;
        next = std::max(next, b1);
    }
    g->totals.instructions = t_instructions;
    g->totals.groups = 1;
    g->totals.work_items = g->items.size();
    {
        std::lock_guard<std::mutex> hold(m_lock);
        m_totals.add(g->totals);
    }
    delete g;
    t_group = nullptr;
}

void write_counts(FILE *out, const char *name, const uint64_t (*v)[2])
{
    static const char *const streams[kStreams] = {"w", "x", "o"};
    for (int s = 0; s < kStreams; s++)
        for (int w = 0; w < 2; w++)
            fprintf(out, "\t%s%d_%s=%" PRIu64, streams[s], kWidths[w], name, v[s][w]);
}

void WarpModel::kernelEnd(const oclgrind::KernelInvocation *invocation)
{
    std::lock_guard<std::mutex> hold(m_lock);
    const char *path = getenv("SPARQ_WARP_REPORT");
    FILE *out = path && path[0] ? fopen(path, "a") : stderr;
    if (!out) {
        fprintf(stderr, "warp_model: cannot append to %s\n", path);
        return;
    }
    const Totals &t = m_totals;
    oclgrind::Size3 gs = invocation->getGlobalSize(), ls = invocation->getLocalSize();
    fprintf(out, "kernel=%s\tglobal=%zux%zux%zu\tlocal=%zux%zux%zu",
            invocation->getKernel()->getName().c_str(), gs.x, gs.y, gs.z, ls.x, ls.y, ls.z);
    fprintf(out, "\tgroups=%" PRIu64 "\twork_items=%" PRIu64 "\tinstructions=%" PRIu64
                 "\tbarriers=%" PRIu64 "\tweight_bytes=%" PRIu64 "\tx_bytes=%" PRIu64,
            t.groups, t.work_items, t.instructions, t.barriers, m_weight_bytes, m_x_bytes);
    write_counts(out, "req", t.req);
    write_counts(out, "lanes", t.lanes);
    write_counts(out, "lane_bytes", t.lane_bytes);
    write_counts(out, "used", t.used);
    write_counts(out, "sectors", t.sectors);
    write_counts(out, "lines", t.lines);
    fprintf(out, "\tlocal_req=%" PRIu64 "\tlocal_wave=%" PRIu64 "\tlocal_ideal=%" PRIu64
                 "\tx_group_loaded=%" PRIu64 "\tx_group_distinct=%" PRIu64 "\n",
            t.local_req, t.local_wave, t.local_ideal, t.x_group_loaded, t.x_group_distinct);
    if (out != stderr)
        fclose(out);
}

WarpModel *g_plugin = nullptr;

} // namespace

extern "C" void initializePlugins(oclgrind::Context *context)
{
    g_plugin = new WarpModel(context);
    context->registerPlugin(g_plugin);
}

extern "C" void releasePlugins(oclgrind::Context *context)
{
    context->unregisterPlugin(g_plugin);
    delete g_plugin;
    g_plugin = nullptr;
}
