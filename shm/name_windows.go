package shm

import (
	"fmt"
	"strings"
)

// osNameProblem says why name cannot be a segment's file name on Windows, or
// "" if it can. Without these checks "a:b" would name an alternate data
// stream of the file "a", "nul" the null device, and "a." the file "a".
func osNameProblem(name string) string {
	if i := strings.IndexAny(name, `<>:"|?*`); i >= 0 {
		return fmt.Sprintf("contains %q, which Windows does not allow in a file name", name[i])
	}
	if strings.HasSuffix(name, ".") || strings.HasSuffix(name, " ") {
		return "ends in a dot or a space, which Windows drops from a file name"
	}
	// A device name stays one with an extension ("nul.txt") and trailing
	// spaces before it.
	base, _, _ := strings.Cut(name, ".")
	base = strings.ToUpper(strings.TrimRight(base, " "))
	switch base {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return "is a reserved device name on Windows"
	}
	if len(base) == 4 && (strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT")) && base[3] >= '0' && base[3] <= '9' {
		return "is a reserved device name on Windows"
	}
	return ""
}
