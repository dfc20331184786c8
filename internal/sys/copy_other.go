//go:build !linux || !amd64 || asan || msan

package sys

// NoFaultCopy reports whether CopyNoFault may be used: not on this
// platform (package mmap protects its copies with debug.SetPanicOnFault).
func NoFaultCopy() bool { return false }

// CopyNoFault is not available here (NoFaultCopy is false); it copies
// without any fault protection.
func CopyNoFault(dst, src []byte) (n int, ok bool) { return copy(dst, src), true }
