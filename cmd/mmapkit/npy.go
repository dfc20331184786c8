package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"go/format"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mmapkit/mmapkit/array"
	"github.com/spf13/cobra"
)

func init() { register(newNpyCmd) }

func newNpyCmd() *cobra.Command {
	npyCmd := &cobra.Command{
		Use:   "npy",
		Short: "Inspect, list and convert .npy and .npz files (NumPy arrays) without loading them",
	}

	var asJSON bool
	var member string
	info := &cobra.Command{
		Use:   "info FILE...",
		Short: "Print a .npy file's (or each .npz member's) dtype, shape, order, layout and how Go maps it",
		Long: "Print what a .npy file's header says, where its data is, the Go type that maps\n" +
			"its elements, and whether mmapkit maps them zero-copy (and if not, why not).\n" +
			"Any header NumPy writes is shown, including dtypes Go cannot map (objects,\n" +
			"long double). Only the header is read, so this is instant for any file size.\n" +
			"For an .npz archive every member is shown (or the one --member names); only\n" +
			"the zip directory and the members' headers are read.\n\n" +
			"--json prints one JSON object per file or member per line (docs/array.md).",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return npyInfo(cmd.OutOrStdout(), cmd.ErrOrStderr(), args, member, asJSON)
		},
	}
	info.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per file or member, one per line")
	info.Flags().StringVarP(&member, "member", "m", "", "for an .npz archive: only this member (\"x\" or \"x.npy\")")

	var rows, cols int
	var headJSON bool
	var headMember string
	head := &cobra.Command{
		Use:   "head FILE",
		Short: "Print the first rows of a .npy file or .npz member",
		Long: "Print the first rows of a .npy file, one row per line (everything under one\n" +
			"index of the first axis, flattened in C order). Only the pages holding those rows\n" +
			"are read. Big-endian files are converted; structured elements print as\n" +
			"(field, field, ...), byte strings as b'...', strings as '...'. For an .npz\n" +
			"archive, --member chooses the member (a compressed one is decompressed in\n" +
			"memory).\n\n" +
			"--json prints one JSON document: the dtype, shape and rows (docs/array.md).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rows < 0 || cols < 1 {
				return usagef("npy head: -n must be >= 0 and --cols >= 1")
			}
			return npyHead(cmd.OutOrStdout(), args[0], headMember, rows, cols, headJSON)
		},
	}
	head.Flags().IntVarP(&rows, "rows", "n", 5, "number of rows to print")
	head.Flags().IntVar(&cols, "cols", 8, "values to print per row before eliding the rest")
	head.Flags().BoolVar(&headJSON, "json", false, "print the rows as one JSON document")
	head.Flags().StringVarP(&headMember, "member", "m", "", "for an .npz archive: the member to print (\"x\" or \"x.npy\")")

	var lsJSON bool
	ls := &cobra.Command{
		Use:   "ls FILE.npz...",
		Short: "List the members of .npz archives: name, dtype, shape, size, compression, zero-copy",
		Long: "List the members of .npz archives (np.savez, np.savez_compressed, mmapkit):\n" +
			"each member's name (NumPy's key), dtype, shape, data size, whether it is\n" +
			"stored or deflated, and whether mmapkit maps it in place (a stored member\n" +
			"whose data is aligned for its Go type) or must read it into memory\n" +
			"(array.Options.Load). Only the zip directory and the members' headers are\n" +
			"read.\n\n" +
			"--json prints one JSON object per archive, one per line (docs/array.md).",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return npyLs(cmd.OutOrStdout(), cmd.ErrOrStderr(), args, lsJSON)
		},
	}
	ls.Flags().BoolVar(&lsJSON, "json", false, "print one JSON object per archive, one per line")

	var order string
	var replace bool
	convert := &cobra.Command{
		Use:   "convert --byteorder native|little|big SRC DST",
		Short: "Write a copy of a .npy file in another byte order",
		Long: "Write a copy of the .npy file SRC to DST with every value in the byte order\n" +
			"given: native (this machine's, so that mmapkit maps the copy zero-copy),\n" +
			"little or big. The dtype (structured ones too), shape and order are kept; the\n" +
			"data is copied a few MiB at a time whatever its size. DST must not exist\n" +
			"unless --replace (then DST may be SRC: the copy replaces it when complete).",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, ok := map[string]byte{"native": '=', "little": '<', "big": '>', "=": '=', "<": '<', ">": '>'}[order]
			if !ok {
				return usagef("npy convert: --byteorder must be native, little or big, not %q", order)
			}
			return npyConvert(cmd.OutOrStdout(), args[0], args[1], o, replace)
		},
	}
	convert.Flags().StringVar(&order, "byteorder", "native", "byte order of the copy: native, little or big")
	convert.Flags().BoolVar(&replace, "replace", false, "replace DST if it exists")

	npyCmd.AddCommand(info, head, ls, convert)
	return npyCmd
}

// isNPZ says whether path names an .npz archive: by its name, or because it
// is not a .npy file but opens as an archive.
func isNPZ(path string, npyErr error) bool {
	if strings.HasSuffix(strings.ToLower(path), ".npz") {
		return true
	}
	if npyErr == nil || !errors.Is(npyErr, array.ErrNotNPY) {
		return false
	}
	z, err := array.OpenNPZ(path)
	if err != nil {
		return false
	}
	z.Close()
	return true
}

// npyInfoJSON is one object of npy info --json.
type npyInfoJSON struct {
	File         string         `json:"file"`
	Member       string         `json:"member,omitempty"`
	Version      string         `json:"version"`
	Descr        string         `json:"descr"`
	Dtype        string         `json:"dtype"`
	Kind         string         `json:"kind"`
	ByteOrder    string         `json:"byte_order"`
	ItemSize     int            `json:"itemsize"`
	Fields       []npyFieldJSON `json:"fields,omitempty"`
	Shape        []int          `json:"shape"`
	FortranOrder bool           `json:"fortran_order"`
	Elements     int            `json:"elements"`
	HeaderLen    int            `json:"header_len"`
	DataOffset   int64          `json:"data_offset"`
	DataBytes    int64          `json:"data_bytes"`
	FileSize     int64          `json:"file_size"`
	GoType       string         `json:"go_type,omitempty"`
	Mappable     bool           `json:"mappable"`
	ZeroCopy     bool           `json:"zero_copy"`
	Note         string         `json:"note,omitempty"`
	Compressed   *bool          `json:"compressed,omitempty"`
}

// npyFieldJSON is one field of a structured dtype.
type npyFieldJSON struct {
	Name   string         `json:"name"`
	Title  string         `json:"title,omitempty"`
	Offset int            `json:"offset"`
	Descr  string         `json:"descr"`
	Shape  []int          `json:"shape,omitempty"`
	Fields []npyFieldJSON `json:"fields,omitempty"`
}

func fieldsJSON(d array.Dtype) []npyFieldJSON {
	var out []npyFieldJSON
	for _, f := range d.Fields {
		out = append(out, npyFieldJSON{Name: f.Name, Title: f.Title, Offset: f.Offset, Descr: f.Dtype.Descr(), Shape: f.Shape, Fields: fieldsJSON(f.Dtype)})
	}
	return out
}

func byteOrderName(d array.Dtype) string {
	little, big := false, false
	var walk func(array.Dtype)
	walk = func(d array.Dtype) {
		switch d.Order {
		case '<':
			little = true
		case '>':
			big = true
		}
		for _, f := range d.Fields {
			walk(f.Dtype)
		}
	}
	walk(d)
	switch {
	case little && big:
		return "mixed"
	case little:
		return "little"
	case big:
		return "big"
	}
	return "none"
}

// mapping says how mmapkit maps a dtype: its Go type, whether zero-copy, and
// a note saying why not (or why not at all).
func mapping(d array.Dtype) (goType string, mappable, zeroCopy bool, note string) {
	goType, err := d.GoType()
	if err != nil {
		msg := err.Error()
		msg = strings.TrimPrefix(msg, array.ErrUnsupportedDtype.Error()+": ")
		return "", false, false, msg
	}
	if d.Swapped() {
		return goType, true, false, "stored " + byteOrderName(d) + "-endian, not in this machine's order: At, ReadRows and Batches convert; 'mmapkit npy convert --byteorder native' writes a copy that maps zero-copy"
	}
	if d.Size == 0 {
		return goType, false, false, "zero-size elements"
	}
	return goType, true, true, ""
}

// infoEntry is what npy info shows for one file or member.
type infoEntry struct {
	file, member string
	h            *array.Header
	fileSize     int64
	compressed   *bool
	inPlace      error // for a member: why it cannot be mapped in place
}

func (e infoEntry) json() npyInfoJSON {
	h := e.h
	goType, mappable, zeroCopy, note := mapping(h.Dtype)
	if e.inPlace != nil && mappable {
		zeroCopy = false
		note = e.inPlace.Error()
	}
	if h.Dtype.Kind == array.KindStruct && goType != "" {
		goType = gofmtType(goType)
	}
	return npyInfoJSON{
		File: e.file, Member: e.member, Version: fmt.Sprintf("%d.%d", h.Major, h.Minor), Descr: h.Descr,
		Dtype: h.Dtype.String(), Kind: h.Dtype.Kind.String(), ByteOrder: byteOrderName(h.Dtype), ItemSize: h.Dtype.Size,
		Fields: fieldsJSON(h.Dtype), Shape: list(h.Shape), FortranOrder: h.Fortran, Elements: h.Size(),
		HeaderLen: h.HeaderLen, DataOffset: h.DataOffset, DataBytes: h.DataBytes(), FileSize: e.fileSize,
		GoType: goType, Mappable: mappable, ZeroCopy: zeroCopy, Note: note, Compressed: e.compressed,
	}
}

func (e infoEntry) text(w io.Writer) error {
	j := e.json()
	h := e.h
	var f fields
	f.add("file", "%s", e.file)
	if e.member != "" {
		f.add("member", "%s (%s)", e.member, map[bool]string{true: "deflated", false: "stored"}[*e.compressed])
	}
	f.add("version", "%s", j.Version)
	size := plural(h.Dtype.Size, "byte")
	switch {
	case h.Dtype.Kind == array.KindStruct:
		f.add("dtype", "struct of %s, %s", plural(len(h.Dtype.Fields), "field"), size)
	case h.Dtype.String() != h.Descr:
		f.add("dtype", "%s (%s, %s)", h.Dtype, h.Descr, size)
	default:
		f.add("dtype", "%s (%s, %s)", h.Dtype.Kind, h.Descr, size)
	}
	if h.Dtype.Kind == array.KindStruct {
		f.add("descr", "%s", h.Descr)
	}
	f.add("shape", "%s", npyShape(h.Shape))
	f.add("order", "%s", map[bool]string{false: "C (row-major)", true: "F (column-major)"}[h.Fortran])
	f.add("elements", "%d", h.Size())
	f.add("data offset", "%d", h.DataOffset)
	if n := h.DataBytes(); n >= 0 {
		f.add("data size", "%s", bytesText(n))
	} else {
		f.add("data size", "unknown (a pickle)")
	}
	if extra := e.fileSize - h.DataOffset - h.DataBytes(); e.member == "" && h.DataBytes() >= 0 && extra > 0 {
		f.add("trailing", "%s after the data (ignored)", plural(int(extra), "byte"))
	}
	switch {
	case !j.Mappable:
		f.add("go type", "none: %s", j.Note)
	case h.Dtype.Kind != array.KindStruct:
		f.add("go type", "%s", j.GoType)
	}
	switch {
	case !j.Mappable:
		f.add("maps", "no")
	case j.ZeroCopy:
		f.add("maps", "yes, zero-copy")
	default:
		f.add("maps", "yes, not zero-copy: %s", j.Note)
	}
	if err := f.write(w); err != nil {
		return err
	}
	if j.Mappable && h.Dtype.Kind == array.KindStruct {
		fmt.Fprintln(w, "go type:")
		for l := range strings.SplitSeq("type Record "+j.GoType, "\n") {
			fmt.Fprintln(w, "  "+strings.ReplaceAll(l, "\t", "    "))
		}
	}
	return nil
}

// gofmtType formats the source of a Go type as gofmt would (fields and tags
// aligned).
func gofmtType(src string) string {
	out, err := format.Source([]byte("type T " + src))
	if err != nil {
		return src
	}
	return strings.TrimSuffix(strings.TrimPrefix(string(out), "type T "), "\n")
}

// entries reads what npy info shows for path: the file, or every member (or
// the one named) of an archive.
func infoEntries(path, member string) ([]infoEntry, error) {
	h, err := array.ReadNPYHeader(path)
	if err == nil && member == "" {
		var size int64
		if fi, err := os.Stat(path); err == nil {
			size = fi.Size()
		}
		return []infoEntry{{file: path, h: h, fileSize: size}}, nil
	}
	if !isNPZ(path, err) {
		if err == nil {
			return nil, fmt.Errorf("%s: --member is for .npz archives", path)
		}
		return nil, err
	}
	z, zerr := array.OpenNPZ(path)
	if zerr != nil {
		return nil, zerr
	}
	defer z.Close()
	var out []infoEntry
	found := false
	for _, m := range z.Members() {
		if member != "" && m.Name != member && m.Key() != member {
			continue
		}
		found = true
		h, err := z.Header(m.Name)
		if err != nil {
			return out, err
		}
		c := m.Compressed
		e := infoEntry{file: path, member: m.Name, h: h, fileSize: m.USize, compressed: &c}
		e.inPlace = inPlace(m, h)
		out = append(out, e)
	}
	if member != "" && !found {
		_, err := z.Header(member) // the error lists the members
		return nil, err
	}
	return out, nil
}

// inPlace says why a member cannot be mapped where it lies (nil if it can).
func inPlace(m array.Member, h *array.Header) error {
	if h.DataBytes() == 0 {
		return nil
	}
	if m.Compressed {
		return errors.New("deflated: read into memory with Options.Load")
	}
	if al := int64(h.Dtype.Align()); al > 1 && (m.Offset+h.DataOffset)%al != 0 {
		return fmt.Errorf("data at offset %d is not %d-byte aligned: read into memory with Options.Load", m.Offset+h.DataOffset, al)
	}
	return nil
}

func npyInfo(out, errOut io.Writer, files []string, member string, asJSON bool) error {
	b := newBatch(errOut, "file")
	first := true
	for _, path := range files {
		es, err := infoEntries(path, member)
		for _, e := range es {
			if asJSON {
				if werr := writeNDJSON(out, e.json()); werr != nil {
					return werr
				}
				continue
			}
			if !first {
				fmt.Fprintln(out)
			}
			first = false
			if werr := e.text(out); werr != nil {
				return werr
			}
		}
		if err != nil {
			b.fail(err)
			continue
		}
		b.done()
	}
	return b.err()
}

// npyShape formats a shape the way NumPy prints it.
func npyShape(shape []int) string {
	s := make([]string, len(shape))
	for i, d := range shape {
		s[i] = strconv.Itoa(d)
	}
	if len(s) == 1 {
		return "(" + s[0] + ",)"
	}
	return "(" + strings.Join(s, ", ") + ")"
}

// openAny opens a .npy file or an archive's member for reading values.
func openAny(path, member string) (array.Untyped, string, error) {
	_, err := array.ReadNPYHeader(path)
	if err == nil && member == "" {
		u, err := array.OpenNPYAny(path, array.ReadOnly, nil)
		return u, path, err
	}
	if !isNPZ(path, err) {
		if err == nil {
			return nil, "", usagef("npy head: %s is a .npy file; --member is for .npz archives", path)
		}
		return nil, "", err
	}
	z, err := array.OpenNPZ(path)
	if err != nil {
		return nil, "", err
	}
	defer z.Close()
	if member == "" {
		ms := z.Members()
		if len(ms) != 1 {
			keys := make([]string, len(ms))
			for i, m := range ms {
				keys[i] = m.Key()
			}
			return nil, "", usagef("npy head: %s is an .npz archive of %s (%s): choose one with --member", path, plural(len(ms), "member"), strings.Join(keys, ", "))
		}
		member = ms[0].Name
	}
	u, err := z.OpenAny(member, array.ReadOnly, &array.Options{Load: true})
	if err != nil {
		return nil, "", err
	}
	name := member
	if !strings.HasSuffix(name, ".npy") && !strings.Contains(name, ".") {
		name += ".npy"
	}
	return u, path + "/" + name, nil
}

// npyHeadJSON is the --json output of npy head.
type npyHeadJSON struct {
	File  string `json:"file"`
	Dtype string `json:"dtype"`
	Shape []int  `json:"shape"`
	Order string `json:"order"`
	// FieldNames are the names of a structured dtype's fields: each value
	// is then an array of the field values in this order.
	FieldNames []string     `json:"field_names,omitempty"`
	Rows       []npyRowJSON `json:"rows"`
	MoreRows   int          `json:"more_rows"`
	Scalar     any          `json:"scalar,omitempty"`
}

// npyRowJSON is one row: its index and its first values.
type npyRowJSON struct {
	Index  int   `json:"index"`
	Values []any `json:"values"`
	More   int   `json:"more"`
}

func npyHead(out io.Writer, path, member string, rows, cols int, asJSON bool) error {
	a, name, err := openAny(path, member)
	if err != nil {
		return err
	}
	defer a.Close()
	d := a.Dtype()
	shape := a.Shape()
	order := "C"
	if a.Fortran() {
		order = "F"
	}
	res := npyHeadJSON{File: name, Dtype: d.Descr(), Shape: list(shape), Order: order, Rows: []npyRowJSON{}}
	for _, f := range d.Fields {
		res.FieldNames = append(res.FieldNames, f.Name)
	}
	if !asJSON {
		fmt.Fprintf(out, "%s: %s %s %s-order\n", name, d, npyShape(shape), order)
	}
	if len(shape) == 0 {
		if asJSON {
			res.Scalar = jsonValue(a.Value(), d)
			return writeJSON(out, res)
		}
		fmt.Fprintln(out, textValue(a.Value(), d))
		return nil
	}
	perRow := 1
	for _, n := range shape[1:] {
		perRow *= n
	}
	width := len(strconv.Itoa(max(shape[0]-1, 0)))
	idx := make([]int, len(shape))
	for i := 0; i < min(rows, shape[0]); i++ {
		idx[0] = i
		for k := range idx[1:] {
			idx[1+k] = 0
		}
		row := npyRowJSON{Index: i, Values: []any{}, More: max(perRow-cols, 0)}
		var b strings.Builder
		fmt.Fprintf(&b, "[%*d]", width, i)
		// Walk the rest of the indices in C order; Value handles Fortran files.
		for k := 0; k < min(perRow, cols); k++ {
			v := a.Value(idx...)
			if asJSON {
				row.Values = append(row.Values, jsonValue(v, d))
			} else {
				b.WriteByte(' ')
				b.WriteString(textValue(v, d))
			}
			for j := len(idx) - 1; j >= 1; j-- {
				idx[j]++
				if idx[j] < shape[j] {
					break
				}
				idx[j] = 0
			}
		}
		if asJSON {
			res.Rows = append(res.Rows, row)
			continue
		}
		if perRow > cols {
			fmt.Fprintf(&b, " … (%d more)", perRow-cols)
		}
		fmt.Fprintln(out, b.String())
	}
	res.MoreRows = max(shape[0]-rows, 0)
	if asJSON {
		return writeJSON(out, res)
	}
	if shape[0] > rows {
		fmt.Fprintf(out, "… %s\n", plural(shape[0]-rows, "more row"))
	}
	return nil
}

// textValue formats one element for people: numbers with the fewest digits
// that identify them, byte strings as b'...', strings as '...', structured
// elements as (a, b, ...), sub-arrays as [a, b, ...].
func textValue(v any, d array.Dtype) string {
	switch x := v.(type) {
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case complex64:
		return strconv.FormatComplex(complex128(x), 'g', -1, 64)
	case complex128:
		return strconv.FormatComplex(x, 'g', -1, 128)
	case array.Float16:
		return x.String()
	case []byte:
		return "b" + pyQuote(string(x), true)
	case string:
		return pyQuote(x, false)
	case []any:
		if d.Kind == array.KindStruct && len(x) == len(d.Fields) {
			parts := make([]string, len(x))
			for i, f := range d.Fields {
				parts[i] = textField(x[i], f.Dtype, f.Shape)
			}
			if len(parts) == 1 {
				return "(" + parts[0] + ",)"
			}
			return "(" + strings.Join(parts, ", ") + ")"
		}
	}
	return fmt.Sprint(v)
}

func textField(v any, d array.Dtype, shape []int) string {
	if len(shape) == 0 {
		return textValue(v, d)
	}
	xs, _ := v.([]any)
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = textField(x, d, shape[1:])
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// pyQuote quotes s like Python's repr of a str (or, with bytes, of bytes).
func pyQuote(s string, bytes bool) string {
	var b strings.Builder
	b.WriteByte('\'')
	for i, r := range s {
		switch {
		case r == '\'' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == utf8.RuneError && bytes:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x20 || r == 0x7f || (bytes && r >= 0x80):
			if bytes {
				for _, c := range []byte(string(r)) {
					fmt.Fprintf(&b, `\x%02x`, c)
				}
			} else {
				fmt.Fprintf(&b, `\x%02x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// jsonValue converts one element for JSON: numbers as numbers (NaN and the
// infinities as the strings "nan", "inf", "-inf"), complex numbers as
// [real, imag], byte strings as text when they are UTF-8 (else
// {"base64": ...}), strings as text, structured elements as arrays of their
// field values in the order of field_names (field names are data, not keys),
// sub-arrays as arrays.
func jsonValue(v any, d array.Dtype) any {
	switch x := v.(type) {
	case float32:
		return jsonFloat(float64(x))
	case float64:
		return jsonFloat(x)
	case array.Float16:
		return jsonFloat(float64(x.Float32()))
	case complex64:
		return []any{jsonFloat(float64(real(x))), jsonFloat(float64(imag(x)))}
	case complex128:
		return []any{jsonFloat(real(x)), jsonFloat(imag(x))}
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
		return map[string]string{"base64": base64.StdEncoding.EncodeToString(x)}
	case []any:
		if d.Kind == array.KindStruct && len(x) == len(d.Fields) {
			out := make([]any, len(x))
			for i, f := range d.Fields {
				out[i] = jsonField(x[i], f.Dtype, f.Shape)
			}
			return out
		}
	}
	return v
}

func jsonField(v any, d array.Dtype, shape []int) any {
	if len(shape) == 0 {
		return jsonValue(v, d)
	}
	xs, _ := v.([]any)
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = jsonField(x, d, shape[1:])
	}
	return out
}

func jsonFloat(f float64) any {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return f
}

// npyLsJSON is one object of npy ls --json.
type npyLsJSON struct {
	File    string          `json:"file"`
	Members []npyMemberJSON `json:"members"`
}

// npyMemberJSON is one member of an archive.
type npyMemberJSON struct {
	Name         string `json:"name"`
	Key          string `json:"key"`
	Compressed   bool   `json:"compressed"`
	Offset       int64  `json:"offset"`
	Size         int64  `json:"size"`
	USize        int64  `json:"uncompressed_size"`
	CRC32        string `json:"crc32"`
	Npy          bool   `json:"npy"`
	Descr        string `json:"descr,omitempty"`
	Dtype        string `json:"dtype,omitempty"`
	Shape        []int  `json:"shape,omitempty"`
	FortranOrder bool   `json:"fortran_order"`
	DataBytes    int64  `json:"data_bytes"`
	GoType       string `json:"go_type,omitempty"`
	Mappable     bool   `json:"mappable"`
	ZeroCopy     bool   `json:"zero_copy"`
	Note         string `json:"note,omitempty"`
}

func npyLs(out, errOut io.Writer, files []string, asJSON bool) error {
	b := newBatch(errOut, "file")
	for i, path := range files {
		z, err := array.OpenNPZ(path)
		if err != nil {
			b.fail(err)
			continue
		}
		res := npyLsJSON{File: path, Members: []npyMemberJSON{}}
		t := newTable("MEMBER", "DTYPE", "SHAPE", "SIZE", "STORED", "MAPS")
		for _, m := range z.Members() {
			j := npyMemberJSON{Name: m.Name, Key: m.Key(), Compressed: m.Compressed, Offset: m.Offset, Size: m.Size, USize: m.USize, CRC32: fmt.Sprintf("%08x", m.CRC32)}
			stored := map[bool]string{false: "stored", true: "deflated"}[m.Compressed]
			h, err := z.Header(m.Name)
			if err != nil {
				j.Note = err.Error()
				res.Members = append(res.Members, j)
				t.row(m.Name, "-", "-", bytesText(m.USize), stored, "no: not a .npy file")
				continue
			}
			goType, mappable, zeroCopy, note := mapping(h.Dtype)
			if why := inPlace(m, h); why != nil && mappable {
				zeroCopy, note = false, why.Error()
			}
			j.Npy, j.Descr, j.Dtype, j.Shape, j.FortranOrder, j.DataBytes = true, h.Descr, h.Dtype.String(), list(h.Shape), h.Fortran, h.DataBytes()
			j.GoType, j.Mappable, j.ZeroCopy, j.Note = goType, mappable, zeroCopy, note
			if h.Dtype.Kind == array.KindStruct {
				j.GoType = ""
			}
			res.Members = append(res.Members, j)
			maps := "yes, zero-copy"
			switch {
			case !mappable:
				maps = "no: " + shortNote(note)
			case !zeroCopy:
				maps = "copy: " + shortNote(note)
			}
			dt := h.Dtype.String()
			if h.Dtype.Kind == array.KindStruct {
				dt = fmt.Sprintf("struct (%s)", plural(len(h.Dtype.Fields), "field"))
			}
			t.row(m.Key(), dt, npyShape(h.Shape), bytesText(max(h.DataBytes(), 0)), stored, maps)
		}
		z.Close()
		b.done()
		if asJSON {
			if err := writeNDJSON(out, res); err != nil {
				return err
			}
			continue
		}
		if i > 0 {
			fmt.Fprintln(out)
		}
		if len(files) > 1 {
			fmt.Fprintf(out, "%s:\n", path)
		}
		if err := t.write(out); err != nil {
			return err
		}
	}
	return b.err()
}

// shortNote is the first clause of a note, for a table cell.
func shortNote(s string) string {
	if i := strings.IndexAny(s, ":;("); i > 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

func npyConvert(out io.Writer, src, dst string, order byte, replace bool) error {
	if err := array.ConvertNPY(dst, src, order, &array.Options{Replace: replace}); err != nil {
		return err
	}
	h, err := array.ReadNPYHeader(dst)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %s %s, %s\n", dst, h.Descr, npyShape(h.Shape), bytesText(h.DataBytes()))
	return nil
}
