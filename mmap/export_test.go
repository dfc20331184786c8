package mmap

// SetForceMove makes Resize move the mapping whenever it grows, as it must
// when the address space after it is taken, so that tests reach that path.
// It returns a function that restores the default.
func SetForceMove(on bool) (restore func()) {
	old := forceMove
	forceMove = on
	return func() { forceMove = old }
}

// ReservedBytes returns the address space that retired pages of all Regions
// hold until their Regions are collected.
func ReservedBytes() int64 { return reservedBytes.Load() }
