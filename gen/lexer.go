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
	// doc is the comment group right before the token: comments with no
	// blank line between them, the last ending on the token's line or the
	// line before. trail is a comment that starts on the token's line after
	// it. Both are cleaned (see commentText).
	doc, trail string
}

// comment is a comment between two tokens.
type comment struct {
	line, endLine int // first and last line
	text          string
}

func (t token) String() string {
	if t.kind == tokEOF {
		return "end of file"
	}
	return fmt.Sprintf("%q", t.text)
}

// lex splits a schema into tokens. Comments (// to end of line, /* */) and
// white space separate tokens; comments are kept on the tokens they
// document (token.doc, token.trail).
func lex(file, src string) ([]token, error) {
	var toks []token
	var pending []comment // comments since the last token, not trailing it
	line, col := 1, 1
	i := 0
	addComment := func(startLine int, raw string) {
		c := comment{line: startLine, endLine: line, text: commentText(raw)}
		if n := len(toks); n > 0 && len(pending) == 0 && toks[n-1].pos.Line == startLine && toks[n-1].trail == "" {
			toks[n-1].trail = c.text
			return
		}
		pending = append(pending, c)
	}
	emit := func(t token) {
		t.doc = docGroup(pending, t.pos.Line)
		pending = pending[:0]
		toks = append(toks, t)
	}
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
			j := i
			for i < len(src) && src[i] != '\n' {
				advance(1)
			}
			addComment(pos.Line, src[j:i])
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, errorf(pos, "unterminated comment")
			}
			j := i
			advance(end + 4)
			addComment(pos.Line, src[j:i])
		case strings.HasPrefix(src[i:], ".."):
			emit(token{kind: tokPunct, text: "..", pos: pos})
			advance(2)
		case strings.ContainsRune("{}()<>[];,:.=@^-", rune(c)):
			emit(token{kind: tokPunct, text: string(c), pos: pos})
			advance(1)
		case c >= '0' && c <= '9':
			j := i
			for j < len(src) && (isIdentChar(src[j])) {
				j++
			}
			emit(token{kind: tokNumber, text: src[i:j], pos: pos})
			advance(j - i)
		case c == '_' || unicode.IsLetter(rune(c)):
			j := i
			for j < len(src) && isIdentChar(src[j]) {
				j++
			}
			emit(token{kind: tokIdent, text: src[i:j], pos: pos})
			advance(j - i)
		default:
			return nil, errorf(pos, "unexpected character %q", c)
		}
	}
	emit(token{kind: tokEOF, pos: Pos{file, line, col}})
	return toks, nil
}

// docGroup joins the comments that document a token on line: the last
// comment must end on that line or the one before, and each earlier one
// on the line before the next starts.
func docGroup(cs []comment, line int) string {
	k := len(cs)
	for next := line; k > 0 && cs[k-1].endLine >= next-1; k-- {
		next = cs[k-1].line
	}
	var texts []string
	for _, c := range cs[k:] {
		if c.text != "" {
			texts = append(texts, c.text)
		}
	}
	return strings.Join(texts, "\n")
}

// commentText is the text of a comment without its markers: the // or the
// /* and */, a leading " * " on each line of a block comment written in
// that style (or else the indentation of its lines), banner lines of
// dashes, and blank lines at either end.
func commentText(raw string) string {
	if t, ok := strings.CutPrefix(raw, "//"); ok {
		return strings.TrimSpace(t)
	}
	lines := strings.Split(strings.TrimSuffix(strings.TrimPrefix(raw, "/*"), "*/"), "\n")
	rest := lines[1:]
	starred := len(rest) > 0
	for _, l := range rest {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "*") {
			starred = false
		}
	}
	out := []string{strings.TrimSpace(lines[0])}
	for _, l := range rest {
		switch {
		case strings.TrimSpace(l) == "":
			l = ""
		case starred:
			l = strings.TrimPrefix(strings.TrimPrefix(strings.TrimLeft(l, " \t"), "*"), " ")
		default:
			// Continuation lines of a plain block comment: their
			// indentation is layout, not content (it would make a
			// code block of a Go doc comment).
			l = strings.TrimLeft(l, " \t")
		}
		out = append(out, strings.TrimRight(l, " \t"))
	}
	var kept []string
	for _, l := range out {
		if t := strings.TrimSpace(l); len(t) >= 3 && strings.Trim(t, "-=*") == "" {
			continue // a banner line
		}
		kept = append(kept, l)
	}
	return strings.Trim(strings.Join(kept, "\n"), "\n")
}

func isIdentChar(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
