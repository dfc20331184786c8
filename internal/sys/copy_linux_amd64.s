//go:build !asan && !msan

#include "textflag.h"

// From this many bytes on, REP MOVSB (fast on every x86-64 made since
// 2013: ERMS) beats a loop.
#define REPMIN 512

// func copyNoFault(dst, src unsafe.Pointer, n uintptr) (ok bool)
//
// Copies n bytes forward, never through another function, so that a
// fault on any of its loads or stores has its program counter inside this
// one: faultTramp then resumes at copyNoFaultFailed, which returns false.
// It pushes nothing, so the stack pointer at a fault is the one at entry.
// Overlapping buffers of more than 16 bytes return false without copying
// (the caller falls back to memmove).
TEXT ·copyNoFault(SB), NOSPLIT|NOFRAME, $0-25
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	CMPQ CX, $16
	JA   over16

	// Up to 16 bytes: every source byte is loaded before any is stored,
	// so overlapping buffers are copied right too.
	CMPQ CX, $8
	JB   under8
	MOVQ (SI), AX
	MOVQ -8(SI)(CX*1), BX
	MOVQ AX, (DI)
	MOVQ BX, -8(DI)(CX*1)
	MOVB $1, ok+24(FP)
	RET

under8:
	CMPQ CX, $4
	JB   under4
	MOVL (SI), AX
	MOVL -4(SI)(CX*1), BX
	MOVL AX, (DI)
	MOVL BX, -4(DI)(CX*1)
	MOVB $1, ok+24(FP)
	RET

under4:
	TESTQ CX, CX
	JZ    done
	MOVQ  CX, DX
	SHRQ  $1, DX
	MOVB  (SI), AX
	MOVB  (SI)(DX*1), BX
	MOVB  -1(SI)(CX*1), R8
	MOVB  AX, (DI)
	MOVB  BX, (DI)(DX*1)
	MOVB  R8, -1(DI)(CX*1)
	JMP   done

over16:
	// Longer copies go forward in blocks: refuse overlapping buffers.
	LEAQ (SI)(CX*1), AX
	CMPQ DI, AX
	JAE  disjoint
	LEAQ (DI)(CX*1), AX
	CMPQ SI, AX
	JAE  disjoint
	MOVB $0, ok+24(FP)
	RET

disjoint:
	CMPQ CX, $REPMIN
	JAE  rep
	CMPQ CX, $64
	JB   loop16

loop64:
	MOVOU (SI), X0
	MOVOU 16(SI), X1
	MOVOU 32(SI), X2
	MOVOU 48(SI), X3
	MOVOU X0, (DI)
	MOVOU X1, 16(DI)
	MOVOU X2, 32(DI)
	MOVOU X3, 48(DI)
	ADDQ  $64, SI
	ADDQ  $64, DI
	SUBQ  $64, CX
	CMPQ  CX, $64
	JAE   loop64
	TESTQ CX, CX
	JZ    done

	// Fewer than 64 bytes left of at least 64: copy the last 64 again
	// (the buffers do not overlap, so that rewrites equal bytes).
	MOVOU -64(SI)(CX*1), X0
	MOVOU -48(SI)(CX*1), X1
	MOVOU -32(SI)(CX*1), X2
	MOVOU -16(SI)(CX*1), X3
	MOVOU X0, -64(DI)(CX*1)
	MOVOU X1, -48(DI)(CX*1)
	MOVOU X2, -32(DI)(CX*1)
	MOVOU X3, -16(DI)(CX*1)
	JMP   done

loop16:
	// 16 < CX < 64: whole 16-byte blocks, then the last 16 bytes.
	MOVOU (SI), X0
	MOVOU X0, (DI)
	ADDQ  $16, SI
	ADDQ  $16, DI
	SUBQ  $16, CX
	CMPQ  CX, $16
	JA    loop16
	MOVOU -16(SI)(CX*1), X0
	MOVOU X0, -16(DI)(CX*1)
	JMP   done

rep:
	REP; MOVSB

done:
	MOVB $1, ok+24(FP)
	RET

// func copyNoFaultFailed(dst, src unsafe.Pointer, n uintptr) (ok bool)
//
// Where faultTramp resumes a copyNoFault that faulted: same frame, returns
// false.
TEXT ·copyNoFaultFailed(SB), NOSPLIT|NOFRAME, $0-25
	MOVB $0, ok+24(FP)
	RET

// func faultTramp()
//
// The SIGBUS and SIGSEGV handler, entered by the kernel with the C calling
// convention (DI signal, SI siginfo, DX ucontext). A fault the kernel
// raised with the program counter inside copyNoFault resumes at
// copyNoFaultFailed; every other signal goes on, registers untouched, to
// the handler that was installed before (the Go runtime's).
TEXT ·faultTramp(SB), NOSPLIT|NOFRAME, $0
	MOVL 8(SI), AX              // siginfo.si_code: > 0 when the kernel raised it
	CMPL AX, $0
	JLE  forward
	MOVQ 168(DX), AX            // ucontext.uc_mcontext.rip
	MOVQ ·copyStart(SB), CX
	CMPQ AX, CX
	JB   forward
	MOVQ ·copyEnd(SB), CX
	CMPQ AX, CX
	JAE  forward
	MOVQ ·copyFailed(SB), CX
	MOVQ CX, 168(DX)
	RET

forward:
	CMPL DI, $7                 // SIGBUS
	JNE  segv
	MOVQ ·fwdSIGBUS(SB), AX
	JMP  AX

segv:
	MOVQ ·fwdSIGSEGV(SB), AX
	JMP  AX

// func faultAddrs() (start, failed, tramp uintptr)
TEXT ·faultAddrs(SB), NOSPLIT, $0-24
	MOVQ $·copyNoFault(SB), AX
	MOVQ AX, start+0(FP)
	MOVQ $·copyNoFaultFailed(SB), AX
	MOVQ AX, failed+8(FP)
	MOVQ $·faultTramp(SB), AX
	MOVQ AX, tramp+16(FP)
	RET
