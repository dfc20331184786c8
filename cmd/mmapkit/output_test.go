package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTable(t *testing.T) {
	tb := newTable("NAME", "SIZE", "FILES", "NOTE")
	tb.row("a", "4 KiB", 1, "x")
	tb.row("longer-name", "1.5 GiB", 1200, "")
	tb.row("é", "-", 3, "three words here")
	var b bytes.Buffer
	if err := tb.write(&b); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"NAME            SIZE  FILES  NOTE\n" +
		"a              4 KiB      1  x\n" +
		"longer-name  1.5 GiB   1200\n" +
		"é                  -      3  three words here\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}

	b.Reset()
	empty := newTable("NAME", "SIZE")
	if err := empty.write(&b); err != nil || b.String() != "NAME  SIZE\n" {
		t.Fatalf("empty table: %q, %v", b.String(), err)
	}
	b.Reset()
	nums := newTable("ID", "PID").alignLeft(0)
	nums.row(1, 123)
	nums.row(22, 4)
	if err := nums.write(&b); err != nil || b.String() != "ID  PID\n1   123\n22    4\n" {
		t.Fatalf("alignLeft: %q, %v", b.String(), err)
	}
}

func TestFields(t *testing.T) {
	var f fields
	f.add("file", "%s", "x.ring")
	f.add("capacity", "%d", 7)
	var b bytes.Buffer
	if err := f.write(&b); err != nil || b.String() != "file:     x.ring\ncapacity: 7\n" {
		t.Fatalf("%q, %v", b.String(), err)
	}
}

func TestPlural(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{plural(0, "file"), "0 files"},
		{plural(1, "file"), "1 file"},
		{plural(2, "file"), "2 files"},
		{plural(1, "entry", "entries"), "1 entry"},
		{plural(3, "entry", "entries"), "3 entries"},
	} {
		if tc.got != tc.want {
			t.Errorf("%q, want %q", tc.got, tc.want)
		}
	}
}

func TestBatchPrintsEachErrorOnce(t *testing.T) {
	errA := fmt.Errorf("shm: unlink a: %w", fs.ErrNotExist)
	errB := errors.New("shm: unlink b: bad")
	for _, tc := range []struct {
		name       string
		ok         int
		fails      []error
		code       int
		final      string // what main prints after the items ("" for nothing)
		matchesErr error
	}{
		{"all good", 2, nil, 0, "", nil},
		{"one of one", 0, []error{errA}, 1, "", fs.ErrNotExist},
		{"one of two", 1, []error{errA}, 1, "mmapkit: 1 of 2 segments failed\n", nil},
		{"two of two", 0, []error{errA, errB}, 1, "mmapkit: all 2 segments failed\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var items, final bytes.Buffer
			b := newBatch(&items, "segment")
			for range tc.ok {
				b.done()
			}
			for _, e := range tc.fails {
				b.fail(e)
			}
			err := b.err()
			if got := exitCode(err); got != tc.code {
				t.Fatalf("exit code %d, want %d", got, tc.code)
			}
			if err != nil {
				printError(&final, err)
			}
			for _, e := range tc.fails {
				if n := strings.Count(items.String()+final.String(), e.Error()); n != 1 {
					t.Errorf("%q printed %d times:\n%s%s", e, n, &items, &final)
				}
			}
			if final.String() != tc.final {
				t.Errorf("final line %q, want %q", final.String(), tc.final)
			}
			if tc.matchesErr != nil && !errors.Is(err, tc.matchesErr) {
				t.Errorf("%v does not match %v", err, tc.matchesErr)
			}
		})
	}
}

// unescape decodes formatText's escapes, for the round-trip tests.
func unescape(s string) ([]byte, error) {
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			out = append(out, s[i])
			continue
		}
		if i+1 >= len(s) {
			return nil, errors.New("trailing backslash")
		}
		i++
		switch s[i] {
		case '\\':
			out = append(out, '\\')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'x':
			if i+2 >= len(s)+0 && i+2 > len(s)-1+1 {
				return nil, errors.New("short \\x")
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return nil, err
			}
			out = append(out, byte(v))
			i += 2
		default:
			return nil, fmt.Errorf("unknown escape \\%c", s[i])
		}
	}
	return out, nil
}

func checkTextRecord(t *testing.T, data []byte) {
	var b bytes.Buffer
	if err := writeRecord(&b, formatText, 0, false, false, data); err != nil {
		t.Fatal(err)
	}
	line := b.String()
	if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
		t.Fatalf("record %q printed as %q: not one line", data, line)
	}
	if !utf8.ValidString(line) {
		t.Fatalf("record %q printed as invalid UTF-8 %q", data, line)
	}
	for _, r := range strings.TrimSuffix(line, "\n") {
		if r < ' ' || r == 0x7f {
			t.Fatalf("record %q printed with control character %q", data, r)
		}
	}
	back, err := unescape(strings.TrimSuffix(line, "\n"))
	if err != nil || !bytes.Equal(back, data) {
		t.Fatalf("record %q printed as %q decodes to %q, %v", data, line, back, err)
	}
}

func TestWriteRecord(t *testing.T) {
	data := []byte("a\nb\x00\\ é\t\xff")
	for _, tc := range []struct {
		f       recordFormat
		withSeq bool
		want    string
	}{
		{formatText, false, `a\nb\x00\\ é\t\xff` + "\n"},
		{formatText, true, "7\t" + `a\nb\x00\\ é\t\xff` + "\n"},
		{formatHex, true, "7\t610a62005c20c3a909ff\n"},
		{formatRaw, true, string(data) + "\n"},
		{formatJSON, false, `{"seq":7,"len":10,"base64":"YQpiAFwgw6kJ/w=="}` + "\n"},
	} {
		var b bytes.Buffer
		if err := writeRecord(&b, tc.f, 7, true, tc.withSeq, data); err != nil {
			t.Fatal(err)
		}
		if b.String() != tc.want {
			t.Errorf("%s: %q, want %q", tc.f, b.String(), tc.want)
		}
	}
	var b bytes.Buffer
	if err := writeRecord(&b, formatJSON, 0, false, false, []byte("line\n")); err != nil || b.String() != `{"len":5,"text":"line\n"}`+"\n" {
		t.Errorf("json text: %q, %v", b.String(), err)
	}
	for _, d := range []string{"", "plain", "\u200b zero width", "\ufffd real replacement char", "\xed\xa0\x80 surrogate", "\x7f", "tab\tnl\ncr\r"} {
		checkTextRecord(t, []byte(d))
	}
}

func FuzzTextRecord(f *testing.F) {
	for _, s := range []string{"", "a\nb", "\xff\xfe", "\\x41", "é\u2028"} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkTextRecord)
}

func TestRecordFormatFlag(t *testing.T) {
	var f recordFormat
	for _, s := range recordFormats {
		if err := f.Set(s); err != nil || string(f) != s {
			t.Errorf("Set(%q): %v", s, err)
		}
	}
	if err := f.Set("yaml"); err == nil || !strings.Contains(err.Error(), "text, hex, json, raw") {
		t.Errorf("Set(yaml): %v", err)
	}
}

// Unknown commands, unknown flags and bad arguments are usage errors (exit
// status 2) in every command group; a group without a command shows its help.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"nosuch"}, 2, `unknown command "nosuch" for "mmapkit"`},
		{[]string{"ring", "nosuch"}, 2, `unknown command "nosuch" for "mmapkit ring"`},
		{[]string{"shm", "nosuch"}, 2, `unknown command "nosuch" for "mmapkit shm"`},
		{[]string{"npy", "nosuch"}, 2, `unknown command "nosuch" for "mmapkit npy"`},
		{[]string{"ring", "stt"}, 2, "did you mean stat?"},
		{[]string{"residency", "--nosuch", "x"}, 2, "unknown flag: --nosuch"},
		{[]string{"ring", "stat"}, 2, "accepts 1 arg(s), received 0"},
		{[]string{"shm", "rm"}, 2, "requires at least 1 arg(s), only received 0"},
		{[]string{"help", "nosuch"}, 2, `unknown help topic "nosuch"`},
		{[]string{"help", "ring", "nosuch"}, 2, `unknown help topic "ring nosuch"`},
		{[]string{"ring", "create", "--capacity", "-1", "x"}, 2, "negative size"},
	} {
		r := cli(t, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) || r.stdout != "" {
			t.Errorf("%v: want status %d and %q on stderr; got %v", tc.args, tc.code, tc.msg, r)
		}
		if n := strings.Count(r.stderr, "mmapkit:"); n != 1 {
			t.Errorf("%v: %d error lines, want 1:\n%s", tc.args, n, r.stderr)
		}
	}
	// The shell sees the same status from the real process.
	if r := cliExec(t, nil, "npy", "nosuch"); r.code != 2 || !strings.Contains(r.stderr, "unknown command") {
		t.Errorf("npy nosuch as a process: %v", r)
	}
	if r := cli(t, "help", "ring", "tail"); r.code != 0 || !strings.Contains(r.stdout, "--format") {
		t.Errorf("help ring tail: %v", r)
	}
	for _, group := range [][]string{{"ring"}, {"shm"}, {"npy"}, {}} {
		r := cli(t, group...)
		if r.code != 0 || !strings.Contains(r.stdout, "Available Commands:") || !strings.Contains(r.stdout, "Exit status: 0 success") {
			t.Errorf("%v: want its help and status 0; got %v", group, r)
		}
	}
}

// Shell completion is the command's own (documented in docs/cli.md), and
// fixed choices complete.
func TestCompletion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		r := cli(t, "completion", sh)
		if r.code != 0 || !strings.Contains(r.stdout, "mmapkit") {
			t.Errorf("completion %s: %v", sh, r)
		}
	}
	if r := cli(t, "__complete", "help", "ring", "ta"); !strings.Contains(r.stdout, "tail\n") {
		t.Errorf("help ring ta completes %q", r.stdout)
	}
	r := cli(t, "__complete", "ring", "tail", "--format", "")
	for _, f := range recordFormats {
		if !strings.Contains(r.stdout, f+"\n") {
			t.Errorf("ring tail --format completes %q, lacking %s", r.stdout, f)
		}
	}
}

// Progress bars go to terminals only: piped or captured stderr stays clean.
func TestProgressOnlyOnTerminal(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, 100, "work", false)
	p.add(50)
	p.set(100)
	p.describe("x")
	p.finish()
	if p != nil || b.Len() != 0 {
		t.Fatalf("progress on a buffer: %v, %q", p, b.String())
	}
}
