//go:build linux || darwin

package sys

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Shrink makes the mapping n bytes long without moving it: the whole pages
// past the new end are unmapped. It is how a mapping shrinks where Remap
// cannot be used (darwin has no mremap, and a mapping whose address was
// handed out must not move).
func (m *Mapping) Shrink(n int) error {
	if n <= 0 || n > len(m.Data) {
		return unix.EINVAL
	}
	ps := PageSize()
	if keep := (n + ps - 1) / ps * ps; keep < len(m.Data) {
		if err := unix.MunmapPtr(unsafe.Pointer(&m.Data[keep]), uintptr(len(m.Data)-keep)); err != nil {
			return err
		}
	}
	m.Data = m.Data[:n]
	return nil
}
