//go:build race

package sys

import (
	"runtime"
	"unsafe"
)

// raceEnabled: code that copies outside the Go compiler's view (assembly)
// tells the race detector what it read and wrote.
const raceEnabled = true

func raceReadRange(p unsafe.Pointer, n int)  { runtime.RaceReadRange(p, n) }
func raceWriteRange(p unsafe.Pointer, n int) { runtime.RaceWriteRange(p, n) }
