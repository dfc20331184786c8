package main

// Test helpers for every command: run a command line in-process (cli) or as
// its own process (cliCommand, the test binary re-executed as mmapkit),
// compare output with a golden file (golden, -update rewrites them), and check
// the JSON conventions (checkJSON: parses, snake_case keys, no null).

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden with the current output")

// cliEnv makes the test binary act as the mmapkit command (see TestMain); the
// bench command's child processes inherit it and so run as mmapkit too.
const cliEnv = "MMAPKIT_TEST_AS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(cliEnv) == "1" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// cliResult is what one command line did.
type cliResult struct {
	stdout, stderr string
	code           int
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit status %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// cli runs a command line in-process, as main would, with empty stdin.
func cli(t *testing.T, args ...string) cliResult {
	t.Helper()
	return cliIn(t, "", args...)
}

// cliIn is cli with stdin.
func cliIn(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), args, strings.NewReader(stdin), &out, &errb)
	return cliResult{out.String(), errb.String(), code}
}

// cliCommand returns the command line as a process of its own: the test
// binary re-executed as mmapkit.
func cliCommand(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), cliEnv+"=1")
	return cmd
}

// cliExec runs the command line as a process of its own and waits for it.
func cliExec(t *testing.T, stdin io.Reader, args ...string) cliResult {
	t.Helper()
	cmd := cliCommand(t, args...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return cliResult{out.String(), errb.String(), code}
}

// golden compares got with testdata/golden/NAME.golden; with -update it
// writes the file instead. Replace varying parts (temporary paths, times)
// before: see normalize.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run '%s' -update to create it)", err, t.Name())
	}
	// One golden file serves every OS: what this OS says about a missing
	// file reads as Unix says it.
	if text := notExistText(t); text != "no such file or directory" {
		got = strings.ReplaceAll(got, text, "no such file or directory")
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -run '%s' -update rewrites it)\n--- want\n%s--- got\n%s", path, t.Name(), want, got)
	}
}

// normalize replaces each old (a literal) by its new in s: normalize(out,
// dir, "$DIR"). Where the path separator is not '/' (Windows), old followed
// by the separator, as printed or as JSON escapes it, becomes new and '/', so
// that one golden file serves every OS.
func normalize(s string, oldnew ...string) string {
	if sep := string(filepath.Separator); sep != "/" {
		var pairs []string
		for i := 0; i+1 < len(oldnew); i += 2 {
			old, repl := oldnew[i], oldnew[i+1]
			esc := strings.ReplaceAll(old, sep, sep+sep)
			pairs = append(pairs, esc+sep+sep, repl+"/", old+sep, repl+"/")
			if esc != old {
				pairs = append(pairs, esc, repl) // as JSON escapes it
			}
		}
		oldnew = append(pairs, oldnew...)
	}
	return strings.NewReplacer(oldnew...).Replace(s)
}

var snakeKey = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// checkJSON parses out as one JSON document or as NDJSON (several, one per
// line), checks the conventions of docs/cli.md (snake_case keys, no null)
// and returns the documents.
func checkJSON(t *testing.T, out string) []any {
	t.Helper()
	docs, err := jsonDocs(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return docs
}

// jsonDocs is checkJSON's check.
func jsonDocs(out string) ([]any, error) {
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber()
	var docs []any
	for dec.More() {
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("output is not JSON: %w", err)
		}
		docs = append(docs, v)
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("no JSON in the output")
	}
	var bad []string
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case nil:
			bad = append(bad, path+" is null")
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if !snakeKey.MatchString(k) {
					bad = append(bad, fmt.Sprintf("%s: key %q is not snake_case", path, k))
				}
				walk(path+"."+k, x[k])
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		}
	}
	for i, d := range docs {
		walk(fmt.Sprintf("doc%d", i), d)
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("JSON breaks the conventions:\n%s", strings.Join(bad, "\n"))
	}
	return docs, nil
}

// decodeJSON parses out (checked with checkJSON) into v.
func decodeJSON(t *testing.T, out string, v any) {
	t.Helper()
	checkJSON(t, out)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

func TestCheckJSONCatchesBadJSON(t *testing.T) {
	for _, bad := range []string{`{"Files": []}`, `{"files": null}`, `{"a": [{"readerPid": 1}]}`, `{"a": 1} x`, `not json`, ``} {
		if _, err := jsonDocs(bad); err == nil {
			t.Errorf("jsonDocs accepted %q", bad)
		}
	}
	docs, err := jsonDocs("{\"files\": [], \"total_bytes\": 4}\n{\"a_1\": {\"b\": [1, \"x\"]}}\n")
	if err != nil || len(docs) != 2 {
		t.Fatalf("%d docs, %v", len(docs), err)
	}
}
