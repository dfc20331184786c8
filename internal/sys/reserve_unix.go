//go:build linux || darwin

package sys

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// CanRetire reports whether Retire and MapAt work here. Where they do,
// package mmap reads mapped memory without any synchronisation: Close and a
// moving Resize retire the old pages instead of unmapping them, so a late
// reader faults on a reservation that no other mapping can take, and the
// fault handler turns that into an error.
const CanRetire = true

// Retire replaces the pages of b with an inaccessible reservation in one
// step (mmap MAP_FIXED of PROT_NONE anonymous memory over them): from then
// on any access faults, no page of b holds memory or a file any more, and
// the addresses stay reserved, so no other mapping can be placed there,
// until Release. A thread touching b while Retire runs sees either the old
// page or the fault, never anything else. b must start on a page; its
// length is rounded up to whole pages.
func Retire(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	_, err := unix.MmapPtr(-1, 0, unsafe.Pointer(unsafe.SliceData(b)), uintptr(len(b)), unix.PROT_NONE,
		unix.MAP_FIXED|unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_NORESERVE)
	return err
}

// Release gives back the address range of b (a reservation from Retire, or
// a mapping): munmap.
func Release(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	return unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(b)), uintptr(len(b)))
}

// Protect sets how the pages of b may be accessed (mprotect). b must start
// on a page.
func Protect(b []byte, prot Prot) error {
	if len(b) == 0 {
		return nil
	}
	return unix.Mprotect(b, protBits(prot))
}

// MapAt is Map at a fixed place: it maps len(at) bytes of the file fd from
// offset off (fd == NoFile: anonymous memory) exactly over at, which must be
// (part of) a reservation made by Retire; the reservation is replaced in one
// step. off must be a multiple of Granularity and at must start on a page.
func MapAt(at []byte, fd uintptr, off int64, prot Prot, flags Flags) (Mapping, error) {
	if len(at) == 0 {
		return Mapping{}, unix.EINVAL
	}
	f := unix.MAP_SHARED
	if flags&Private != 0 {
		f = unix.MAP_PRIVATE
	}
	ifd := int(fd)
	if fd == NoFile {
		f = unix.MAP_PRIVATE | unix.MAP_ANON
		ifd, off = -1, 0
	}
	f |= unix.MAP_FIXED | mapFlags(flags)
	p, err := unix.MmapPtr(ifd, off, unsafe.Pointer(unsafe.SliceData(at)), uintptr(len(at)), protBits(prot), f)
	if err != nil {
		return Mapping{}, err
	}
	m := Mapping{Data: unsafe.Slice((*byte)(p), len(at))}
	if flags&HugePages != 0 {
		_ = m.advise(0, len(at), AdvHugePage)
	}
	return m, nil
}
