#!/bin/sh
# gen-init-blob.sh PROGRAM OUTPUT.S: an assembler file that embeds PROGRAM as sandbox_init_blob.
set -eu
cat >"$2" <<ASM
	.section .rodata
	.balign 16
	.globl sandbox_init_blob
	.type sandbox_init_blob, @object
sandbox_init_blob:
	.incbin "$1"
	.globl sandbox_init_blob_end
sandbox_init_blob_end:
	.section .note.GNU-stack,"",@progbits
ASM
