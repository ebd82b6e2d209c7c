// Context switch for aarch64, AAPCS64. See switch.h for the frame layout and
// for what is deliberately not saved (FPCR).
#include "fibers/internal/switch.h"

        .text

// void evergreen_fibers_switch(void** save_sp /* x0 */, void* load_sp /* x1 */)
        .globl  evergreen_fibers_switch
        .type   evergreen_fibers_switch, %function
        .p2align 4
evergreen_fibers_switch:
        .cfi_startproc
        sub     sp, sp, #EVERGREEN_FIBERS_FRAME_SIZE
        stp     x19, x20, [sp, #0]
        stp     x21, x22, [sp, #16]
        stp     x23, x24, [sp, #32]
        stp     x25, x26, [sp, #48]
        stp     x27, x28, [sp, #64]
        stp     x29, x30, [sp, #80]
        stp     d8, d9, [sp, #96]
        stp     d10, d11, [sp, #112]
        stp     d12, d13, [sp, #128]
        stp     d14, d15, [sp, #144]
        mov     x2, sp
        str     x2, [x0]
        mov     sp, x1
        ldp     x19, x20, [sp, #0]
        ldp     x21, x22, [sp, #16]
        ldp     x23, x24, [sp, #32]
        ldp     x25, x26, [sp, #48]
        ldp     x27, x28, [sp, #64]
        ldp     x29, x30, [sp, #80]
        ldp     d8, d9, [sp, #96]
        ldp     d10, d11, [sp, #112]
        ldp     d12, d13, [sp, #128]
        ldp     d14, d15, [sp, #144]
        add     sp, sp, #EVERGREEN_FIBERS_FRAME_SIZE
        br      x30     // indirect branch, not `ret` (see switch.h)
        .cfi_endproc
        .size   evergreen_fibers_switch, .-evergreen_fibers_switch

// First code a new fiber runs: x19 holds the argument, x20 the entry
// function. Unwinders stop here.
        .globl  evergreen_fibers_trampoline
        .type   evergreen_fibers_trampoline, %function
        .p2align 4
evergreen_fibers_trampoline:
        .cfi_startproc
        .cfi_undefined x30
        mov     x29, #0
        mov     x0, x19
        blr     x20
        brk     #0      // entry never returns
        .cfi_endproc
        .size   evergreen_fibers_trampoline, .-evergreen_fibers_trampoline

        .section .note.GNU-stack,"",%progbits
