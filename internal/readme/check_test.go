package readme_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// snippetLine is the line README.md puts right above a ```go block; NAME is
// the "// README begin: NAME" marker of the block's twin.
var snippetLine = regexp.MustCompile(`^<!-- snippet ([a-z0-9-]+): compiled by internal/readme -->$`)

// readmeBlock is one ```go block of README.md.
type readmeBlock struct {
	line int    // 1-based line number of the opening fence
	name string // the twin named in the comment above it, or ""
	text string // the lines between the fences
}

// goBlocks returns every ```go block of a Markdown text.
func goBlocks(md string) ([]readmeBlock, error) {
	lines := strings.Split(md, "\n")
	var blocks []readmeBlock
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```go" {
			continue
		}
		b := readmeBlock{line: i + 1}
		if i > 0 {
			if m := snippetLine.FindStringSubmatch(lines[i-1]); m != nil {
				b.name = m[1]
			}
		}
		end := i + 1
		for end < len(lines) && strings.TrimSpace(lines[end]) != "```" {
			end++
		}
		if end == len(lines) {
			return nil, fmt.Errorf("README.md:%d: ```go block is never closed", b.line)
		}
		b.text = strings.Join(lines[i+1:end], "\n")
		blocks = append(blocks, b)
		i = end
	}
	return blocks, nil
}

// twins returns the snippets marked in Go source: name → the lines between
// "// README begin: name" and "// README end", one indentation level less.
func twins(src string) (map[string]string, error) {
	found := map[string]string{}
	lines := strings.Split(src, "\n")
	for i := 0; i < len(lines); i++ {
		name, ok := strings.CutPrefix(strings.TrimSpace(lines[i]), "// README begin: ")
		if !ok {
			continue
		}
		indent := lines[i][:len(lines[i])-len(strings.TrimLeft(lines[i], "\t"))]
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "// README end"; i++ {
			body = append(body, strings.TrimPrefix(lines[i], indent))
		}
		if i == len(lines) {
			return nil, fmt.Errorf("snippet %q has no // README end", name)
		}
		if _, dup := found[name]; dup {
			return nil, fmt.Errorf("two snippets named %q", name)
		}
		found[name] = strings.Join(body, "\n")
	}
	return found, nil
}

// firstDifference describes where two texts part.
func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d of the block is\n\t%q\nbut should be\n\t%q", i+1, gl, wl)
		}
	}
	return "they are equal"
}

// TestREADMESnippets checks that every ```go block of README.md is, verbatim,
// the body of a compiled twin in this package, and that every twin is shown.
// A snippet that stops compiling fails the build of this test; one edited in
// the README but not in its twin fails here.
func TestREADMESnippets(t *testing.T) {
	// go test runs a package's tests in its directory (on every OS, and
	// under Wine, where the source paths the compiler recorded do not exist).
	md, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := goBlocks(string(md))
	if err != nil {
		t.Fatal(err)
	}
	sources, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]string{}
	for _, path := range sources {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		found, err := twins(string(src))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for name, text := range found {
			if _, dup := all[name]; dup {
				t.Fatalf("two snippets named %q", name)
			}
			all[name] = text
		}
	}
	if len(blocks) == 0 || len(all) == 0 {
		t.Fatalf("found %d ```go blocks in README.md and %d twins: the markers changed?", len(blocks), len(all))
	}

	shown := map[string]bool{}
	for _, b := range blocks {
		if b.name == "" {
			t.Errorf("README.md:%d: a ```go block without the line\n\t<!-- snippet NAME: compiled by internal/readme -->\nright above it: put the block in a function of internal/readme/readme_test.go between \"// README begin: NAME\" and \"// README end\", so that it compiles", b.line)
			continue
		}
		want, ok := all[b.name]
		if !ok {
			t.Errorf("README.md:%d: the block names snippet %q, which internal/readme does not have", b.line, b.name)
			continue
		}
		if shown[b.name] {
			t.Errorf("README.md:%d: snippet %q is shown twice", b.line, b.name)
		}
		shown[b.name] = true
		if b.text != want {
			t.Errorf("README.md:%d: the block differs from snippet %q of internal/readme (the compiled one): %s\nThe block should read:\n%s",
				b.line, b.name, firstDifference(b.text, want), want)
		}
	}
	for name := range all {
		if !shown[name] {
			t.Errorf("snippet %q of internal/readme is not shown in README.md: remove it, or show it with the line\n\t<!-- snippet %s: compiled by internal/readme -->\nabove its ```go block", name, name)
		}
	}
}

// TestGoBlocks checks the Markdown scanner on the cases the README test relies on.
func TestGoBlocks(t *testing.T) {
	tests := []struct {
		name    string
		md      string
		want    []readmeBlock
		wantErr bool
	}{
		{"none", "text\n```sh\nls\n```\n", nil, false},
		{"named", "<!-- snippet a: compiled by internal/readme -->\n```go\nx := 1\n\ny := 2\n```\n",
			[]readmeBlock{{line: 2, name: "a", text: "x := 1\n\ny := 2"}}, false},
		{"unnamed", "para\n```go\nx\n```", []readmeBlock{{line: 2, text: "x"}}, false},
		{"name not right above", "<!-- snippet a: compiled by internal/readme -->\n\n```go\nx\n```",
			[]readmeBlock{{line: 3, text: "x"}}, false},
		{"two", "```go\na\n```\n<!-- snippet b: compiled by internal/readme -->\n```go\nb\n```\n",
			[]readmeBlock{{line: 1, text: "a"}, {line: 5, name: "b", text: "b"}}, false},
		{"unclosed", "```go\nx\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := goBlocks(tt.md)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tt.wantErr)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestTwins checks the marker scanner.
func TestTwins(t *testing.T) {
	src := "func f() {\n\t// README begin: x\n\ta := 1\n\n\tif a > 0 {\n\t\tb()\n\t}\n\t// README end\n}\n"
	got, err := twins(src)
	if err != nil {
		t.Fatal(err)
	}
	if want := "a := 1\n\nif a > 0 {\n\tb()\n}"; got["x"] != want || len(got) != 1 {
		t.Errorf("got %q, want x: %q", got, want)
	}
	if _, err := twins("\t// README begin: x\n\ta := 1\n"); err == nil {
		t.Error("an unterminated snippet was accepted")
	}
	if _, err := twins("// README begin: x\n// README end\n// README begin: x\n// README end\n"); err == nil {
		t.Error("two snippets with one name were accepted")
	}
}
