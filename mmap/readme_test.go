//lint:file-ignore SA4006,SA5001 the README snippet shows calls and their results without handling each error

package mmap_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmapkit/mmapkit/mmap"
)

// readmeSnippet holds the README's mmap snippet, so that it compiles;
// TestREADMESnippet checks that the README shows exactly these lines.
func readmeSnippet(f *os.File, buf, p []byte, off int64) error {
	// README begin
	r, err := mmap.Open("data.bin", mmap.ReadWrite, nil)            // whole file; nil: default Options
	r, err = mmap.Map(f, mmap.CopyOnWrite, 4097, 0, nil)            // any offset; length 0: to the end
	r, err = mmap.Anonymous(10<<20, &mmap.Options{HugePages: true}) // no file
	defer r.Close()

	n, err := r.ReadAt(buf, off)      // io.ReaderAt: io.EOF on a short read at the end
	n, err = r.WriteAt(p, off)        // all or nothing; ErrReadOnly on a read-only map
	at, err := r.Find([]byte("x"), 0) // Python's find; also FindLast, ReadLine, Move, Seek/Read/Write
	b := r.Bytes()                    // zero-copy; valid until Close or Resize
	err = r.Do(func(b []byte) error { // your zero-copy code, faults turned into errors
		return nil
	})
	err = r.Flush()             // msync
	err = r.Resize(r.Len() * 2) // grow the mapping, and the file if it must (mremap on Linux)
	// README end
	_, _, _ = n, at, b
	return err
}

func TestREADMESnippet(t *testing.T) {
	_ = readmeSnippet
	// Paths relative to the package directory, where go test runs the
	// binary: a path from the build (runtime.Caller) does not exist where
	// the binary runs elsewhere, e.g. under Wine.
	src, err := os.ReadFile("readme_test.go")
	if err != nil {
		t.Fatal(err)
	}
	body := string(src)
	body = body[strings.Index(body, "// README begin\n")+len("// README begin\n") : strings.Index(body, "\t// README end")]
	var want []string
	for _, line := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		want = append(want, strings.TrimPrefix(line, "\t"))
	}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := "```go\n" + strings.Join(want, "\n") + "\n```"
	if !strings.Contains(string(readme), block) {
		t.Errorf("README.md does not show the snippet of readmeSnippet (mmap/readme_test.go) verbatim; it should read:\n%s", block)
	}
}
