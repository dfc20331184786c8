//go:build !linux && !darwin && !windows

package sys

// Shrink is not implemented on this operating system.
func (m *Mapping) Shrink(int) error { return unsupported("shrink a mapping") }
