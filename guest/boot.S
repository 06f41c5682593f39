/* Multiboot v1 header, 32-bit entry, switch to long mode, GDT.
 *
 * The loader enters mb_entry32 in 32-bit protected mode, paging off,
 * eax = 0x2BADB002, ebx = physical address of the Multiboot info.
 * We identity-map the first 4 GiB with 2 MiB pages (enough to read the
 * Multiboot info wherever the loader put it), enable PAE + EFER.LME + paging,
 * and jump to 64-bit code which calls kmain(magic, info). kmain later builds
 * the final page tables. */
#include "abi.h"

        .section .multiboot, "a"
        .balign 4
mb_header:
        .long MB_HEADER_MAGIC
        .long MB_HEADER_FLAGS
        .long -(MB_HEADER_MAGIC + MB_HEADER_FLAGS)
        /* address fields (flag bit 16): header, load start, load end (file
         * part), bss end, entry. */
        .long mb_header
        .long __image_start
        .long __data_end
        .long __image_end
        .long mb_entry32

        .section .text.boot, "ax"
        .code32
        .globl mb_entry32
mb_entry32:
        cli
        cld
        mov     %eax, %ebp              /* Multiboot magic */
        mov     %ebx, %esi              /* Multiboot info */
        mov     $kernel_stack_top, %esp

        /* long mode available? (CPUID 0x80000001 EDX bit 29) */
        mov     $0x80000000, %eax
        cpuid
        cmp     $0x80000001, %eax
        jb      no_long_mode
        mov     $0x80000001, %eax
        cpuid
        bt      $29, %edx
        jnc     no_long_mode

        /* zero PML4 and PDPT (contiguous, 2 pages) */
        mov     $boot_pml4, %edi
        xor     %eax, %eax
        mov     $2048, %ecx
        rep stosl

        movl    $boot_pdpt + 0x3, boot_pml4     /* present | writable */
        mov     $boot_pd + 0x3, %eax
        mov     $boot_pdpt, %edi
        mov     $4, %ecx
1:      mov     %eax, (%edi)
        add     $4096, %eax
        add     $8, %edi
        loop    1b

        /* 4 page directories x 512 entries of 2 MiB: identity 0..4 GiB */
        mov     $boot_pd, %edi
        mov     $0x83, %eax                     /* present | writable | 2 MiB */
        mov     $2048, %ecx
2:      mov     %eax, (%edi)
        movl    $0, 4(%edi)
        add     $0x200000, %eax
        add     $8, %edi
        loop    2b

        mov     %cr4, %eax
        or      $0x20, %eax                     /* CR4.PAE */
        mov     %eax, %cr4
        mov     $boot_pml4, %eax
        mov     %eax, %cr3
        mov     $0xC0000080, %ecx               /* EFER */
        rdmsr
        or      $0x100, %eax                    /* EFER.LME */
        wrmsr
        mov     %cr0, %eax
        or      $0x80000001, %eax               /* CR0.PG | CR0.PE */
        mov     %eax, %cr0

        lgdt    gdt_ptr
        ljmp    $SEL_KERNEL_CS, $entry64

no_long_mode:
        mov     $msg_no_long_mode, %esi
        mov     $PORT_COM1, %dx
3:      lodsb
        test    %al, %al
        jz      4f
        out     %al, %dx
        jmp     3b
4:      mov     $EXIT_INTERNAL, %eax
        mov     $PORT_EXIT, %dx
        out     %eax, %dx
5:      hlt
        jmp     5b

        .code64
entry64:
        mov     $SEL_KERNEL_DS, %eax
        mov     %eax, %ds
        mov     %eax, %es
        mov     %eax, %ss
        xor     %eax, %eax
        mov     %eax, %fs
        mov     %eax, %gs
        mov     $kernel_stack_top, %rsp
        mov     %ebp, %edi                      /* zero-extends: magic */
        mov     %esi, %esi                      /* zero-extend: info address */
        call    kmain
6:      cli
        hlt
        jmp     6b

        .section .rodata
msg_no_long_mode:
        .asciz  "tern-guest: CPU has no long mode\n"

        .section .data
        .balign 16
        .globl gdt
gdt:
        .quad   0
        .quad   0x00AF9A000000FFFF      /* 0x08 kernel code, 64-bit */
        .quad   0x00CF92000000FFFF      /* 0x10 kernel data */
        .quad   0x00CFF2000000FFFF      /* 0x18 user data, DPL 3 */
        .quad   0x00AFFA000000FFFF      /* 0x20 user code, 64-bit, DPL 3 */
        .quad   0, 0                    /* 0x28 TSS, filled in by cpu_init */
gdt_end:
        .balign 8
        .globl gdt_ptr
gdt_ptr:
        .word   gdt_end - gdt - 1
        .quad   gdt

        .section .bss
        .balign 4096
boot_pml4:
        .skip   4096
boot_pdpt:
        .skip   4096
boot_pd:
        .skip   4 * 4096
        .balign 16
        .globl kernel_stack_top
kernel_stack:
        .skip   16384
kernel_stack_top:

        .section .note.GNU-stack, "", @progbits
