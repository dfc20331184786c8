package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/mmapkit/mmapkit/array"
	"github.com/spf13/cobra"
)

func init() { register(newNpyCmd) }

func newNpyCmd() *cobra.Command {
	npyCmd := &cobra.Command{
		Use:   "npy",
		Short: "Inspect .npy files (NumPy arrays) without loading them",
	}

	var asJSON bool
	info := &cobra.Command{
		Use:   "info FILE...",
		Short: "Print a .npy file's dtype, shape, order, version, data offset and size",
		Long: "Print what a .npy file's header says and where its data is. Only the header is\n" +
			"read, so this is instant for any file size. A file that is not a .npy file, or\n" +
			"whose dtype has no Go element type, is reported as an error.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return npyInfo(cmd.OutOrStdout(), cmd.ErrOrStderr(), args, asJSON)
		},
	}
	info.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per file")

	var rows, cols int
	head := &cobra.Command{
		Use:   "head FILE",
		Short: "Print the first rows of a .npy file",
		Long: "Print the first rows of a .npy file, one row per line (everything under one\n" +
			"index of the first axis, flattened in C order). Only the pages holding those rows\n" +
			"are read.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rows < 0 || cols < 1 {
				return fmt.Errorf("npy head: -n must be >= 0 and --cols >= 1")
			}
			return npyHead(cmd.OutOrStdout(), args[0], rows, cols)
		},
	}
	head.Flags().IntVarP(&rows, "rows", "n", 5, "number of rows to print")
	head.Flags().IntVar(&cols, "cols", 8, "values to print per row before eliding the rest")

	npyCmd.AddCommand(info, head)
	return npyCmd
}

// npyInfoJSON is the --json output of npy info.
type npyInfoJSON struct {
	File         string `json:"file"`
	Version      string `json:"version"`
	Descr        string `json:"descr"`
	Dtype        string `json:"dtype"`
	Shape        []int  `json:"shape"`
	FortranOrder bool   `json:"fortran_order"`
	Elements     int    `json:"elements"`
	ItemSize     int    `json:"itemsize"`
	HeaderLen    int    `json:"header_len"`
	DataOffset   int64  `json:"data_offset"`
	DataBytes    int64  `json:"data_bytes"`
	FileSize     int64  `json:"file_size"`
}

func npyInfo(out, errOut io.Writer, files []string, asJSON bool) error {
	failed := 0
	for i, path := range files {
		h, err := array.ReadNPYHeader(path)
		if err != nil {
			fmt.Fprintln(errOut, "mmapkit:", err)
			failed++
			continue
		}
		var size int64
		if fi, err := os.Stat(path); err == nil {
			size = fi.Size()
		}
		if asJSON {
			shape := h.Shape
			if shape == nil {
				shape = []int{}
			}
			enc := json.NewEncoder(out)
			enc.SetEscapeHTML(false) // descrs start with '<'
			if err := enc.Encode(npyInfoJSON{
				File: path, Version: fmt.Sprintf("%d.%d", h.Major, h.Minor), Descr: h.Descr, Dtype: h.Dtype.String(),
				Shape: shape, FortranOrder: h.Fortran, Elements: h.Size(), ItemSize: h.Dtype.Size,
				HeaderLen: h.HeaderLen, DataOffset: h.DataOffset, DataBytes: h.DataBytes(), FileSize: size,
			}); err != nil {
				return err
			}
			continue
		}
		if i > 0 {
			fmt.Fprintln(out)
		}
		order := "C (row-major)"
		if h.Fortran {
			order = "F (column-major)"
		}
		fmt.Fprintf(out, "file:        %s\n", path)
		fmt.Fprintf(out, "version:     %d.%d\n", h.Major, h.Minor)
		goType, err := h.Dtype.GoType()
		if err != nil {
			goType = "none"
		}
		fmt.Fprintf(out, "dtype:       %s (%s, %d bytes, Go %s)\n", h.Dtype, h.Descr, h.Dtype.Size, goType)
		fmt.Fprintf(out, "shape:       %s\n", npyShape(h.Shape))
		fmt.Fprintf(out, "order:       %s\n", order)
		fmt.Fprintf(out, "elements:    %d\n", h.Size())
		fmt.Fprintf(out, "data offset: %d\n", h.DataOffset)
		fmt.Fprintf(out, "data size:   %d bytes (%s)\n", h.DataBytes(), bytesText(h.DataBytes()))
		if extra := size - h.DataOffset - h.DataBytes(); extra > 0 {
			fmt.Fprintf(out, "trailing:    %d bytes after the data (ignored)\n", extra)
		}
	}
	if failed > 0 {
		return &exitError{code: 1, err: fmt.Errorf("npy info: %d of %d files failed", failed, len(files))}
	}
	return nil
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

func npyHead(out io.Writer, path string, rows, cols int) error {
	h, err := array.ReadNPYHeader(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %s %s %s-order\n", path, h.Dtype, npyShape(h.Shape), h.Order())
	a, err := array.OpenNPYAny(path, array.ReadOnly, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	shape := a.Shape()
	if len(shape) == 0 {
		fmt.Fprintln(out, npyFormat(a.Value()))
		return nil
	}
	perRow := 1
	for _, d := range shape[1:] {
		perRow *= d
	}
	width := len(strconv.Itoa(max(shape[0]-1, 0)))
	idx := make([]int, len(shape))
	for i := 0; i < min(rows, shape[0]); i++ {
		idx[0] = i
		var b strings.Builder
		fmt.Fprintf(&b, "[%*d]", width, i)
		// Walk the rest of the indices in C order; Value handles Fortran files.
		for k := range idx[1:] {
			idx[1+k] = 0
		}
		for k := 0; k < min(perRow, cols); k++ {
			b.WriteByte(' ')
			b.WriteString(npyFormat(a.Value(idx...)))
			for d := len(idx) - 1; d >= 1; d-- {
				idx[d]++
				if idx[d] < shape[d] {
					break
				}
				idx[d] = 0
			}
		}
		if perRow > cols {
			fmt.Fprintf(&b, " … (%d more)", perRow-cols)
		}
		fmt.Fprintln(out, b.String())
	}
	if shape[0] > rows {
		fmt.Fprintf(out, "… %d more rows\n", shape[0]-rows)
	}
	return nil
}

// npyFormat formats one element with the fewest digits that identify it.
func npyFormat(v any) string {
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
	}
	return fmt.Sprint(v)
}
