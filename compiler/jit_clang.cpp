/* jit_clang.cpp — the model's generated C compiled in process (see jit.h).
 *
 * Two steps, both inside this process:
 *   1. clang's CompilerInstance runs EmitLLVMOnlyAction on the C, read from an
 *      in-memory file system laid over the real one: model.c, ebm_abi.h and
 *      ebm_philox.h live in /ebmc-jit/ (never on disk), everything else (the C
 *      library's headers, cblas.h) is read from the system folders, clang's
 *      builtin headers from its resource folder (EBMC_CLANG_RESOURCE_DIR, found
 *      by CMake).  The cc1 options mirror the AOT path's flags (compiler/cc.c,
 *      model_flags): -std=c11, position-independent, hidden visibility,
 *      -ffp-contract=off, no errno from math, no trapping math, OpenMP's simd
 *      pragmas only, and this CPU's name and features as -march=native gives.
 *   2. ORC's LLJIT turns the module into machine code with RuntimeDyld, through
 *      a memory manager that records every section it hands out: libebm checks
 *      each descriptor pointer against those ranges (runtime/ebm_code.h).
 *      Library calls (cblas_sgemm, expf, memcpy) resolve to this process's own.
 *
 * The C's translation units (codegen_c_units.c, -DEBM_UNIT=k) go through
 * clang on threads, each into its own LLVMContext, and into one JIT whose
 * compile threads turn them into machine code side by side.  The weights
 * blob is not compiled: it is a module of its own holding `ebm_blob` as a
 * constant array, which no optimisation pass of the units ever looks at.
 *
 * LLVM is built without exceptions; no C++ exception crosses the C API.
 * LLVM aborts on allocation failure and on internal fatal errors: neither is
 * caused by user input here (the C is ours, checked by clang's front end).
 */
#include "jit.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <clang/Basic/Diagnostic.h>
#include <clang/Basic/DiagnosticOptions.h>
#include <clang/CodeGen/CodeGenAction.h>
#include <clang/Frontend/CompilerInstance.h>
#include <clang/Frontend/CompilerInvocation.h>
#include <clang/Frontend/TextDiagnosticPrinter.h>
#include <llvm/ADT/StringMap.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/RTDyldObjectLinkingLayer.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/ExecutionEngine/SectionMemoryManager.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/Host.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/VirtualFileSystem.h>
#include <llvm/Support/raw_ostream.h>

extern "C" {
#include "cc.h"   /* ebmc_text_ebm_abi_h, ebmc_text_ebm_philox_h */
}

#ifndef EBMC_CLANG_RESOURCE_DIR
#error "EBMC_CLANG_RESOURCE_DIR (clang's builtin headers) comes from CMakeLists.txt"
#endif
#ifndef EBMC_JIT_MULTIARCH
#define EBMC_JIT_MULTIARCH "x86_64-linux-gnu"
#endif

namespace {

/* Where the in-memory files live; a folder no real file shadows (the memory
 * layer is on top). */
const char *const k_dir = "/ebmc-jit/";

struct region {
    const void *start;
    uint64_t size;
    int executable;
};

/* Records what it allocates; the JIT keeps its memory managers (and so the
 * memory) until the LLJIT is destroyed. */
class recording_memory_manager final : public llvm::SectionMemoryManager {
public:
    explicit recording_memory_manager(std::shared_ptr<std::vector<region>> regions,
                                      std::shared_ptr<std::mutex> lock)
        : regions_(std::move(regions)), lock_(std::move(lock))
    {
    }

    uint8_t *allocateCodeSection(uintptr_t size, unsigned align, unsigned id, llvm::StringRef name) override
    {
        uint8_t *p = SectionMemoryManager::allocateCodeSection(size, align, id, name);
        note(p, size, 1);
        return p;
    }

    uint8_t *allocateDataSection(uintptr_t size, unsigned align, unsigned id, llvm::StringRef name,
                                 bool read_only) override
    {
        uint8_t *p = SectionMemoryManager::allocateDataSection(size, align, id, name, read_only);
        note(p, size, 0);
        return p;
    }

private:
    void note(const uint8_t *p, uintptr_t size, int executable)
    {
        if (!p || size == 0)
            return;
        std::lock_guard<std::mutex> g(*lock_);
        regions_->push_back(region{p, (uint64_t)size, executable});
    }

    std::shared_ptr<std::vector<region>> regions_;
    std::shared_ptr<std::mutex> lock_;
};

double now_seconds()
{
    using clock = std::chrono::steady_clock;
    return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

/* The first lines of clang's diagnostics, joined with " | ", for a message. */
std::string diag_head(const std::string &text)
{
    std::string out;
    size_t at = 0;
    for (int lines = 0; lines < 4 && at < text.size(); lines++) {
        size_t end = text.find('\n', at);
        if (end == std::string::npos)
            end = text.size();
        if (!out.empty())
            out += " | ";
        out.append(text, at, end - at);
        at = end + 1;
    }
    return out.empty() ? std::string("(no diagnostics)") : out;
}

/* This CPU's name as -march=native names it: LLVM calls a CPU it does not know
 * (one newer than itself) "generic", which the driver turns into the baseline
 * x86-64 (the features, given one by one, still say what the CPU has). */
std::string host_cpu()
{
    std::string cpu = llvm::sys::getHostCPUName().str();
    return cpu.empty() || cpu == "generic" ? std::string("x86-64") : cpu;
}

/* The cc1 arguments: the AOT flags of compiler/cc.c in cc1 spelling (what the
 * clang driver makes of them), with this CPU as -march=native finds it. */
std::vector<std::string> cc1_arguments(int opt_level, int unit)
{
    const std::string res = EBMC_CLANG_RESOURCE_DIR;
    std::vector<std::string> a = {
        "-triple", llvm::sys::getProcessTriple(), "-O" + std::to_string(opt_level), "-std=c11",
        "-mrelocation-model", "pic", "-pic-level", "2", "-fvisibility", "hidden", "-ffp-contract=off",
        "-fno-rounding-math", "-ffp-exception-behavior=ignore", "-fopenmp-simd", "-fgnuc-version=4.2.1",
        "-mframe-pointer=none", "-ferror-limit", "5", "-target-cpu", host_cpu()};
    if (opt_level >= 2) {   /* the driver's -O2/-O3 turn these on */
        a.push_back("-vectorize-loops");
        a.push_back("-vectorize-slp");
    }
    llvm::StringMap<bool> features;
    if (llvm::sys::getHostCPUFeatures(features))
        for (const auto &f : features) {
            a.push_back("-target-feature");
            a.push_back((f.second ? "+" : "-") + f.first().str());
        }
    const char *const system_dirs[] = {"/usr/local/include", "/usr/include/" EBMC_JIT_MULTIARCH, "/usr/include"};
    a.insert(a.end(), {"-resource-dir", res, "-internal-isystem", res + "/include"});
    for (const char *d : system_dirs) {
        a.push_back(d == system_dirs[0] ? "-internal-isystem" : "-internal-externc-isystem");
        a.push_back(d);
    }
    if (unit >= 0)
        a.push_back("-DEBM_UNIT=" + std::to_string(unit));
    a.insert(a.end(), {"-x", "c", std::string(k_dir) + "model.c"});
    return a;
}

/* The weights blob as a module of its own: `ebm_blob`, hidden like the
 * assembler's symbol of the AOT path (compiler/cc.c), a constant array
 * aligned like the arena, which the units' declarations resolve to. */
std::unique_ptr<llvm::Module> blob_module(llvm::LLVMContext &ctx, const llvm::DataLayout &dl, const float *blob,
                                          int64_t n, unsigned align)
{
    auto m = std::make_unique<llvm::Module>("ebm_blob", ctx);
    m->setDataLayout(dl);
    m->setTargetTriple(llvm::sys::getProcessTriple());
    const float zero = 0.0f;
    llvm::ArrayRef<float> data = n > 0 ? llvm::ArrayRef<float>(blob, (size_t)n) : llvm::ArrayRef<float>(&zero, 1);
    llvm::Constant *init = llvm::ConstantDataArray::get(ctx, data);
    auto *gv = new llvm::GlobalVariable(*m, init->getType(), true, llvm::GlobalValue::ExternalLinkage, init,
                                        "ebm_blob");
    gv->setVisibility(llvm::GlobalValue::HiddenVisibility);
    gv->setAlignment(llvm::Align(align));
    return m;
}

/* A symbol the module defines for other modules, whose lookup makes the JIT
 * compile it ("" if none: nothing can call into it). */
std::string some_definition(const llvm::Module &m)
{
    for (const llvm::GlobalValue &g : m.global_values())
        if (!g.isDeclaration() && !g.hasLocalLinkage() && g.hasName())
            return g.getName().str();
    return std::string();
}

/* Step 1: the C to an LLVM module in ctx, or null with the message in why. */
std::unique_ptr<llvm::Module> compile_c(const ebmc_jit_job *job, int unit, llvm::LLVMContext *ctx, std::string &why)
{
    std::string diag_text;
    llvm::raw_string_ostream diag_os(diag_text);
    llvm::IntrusiveRefCntPtr<clang::DiagnosticOptions> diag_opts(new clang::DiagnosticOptions());
    clang::CompilerInstance ci;
    ci.createDiagnostics(new clang::TextDiagnosticPrinter(diag_os, diag_opts.get()), true);
    ci.setVerboseOutputStream(std::make_unique<llvm::raw_null_ostream>());   /* not "1 warning generated" */

    const std::vector<std::string> args = cc1_arguments(job->opt_level, unit);
    std::vector<const char *> argv;
    for (const std::string &s : args)
        argv.push_back(s.c_str());
    if (!clang::CompilerInvocation::CreateFromArgs(ci.getInvocation(), argv, ci.getDiagnostics())) {
        diag_os.flush();
        why = "clang refuses the JIT's options: " + diag_head(diag_text);
        return nullptr;
    }

    llvm::IntrusiveRefCntPtr<llvm::vfs::InMemoryFileSystem> mem(new llvm::vfs::InMemoryFileSystem());
    const struct {
        const char *name, *text;
    } files[] = {{"model.c", job->c_source}, {"ebm_abi.h", ebmc_text_ebm_abi_h},
                 {"ebm_philox.h", ebmc_text_ebm_philox_h}};
    for (const auto &f : files)   /* borrowed, NUL-terminated: no copy */
        mem->addFile(std::string(k_dir) + f.name, 0, llvm::MemoryBuffer::getMemBuffer(f.text, f.name));
    llvm::IntrusiveRefCntPtr<llvm::vfs::OverlayFileSystem> fs(
        new llvm::vfs::OverlayFileSystem(llvm::vfs::getRealFileSystem()));
    fs->pushOverlay(mem);
    ci.createFileManager(fs);

    clang::EmitLLVMOnlyAction action(ctx);
    const bool ok = ci.ExecuteAction(action);
    std::unique_ptr<llvm::Module> m = ok ? action.takeModule() : nullptr;
    diag_os.flush();
    if (!m)
        why = "clang cannot compile the generated C" + (unit >= 0 ? " (unit " + std::to_string(unit) + ")" : "") +
              ": " + diag_head(diag_text);
    else if (job->verbose && !diag_text.empty())   /* warnings: the generated C's business, shown when asked */
        std::fprintf(stderr, "%s", diag_text.c_str());
    return m;
}

/* One translation unit's result: its module in its own context (the
 * contexts let the units compile on threads, here and in the JIT). */
struct unit_result {
    std::unique_ptr<llvm::LLVMContext> ctx;
    std::unique_ptr<llvm::Module> module;
    std::string why;
};

/* How many threads: the job's, else $EBMC_JOBS, else the CPUs; at most one
 * per unit. */
int thread_count(const ebmc_jit_job *job, int units)
{
    int j = job->jobs;
    const char *env = std::getenv("EBMC_JOBS");
    if (j <= 0 && env && env[0]) {
        char *end;
        long v = std::strtol(env, &end, 10);
        j = *end == 0 && v > 0 && v < 1024 ? (int)v : 0;
    }
    if (j <= 0)
        j = (int)std::thread::hardware_concurrency();
    return j < 1 ? 1 : j > units ? units : j;
}

/* The units of the C (or the whole file when it is one) to modules, `threads`
 * at a time. */
std::vector<unit_result> compile_units(const ebmc_jit_job *job, int units, int threads)
{
    std::vector<unit_result> r((size_t)units);
    std::atomic<int> next{0};
    auto work = [&]() {
        for (int k; (k = next++) < units;) {
            r[(size_t)k].ctx = std::make_unique<llvm::LLVMContext>();
            r[(size_t)k].module = compile_c(job, units > 1 ? k : -1, r[(size_t)k].ctx.get(), r[(size_t)k].why);
        }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; t++)
        pool.emplace_back(work);
    work();
    for (std::thread &t : pool)
        t.join();
    return r;
}

/* LLVM's target, once per process. */
void init_llvm()
{
    static std::once_flag once;
    std::call_once(once, [] {
        llvm::InitializeNativeTarget();
        llvm::InitializeNativeTargetAsmPrinter();
    });
}

}  // namespace

struct ebmc_jit {
    std::unique_ptr<llvm::orc::LLJIT> jit;
    std::shared_ptr<std::vector<region>> regions;
    std::shared_ptr<std::mutex> lock;
    const void *descriptor = nullptr;
};

extern "C" {

ebm_status ebmc_jit_compile(const ebmc_jit_job *job, ebmc_jit **out, ebm_error *err)
{
    *out = nullptr;
    const char *name = job->name ? job->name : "model";
    if (!job->c_source || !job->symbol || job->blob_floats < 0 || (job->blob_floats > 0 && !job->blob))
        return ebm_fail(err, EBM_ERR_INVALID, "%s: ebmc_jit_compile: no C source, symbol or blob", name);
    if (job->blob_align < 4 || (job->blob_align & (job->blob_align - 1)))
        return ebm_fail(err, EBM_ERR_INVALID, "%s: ebmc_jit_compile: blob alignment %u", name, job->blob_align);
    if (job->opt_level < 0 || job->opt_level > 3)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: -O%d: the optimisation level must be 0..3", name, job->opt_level);
    init_llvm();
    const double t0 = now_seconds();
    const int units = job->units > 1 ? job->units : 1, threads = thread_count(job, units);
    std::vector<unit_result> compiled = compile_units(job, units, threads);
    for (const unit_result &u : compiled)
        if (!u.module)
            return ebm_fail(err, EBM_ERR_INTERNAL, "%s: %s", name, u.why.c_str());
    const double t1 = now_seconds();

    auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
    if (!jtmb)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: LLVM does not know this machine: %s", name,
                        llvm::toString(jtmb.takeError()).c_str());
    static const llvm::CodeGenOpt::Level levels[] = {llvm::CodeGenOpt::None, llvm::CodeGenOpt::Less,
                                                     llvm::CodeGenOpt::Default, llvm::CodeGenOpt::Aggressive};
    jtmb->setCodeGenOptLevel(levels[job->opt_level]);
    jtmb->setRelocationModel(llvm::Reloc::PIC_);
    jtmb->setCPU(host_cpu());

    std::unique_ptr<ebmc_jit> j(new ebmc_jit());
    j->regions = std::make_shared<std::vector<region>>();
    j->lock = std::make_shared<std::mutex>();
    auto regions = j->regions;
    auto lock = j->lock;
    auto created =
        llvm::orc::LLJITBuilder()
            .setJITTargetMachineBuilder(std::move(*jtmb))
            .setNumCompileThreads(threads > 1 ? (unsigned)threads : 0u)   /* the units' code, side by side */
            .setObjectLinkingLayerCreator(
                [regions, lock](llvm::orc::ExecutionSession &es,
                                const llvm::Triple &) -> llvm::Expected<std::unique_ptr<llvm::orc::ObjectLayer>> {
                    return std::make_unique<llvm::orc::RTDyldObjectLinkingLayer>(es, [regions, lock]() {
                        return std::make_unique<recording_memory_manager>(regions, lock);
                    });
                })
            .create();
    if (!created)
        return ebm_fail(err, EBM_ERR_INTERNAL, "%s: cannot start LLVM's JIT: %s", name,
                        llvm::toString(created.takeError()).c_str());
    j->jit = std::move(*created);
    llvm::orc::LLJIT &jit = *j->jit;
    /* errors come back from the lookup below: not printed on stderr as well */
    jit.getExecutionSession().setErrorReporter([](llvm::Error e) { llvm::consumeError(std::move(e)); });

    /* the C library, libm and OpenBLAS of this process */
    auto process = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
        jit.getDataLayout().getGlobalPrefix());
    if (!process)
        return ebm_fail(err, EBM_ERR_INTERNAL, "%s: the JIT cannot see this process's symbols: %s", name,
                        llvm::toString(process.takeError()).c_str());
    jit.getMainJITDylib().addGenerator(std::move(*process));

    /* every module, and a symbol of each to look up at once: the JIT then
     * compiles them all side by side instead of one after the other as the
     * first one's calls reach them */
    auto blob_ctx = std::make_unique<llvm::LLVMContext>();
    unit_result blob{std::move(blob_ctx), nullptr, std::string()};
    blob.module = blob_module(*blob.ctx, jit.getDataLayout(), job->blob, job->blob_floats, job->blob_align);
    compiled.push_back(std::move(blob));
    llvm::orc::SymbolLookupSet wanted;
    wanted.add(jit.mangleAndIntern(job->symbol));
    for (unit_result &u : compiled) {
        const std::string some = some_definition(*u.module);
        if (!some.empty() && some != job->symbol)
            wanted.add(jit.mangleAndIntern(some));
        if (llvm::Error e = jit.addIRModule(llvm::orc::ThreadSafeModule(std::move(u.module), std::move(u.ctx))))
            return ebm_fail(err, EBM_ERR_INTERNAL, "%s: the JIT refuses the module: %s", name,
                            llvm::toString(std::move(e)).c_str());
    }
    auto found = jit.getExecutionSession().lookup(
        llvm::orc::makeJITDylibSearchOrder({&jit.getMainJITDylib()}, llvm::orc::JITDylibLookupFlags::MatchAllSymbols),
        wanted);
    if (!found)
        return ebm_fail(err, EBM_ERR_INTERNAL, "%s: the JIT cannot link the model: %s", name,
                        llvm::toString(found.takeError()).c_str());
    auto sym = found->find(jit.mangleAndIntern(job->symbol));
    if (sym == found->end())
        return ebm_fail(err, EBM_ERR_INTERNAL, "%s: the JIT cannot link the model: no %s", name, job->symbol);
    j->descriptor = reinterpret_cast<const void *>(static_cast<uintptr_t>(sym->second.getAddress()));
    if (job->verbose)
        std::fprintf(stderr, "ebmc: JIT: C to optimised IR in %.2f s, IR to machine code in %.2f s (%d unit%s, %d "
                     "thread%s)\n", t1 - t0, now_seconds() - t1, units, units > 1 ? "s" : "", threads,
                     threads > 1 ? "s" : "");
    *out = j.release();
    return EBM_OK;
}

const void *ebmc_jit_descriptor(const ebmc_jit *j)
{
    return j ? j->descriptor : nullptr;
}

int ebmc_jit_region_count(const ebmc_jit *j)
{
    return j ? (int)j->regions->size() : 0;
}

void ebmc_jit_region(const ebmc_jit *j, int k, const void **start, uint64_t *size, int *executable)
{
    const region &r = (*j->regions)[(size_t)k];
    *start = r.start;
    *size = r.size;
    *executable = r.executable;
}

void ebmc_jit_free(ebmc_jit *j)
{
    delete j;
}

void ebmc_jit_release(void *j)
{
    ebmc_jit_free(static_cast<ebmc_jit *>(j));
}

}  // extern "C"
