package array

import (
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// This file parses the small subset of Python literal syntax that .npy headers
// use. NumPy reads headers with ast.literal_eval; we never evaluate anything,
// and accept less: dicts, tuples, lists, single- or double-quoted strings with
// simple escapes, decimal integers (optionally negative, with a Python 2 'L'
// suffix in format versions 1 and 2), True, False and None. Anything else is a
// syntax error, reported with its byte position.

// pyTuple and pyList keep the distinction NumPy's checks rely on (shape must be
// a tuple).
type (
	pyTuple []any
	pyList  []any
	pyDict  struct {
		keys []any
		vals []any
	}
	// pyInt is an integer literal; big is set when it does not fit in int64,
	// and then v is only its sign (±1).
	pyInt struct {
		v   int64
		big bool
	}
)

const maxLiteralDepth = 32 // deep enough for any real structured dtype

type pyParser struct {
	s       []byte
	pos     int
	depth   int
	longInt bool // accept the Python 2 'L' suffix
	latin1  bool // the text is latin-1 (format versions 1 and 2), not UTF-8
}

// parsePyLiteral parses s as one literal surrounded by optional whitespace.
// A version 1 or 2 header (legacy set) is latin-1 text and may carry the
// Python 2 'L' suffix on integers; strings always come back as UTF-8.
func parsePyLiteral(s []byte, legacy bool) (any, error) {
	p := &pyParser{s: s, longInt: legacy, latin1: legacy}
	p.skipSpace()
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.s) {
		return nil, p.errorf("unexpected %s after the literal", p.what())
	}
	return v, nil
}

func (p *pyParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrHeader, p.pos, fmt.Sprintf(format, args...))
}

// what describes the byte at the current position for an error message.
func (p *pyParser) what() string {
	if p.pos >= len(p.s) {
		return "end of header"
	}
	return strconv.QuoteRune(rune(p.s[p.pos]))
}

func (p *pyParser) skipSpace() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r', '\f':
			p.pos++
		default:
			return
		}
	}
}

func (p *pyParser) value() (any, error) {
	if p.pos >= len(p.s) {
		return nil, p.errorf("expected a value, found end of header")
	}
	switch c := p.s[p.pos]; {
	case c == '{':
		return p.nested(p.dict)
	case c == '(':
		return p.nested(p.tuple)
	case c == '[':
		return p.nested(p.list)
	case c == '\'' || c == '"':
		return p.str()
	case c == '-' || c >= '0' && c <= '9':
		return p.integer()
	case c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_':
		start := p.pos
		for p.pos < len(p.s) && (isIdent(p.s[p.pos])) {
			p.pos++
		}
		switch name := string(p.s[start:p.pos]); name {
		case "True":
			return true, nil
		case "False":
			return false, nil
		case "None":
			return nil, nil
		default:
			p.pos = start
			return nil, p.errorf("name %q is not a literal (headers are never evaluated)", name)
		}
	}
	return nil, p.errorf("unexpected %s", p.what())
}

func isIdent(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_'
}

func (p *pyParser) nested(f func() (any, error)) (any, error) {
	if p.depth >= maxLiteralDepth {
		return nil, p.errorf("literal nested more than %d deep", maxLiteralDepth)
	}
	p.depth++
	defer func() { p.depth-- }()
	return f()
}

// items parses comma-separated values up to close, after the opening bracket.
// It reports whether a comma followed the last item.
func (p *pyParser) items(close byte) (vals []any, trailingComma bool, err error) {
	p.pos++ // the opening bracket
	for {
		p.skipSpace()
		if p.pos < len(p.s) && p.s[p.pos] == close {
			p.pos++
			return vals, trailingComma, nil
		}
		v, err := p.value()
		if err != nil {
			return nil, false, err
		}
		vals = append(vals, v)
		p.skipSpace()
		trailingComma = false
		if p.pos < len(p.s) && p.s[p.pos] == ',' {
			p.pos++
			trailingComma = true
			continue
		}
		if p.pos < len(p.s) && p.s[p.pos] == close {
			continue
		}
		return nil, false, p.errorf("expected ',' or %q, found %s", close, p.what())
	}
}

func (p *pyParser) tuple() (any, error) {
	vals, comma, err := p.items(')')
	if err != nil {
		return nil, err
	}
	if len(vals) == 1 && !comma {
		return vals[0], nil // (x) is just x in parentheses, not a tuple
	}
	return pyTuple(vals), nil
}

func (p *pyParser) list() (any, error) {
	vals, _, err := p.items(']')
	if err != nil {
		return nil, err
	}
	return pyList(vals), nil
}

func (p *pyParser) dict() (any, error) {
	p.pos++ // '{'
	d := &pyDict{}
	for {
		p.skipSpace()
		if p.pos < len(p.s) && p.s[p.pos] == '}' {
			p.pos++
			return d, nil
		}
		k, err := p.value()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.s) || p.s[p.pos] != ':' {
			return nil, p.errorf("expected ':' after a dict key, found %s", p.what())
		}
		p.pos++
		p.skipSpace()
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		d.keys = append(d.keys, k)
		d.vals = append(d.vals, v)
		p.skipSpace()
		if p.pos < len(p.s) && p.s[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.pos < len(p.s) && p.s[p.pos] == '}' {
			continue
		}
		return nil, p.errorf("expected ',' or '}' in a dict, found %s", p.what())
	}
}

func (p *pyParser) str() (any, error) {
	q := p.s[p.pos]
	if p.pos+2 < len(p.s) && p.s[p.pos+1] == q && p.s[p.pos+2] == q {
		return nil, p.errorf("triple-quoted strings are not accepted")
	}
	p.pos++
	var out []byte
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == q:
			p.pos++
			return string(out), nil
		case c == '\n' || c == '\r':
			return nil, p.errorf("line break inside a string")
		case c == '\\':
			if p.pos+1 >= len(p.s) {
				return nil, p.errorf("unterminated string")
			}
			e := p.s[p.pos+1]
			p.pos += 2
			switch e {
			case '\\', '\'', '"':
				out = append(out, e)
			case 'n':
				out = append(out, '\n')
			case 't':
				out = append(out, '\t')
			case 'r':
				out = append(out, '\r')
			case '0':
				out = append(out, 0)
			case 'x', 'u', 'U':
				n := 2
				switch e {
				case 'u':
					n = 4
				case 'U':
					n = 8
				}
				if p.pos+n > len(p.s) {
					return nil, p.errorf("short \\%c escape", e)
				}
				b, err := strconv.ParseUint(string(p.s[p.pos:p.pos+n]), 16, 32)
				if err != nil || b > unicode.MaxRune {
					return nil, p.errorf("bad \\%c escape", e)
				}
				out = utf8.AppendRune(out, rune(b))
				p.pos += n
			default:
				p.pos -= 2
				return nil, p.errorf("unsupported escape \\%c in a string", e)
			}
		case c >= 0x80 && p.latin1:
			out = utf8.AppendRune(out, rune(c))
			p.pos++
		default:
			out = append(out, c)
			p.pos++
		}
	}
	return nil, p.errorf("unterminated string")
}

func (p *pyParser) integer() (any, error) {
	start := p.pos
	neg := false
	if p.s[p.pos] == '-' {
		neg = true
		p.pos++
		p.skipSpace() // Python allows "- 3"; NumPy never writes it, but it is harmless
	}
	digits := p.pos
	for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
		p.pos++
	}
	if p.pos == digits {
		p.pos = start
		return nil, p.errorf("'-' not followed by a number")
	}
	num := p.s[digits:p.pos]
	if len(num) > 1 && num[0] == '0' {
		p.pos = digits
		return nil, p.errorf("integer with a leading zero")
	}
	if p.longInt && p.pos < len(p.s) && (p.s[p.pos] == 'L' || p.s[p.pos] == 'l') {
		p.pos++
	}
	if p.pos < len(p.s) && (isIdent(p.s[p.pos]) || p.s[p.pos] == '.') {
		return nil, p.errorf("only plain decimal integers are accepted")
	}
	v, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil {
		if neg {
			return pyInt{v: -1, big: true}, nil
		}
		return pyInt{v: 1, big: true}, nil
	}
	if neg {
		v = -v
	}
	return pyInt{v: v}, nil
}
