package gen

import (
	"fmt"
	"strings"

	"github.com/dave/jennifer/jen"
)

// Encoders: AppendTo appends a value's encoding to a buffer, writing each
// vector's length prefix once its content is known.

func (e *emitter) structAppendTo(f *jen.File, t *Type, st *Struct, recv jen.Code, params []jen.Code) {
	e.n = 0
	enc := []jen.Code{jen.Var().Id("err").Error()}
	for _, m := range st.Members {
		enc = append(enc, e.encodeMember(t, st, m)...)
	}
	enc = append(enc, jen.Return(jen.Id("b"), jen.Err()))
	f.Commentf("AppendTo appends the encoding of v to b.")
	f.Func().Params(recv).Id("AppendTo").Params(append([]jen.Code{jen.Id("b").Index().Byte()}, params...)...).
		Params(jen.Index().Byte(), jen.Error()).Block(enc...)
}

func (e *emitter) vectorAppendTo(f *jen.File, t *Type, fi *FieldInfo) {
	e.n = 0
	c := ctx{typ: t.Name, field: "", reader: "r"}
	enc := []jen.Code{jen.Var().Id("err").Error()}
	enc = append(enc, e.encodeVec(c, fi, jen.Id("v"))...)
	enc = append(enc, jen.Return(jen.Id("b"), jen.Err()))
	f.Commentf("AppendTo appends the encoding of v to b.")
	f.Func().Params(jen.Id("v").Id(t.GoName)).Id("AppendTo").Params(jen.Id("b").Index().Byte()).
		Params(jen.Index().Byte(), jen.Error()).Block(enc...)
}

func (e *emitter) encFail(c ctx) jen.Code {
	return jen.Return(jen.Id("b"), e.rt("WrapError").Call(jen.Err(), jen.Lit(c.typ), jen.Lit(c.field), jen.Lit(-1)))
}

func (e *emitter) encFailWith(c ctx, sentinel string) jen.Code {
	return jen.Return(jen.Id("b"), e.rt("WrapError").Call(e.rt(sentinel), jen.Lit(c.typ), jen.Lit(c.field), jen.Lit(-1)))
}

// try wraps `b, err = call` in an error check.
func (e *emitter) try(c ctx, call jen.Code) jen.Code {
	return jen.If(jen.List(jen.Id("b"), jen.Err()).Op("=").Add(call), jen.Err().Op("!=").Nil()).Block(e.encFail(c))
}

func (e *emitter) encodeMember(t *Type, st *Struct, m StructMember) []jen.Code {
	switch m := m.(type) {
	case *FieldInfo:
		return e.encodeField(t, st, m, goPath("v", []string{m.GoName}))
	case *SelectInfo:
		c := ctx{typ: t.Name, field: strings.Join(m.Path, ".")}
		return []jen.Code{e.selectSwitch(st, m, c, func(f *FieldInfo) []jen.Code {
			return e.encodeField(t, st, f, goPath("v", []string{f.GoName}))
		}, func(f *FieldInfo) jen.Code {
			return jen.If(jen.Id("v").Dot(f.GoName).Op("==").Nil()).Block(e.encFailWith(ctx{typ: t.Name, field: f.Name}, "ErrMissingArm"))
		}, e.encFailWith(c, "ErrNoArm"))}
	}
	return nil
}

func (e *emitter) encodeField(t *Type, st *Struct, f *FieldInfo, expr *jen.Statement) []jen.Code {
	c := ctx{typ: t.Name, field: f.Name, arg: e.argFor(st, f)}
	switch {
	case f.Const != nil:
		id := f.Type.T.GoName + GoName(f.Const.Name)
		bits := f.Type.T.Bits()
		return []jen.Code{jen.Id("b").Op("=").Add(e.rt("Append"+uintName(bits))).Call(jen.Id("b"), jen.Id(fmt.Sprintf("uint%d", bits)).Call(jen.Id(id)))}
	case f.Padding:
		return []jen.Code{
			jen.If(expr.Clone().Op("<").Lit(0)).Block(e.encFailWith(c, "ErrLengthBound")),
			jen.Id("b").Op("=").Add(e.rt("AppendZeros")).Call(jen.Id("b"), expr),
		}
	}
	return e.encodeVec(c, f, expr)
}

func tlsWidth(hi uint64) int {
	switch {
	case hi < 1<<8:
		return 1
	case hi < 1<<16:
		return 2
	case hi < 1<<24:
		return 3
	}
	return 4 // the resolver rejects larger bounds
}

// bounds returns the length prefix width (0: varint) and the byte bounds to
// check (hi 0: none) of a vector field.
func bounds(f *FieldInfo) (width int, lo, hi uint64) {
	if f.Vec.Kind == VecTLS {
		return tlsWidth(f.Vec.Hi), f.Vec.Lo, f.Vec.Hi
	}
	return 0, f.SizeLo, f.SizeHi
}

// vectorPrefix names the runtime calls that begin and end a vector with a
// length prefix of width bytes (0: varint), and makes the end call with the
// vector's bounds in bytes (hi 0: none but the prefix's own).
func (e *emitter) vectorPrefix(width int, lo, hi uint64) (begin string, end func(b, start jen.Code) jen.Code) {
	if width == 0 {
		if lo == 0 && hi == 0 {
			return "BeginVarintVector", func(b, start jen.Code) jen.Code {
				return e.rt("EndVarintVector").Call(b, start)
			}
		}
		max := jen.Code(jen.Lit(int(hi)))
		if hi == 0 {
			max = e.rt("MaxVarint")
		}
		return "BeginVarintVector", func(b, start jen.Code) jen.Code {
			return e.rt("EndBoundedVarintVector").Call(b, start, jen.Lit(int(lo)), max)
		}
	}
	name := fmt.Sprintf("Uint%dVector", 8*width)
	return "Begin" + name, func(b, start jen.Code) jen.Code {
		return e.rt("End"+name).Call(b, start, jen.Lit(int(lo)), jen.Lit(int(hi)))
	}
}

func (e *emitter) encodeVec(c ctx, f *FieldInfo, expr *jen.Statement) []jen.Code {
	ft := f.Type
	switch f.Vec.Kind {
	case VecNone:
		return e.encodeElem(c, ft, expr)
	case VecFixed:
		if ft.T.Opaque() != nil && !ft.Optional {
			return []jen.Code{jen.Id("b").Op("=").Append(jen.Id("b"), expr.Clone().Index(jen.Op(":")).Op("..."))}
		}
		i := e.tmp("i")
		return []jen.Code{jen.For(jen.Id(i).Op(":=").Range().Add(expr)).Block(e.encodeElem(c, ft, expr.Clone().Index(jen.Id(i)))...)}
	}
	width, lo, hi := bounds(f)
	if f.Vec.Kind == VecMLS && lo == 0 && hi == 0 && ft.T.Opaque() != nil && !ft.Optional {
		return []jen.Code{e.try(c, e.rt("AppendVarintBytes").Call(jen.Id("b"), expr))}
	}
	begin, end := e.vectorPrefix(width, lo, hi)
	start := e.tmp("start")
	out := []jen.Code{
		jen.Var().Id(start).Int(),
		jen.List(jen.Id("b"), jen.Id(start)).Op("=").Add(e.rt(begin)).Call(jen.Id("b")),
	}
	if ft.T.Opaque() != nil && !ft.Optional {
		out = append(out, jen.Id("b").Op("=").Append(jen.Id("b"), expr.Clone().Op("...")))
	} else {
		i := e.tmp("i")
		out = append(out, jen.For(jen.Id(i).Op(":=").Range().Add(expr)).Block(e.encodeElem(c, ft, expr.Clone().Index(jen.Id(i)))...))
	}
	out = append(out, e.try(c, end(jen.Id("b"), jen.Id(start))))
	return out
}

func (e *emitter) encodeElem(c ctx, ft FieldType, expr *jen.Statement) []jen.Code {
	if !ft.Optional {
		return e.encodeBase(c, ft.T, expr)
	}
	val := expr
	if derefOptional(ft.T) {
		val = jen.Parens(jen.Op("*").Add(expr))
	}
	return []jen.Code{jen.If(expr.Clone().Op("==").Nil()).Block(
		jen.Id("b").Op("=").Append(jen.Id("b"), jen.Lit(0)),
	).Else().Block(append([]jen.Code{jen.Id("b").Op("=").Append(jen.Id("b"), jen.Lit(1))}, e.encodeBase(c, ft.T, val)...)...)}
}

// derefOptional reports whether the value of an optional<T> is encoded and
// decoded through *p rather than through the pointer p: numbers, enums and
// named byte vectors (opaque Name<V>), which are handled inline by runtime
// calls, not by methods of their own.
func derefOptional(t *Type) bool {
	return t.Bits() > 0 || isPlainBytes(t)
}

// isPlainBytes reports whether t is an unbounded named byte vector
// (opaque Name<V>), encoded and decoded inline as bytes.
func isPlainBytes(t *Type) bool {
	v := t.Vector()
	return v != nil && v.Vec.Kind == VecMLS && v.Elem.T.Opaque() != nil && !v.Elem.Optional && v.SizeLo == 0 && v.SizeHi == 0
}

func (e *emitter) encodeBase(c ctx, t *Type, expr *jen.Statement) []jen.Code {
	switch d := t.Def.(type) {
	case *Uint:
		return []jen.Code{jen.Id("b").Op("=").Add(e.rt("Append"+uintName(d.Bits))).Call(jen.Id("b"), expr)}
	case *Opaque:
		return []jen.Code{jen.Id("b").Op("=").Append(jen.Id("b"), expr)}
	case *Enum:
		return []jen.Code{jen.Id("b").Op("=").Add(e.rt("Append"+uintName(d.Bits))).Call(jen.Id("b"), jen.Id(fmt.Sprintf("uint%d", d.Bits)).Call(expr))}
	case *Vector:
		if isPlainBytes(t) {
			return []jen.Code{e.try(c, e.rt("AppendVarintBytes").Call(jen.Id("b"), expr))}
		}
	}
	args := []jen.Code{jen.Id("b")}
	if c.arg != nil && paramOf(t) != nil {
		args = append(args, c.arg)
	}
	return []jen.Code{e.try(c, expr.Clone().Dot("AppendTo").Call(args...))}
}
