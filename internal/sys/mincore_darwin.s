// Trampoline to libSystem's mincore for mincore_darwin.go (the same form
// golang.org/x/sys/unix generates for its libc calls; amd64 and arm64).

#include "textflag.h"

TEXT libc_mincore_trampoline<>(SB),NOSPLIT,$0-0
	JMP	libc_mincore(SB)
GLOBL	·libc_mincore_trampoline_addr(SB), RODATA, $8
DATA	·libc_mincore_trampoline_addr(SB)/8, $libc_mincore_trampoline<>(SB)
