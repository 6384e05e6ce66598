package gen

import (
	"fmt"
	"strings"
	"unicode"
)

// Pos is a position in a schema file.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Error is a schema error with its position.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

func errorf(pos Pos, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

type tokenKind int

const (
	tokEOF tokenKind = iota
	tokIdent
	tokNumber
	tokPunct // one of { } ( ) < > [ ] ; , : . = @ ^ - and ".."
)

type token struct {
	kind tokenKind
	text string
	pos  Pos
}

func (t token) String() string {
	if t.kind == tokEOF {
		return "end of file"
	}
	return fmt.Sprintf("%q", t.text)
}

// lex splits a schema into tokens. Comments (// to end of line, /* */) and
// white space separate tokens and are otherwise ignored.
func lex(file, src string) ([]token, error) {
	var toks []token
	line, col := 1, 1
	i := 0
	advance := func(n int) {
		for k := 0; k < n; k++ {
			if src[i] == '\n' {
				line++
				col = 1
			} else {
				col++
			}
			i++
		}
	}
	for i < len(src) {
		c := src[i]
		pos := Pos{file, line, col}
		switch {
		case c == '\n' || c == ' ' || c == '\t' || c == '\r':
			advance(1)
		case strings.HasPrefix(src[i:], "//"):
			for i < len(src) && src[i] != '\n' {
				advance(1)
			}
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, errorf(pos, "unterminated comment")
			}
			advance(end + 4)
		case strings.HasPrefix(src[i:], ".."):
			toks = append(toks, token{tokPunct, "..", pos})
			advance(2)
		case strings.ContainsRune("{}()<>[];,:.=@^-", rune(c)):
			toks = append(toks, token{tokPunct, string(c), pos})
			advance(1)
		case c >= '0' && c <= '9':
			j := i
			for j < len(src) && (isIdentChar(src[j])) {
				j++
			}
			toks = append(toks, token{tokNumber, src[i:j], pos})
			advance(j - i)
		case c == '_' || unicode.IsLetter(rune(c)):
			j := i
			for j < len(src) && isIdentChar(src[j]) {
				j++
			}
			toks = append(toks, token{tokIdent, src[i:j], pos})
			advance(j - i)
		default:
			return nil, errorf(pos, "unexpected character %q", c)
		}
	}
	toks = append(toks, token{tokEOF, "", Pos{file, line, col}})
	return toks, nil
}

func isIdentChar(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
