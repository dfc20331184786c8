package shm_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// The Python package's own tests (python/tests, pytest) run against
// segments, slots, rings and queues that this test binary writes as a
// helper process (pyServer), so `go test ./...` covers the cross-language
// contract. They need an interpreter with pytest (Debian's python3-pytest);
// without one the test is skipped, unless CI requires it
// (MMAPKIT_REQUIRE_NUMPY=1 or MMAPKIT_REQUIRE_PYTHON=1).
func TestPythonPackage(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the Python package reads segments from /dev/shm")
	}
	py := pytestPython(t)
	dir, err := filepath.Abs("../python")
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", filepath.Join(dir, "tests")}
	if testing.Verbose() {
		args = append(args, "-v")
	}
	if testing.Short() || raceEnabled {
		// The install test builds a wheel and venvs: slow, and it runs no
		// Go code that the race detector could check.
		args = append(args, "-k", "not test_install")
	}
	cmd := exec.Command(py, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "MMAPKIT_GO_HELPER="+self, "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	t.Logf("%s -m pytest:\n%s", py, out)
	if err != nil {
		t.Fatalf("pytest failed: %v", err)
	}
}

// pytestPython returns an interpreter that has pytest, preferring Debian's
// (which has NumPy too).
func pytestPython(t *testing.T) string {
	t.Helper()
	for _, c := range []string{"/usr/bin/python3", "python3"} {
		p, err := exec.LookPath(c)
		if err == nil && exec.Command(p, "-c", "import pytest").Run() == nil {
			return p
		}
	}
	if os.Getenv("MMAPKIT_REQUIRE_PYTHON") == "1" || os.Getenv("MMAPKIT_REQUIRE_NUMPY") == "1" {
		t.Fatal("no python3 with pytest (Debian: apt-get install python3-pytest), and the Python tests are required")
	}
	t.Skip("no python3 with pytest (Debian: apt-get install python3-pytest)")
	return ""
}
