/* The built-in guest's ELF (guest/, target tern-guest) linked into tern
 * itself, so that `tern run` needs no file beside the binary. The build
 * passes the guest's directory to the assembler with -Wa,-I. */
        .section .rodata.tern_guest_elf, "a"
        .balign 16
        .globl tern_guest_elf_begin
        .globl tern_guest_elf_end
tern_guest_elf_begin:
        .incbin "tern-guest.elf"
tern_guest_elf_end:
        .section .note.GNU-stack, "", @progbits
