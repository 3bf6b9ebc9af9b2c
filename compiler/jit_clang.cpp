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
#include <cstdio>
#include <cstdlib>
#include <cstring>
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
#include <llvm/ExecutionEngine/Orc/CompileUtils.h>
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
#include "clock.h"
#include "kernels/ebmk_linked.h"
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
 * clang driver makes of them), with this CPU as -march=native finds it; with
 * compiled kernels lk, the macro that makes the C call them. */
std::vector<std::string> cc1_arguments(int opt_level, int unit, const ebmk_linked_kernels *lk)
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
    if (lk)
        a.push_back("-DEBMK_LINKED_ISA=" + std::to_string(lk->isa));
    a.insert(a.end(), {"-x", "c", std::string(k_dir) + "model.c"});
    return a;
}

/* The weights blob as a module of its own: `ebm_blob`, hidden like the
 * assembler's symbol of the AOT path (compiler/cc.c), aligned like the arena,
 * which the units' declarations resolve to.  Zero-filled (a .bss section:
 * nothing to code-generate, where a constant array of a million floats took
 * LLVM's assembler two seconds); fill_blob copies the weights in once it is
 * linked.  No optimisation pass of the units ever looks inside it. */
std::unique_ptr<llvm::Module> blob_module(llvm::LLVMContext &ctx, const llvm::DataLayout &dl, int64_t n,
                                          unsigned align)
{
    auto m = std::make_unique<llvm::Module>("ebm_blob", ctx);
    m->setDataLayout(dl);
    m->setTargetTriple(llvm::sys::getProcessTriple());
    auto *type = llvm::ArrayType::get(llvm::Type::getFloatTy(ctx), n > 0 ? (uint64_t)n : 1u);
    auto *gv = new llvm::GlobalVariable(*m, type, false, llvm::GlobalValue::ExternalLinkage,
                                        llvm::ConstantAggregateZero::get(type), "ebm_blob");
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
std::unique_ptr<llvm::Module> compile_c(const ebmc_jit_job *job, int unit, const ebmk_linked_kernels *lk,
                                        llvm::LLVMContext *ctx, std::string &why)
{
    std::string diag_text;
    llvm::raw_string_ostream diag_os(diag_text);
    llvm::IntrusiveRefCntPtr<clang::DiagnosticOptions> diag_opts(new clang::DiagnosticOptions());
    clang::CompilerInstance ci;
    ci.createDiagnostics(new clang::TextDiagnosticPrinter(diag_os, diag_opts.get()), true);
    ci.setVerboseOutputStream(std::make_unique<llvm::raw_null_ostream>());   /* not "1 warning generated" */

    const std::vector<std::string> args = cc1_arguments(job->opt_level, unit, lk);
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

/* This CPU at the job's optimisation level, position-independent. */
llvm::Expected<llvm::orc::JITTargetMachineBuilder> host_machine(int opt_level)
{
    auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
    if (!jtmb)
        return jtmb.takeError();
    static const llvm::CodeGenOpt::Level levels[] = {llvm::CodeGenOpt::None, llvm::CodeGenOpt::Less,
                                                     llvm::CodeGenOpt::Default, llvm::CodeGenOpt::Aggressive};
    jtmb->setCodeGenOptLevel(levels[opt_level]);
    jtmb->setRelocationModel(llvm::Reloc::PIC_);
    jtmb->setCPU(host_cpu());
    return jtmb;
}

/* One translation unit's result: its module in its own context (the
 * contexts let the units compile on threads, here and in the JIT), or the
 * object file it became. */
struct unit_result {
    std::unique_ptr<llvm::LLVMContext> ctx;
    std::unique_ptr<llvm::Module> module;
    std::unique_ptr<llvm::MemoryBuffer> object;
    std::string why;
};

/* A unit's module to an object file in memory, for this CPU. */
void to_object(const ebmc_jit_job *job, unit_result &u)
{
    auto jtmb = host_machine(job->opt_level);
    auto tm = jtmb ? jtmb->createTargetMachine() : jtmb.takeError();
    if (!tm) {
        u.why = "LLVM cannot generate code for this machine: " + llvm::toString(tm.takeError());
        return;
    }
    llvm::orc::SimpleCompiler compile(**tm);
    auto obj = compile(*u.module);
    if (!obj) {
        u.why = "LLVM cannot generate code for the model: " + llvm::toString(obj.takeError());
        return;
    }
    u.object = std::move(*obj);
    u.module.reset();
}

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

/* The units of the C (or the whole file when it is one) to modules, or on to
 * object files, `threads` at a time; calling compiled kernels lk if not null. */
std::vector<unit_result> compile_units(const ebmc_jit_job *job, int units, int threads, bool objects,
                                       const ebmk_linked_kernels *lk)
{
    std::vector<unit_result> r((size_t)units);
    std::atomic<int> next{0};
    auto work = [&]() {
        for (int k; (k = next++) < units;) {
            unit_result &u = r[(size_t)k];
            u.ctx = std::make_unique<llvm::LLVMContext>();
            u.module = compile_c(job, units > 1 ? k : -1, lk, u.ctx.get(), u.why);
            if (objects && u.module)
                to_object(job, u);
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

ebm_status check_job(const ebmc_jit_job *job, const char *name, bool compiles, ebm_error *err)
{
    if ((compiles && !job->c_source) || !job->symbol || job->blob_floats < 0 || (job->blob_floats > 0 && !job->blob))
        return ebm_fail(err, EBM_ERR_INVALID, "%s: ebmc_jit: no C source, symbol or blob", name);
    if (job->blob_align < 4 || (job->blob_align & (job->blob_align - 1)))
        return ebm_fail(err, EBM_ERR_INVALID, "%s: ebmc_jit: blob alignment %u", name, job->blob_align);
    if (job->opt_level < 0 || job->opt_level > 3)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: -O%d: the optimisation level must be 0..3", name, job->opt_level);
    init_llvm();
    return EBM_OK;
}

}  // namespace

struct ebmc_jit {
    std::unique_ptr<llvm::orc::LLJIT> jit;
    std::shared_ptr<std::vector<region>> regions;
    std::shared_ptr<std::mutex> lock;
    const void *descriptor = nullptr;
};

namespace {

/* An LLJIT for this CPU whose memory manager records its sections, which
 * sees this process's C library, libm and OpenBLAS (and the compiled kernels
 * lk if not null, under their ebmc_jit_linked_name), and holds the blob's
 * module; `threads` > 1 compiles IR modules side by side. */
ebm_status new_jit(const ebmc_jit_job *job, const char *name, int threads, const ebmk_linked_kernels *lk,
                   std::unique_ptr<ebmc_jit> &j, ebm_error *err)
{
    auto jtmb = host_machine(job->opt_level);
    if (!jtmb)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: LLVM does not know this machine: %s", name,
                        llvm::toString(jtmb.takeError()).c_str());
    j.reset(new ebmc_jit());
    j->regions = std::make_shared<std::vector<region>>();
    j->lock = std::make_shared<std::mutex>();
    auto regions = j->regions;
    auto lock = j->lock;
    auto created =
        llvm::orc::LLJITBuilder()
            .setJITTargetMachineBuilder(std::move(*jtmb))
            .setNumCompileThreads(threads > 1 ? (unsigned)threads : 0u)
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
    /* errors come back from the lookup in link_jit: not printed on stderr as well */
    jit.getExecutionSession().setErrorReporter([](llvm::Error e) { llvm::consumeError(std::move(e)); });
    auto process = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
        jit.getDataLayout().getGlobalPrefix());
    if (!process)
        return ebm_fail(err, EBM_ERR_INTERNAL, "%s: the JIT cannot see this process's symbols: %s", name,
                        llvm::toString(process.takeError()).c_str());
    jit.getMainJITDylib().addGenerator(std::move(*process));
    if (lk) {
        llvm::orc::SymbolMap kernels;
        for (int k = 0; k < EBMK_LINKED_COUNT; k++)
            kernels[jit.mangleAndIntern(ebmc_jit_linked_name(k))] = llvm::JITEvaluatedSymbol(
                static_cast<llvm::JITTargetAddress>(reinterpret_cast<uintptr_t>(lk->fn[k])),
                llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable);
        if (llvm::Error e = jit.getMainJITDylib().define(llvm::orc::absoluteSymbols(std::move(kernels))))
            return ebm_fail(err, EBM_ERR_INTERNAL, "%s: the JIT refuses the compiled kernels: %s", name,
                            llvm::toString(std::move(e)).c_str());
    }
    auto ctx = std::make_unique<llvm::LLVMContext>();
    auto blob = blob_module(*ctx, jit.getDataLayout(), job->blob_floats, job->blob_align);
    if (llvm::Error e = jit.addIRModule(llvm::orc::ThreadSafeModule(std::move(blob), std::move(ctx))))
        return ebm_fail(err, EBM_ERR_INTERNAL, "%s: the JIT refuses the weights: %s", name,
                        llvm::toString(std::move(e)).c_str());
    return EBM_OK;
}

/* Links everything in `wanted` (the descriptor and the blob among them: the
 * JIT compiles IR modules side by side when their symbols are looked up at
 * once), copies the weights into the blob and notes the descriptor. */
ebm_status link_jit(const ebmc_jit_job *job, const char *name, ebmc_jit &j, llvm::orc::SymbolLookupSet wanted,
                    ebm_error *err)
{
    llvm::orc::LLJIT &jit = *j.jit;
    const auto desc_name = jit.mangleAndIntern(job->symbol), blob_name = jit.mangleAndIntern("ebm_blob");
    wanted.add(desc_name);   /* `wanted` names neither */
    wanted.add(blob_name);
    auto found = jit.getExecutionSession().lookup(
        llvm::orc::makeJITDylibSearchOrder({&jit.getMainJITDylib()}, llvm::orc::JITDylibLookupFlags::MatchAllSymbols),
        wanted);
    if (!found)
        return ebm_fail(err, EBM_ERR_INTERNAL, "%s: the JIT cannot link the model: %s", name,
                        llvm::toString(found.takeError()).c_str());
    auto desc = found->find(desc_name), blob = found->find(blob_name);
    if (desc == found->end() || blob == found->end())
        return ebm_fail(err, EBM_ERR_INTERNAL, "%s: the JIT cannot link the model: no %s", name,
                        desc == found->end() ? job->symbol : "ebm_blob");
    if (job->blob_floats > 0)
        std::memcpy(reinterpret_cast<void *>(static_cast<uintptr_t>(blob->second.getAddress())), job->blob,
                    (size_t)job->blob_floats * sizeof(float));
    j.descriptor = reinterpret_cast<const void *>(static_cast<uintptr_t>(desc->second.getAddress()));
    return EBM_OK;
}

}  // namespace

extern "C" {

ebm_status ebmc_jit_compile(const ebmc_jit_job *job, ebmc_jit **out, ebm_error *err)
{
    *out = nullptr;
    const char *name = job->name ? job->name : "model";
    ebm_status st = check_job(job, name, true, err);
    if (st)
        return st;
    const double t0 = base_now_seconds();
    const int units = job->units > 1 ? job->units : 1, threads = thread_count(job, units);
    const ebmk_linked_kernels *lk = job->linked_kernels ? ebmc_jit_host_kernels() : nullptr;
    std::vector<unit_result> compiled = compile_units(job, units, threads, false, lk);
    for (const unit_result &u : compiled)
        if (!u.module && lk && u.why.find("EBMK_LINKED_ISA") != std::string::npos) {
            /* the C's own check (codegen_c_helpers.c): clang sees another vector path
             * in this CPU than jit_kernels.c does; the kernels are compiled with the C */
            if (job->verbose)
                std::fprintf(stderr, "ebmc: JIT: not calling the compiled %s kernels: %s\n", lk->path,
                             u.why.c_str());
            lk = nullptr;
            compiled = compile_units(job, units, threads, false, lk);
            break;
        }
    for (const unit_result &u : compiled)
        if (!u.module)
            return ebm_fail(err, EBM_ERR_INTERNAL, "%s: %s", name, u.why.c_str());
    const double t1 = base_now_seconds();
    std::unique_ptr<ebmc_jit> j;
    if ((st = new_jit(job, name, threads, lk, j, err)))
        return st;
    llvm::orc::LLJIT &jit = *j->jit;
    llvm::orc::SymbolLookupSet wanted;
    for (unit_result &u : compiled) {
        const std::string some = some_definition(*u.module);
        if (!some.empty() && some != job->symbol)
            wanted.add(jit.mangleAndIntern(some));
        if (llvm::Error e = jit.addIRModule(llvm::orc::ThreadSafeModule(std::move(u.module), std::move(u.ctx))))
            return ebm_fail(err, EBM_ERR_INTERNAL, "%s: the JIT refuses the module: %s", name,
                            llvm::toString(std::move(e)).c_str());
    }
    if ((st = link_jit(job, name, *j, std::move(wanted), err)))
        return st;
    if (job->verbose)
        std::fprintf(stderr, "ebmc: JIT -O%d: C to optimised IR in %.2f s, IR to machine code in %.2f s (%d unit%s, "
                     "%d thread%s%s%s)\n", job->opt_level, t1 - t0, base_now_seconds() - t1, units,
                     units > 1 ? "s" : "", threads, threads > 1 ? "s" : "",
                     lk ? ", calling the compiled kernels for " : "", lk ? lk->path : "");
    *out = j.release();
    return EBM_OK;
}

ebm_status ebmc_jit_emit_objects(const ebmc_jit_job *job, ebmc_jit_sink sink, void *ctx, ebm_error *err)
{
    const char *name = job->name ? job->name : "model";
    ebm_status st = check_job(job, name, true, err);
    if (st)
        return st;
    const int units = job->units > 1 ? job->units : 1;
    std::vector<unit_result> compiled = compile_units(job, units, thread_count(job, units), true, nullptr);
    for (const unit_result &u : compiled)
        if (!u.object)
            return ebm_fail(err, EBM_ERR_INTERNAL, "%s: %s", name, u.why.c_str());
    for (const unit_result &u : compiled)
        if ((st = sink(ctx, u.object->getBufferStart(), (uint64_t)u.object->getBufferSize(), err)))
            return st;
    return EBM_OK;
}

ebm_status ebmc_jit_link_objects(const ebmc_jit_job *job, const void *const *objects, const uint64_t *sizes, int n,
                                 ebmc_jit **out, ebm_error *err)
{
    *out = nullptr;
    const char *name = job->name ? job->name : "model";
    ebm_status st = check_job(job, name, false, err);
    if (st)
        return st;
    std::unique_ptr<ebmc_jit> j;
    if ((st = new_jit(job, name, 1, nullptr, j, err)))
        return st;
    for (int k = 0; k < n; k++) {
        auto buf = llvm::MemoryBuffer::getMemBufferCopy(
            llvm::StringRef(static_cast<const char *>(objects[k]), (size_t)sizes[k]), "unit" + std::to_string(k));
        if (llvm::Error e = j->jit->addObjectFile(std::move(buf)))
            return ebm_fail(err, EBM_ERR_INTERNAL, "%s: the JIT refuses object %d: %s", name, k,
                            llvm::toString(std::move(e)).c_str());
    }
    if ((st = link_jit(job, name, *j, llvm::orc::SymbolLookupSet(), err)))
        return st;
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
