/* Interrupt entry stubs and the ring-0 -> ring-3 transition.
 * Every stub pushes (error code or 0, vector), saves the general registers
 * and calls trap_dispatch(struct trap_frame *); see trap.h for the layout. */
#include "abi.h"

        .text
        .code64

.macro TRAP_NOERR n
trap_\n:
        pushq   $0
        pushq   $\n
        jmp     trap_common
.endm
.macro TRAP_ERR n
trap_\n:
        pushq   $\n
        jmp     trap_common
.endm

.irp n, 0,1,2,3,4,5,6,7,9,15,16,18,19,20,22,23,24,25,26,27,28,31,128
TRAP_NOERR \n
.endr
.irp n, 8,10,11,12,13,14,17,21,29,30
TRAP_ERR \n
.endr

trap_common:
        push    %rax
        push    %rbx
        push    %rcx
        push    %rdx
        push    %rsi
        push    %rdi
        push    %rbp
        push    %r8
        push    %r9
        push    %r10
        push    %r11
        push    %r12
        push    %r13
        push    %r14
        push    %r15
        mov     %rsp, %rdi
        cld
        call    trap_dispatch
        pop     %r15
        pop     %r14
        pop     %r13
        pop     %r12
        pop     %r11
        pop     %r10
        pop     %r9
        pop     %r8
        pop     %rbp
        pop     %rdi
        pop     %rsi
        pop     %rdx
        pop     %rcx
        pop     %rbx
        pop     %rax
        add     $16, %rsp               /* vector, error code */
        iretq

/* void enter_user(uint64_t rip, uint64_t rsp, uint64_t rflags, uint64_t arg) */
        .globl enter_user
enter_user:
        pushq   $SEL_USER_DS
        pushq   %rsi
        pushq   %rdx
        pushq   $SEL_USER_CS
        pushq   %rdi
        mov     %rcx, %rdi
        mov     $SEL_USER_DS, %eax
        mov     %eax, %ds
        mov     %eax, %es
        xor     %eax, %eax
        xor     %ecx, %ecx
        xor     %edx, %edx
        xor     %esi, %esi
        xor     %ebp, %ebp
        iretq

        .section .rodata
        .balign 8
        .globl trap_entries
trap_entries:
.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        .quad   trap_\n
.endr
        .globl trap_entry_syscall
trap_entry_syscall:
        .quad   trap_128

        .section .note.GNU-stack, "", @progbits
