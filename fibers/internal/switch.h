// Context switch: the layout of a suspended fiber's saved registers, shared
// by the C++ code and the assembly (switch_x86_64.S, switch_aarch64.S).
//
// A suspended fiber's registers live on its own stack; the fiber keeps one
// pointer to them (its saved stack pointer). evergreen_fibers_switch() pushes
// the callee-saved registers and the resume address, stores the stack
// pointer, loads the target's, pops its registers and jumps (an indirect
// `jmp`/`br`, never `ret`, which would mispredict on every switch).
//
// NOT saved: the floating-point control state (x86_64 MXCSR and the x87
// control word, aarch64 FPCR). Rounding mode, flush-to-zero and exception
// masks are per thread, shared by all fibers of the thread (see README.md).
#ifndef EVERGREEN_FIBERS_INTERNAL_SWITCH_H_
#define EVERGREEN_FIBERS_INTERNAL_SWITCH_H_

#if defined(__x86_64__)
// rbp rbx r12 r13 r14 r15 + resume address.
#define EVERGREEN_FIBERS_FRAME_SIZE 56
#define EVERGREEN_FIBERS_FRAME_R15 0
#define EVERGREEN_FIBERS_FRAME_R14 8
#define EVERGREEN_FIBERS_FRAME_R13 16
#define EVERGREEN_FIBERS_FRAME_R12 24
#define EVERGREEN_FIBERS_FRAME_RBX 32
#define EVERGREEN_FIBERS_FRAME_RBP 40
#define EVERGREEN_FIBERS_FRAME_PC 48
#elif defined(__aarch64__)
// x19-x28, x29 (fp), x30 (lr, the resume address), d8-d15.
#define EVERGREEN_FIBERS_FRAME_SIZE 160
#define EVERGREEN_FIBERS_FRAME_X19 0
#define EVERGREEN_FIBERS_FRAME_X20 8
#define EVERGREEN_FIBERS_FRAME_X29 80
#define EVERGREEN_FIBERS_FRAME_PC 88
#define EVERGREEN_FIBERS_FRAME_D8 96
#else
#error "evergreen fibers: no context switch for this architecture"
#endif

#ifndef __ASSEMBLER__
#include <cstddef>
#include <cstdint>

namespace evergreen {
namespace fibers_internal {

#if defined(__x86_64__)
struct SwitchFrame {
  uint64_t r15, r14, r13, r12, rbx, rbp;
  uint64_t pc;  // resume address
};
static_assert(offsetof(SwitchFrame, r15) == EVERGREEN_FIBERS_FRAME_R15, "");
static_assert(offsetof(SwitchFrame, r14) == EVERGREEN_FIBERS_FRAME_R14, "");
static_assert(offsetof(SwitchFrame, r13) == EVERGREEN_FIBERS_FRAME_R13, "");
static_assert(offsetof(SwitchFrame, r12) == EVERGREEN_FIBERS_FRAME_R12, "");
static_assert(offsetof(SwitchFrame, rbx) == EVERGREEN_FIBERS_FRAME_RBX, "");
static_assert(offsetof(SwitchFrame, rbp) == EVERGREEN_FIBERS_FRAME_RBP, "");
static_assert(offsetof(SwitchFrame, pc) == EVERGREEN_FIBERS_FRAME_PC, "");
#elif defined(__aarch64__)
struct SwitchFrame {
  uint64_t x19, x20, x21, x22, x23, x24, x25, x26, x27, x28;
  uint64_t x29;
  uint64_t pc;  // x30
  uint64_t d8, d9, d10, d11, d12, d13, d14, d15;
};
static_assert(offsetof(SwitchFrame, x19) == EVERGREEN_FIBERS_FRAME_X19, "");
static_assert(offsetof(SwitchFrame, x20) == EVERGREEN_FIBERS_FRAME_X20, "");
static_assert(offsetof(SwitchFrame, x29) == EVERGREEN_FIBERS_FRAME_X29, "");
static_assert(offsetof(SwitchFrame, pc) == EVERGREEN_FIBERS_FRAME_PC, "");
static_assert(offsetof(SwitchFrame, d8) == EVERGREEN_FIBERS_FRAME_D8, "");
#endif
static_assert(sizeof(SwitchFrame) == EVERGREEN_FIBERS_FRAME_SIZE, "");

// Writes the first frame of a new fiber just below `stack_top` (16-byte
// aligned) and returns the stack pointer to resume it with. Resuming it calls
// `entry(arg)` on that stack; `entry` must never return.
void* PrepareStack(void* stack_top, void (*entry)(void*), void* arg);

}  // namespace fibers_internal
}  // namespace evergreen

extern "C" {
// Saves the callee-saved registers on the current stack, stores the stack
// pointer in *save_sp, and resumes the context whose stack pointer is
// `load_sp`. Returns when something switches back to *save_sp.
void evergreen_fibers_switch(void** save_sp, void* load_sp);
// First resume address of a new fiber (see PrepareStack).
void evergreen_fibers_trampoline();
}
#endif  // __ASSEMBLER__

#endif  // EVERGREEN_FIBERS_INTERNAL_SWITCH_H_
