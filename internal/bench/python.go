package bench

import (
	_ "embed"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// classicPy is the Python script run by --compare-python; it ships in the
// repository as internal/bench/python/classic.py and inside the binary.
//
//go:embed python/classic.py
var classicPy []byte

// WritePythonScript writes the Python script into dir and returns its path.
func WritePythonScript(dir string) (string, error) {
	p := filepath.Join(dir, "mmapkit-classic.py")
	return p, os.WriteFile(p, classicPy, 0o644)
}

// FindPython returns a Python 3 interpreter (python3 on PATH, then
// /usr/bin/python3) and its version, or "" if there is none. The script needs
// only the standard library (3.8+ for mmap.madvise).
func FindPython() (path, version string) {
	var candidates []string
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	candidates = append(candidates, "/usr/bin/python3")
	for _, c := range candidates {
		out, err := exec.Command(c, "-c", "import sys, mmap; assert sys.version_info >= (3, 8); print(sys.version.split()[0])").Output()
		if err == nil {
			return c, "Python " + strings.TrimSpace(string(out))
		}
	}
	return "", ""
}
