// Context switch for x86_64, System V ABI. See switch.h for the frame layout
// and for what is deliberately not saved (MXCSR, x87 control word).
#include "fibers/internal/switch.h"

        .text

// void evergreen_fibers_switch(void** save_sp /* rdi */, void* load_sp /* rsi */)
        .globl  evergreen_fibers_switch
        .type   evergreen_fibers_switch, @function
        .p2align 4
evergreen_fibers_switch:
        .cfi_startproc
        pushq   %rbp
        pushq   %rbx
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        movq    %rsp, (%rdi)
        movq    %rsi, %rsp
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbx
        popq    %rbp
        // The resume address: an indirect jmp, predicted from history. A
        // `ret` would be predicted from the return stack buffer, which holds
        // this fiber's call site, not the resumed fiber's.
        popq    %rcx
        jmpq    *%rcx
        .cfi_endproc
        .size   evergreen_fibers_switch, .-evergreen_fibers_switch

// First code a new fiber runs: rbx holds the argument, r12 the entry
// function. The stack pointer is 16-byte aligned here, so the call leaves it
// as the ABI expects at function entry. Unwinders stop here.
        .globl  evergreen_fibers_trampoline
        .type   evergreen_fibers_trampoline, @function
        .p2align 4
evergreen_fibers_trampoline:
        .cfi_startproc
        .cfi_undefined rip
        xorl    %ebp, %ebp
        movq    %rbx, %rdi
        callq   *%r12
        ud2     // entry never returns
        .cfi_endproc
        .size   evergreen_fibers_trampoline, .-evergreen_fibers_trampoline

        .section .note.GNU-stack,"",@progbits
