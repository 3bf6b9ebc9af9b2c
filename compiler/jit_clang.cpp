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
 * The weights blob is not compiled: the module's declaration of ebm_blob is
 * replaced by a constant global holding it, added after clang's optimiser ran,
 * so no pass ever looks at the weights.
 *
 * LLVM is built without exceptions; no C++ exception crosses the C API.
 * LLVM aborts on allocation failure and on internal fatal errors: neither is
 * caused by user input here (the C is ours, checked by clang's front end).
 */
#include "jit.h"

#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
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
std::vector<std::string> cc1_arguments(int opt_level)
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
    a.insert(a.end(), {"-x", "c", std::string(k_dir) + "model.c"});
    return a;
}

/* Replaces the module's declaration of ebm_blob by its definition: the blob
 * as a constant array, aligned like the arena. */
void define_blob(llvm::Module &m, const float *blob, int64_t n, unsigned align)
{
    llvm::LLVMContext &ctx = m.getContext();
    llvm::GlobalVariable *decl = m.getGlobalVariable("ebm_blob", true);
    if (!decl || !decl->isDeclaration())
        return;   /* not referenced: nothing to define */
    const float zero = 0.0f;
    llvm::ArrayRef<float> data = n > 0 ? llvm::ArrayRef<float>(blob, (size_t)n) : llvm::ArrayRef<float>(&zero, 1);
    llvm::Constant *init = llvm::ConstantDataArray::get(ctx, data);
    auto *gv = new llvm::GlobalVariable(m, init->getType(), true, llvm::GlobalValue::InternalLinkage, init,
                                        "ebm_blob.data");
    gv->setAlignment(llvm::Align(align));
    decl->replaceAllUsesWith(llvm::ConstantExpr::getBitCast(gv, decl->getType()));
    decl->eraseFromParent();
    gv->setName("ebm_blob");
}

/* Step 1: the C to an LLVM module in ctx, or null with the message in why. */
std::unique_ptr<llvm::Module> compile_c(const ebmc_jit_job *job, llvm::LLVMContext *ctx, std::string &why)
{
    std::string diag_text;
    llvm::raw_string_ostream diag_os(diag_text);
    llvm::IntrusiveRefCntPtr<clang::DiagnosticOptions> diag_opts(new clang::DiagnosticOptions());
    clang::CompilerInstance ci;
    ci.createDiagnostics(new clang::TextDiagnosticPrinter(diag_os, diag_opts.get()), true);
    ci.setVerboseOutputStream(std::make_unique<llvm::raw_null_ostream>());   /* not "1 warning generated" */

    const std::vector<std::string> args = cc1_arguments(job->opt_level);
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
        why = "clang cannot compile the generated C: " + diag_head(diag_text);
    else if (job->verbose && !diag_text.empty())   /* warnings: the generated C's business, shown when asked */
        std::fprintf(stderr, "%s", diag_text.c_str());
    return m;
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

    auto context = std::make_unique<llvm::LLVMContext>();
    std::string why;
    std::unique_ptr<llvm::Module> module = compile_c(job, context.get(), why);
    if (!module)
        return ebm_fail(err, EBM_ERR_INTERNAL, "%s: %s", name, why.c_str());
    define_blob(*module, job->blob, job->blob_floats, job->blob_align);
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

    /* the C library, libm and OpenBLAS of this process */
    auto process = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
        j->jit->getDataLayout().getGlobalPrefix());
    if (!process)
        return ebm_fail(err, EBM_ERR_INTERNAL, "%s: the JIT cannot see this process's symbols: %s", name,
                        llvm::toString(process.takeError()).c_str());
    j->jit->getMainJITDylib().addGenerator(std::move(*process));

    if (llvm::Error e = j->jit->addIRModule(llvm::orc::ThreadSafeModule(std::move(module), std::move(context))))
        return ebm_fail(err, EBM_ERR_INTERNAL, "%s: the JIT refuses the module: %s", name,
                        llvm::toString(std::move(e)).c_str());
    auto sym = j->jit->lookup(job->symbol);   /* compiles and links the module */
    if (!sym)
        return ebm_fail(err, EBM_ERR_INTERNAL, "%s: the JIT cannot link the model: %s", name,
                        llvm::toString(sym.takeError()).c_str());
    j->descriptor = reinterpret_cast<const void *>(static_cast<uintptr_t>(sym->getAddress()));
    if (job->verbose)
        std::fprintf(stderr, "ebmc: JIT: C to optimised IR in %.2f s, IR to machine code in %.2f s\n", t1 - t0,
                     now_seconds() - t1);
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
