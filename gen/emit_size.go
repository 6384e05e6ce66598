package gen

import (
	"strings"

	"github.com/dave/jennifer/jen"
)

// Sizes: Size returns the length of a value's encoding, computed from the
// value without encoding it or allocating, so that Marshal (and a caller
// building a larger buffer of several encodings) allocates its buffer
// once, exactly. Each field adds its size to n: fixed-size numbers and
// enums their width; a vector its length prefix (a varint sized by the
// content's length, RFC 9420 §2.1.2, or the TLS prefix's fixed width)
// and its content (len × width for fixed-size elements, else the sum of
// the elements' sizes); an optional<T> its presence octet (§2.1.1) and T
// when present; a select the fields of the selected arm; a struct field
// its own Size.
//
// Size is exact for every value AppendTo encodes. For a value AppendTo
// rejects (a missing or unknown arm, a vector out of its bounds or too
// long for a varint) it is only an estimate, never negative, and never
// panics: nil arms count as empty.

const sizeDoc = "Size returns the length of the encoding of v, what AppendTo appends when\nit succeeds, without encoding it."

// structSize emits Size for a struct.
func (e *emitter) structSize(f *jen.File, t *Type, st *Struct, recv jen.Code, params []jen.Code) {
	e.n = 0
	body := []jen.Code{jen.Id("n").Op(":=").Lit(0)}
	for _, m := range st.Members {
		switch m := m.(type) {
		case *FieldInfo:
			body = append(body, e.sizeField(t, st, m, "n")...)
		case *SelectInfo:
			c := ctx{typ: t.Name, field: strings.Join(m.Path, ".")}
			body = append(body, e.selectSwitch(st, m, c, func(fi *FieldInfo) []jen.Code {
				return e.sizeField(t, st, fi, "n")
			}, nil, jen.Comment("no arm: AppendTo fails")))
		}
	}
	body = append(body, jen.Return(jen.Id("n")))
	comments(f, sizeDoc)
	f.Func().Params(recv).Id("Size").Params(params...).Int().Block(body...)
}

// vectorSize emits Size for a named vector type.
func (e *emitter) vectorSize(f *jen.File, t *Type, fi *FieldInfo) {
	e.n = 0
	c := ctx{typ: t.Name}
	body := []jen.Code{jen.Id("n").Op(":=").Lit(0)}
	body = append(body, e.sizeVec(c, fi, jen.Id("v"), "n")...)
	body = append(body, jen.Return(jen.Id("n")))
	comments(f, sizeDoc)
	f.Func().Params(jen.Id("v").Id(t.GoName)).Id("Size").Params().Int().Block(body...)
}

// sizeField adds the size of a struct's field to acc.
func (e *emitter) sizeField(t *Type, st *Struct, fi *FieldInfo, acc string) []jen.Code {
	c := ctx{typ: t.Name, field: fi.Name, arg: e.argFor(st, fi)}
	x := goPath("v", []string{fi.GoName})
	switch {
	case fi.Const != nil:
		return []jen.Code{jen.Id(acc).Op("+=").Lit(fi.Type.T.Bits() / 8).Comment(fi.Name)}
	case fi.Padding:
		return []jen.Code{jen.Id(acc).Op("+=").Max(x, jen.Lit(0)).Comment(fi.Name)}
	case fi.Pointer:
		// An arm's struct, nil unless selected (and then AppendTo fails).
		return []jen.Code{jen.If(x.Clone().Op("!=").Nil()).Block(e.sizeBase(c, fi.Type.T, x, acc)...)}
	}
	return e.sizeVec(c, fi, x, acc)
}

// sizeVec adds to acc the size of the field fi (a vector or a single
// element) of value expr.
func (e *emitter) sizeVec(c ctx, fi *FieldInfo, expr *jen.Statement, acc string) []jen.Code {
	ft := fi.Type
	switch fi.Vec.Kind {
	case VecNone:
		return e.sizeElem(c, ft, expr, acc)
	case VecFixed:
		if k, ok := constSize(ft); ok {
			return []jen.Code{withComment(jen.Id(acc).Op("+=").Lit(int(fi.Vec.N)*k), fi.Name)}
		}
		i := e.tmp("i")
		return []jen.Code{jen.For(jen.Id(i).Op(":=").Range().Add(expr)).Block(e.sizeElem(c, ft, expr.Clone().Index(jen.Id(i)), acc)...)}
	}
	// A vector: its length prefix, then its content.
	var out []jen.Code
	var content jen.Code
	if k, ok := constSize(ft); ok {
		content = jen.Len(expr.Clone())
		if k != 1 {
			content = jen.Len(expr.Clone()).Op("*").Lit(k)
		}
	} else {
		m, i := e.tmp("m"), e.tmp("i")
		out = append(out,
			jen.Id(m).Op(":=").Lit(0),
			jen.For(jen.Id(i).Op(":=").Range().Add(expr)).Block(e.sizeElem(c, ft, expr.Clone().Index(jen.Id(i)), m)...))
		content = jen.Id(m)
	}
	var prefix jen.Code
	if width, _, _ := bounds(fi); width > 0 {
		prefix = jen.Lit(width)
	} else {
		prefix = e.rt("VarintSize").Call(content)
	}
	return append(out, jen.Id(acc).Op("+=").Add(prefix).Op("+").Add(content))
}

// sizeElem adds to acc the size of one value of type ft: with its
// presence octet if optional.
func (e *emitter) sizeElem(c ctx, ft FieldType, expr *jen.Statement, acc string) []jen.Code {
	if !ft.Optional {
		return e.sizeBase(c, ft.T, expr, acc)
	}
	val := expr
	if derefOptional(ft.T) {
		val = jen.Parens(jen.Op("*").Add(expr))
	}
	return []jen.Code{
		jen.Id(acc).Op("++").Comment("presence"),
		jen.If(expr.Clone().Op("!=").Nil()).Block(e.sizeBase(c, ft.T, val, acc)...),
	}
}

// sizeBase adds to acc the size of one value of type t.
func (e *emitter) sizeBase(c ctx, t *Type, expr *jen.Statement, acc string) []jen.Code {
	if k, ok := constSize(FieldType{T: t}); ok {
		return []jen.Code{withComment(jen.Id(acc).Op("+=").Lit(k), c.field)}
	}
	if isPlainBytes(t) {
		return []jen.Code{jen.Id(acc).Op("+=").Add(e.bytesSize(expr))}
	}
	args := []jen.Code{}
	if c.arg != nil && paramOf(t) != nil {
		args = append(args, c.arg)
	}
	return []jen.Code{jen.Id(acc).Op("+=").Add(expr.Clone().Dot("Size").Call(args...))}
}

// constSize returns the encoded size of every value of type ft, ok only if
// all have the same: numbers and enums, fixed arrays of them, and structs
// of such fields only.
func constSize(ft FieldType) (int, bool) {
	if ft.Optional {
		return 0, false
	}
	t := ft.T
	if a := t.Alias(); a != nil {
		t = a.Target
	}
	switch d := t.Def.(type) {
	case *Uint, *Opaque, *Enum:
		return t.Bits() / 8, true
	case *Vector:
		if d.Vec.Kind == VecFixed {
			if k, ok := constSize(d.Elem); ok {
				return int(d.Vec.N) * k, true
			}
		}
	case *Struct:
		n := 0
		for _, m := range d.Members {
			fi, ok := m.(*FieldInfo)
			if !ok || fi.Padding || fi.Pointer {
				return 0, false
			}
			k, ok := constSize(fi.Type)
			switch {
			case !ok:
				return 0, false
			case fi.Vec.Kind == VecNone:
				n += k
			case fi.Vec.Kind == VecFixed:
				n += int(fi.Vec.N) * k
			default:
				return 0, false
			}
		}
		return n, true
	}
	return 0, false
}

// withComment ends a statement with a comment naming the field it sizes,
// if it has a name.
func withComment(s *jen.Statement, name string) *jen.Statement {
	if name == "" {
		return s
	}
	return s.Comment(name)
}
