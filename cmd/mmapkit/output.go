package main

// Output helpers shared by every command, so that the tool reads as one tool:
//
//   - errors: usageError (exit 2), failedError (exit 1), printError (the one
//     place an error is printed), batch (many items, some may fail);
//   - text: table (aligned columns, numbers right-aligned), fields (aligned
//     "key: value" lines), plural ("1 file", "2 files"), sizes through
//     internal/units (IEC units);
//   - JSON: writeJSON (indented; keys snake_case; no null anywhere: empty
//     lists are [] via list, absent values are omitted) and writeNDJSON;
//   - progress: a bar on stderr when stderr is a terminal, nothing otherwise;
//   - records: the --format text|hex|json|raw printer of ring tail and shm cat.

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/mmapkit/mmapkit/internal/sys"
	"github.com/mmapkit/mmapkit/internal/units"
)

// ---- errors and exit statuses ----

// exitError carries an exit status with an error. printed means the error has
// already been shown to the user (by batch), so printError stays silent.
type exitError struct {
	code    int
	err     error
	printed bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError marks err as bad usage: exit status 2.
func usageError(err error) error {
	var e *exitError
	if errors.As(err, &e) && e.code == exitUsage {
		return err
	}
	return &exitError{code: exitUsage, err: err}
}

// usagef is usageError(fmt.Errorf(format, args...)).
func usagef(format string, args ...any) error { return usageError(fmt.Errorf(format, args...)) }

// interrupted is the error of a command stopped by Ctrl-C or SIGTERM.
func interrupted(what string) error {
	return &exitError{code: exitInterrupted, err: errors.New("interrupted: " + what)}
}

// exitCode is the exit status for err: that of an exitError, else 1.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return exitFailed
}

// printError prints err on w as "mmapkit: ...", unless it was printed already.
func printError(w io.Writer, err error) {
	var e *exitError
	if errors.As(err, &e) && e.printed {
		return
	}
	fmt.Fprintln(w, "mmapkit:", visible(err.Error()))
}

// batch collects the outcome of a command over many items (files, segments):
// each failure is printed on stderr as it happens, and err sums up at the end.
// One failed item out of one is returned as itself (printed once, matchable
// with errors.Is); more items end with "2 of 5 files failed".
type batch struct {
	stderr      io.Writer
	noun        string // singular: "file", "segment"
	ok, failed  int
	last        error
	quietErrors bool // do not print (the caller prints, e.g. inside JSON)
}

func newBatch(stderr io.Writer, noun string) *batch { return &batch{stderr: stderr, noun: noun} }

// done counts a success.
func (b *batch) done() { b.ok++ }

// fail counts a failure and prints it.
func (b *batch) fail(err error) {
	b.failed++
	b.last = err
	if !b.quietErrors {
		fmt.Fprintln(b.stderr, "mmapkit:", visible(err.Error()))
	}
}

// err is nil if nothing failed, else an error with exit status 1.
func (b *batch) err() error {
	switch {
	case b.failed == 0:
		return nil
	case b.failed == 1 && b.ok == 0:
		return &exitError{code: exitFailed, err: b.last, printed: !b.quietErrors}
	}
	total := b.ok + b.failed
	if b.failed == total {
		return &exitError{code: exitFailed, err: fmt.Errorf("all %s failed", plural(total, b.noun))}
	}
	return &exitError{code: exitFailed, err: fmt.Errorf("%d of %s failed", b.failed, plural(total, b.noun))}
}

// looksLike says what a file seems to be from its first bytes, for errors
// such as "not a ring file": "empty", "a NumPy .npy file", ... ("" if it
// cannot tell). It never blocks: only regular files are read.
func looksLike(path string) string {
	f, err := sys.OpenFile(path, os.O_RDONLY, 0, false)
	if err != nil {
		return ""
	}
	defer f.Close()
	b := make([]byte, 64)
	n, _ := io.ReadFull(f, b)
	b = b[:n]
	kinds := []struct{ prefix, what string }{
		{"\x93NUMPY", "a NumPy .npy file (see mmapkit npy info)"},
		{"PK\x03\x04", "a zip file (a NumPy .npz?)"},
		{"MKSL", "an shm slot segment (see mmapkit shm cat)"},
		{"MMAPKIT-BENCH", "an mmapkit bench data file"},
		{"\x7fELF", "an executable"},
		{"\x1f\x8b", "a gzip file"},
		{"SQLite format 3\x00", "an SQLite database"},
	}
	switch {
	case n == 0:
		return "empty"
	}
	for _, k := range kinds {
		if bytes.HasPrefix(b, []byte(k.prefix)) {
			return k.what
		}
	}
	if utf8.Valid(b) && bytes.IndexFunc(b, func(r rune) bool { return r < ' ' && r != '\n' && r != '\r' && r != '\t' }) < 0 {
		return "text"
	}
	if bytes.Count(b, []byte{0}) == n {
		return "all zero bytes"
	}
	return ""
}

// ---- text ----

// plural says "1 file", "2 files", "0 files"; an irregular plural is given as
// the third argument: plural(n, "entry", "entries").
func plural(n int, singular string, pluralForm ...string) string {
	if n == 1 {
		return "1 " + singular
	}
	p := singular + "s"
	if len(pluralForm) > 0 {
		p = pluralForm[0]
	}
	return fmt.Sprintf("%d %s", n, p)
}

// bytesText formats a byte count for people ("1.5 GiB"); see internal/units.
func bytesText(n int64) string { return units.FormatBytes(n) }

// exactBytes formats a byte count that matters to the byte ("max record"):
// "1 KiB" when it is a whole number of units, else "32752 bytes (32.0 KiB)".
func exactBytes(n int64) string {
	s := units.FormatBytes(n)
	if n < 1024 || !strings.Contains(s, ".") {
		return s
	}
	return fmt.Sprintf("%d bytes (%s)", n, s)
}

// percent is 100*n/of, 0 when of is 0.
func percent(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

// table prints rows in aligned columns separated by two spaces. A column whose
// cells all look like numbers ("12", "4 KiB", "37.5%", "-") is right-aligned.
type table struct {
	header []string
	rows   [][]string
	left   map[int]bool // columns forced left-aligned
}

// newTable starts a table; with no header names, no header line is printed.
func newTable(header ...string) *table { return &table{header: header, left: map[int]bool{}} }

// row adds a row; fmt.Sprint formats each cell, and visible escapes what
// is not printable (a name with a newline stays on its row).
func (t *table) row(cells ...any) {
	r := make([]string, len(cells))
	for i, c := range cells {
		r[i] = visible(fmt.Sprint(c))
	}
	t.rows = append(t.rows, r)
}

// alignLeft keeps column i left-aligned even if it holds numbers.
func (t *table) alignLeft(i int) *table { t.left[i] = true; return t }

func numberLike(s string) bool {
	if s == "" || s == "-" {
		return true
	}
	s = strings.TrimPrefix(s, "-")
	return s != "" && s[0] >= '0' && s[0] <= '9'
}

// write prints the table; trailing spaces are trimmed.
func (t *table) write(w io.Writer) error {
	cols := len(t.header)
	for _, r := range t.rows {
		cols = max(cols, len(r))
	}
	width := make([]int, cols)
	right := make([]bool, cols)
	for i := range cols {
		right[i] = !t.left[i]
	}
	all := t.rows
	if len(t.header) > 0 {
		all = append([][]string{t.header}, t.rows...)
	}
	for k, r := range all {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c))
			if !(k == 0 && len(t.header) > 0) && !numberLike(c) {
				right[i] = false
			}
		}
	}
	if len(t.rows) == 0 {
		clear(right)
	}
	var b strings.Builder
	for _, r := range all {
		var line strings.Builder
		for i := range cols {
			c := ""
			if i < len(r) {
				c = r[i]
			}
			if i > 0 {
				line.WriteString("  ")
			}
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if right[i] {
				line.WriteString(pad + c)
			} else {
				line.WriteString(c + pad)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// fields prints "key:  value" lines with the values aligned, in the order
// added: the shape of `ring stat` and `npy info`.
type fields struct{ kv [][2]string }

func (f *fields) add(key string, format string, args ...any) {
	f.kv = append(f.kv, [2]string{key, fmt.Sprintf(format, args...)})
}

func (f *fields) write(w io.Writer) error {
	wid := 0
	for _, kv := range f.kv {
		wid = max(wid, utf8.RuneCountInString(kv[0]))
	}
	var b strings.Builder
	for _, kv := range f.kv {
		fmt.Fprintf(&b, "%s:%s%s\n", kv[0], strings.Repeat(" ", wid-utf8.RuneCountInString(kv[0])+1), visible(kv[1]))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// sizeValue is a flag holding a byte count typed as internal/units reads it
// ("64KiB", "1.5GiB", "10MB"); a bad value is a usage error at parse time.
type sizeValue struct {
	n    *int64
	text string
}

// sizeFlag defines a size flag with a default typed as text.
func sizeFlag(fs *pflag.FlagSet, p *int64, name, def, usage string) {
	n, err := units.ParseSize(def)
	if err != nil {
		panic(err) // a bad default is a bug in this program
	}
	*p = n
	fs.Var(&sizeValue{n: p, text: def}, name, usage)
}

func (v *sizeValue) String() string { return v.text }

// Set parses a size.
func (v *sizeValue) Set(s string) error {
	n, err := units.ParseSize(s)
	if err != nil {
		return err
	}
	*v.n, v.text = n, s
	return nil
}

// Type names the flag's value in help.
func (v *sizeValue) Type() string { return "size" }

// ---- JSON ----

// list returns s, or an empty slice for nil, so that JSON shows [] and never null.
func list[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// writeJSON prints v as indented JSON. Keys are snake_case and nothing is
// null: see docs/cli.md for the shapes.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeNDJSON prints v as one line of JSON (newline-delimited JSON, for
// streams and huge outputs).
func writeNDJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// timeJSON formats a time for JSON: RFC 3339 in UTC with nanoseconds.
func timeJSON(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// ---- progress ----

// isTerminal says whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress is a bar on w while long work runs, drawn only when w is a
// terminal (so pipes, files and tests see nothing), cleared when done.
type progress struct{ bar *progressbar.ProgressBar }

// newProgress starts a bar of total steps (bytes if isBytes) described by
// desc. A nil *progress is valid and does nothing.
func newProgress(w io.Writer, total int64, desc string, isBytes bool) *progress {
	if !isTerminal(w) {
		return nil
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
	}
	if isBytes {
		opts = append(opts, progressbar.OptionShowBytes(true))
	}
	return &progress{bar: progressbar.NewOptions64(total, opts...)}
}

// add advances the bar by n steps.
func (p *progress) add(n int64) {
	if p != nil {
		_ = p.bar.Add64(n)
	}
}

// set moves the bar to n steps.
func (p *progress) set(n int64) {
	if p != nil {
		_ = p.bar.Set64(n)
	}
}

// describe changes the text beside the bar.
func (p *progress) describe(s string) {
	if p != nil {
		p.bar.Describe(s)
	}
}

// finish clears the bar.
func (p *progress) finish() {
	if p != nil {
		_ = p.bar.Finish()
	}
}

// ---- records: --format text|hex|json|raw ----

// recordFormat is how ring tail and shm cat print a record (a ring record, a
// slot value).
type recordFormat string

const (
	// formatText: one line per record; bytes that are not printable UTF-8
	// are escaped (\n, \t, \r, \\, \xNN), so a record holding a newline
	// stays on one line and the text can be decoded back exactly.
	formatText recordFormat = "text"
	// formatHex: one line per record, the bytes in lower-case hex.
	formatHex recordFormat = "hex"
	// formatJSON: one JSON object per line (NDJSON): {"seq", "len", and
	// "text" if the bytes are valid UTF-8, else "base64"}.
	formatJSON recordFormat = "json"
	// formatRaw: the bytes as they are, each record followed by a newline.
	formatRaw recordFormat = "raw"
)

// recordFormats lists the formats for help texts and completion.
var recordFormats = []string{string(formatText), string(formatHex), string(formatJSON), string(formatRaw)}

// String, Set and Type make recordFormat a pflag.Value: --format text|hex|json|raw.
func (f *recordFormat) String() string { return string(*f) }

// Set validates a --format value.
func (f *recordFormat) Set(s string) error {
	for _, v := range recordFormats {
		if s == v {
			*f = recordFormat(s)
			return nil
		}
	}
	return fmt.Errorf("unknown format %q (%s)", s, strings.Join(recordFormats, ", "))
}

// Type names the flag's value in help.
func (f *recordFormat) Type() string { return "text|hex|json|raw" }

// recordJSON is one record in --format json.
type recordJSON struct {
	Seq    *uint64 `json:"seq,omitempty"`
	Len    int     `json:"len"`
	Text   *string `json:"text,omitempty"`
	Base64 *string `json:"base64,omitempty"`
}

// writeRecord prints one record in format f. withSeq prefixes text and hex
// lines with "SEQ<TAB>"; JSON always carries seq when hasSeq.
func writeRecord(w io.Writer, f recordFormat, seq uint64, hasSeq, withSeq bool, data []byte) error {
	var b []byte
	if withSeq && hasSeq && (f == formatText || f == formatHex) {
		b = fmt.Appendf(b, "%d\t", seq)
	}
	switch f {
	case formatHex:
		b = hex.AppendEncode(b, data)
	case formatJSON:
		r := recordJSON{Len: len(data)}
		if hasSeq {
			r.Seq = &seq
		}
		if utf8.Valid(data) {
			s := string(data)
			r.Text = &s
		} else {
			s := base64.StdEncoding.EncodeToString(data)
			r.Base64 = &s
		}
		var js bytes.Buffer
		if err := writeNDJSON(&js, r); err != nil {
			return err
		}
		_, err := w.Write(js.Bytes())
		return err
	case formatRaw:
		b = append(b, data...)
	default:
		b = appendEscaped(b, data)
	}
	b = append(b, '\n')
	_, err := w.Write(b)
	return err
}

// visible returns s for a terminal or a line-oriented reader: unchanged when
// every character is printable, else with the unprintable ones escaped as
// appendEscaped does (and then every backslash doubled, so that the escapes
// can be told from the name). File names and segment names come from the
// file system or another process: a newline in one must not start a line of
// its own in a table or forge one in an error message, and an escape
// sequence must not reach the terminal.
func visible(s string) string {
	for rest := s; rest != ""; {
		r, size := utf8.DecodeRuneInString(rest)
		if r == utf8.RuneError && size <= 1 || !unicode.IsPrint(r) {
			return string(appendEscaped(nil, []byte(s)))
		}
		rest = rest[size:]
	}
	return s
}

// appendEscaped appends data with everything that is not printable UTF-8
// escaped: \\ for a backslash, \n \r \t, and \xNN for any other byte.
func appendEscaped(b, data []byte) []byte {
	const hexDigits = "0123456789abcdef"
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		switch {
		case r == '\\':
			b = append(b, '\\', '\\')
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r == utf8.RuneError && size <= 1, !unicode.IsPrint(r):
			for _, c := range data[:size] {
				b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&15])
			}
		default:
			b = append(b, data[:size]...)
		}
		data = data[size:]
	}
	return b
}
