package shm

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// osNameProblem says why name cannot be a segment's file name on Windows, or
// "" if it can. Without these checks "a:b" would name an alternate data
// stream of the file "a", "nul" the null device, and "a." the file "a".
func osNameProblem(name string) string {
	if !utf8.ValidString(name) {
		// Windows names are UTF-16: every byte that is not UTF-8 becomes
		// U+FFFD, so "a\xff" and "a\xfe" would be the same segment.
		return "is not UTF-8, which a Windows file name must be"
	}
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
	if (strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT")) && isDeviceDigit(base[3:]) {
		return "is a reserved device name on Windows"
	}
	return ""
}

// isDeviceDigit reports whether s is a digit that makes COM or LPT a device:
// 0 to 9, and the superscripts ¹ ² ³, which Windows counts too.
func isDeviceDigit(s string) bool {
	switch s {
	case "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "¹", "²", "³":
		return true
	}
	return false
}
