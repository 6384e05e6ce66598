package gen

import (
	"math/bits"
	"regexp"
	"strconv"
	"strings"
)

// The abstract syntax of a schema: what the files say, before names are
// resolved.

// File is one parsed schema file.
type File struct {
	Name  string
	Decls []Decl
}

// Decl is a top-level declaration: *EnumDecl, *StructDecl, *TypedefDecl or
// *ExtendSelect.
type Decl interface{ position() Pos }

// Annotation is a generator directive written @name or @name(args).
type Annotation struct {
	Pos  Pos
	Name string
	Args []token
}

// EnumDecl is `enum { a(1), b(2), (max) } Name;`, or `extend enum Name {
// c(3) };` when Extend is set.
type EnumDecl struct {
	Pos         Pos
	Name        string
	Doc         string // the comment right before the declaration
	Section     string // the § heading the declaration stands under, if any
	Annotations []Annotation
	Values      []EnumValue
	Max         uint64 // the (max) entry; fixes the width
	Extend      bool
}

// EnumValue is one `name(value)` of an enum.
type EnumValue struct {
	Pos     Pos
	Name    string
	Value   uint64
	Doc     string // the comment right before the value
	Comment string // a comment after it on the same line
}

// StructDecl is `struct { members } Name;`.
type StructDecl struct {
	Pos         Pos
	Name        string
	Doc         string // the comment right before the declaration
	Section     string // the § heading the declaration stands under, if any
	Annotations []Annotation
	Members     []Member
}

// TypedefDecl names a type: `opaque HPKEPublicKey<V>;`, `uint16 CipherSuite;`,
// `HashReference KeyPackageRef;`, `optional<Node> ratchet_tree<V>;`.
type TypedefDecl struct {
	Pos         Pos
	Name        string
	Doc         string // the comment right before the declaration
	Section     string // the § heading the declaration stands under, if any
	Annotations []Annotation
	Type        TypeExpr
	Vec         Vec
}

// ExtendSelect adds cases to a select declared elsewhere:
// `extend select (Proposal.proposal_type) { case x: X; };`.
type ExtendSelect struct {
	Pos   Pos
	Path  []string
	Cases []*Case
}

func (d *EnumDecl) position() Pos     { return d.Pos }
func (d *StructDecl) position() Pos   { return d.Pos }
func (d *TypedefDecl) position() Pos  { return d.Pos }
func (d *ExtendSelect) position() Pos { return d.Pos }

// Member is a struct member: *Field or *Select.
type Member interface{ position() Pos }

// Field is `T name;`, `T name<V>;`, `T name<lo..hi>;`, `T name[N];` or
// `T name = value;`. In a select arm the RFC also writes `T;`, whose name is
// the type's (Implicit).
type Field struct {
	Pos         Pos
	Name        string
	Doc         string // the comment right before the field
	Comment     string // a comment after it on the same line
	Implicit    bool
	Annotations []Annotation
	Type        TypeExpr
	Vec         Vec
	Const       string // the value after `=`, if any
}

// Select is `select (Owner.a.b) { case x: ...; default: ... };`.
type Select struct {
	Pos   Pos
	Path  []string
	Cases []*Case
}

// Case is one arm of a select; Labels is empty for `default:`.
type Case struct {
	Pos    Pos
	Labels []string
	Fields []*Field
	Doc    string // the comment right before its first label
}

func (f *Field) position() Pos  { return f.Pos }
func (s *Select) position() Pos { return s.Pos }

// TypeExpr is a type name, optionally wrapped in optional<>.
type TypeExpr struct {
	Pos      Pos
	Name     string
	Optional bool
}

// VecKind tells how a field repeats its type.
type VecKind int

// The vector kinds.
const (
	VecNone  VecKind = iota
	VecMLS           // <V>: varint length in bytes (RFC 9420 §2.1.2)
	VecTLS           // <lo..hi>: fixed-width length in bytes (RFC 8446 §3.4)
	VecFixed         // [N]: exactly N elements
	VecRest          // [name]: the rest of the input (with @padding)
)

// Vec is the vector part of a declarator.
type Vec struct {
	Kind   VecKind
	Lo, Hi uint64 // VecTLS bounds
	N      uint64 // VecFixed length
	Ref    string // VecRest: the RFC's name for the length
}

// Annotation looks up an annotation by name.
func findAnnotation(as []Annotation, name string) *Annotation {
	for i := range as {
		if as[i].Name == name {
			return &as[i]
		}
	}
	return nil
}

type parser struct {
	toks    []token
	i       int
	section string // the last § heading seen
}

// sectionHeading matches the start of a comment that heads a section of
// the RFC: "§12.4.3 Adding Members to the Group", "§12.1.8.1: …".
var sectionHeading = regexp.MustCompile(`^§[0-9.]*[0-9]( [^.:\n]*[^.:\n ])?`)

// Parse parses one schema file.
func Parse(file, src string) (*File, error) {
	toks, err := lex(file, src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	f := &File{Name: file}
	for p.peek().kind != tokEOF {
		d, err := p.decl()
		if err != nil {
			return nil, err
		}
		f.Decls = append(f.Decls, d)
	}
	return f, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *parser) is(text string) bool {
	t := p.peek()
	return (t.kind == tokPunct || t.kind == tokIdent) && t.text == text
}

func (p *parser) expect(text string) (token, error) {
	t := p.next()
	if t.text != text || t.kind == tokEOF || t.kind == tokNumber {
		return t, errorf(t.pos, "expected %q, found %s", text, t)
	}
	return t, nil
}

func (p *parser) ident() (token, error) {
	t := p.next()
	if t.kind != tokIdent {
		return t, errorf(t.pos, "expected a name, found %s", t)
	}
	return t, nil
}

// number parses 12, 0x0A0A, 2^32, 2^32-1.
func (p *parser) number() (uint64, Pos, error) {
	t := p.next()
	if t.kind != tokNumber {
		return 0, t.pos, errorf(t.pos, "expected a number, found %s", t)
	}
	v, err := strconv.ParseUint(t.text, 0, 64)
	if err != nil {
		return 0, t.pos, errorf(t.pos, "bad number %q", t.text)
	}
	if p.is("^") {
		p.next()
		e, epos, err := p.number0()
		if err != nil {
			return 0, epos, err
		}
		r := uint64(1)
		for k := uint64(0); k < e; k++ {
			hi, lo := bits.Mul64(r, v)
			if hi != 0 {
				return 0, t.pos, errorf(t.pos, "number overflows 64 bits")
			}
			r = lo
		}
		v = r
		if p.is("-") {
			p.next()
			d, dpos, err := p.number0()
			if err != nil {
				return 0, dpos, err
			}
			if d > v {
				return 0, dpos, errorf(dpos, "negative number")
			}
			v -= d
		}
	}
	return v, t.pos, nil
}

// number0 parses a plain number.
func (p *parser) number0() (uint64, Pos, error) {
	t := p.next()
	if t.kind != tokNumber {
		return 0, t.pos, errorf(t.pos, "expected a number, found %s", t)
	}
	v, err := strconv.ParseUint(t.text, 0, 64)
	if err != nil {
		return 0, t.pos, errorf(t.pos, "bad number %q", t.text)
	}
	return v, t.pos, nil
}

func (p *parser) annotations() ([]Annotation, error) {
	var as []Annotation
	for p.is("@") {
		at := p.next()
		name, err := p.ident()
		if err != nil {
			return nil, err
		}
		a := Annotation{Pos: at.pos, Name: name.text}
		if p.is("(") {
			p.next()
			for !p.is(")") {
				t := p.next()
				if t.kind == tokEOF {
					return nil, errorf(t.pos, "unterminated annotation arguments")
				}
				a.Args = append(a.Args, t)
			}
			p.next()
		}
		as = append(as, a)
	}
	return as, nil
}

func (p *parser) decl() (Decl, error) {
	doc := p.peek().doc
	if h := sectionHeading.FindString(doc); h != "" {
		p.section = h
	}
	d, err := p.decl0()
	if err != nil {
		return nil, err
	}
	switch d := d.(type) {
	case *EnumDecl:
		d.Doc, d.Section = doc, p.section
	case *StructDecl:
		d.Doc, d.Section = doc, p.section
	case *TypedefDecl:
		d.Doc, d.Section = doc, p.section
	}
	return d, nil
}

func (p *parser) decl0() (Decl, error) {
	as, err := p.annotations()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	switch {
	case p.is("enum"):
		p.next()
		return p.enumBody(t.pos, as, false)
	case p.is("struct"):
		p.next()
		return p.structDecl(t.pos, as)
	case p.is("extend"):
		p.next()
		switch {
		case p.is("enum"):
			p.next()
			name, err := p.ident()
			if err != nil {
				return nil, err
			}
			d, err := p.enumValues(t.pos, as, true)
			if err != nil {
				return nil, err
			}
			d.Name = name.text
			_, err = p.expect(";")
			return d, err
		case p.is("select"):
			p.next()
			path, err := p.path()
			if err != nil {
				return nil, err
			}
			cases, err := p.cases()
			if err != nil {
				return nil, err
			}
			if _, err := p.expect(";"); err != nil {
				return nil, err
			}
			return &ExtendSelect{Pos: t.pos, Path: path, Cases: cases}, nil
		}
		return nil, errorf(p.peek().pos, "expected enum or select after extend, found %s", p.peek())
	}
	typ, err := p.typeExpr()
	if err != nil {
		return nil, err
	}
	name, err := p.ident()
	if err != nil {
		return nil, err
	}
	vec, err := p.vec()
	if err != nil {
		return nil, err
	}
	if _, err := p.expect(";"); err != nil {
		return nil, err
	}
	return &TypedefDecl{Pos: t.pos, Name: name.text, Annotations: as, Type: typ, Vec: vec}, nil
}

func (p *parser) enumBody(pos Pos, as []Annotation, extend bool) (*EnumDecl, error) {
	d, err := p.enumValues(pos, as, extend)
	if err != nil {
		return nil, err
	}
	name, err := p.ident()
	if err != nil {
		return nil, err
	}
	d.Name = name.text
	_, err = p.expect(";")
	return d, err
}

// enumValues parses `{ a(1), b(2), (max) }`.
func (p *parser) enumValues(pos Pos, as []Annotation, extend bool) (*EnumDecl, error) {
	d := &EnumDecl{Pos: pos, Annotations: as, Extend: extend}
	if _, err := p.expect("{"); err != nil {
		return nil, err
	}
	for {
		if p.is("(") {
			p.next()
			max, _, err := p.number()
			if err != nil {
				return nil, err
			}
			d.Max = max
			if _, err := p.expect(")"); err != nil {
				return nil, err
			}
		} else {
			name, err := p.ident()
			if err != nil {
				return nil, err
			}
			if _, err := p.expect("("); err != nil {
				return nil, err
			}
			v, _, err := p.number()
			if err != nil {
				return nil, err
			}
			end, err := p.expect(")")
			if err != nil {
				return nil, err
			}
			trail := end.trail
			if p.is(",") && trail == "" {
				trail = p.peek().trail
			}
			d.Values = append(d.Values, EnumValue{Pos: name.pos, Name: name.text, Value: v, Doc: name.doc, Comment: trail})
		}
		if p.is(",") {
			p.next()
			continue
		}
		if _, err := p.expect("}"); err != nil {
			return nil, err
		}
		return d, nil
	}
}

func (p *parser) structDecl(pos Pos, as []Annotation) (*StructDecl, error) {
	d := &StructDecl{Pos: pos, Annotations: as}
	if _, err := p.expect("{"); err != nil {
		return nil, err
	}
	for !p.is("}") {
		if p.peek().kind == tokEOF {
			return nil, errorf(p.peek().pos, "unterminated struct")
		}
		m, err := p.member()
		if err != nil {
			return nil, err
		}
		d.Members = append(d.Members, m)
	}
	p.next()
	name, err := p.ident()
	if err != nil {
		return nil, err
	}
	d.Name = name.text
	_, err = p.expect(";")
	return d, err
}

func (p *parser) member() (Member, error) {
	doc := p.peek().doc
	as, err := p.annotations()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	if p.is("select") {
		if len(as) > 0 {
			return nil, errorf(as[0].Pos, "annotation @%s is not allowed on a select", as[0].Name)
		}
		p.next()
		path, err := p.path()
		if err != nil {
			return nil, err
		}
		cases, err := p.cases()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(";"); err != nil {
			return nil, err
		}
		return &Select{Pos: t.pos, Path: path, Cases: cases}, nil
	}
	f, err := p.field(false)
	if err != nil {
		return nil, err
	}
	f.Annotations, f.Doc = as, doc
	return f, nil
}

// field parses `T name vec (= value)? ;`; in a select arm (arm set) also `T;`.
func (p *parser) field(arm bool) (*Field, error) {
	typ, err := p.typeExpr()
	if err != nil {
		return nil, err
	}
	f := &Field{Pos: typ.Pos, Type: typ}
	if arm && p.is(";") {
		f.Comment = p.next().trail
		f.Name, f.Implicit = typ.Name, true
		return f, nil
	}
	name, err := p.ident()
	if err != nil {
		return nil, err
	}
	f.Name = name.text
	if f.Vec, err = p.vec(); err != nil {
		return nil, err
	}
	if p.is("=") {
		p.next()
		c, err := p.ident()
		if err != nil {
			return nil, err
		}
		f.Const = c.text
	}
	end, err := p.expect(";")
	f.Comment = end.trail
	return f, err
}

func (p *parser) typeExpr() (TypeExpr, error) {
	t, err := p.ident()
	if err != nil {
		return TypeExpr{}, err
	}
	if t.text == "optional" && p.is("<") {
		p.next()
		inner, err := p.ident()
		if err != nil {
			return TypeExpr{}, err
		}
		if _, err := p.expect(">"); err != nil {
			return TypeExpr{}, err
		}
		return TypeExpr{Pos: t.pos, Name: inner.text, Optional: true}, nil
	}
	return TypeExpr{Pos: t.pos, Name: t.text}, nil
}

func (p *parser) vec() (Vec, error) {
	switch {
	case p.is("<"):
		p.next()
		if p.is("V") {
			p.next()
			_, err := p.expect(">")
			return Vec{Kind: VecMLS}, err
		}
		lo, _, err := p.number()
		if err != nil {
			return Vec{}, err
		}
		if _, err := p.expect(".."); err != nil {
			return Vec{}, err
		}
		hi, hpos, err := p.number()
		if err != nil {
			return Vec{}, err
		}
		if lo > hi {
			return Vec{}, errorf(hpos, "vector bounds <%d..%d> are reversed", lo, hi)
		}
		if hi > 1<<32-1 {
			return Vec{}, errorf(hpos, "vector bound %d needs a length prefix wider than 32 bits", hi)
		}
		_, err = p.expect(">")
		return Vec{Kind: VecTLS, Lo: lo, Hi: hi}, err
	case p.is("["):
		p.next()
		if t := p.peek(); t.kind == tokIdent {
			p.next()
			_, err := p.expect("]")
			return Vec{Kind: VecRest, Ref: t.text}, err
		}
		n, _, err := p.number()
		if err != nil {
			return Vec{}, err
		}
		_, err = p.expect("]")
		return Vec{Kind: VecFixed, N: n}, err
	}
	return Vec{}, nil
}

// path parses `(A.b.c)`.
func (p *parser) path() ([]string, error) {
	if _, err := p.expect("("); err != nil {
		return nil, err
	}
	var path []string
	for {
		t, err := p.ident()
		if err != nil {
			return nil, err
		}
		path = append(path, t.text)
		if !p.is(".") {
			break
		}
		p.next()
	}
	_, err := p.expect(")")
	return path, err
}

// cases parses `{ case a: case b: fields... default: fields... }`.
func (p *parser) cases() ([]*Case, error) {
	if _, err := p.expect("{"); err != nil {
		return nil, err
	}
	var cases []*Case
	for !p.is("}") {
		t := p.peek()
		c := &Case{Pos: t.pos, Doc: t.doc}
		// Labels: one or more `case x:` (fall-through as in the RFC), or
		// `default:`.
		switch {
		case p.is("default"):
			p.next()
			if _, err := p.expect(":"); err != nil {
				return nil, err
			}
		case p.is("case"):
			for p.is("case") {
				p.next()
				l, err := p.ident()
				if err != nil {
					return nil, err
				}
				c.Labels = append(c.Labels, l.text)
				if _, err := p.expect(":"); err != nil {
					return nil, err
				}
			}
		default:
			return nil, errorf(t.pos, "expected case or default, found %s", t)
		}
		for !p.is("case") && !p.is("default") && !p.is("}") {
			if p.peek().kind == tokEOF {
				return nil, errorf(p.peek().pos, "unterminated select")
			}
			if p.is("struct") {
				st := p.next()
				if _, err := p.expect("{"); err != nil {
					return nil, err
				}
				if _, err := p.expect("}"); err != nil {
					return nil, errorf(st.pos, "only the empty struct{} may stand in a select arm")
				}
				if _, err := p.expect(";"); err != nil {
					return nil, err
				}
				continue
			}
			doc := p.peek().doc
			as, err := p.annotations()
			if err != nil {
				return nil, err
			}
			f, err := p.field(true)
			if err != nil {
				return nil, err
			}
			f.Annotations, f.Doc = as, doc
			c.Fields = append(c.Fields, f)
		}
		cases = append(cases, c)
	}
	p.next()
	return cases, nil
}

// annotationRange parses @size(lo..hi) or @size(lo..).
func annotationRange(a *Annotation) (lo, hi uint64, err error) {
	var parts []string
	for _, t := range a.Args {
		parts = append(parts, t.text)
	}
	s := strings.Join(parts, "")
	l, h, ok := strings.Cut(s, "..")
	if !ok {
		return 0, 0, errorf(a.Pos, "@%s wants (lo..hi) or (lo..)", a.Name)
	}
	if lo, err = strconv.ParseUint(l, 0, 64); err != nil {
		return 0, 0, errorf(a.Pos, "@%s: bad lower bound %q", a.Name, l)
	}
	if h != "" {
		if hi, err = strconv.ParseUint(h, 0, 64); err != nil {
			return 0, 0, errorf(a.Pos, "@%s: bad upper bound %q", a.Name, h)
		}
		if hi < lo {
			return 0, 0, errorf(a.Pos, "@%s: bounds are reversed", a.Name)
		}
	}
	return lo, hi, nil
}
