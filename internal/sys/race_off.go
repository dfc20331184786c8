//go:build !race

package sys

import "unsafe"

const raceEnabled = false

func raceReadRange(unsafe.Pointer, int)  {}
func raceWriteRange(unsafe.Pointer, int) {}
