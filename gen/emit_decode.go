package gen

import (
	"fmt"
	"strings"

	"github.com/dave/jennifer/jen"
)

// Decoders: Decode reads a value from a Reader, which never reads past its
// input; every failure is an *Error naming the type, field and offset.

func (e *emitter) structDecode(f *jen.File, t *Type, st *Struct, recv jen.Code, params []jen.Code) {
	e.n = 0
	dec := []jen.Code{
		jen.Op("*").Id("v").Op("=").Id(t.GoName).Values(),
		jen.Var().Id("err").Error(),
	}
	for _, m := range st.Members {
		dec = append(dec, e.decodeMember(t, st, m)...)
	}
	dec = append(dec, jen.Return(jen.Err()))
	e.decodeMethods(f, t, params, e.paramArgs(st), dec)
}

// decodeMethods emits Decode with the body dec, or, when t's decoding uses
// slabs, Decode making the slab set and decode with the body.
func (e *emitter) decodeMethods(f *jen.File, t *Type, params, args []jen.Code, dec []jen.Code) {
	recv := jen.Id("v").Op("*").Id(t.GoName)
	if !e.usesSlabs(t) {
		f.Commentf("Decode reads one %s from r.", t.GoName)
		f.Func().Params(recv).Id("Decode").Params(append([]jen.Code{jen.Id("r").Op("*").Add(e.rt("Reader"))}, params...)...).
			Error().Block(dec...)
		return
	}
	e.decodeEntry(f, t, params, args)
	f.Commentf("%s is Decode taking values from the slab set of the decoding.", decodeImpl)
	f.Func().Params(recv).Id(decodeImpl).Params(e.decodeParams(params)...).Error().Block(dec...)
}

func (e *emitter) vectorDecode(f *jen.File, t *Type, v *Vector, fi *FieldInfo) {
	e.n = 0
	c := ctx{typ: t.Name, field: "", reader: "r", named: true}
	self := jen.Parens(jen.Op("*").Id("v"))
	dec := []jen.Code{jen.Var().Id("err").Error()}
	if v.Vec.Kind != VecFixed && !isPlainBytes(t) {
		dec = append(dec, self.Clone().Op("=").Nil())
	}
	dec = append(dec, e.decodeVec(c, fi, self)...)
	dec = append(dec, jen.Return(jen.Err()))
	e.decodeMethods(f, t, nil, nil, dec)
}

// vectorDecodeEach emits DecodeEach for a named @each vector: Decode, which
// also hands each element, once decoded, to a callback.
func (e *emitter) vectorDecodeEach(f *jen.File, t *Type, v *Vector, fi *FieldInfo) {
	e.n = 0
	c := ctx{typ: t.Name, field: "", reader: "r", named: true, each: "each"}
	self := jen.Parens(jen.Op("*").Id("v"))
	var dec []jen.Code
	if e.usesSlabs(t) {
		dec = append(dec, jen.Id(slabsVar).Op(":=").Id(newSlabs).Call(jen.Id("r")))
	}
	dec = append(dec, jen.Var().Id("err").Error(), self.Clone().Op("=").Nil())
	dec = append(dec, e.decodeVec(c, fi, self)...)
	dec = append(dec, jen.Return(jen.Err()))
	f.Commentf("DecodeEach is Decode, which also calls each with every element as")
	f.Commentf("soon as it is decoded, with its index in the vector (nil for an absent")
	f.Commentf("one); the element does not move afterwards. An error of each ends the")
	f.Commentf("decoding and is returned as is. Once DecodeEach fails, the elements")
	f.Commentf("handed out are not a valid %s.", t.GoName)
	f.Func().Params(jen.Id("v").Op("*").Id(t.GoName)).Id("DecodeEach").Params(
		jen.Id("r").Op("*").Add(e.rt("Reader")),
		jen.Id("each").Func().Params(jen.Int(), e.elemType(v.Elem)).Error(),
	).Error().Block(dec...)
}

func (e *emitter) decFail(c ctx) jen.Code {
	return jen.Return(e.rt("WrapError").Call(jen.Err(), jen.Lit(c.typ), jen.Lit(c.field), jen.Id(c.reader).Dot("Offset").Call()))
}

func (e *emitter) decFailWith(c ctx, sentinel string, back int) jen.Code {
	off := jen.Id(c.reader).Dot("Offset").Call()
	if back > 0 {
		off = off.Op("-").Lit(back)
	}
	return jen.Return(e.rt("WrapError").Call(e.rt(sentinel), jen.Lit(c.typ), jen.Lit(c.field), off))
}

func (e *emitter) decodeMember(t *Type, st *Struct, m StructMember) []jen.Code {
	switch m := m.(type) {
	case *FieldInfo:
		return e.decodeField(t, st, m, goPath("v", []string{m.GoName}))
	case *SelectInfo:
		c := ctx{typ: t.Name, field: strings.Join(m.Path, "."), reader: "r"}
		return []jen.Code{e.selectSwitch(st, m, c, func(f *FieldInfo) []jen.Code {
			return e.decodeField(t, st, f, goPath("v", []string{f.GoName}))
		}, nil, e.decFailWith(c, "ErrNoArm", 0))}
	}
	return nil
}

func (e *emitter) decodeField(t *Type, st *Struct, f *FieldInfo, expr *jen.Statement) []jen.Code {
	c := ctx{typ: t.Name, field: f.Name, reader: "r", arg: e.argFor(st, f)}
	switch {
	case f.Const != nil:
		x := e.tmp("x")
		id := f.Type.T.GoName + GoName(f.Const.Name)
		bits := f.Type.T.Bits()
		return []jen.Code{
			jen.Var().Id(x).Id(fmt.Sprintf("uint%d", bits)),
			jen.If(jen.List(jen.Id(x), jen.Err()).Op("=").Id("r").Dot("Read"+uintName(bits)).Call(), jen.Err().Op("!=").Nil()).Block(e.decFail(c)),
			jen.If(jen.Id(f.Type.T.GoName).Call(jen.Id(x)).Op("!=").Id(id)).Block(e.decFailWith(c, "ErrConstant", bits/8)),
		}
	case f.Padding:
		return []jen.Code{jen.If(jen.List(expr, jen.Err()).Op("=").Id("r").Dot("ReadZeroPadding").Call(), jen.Err().Op("!=").Nil()).Block(e.decFail(c))}
	case f.Pointer:
		return append([]jen.Code{expr.Clone().Op("=").Add(e.newValue(f.Type.T))}, e.decodeBase(c, f.Type.T, expr)...)
	}
	return e.decodeVec(c, f, expr)
}

func (e *emitter) tryDec(c ctx, lhs *jen.Statement, call jen.Code) jen.Code {
	return jen.If(jen.List(lhs, jen.Err()).Op("=").Add(call), jen.Err().Op("!=").Nil()).Block(e.decFail(c))
}

// readLength names the Reader method that reads a vector's length prefix of
// width bytes (0: varint).
func readLength(width int) string {
	if width == 0 {
		return "ReadVarintLength"
	}
	return fmt.Sprintf("ReadUint%dLength", 8*width)
}

// fixedSize is the encoded size of a number type, or 0.
func fixedSize(t *Type) int {
	return t.Bits() / 8
}

func (e *emitter) decodeVec(c ctx, f *FieldInfo, expr *jen.Statement) []jen.Code {
	ft := f.Type
	rd := jen.Id(c.reader)
	switch f.Vec.Kind {
	case VecNone:
		return e.decodeElem(c, ft, expr)
	case VecFixed:
		if ft.T.Opaque() != nil && !ft.Optional {
			return []jen.Code{jen.If(jen.Err().Op("=").Add(rd).Dot("ReadFull").Call(expr.Clone().Index(jen.Op(":"))), jen.Err().Op("!=").Nil()).Block(e.decFail(c))}
		}
		i := e.tmp("i")
		return []jen.Code{jen.For(jen.Id(i).Op(":=").Range().Add(expr)).Block(e.decodeElem(c, ft, expr.Clone().Index(jen.Id(i)))...)}
	}
	width, lo, hi := bounds(f)
	if f.Vec.Kind == VecMLS && lo == 0 && hi == 0 && ft.T.Opaque() != nil && !ft.Optional {
		return []jen.Code{e.tryDec(c, expr, rd.Clone().Dot("ReadVarintBytes").Call())}
	}
	n := e.tmp("n")
	out := []jen.Code{
		jen.Var().Id(n).Int(),
		e.tryDec(c, jen.Id(n), rd.Clone().Dot(readLength(width)).Call()),
	}
	if lo > 0 || hi > 0 {
		cond := jen.Id(n).Op("<").Lit(int(lo))
		if hi > 0 {
			cond = cond.Op("||").Id(n).Op(">").Lit(int(hi))
		}
		out = append(out, jen.If(cond).Block(e.decFailWith(c, "ErrLengthBound", 0)))
	}
	if ft.T.Opaque() != nil && !ft.Optional {
		return append(out, e.tryDec(c, expr, rd.Clone().Dot("ReadBytes").Call(jen.Id(n))))
	}
	sub, sr := e.tmp("sub"), e.tmp("r")
	out = append(out,
		jen.List(jen.Id(sub), jen.Err()).Op(":=").Add(rd).Dot("Sub").Call(jen.Id(n)),
		jen.If(jen.Err().Op("!=").Nil()).Block(e.decFail(c)),
		jen.Id(sr).Op(":=").Op("&").Id(sub),
	)
	if size := fixedSize(ft.T); size > 0 && !ft.Optional {
		out = append(out, jen.If(jen.Id(n).Op(">").Lit(0)).Block(
			expr.Clone().Op("=").Add(e.newRun(ft, jen.Id(n).Op("/").Lit(size))),
		))
	}
	inner := c
	inner.reader = sr
	if size := fixedSize(ft.T); size > 0 && !ft.Optional {
		// The run was allocated from the byte length: its elements are not
		// counted against the decoding's element limit (Reader.Empty).
		el := e.tmp("e")
		body := []jen.Code{jen.Var().Id(el).Add(e.elemType(ft))}
		body = append(body, e.decodeElem(inner, ft, jen.Id(el))...)
		body = append(body, expr.Clone().Op("=").Append(expr, jen.Id(el)))
		out = append(out, jen.For(jen.Id(sr).Dot("Len").Call().Op(">").Lit(0)).Block(body...))
		return []jen.Code{jen.Block(out...)}
	}
	// Elements of varying size are decoded onto the scratch stack of their
	// type and copied into a vector of the exact length at the end (see
	// emit_slabs.go).
	push, mark, pop := e.useStack(ft)
	m, p := e.tmp("m"), e.tmp("p")
	vec := jen.Op("&").Add(expr.Clone())
	if c.named {
		vec = jen.Parens(jen.Op("*").Index().Add(e.elemType(ft))).Call(jen.Id("v"))
	}
	out = append(out, jen.Id(m).Op(":=").Id(slabsVar).Dot(mark).Call())
	inner.each = ""
	body := []jen.Code{jen.Id(p).Op(":=").Id(slabsVar).Dot(push).Call(vec)}
	if ft.T.Struct() != nil && !ft.Optional {
		body = append(body, e.decodeBase(inner, ft.T, jen.Id(p))...)
	} else {
		body = append(body, e.decodeElem(inner, ft, jen.Parens(jen.Op("*").Id(p)))...)
	}
	if c.each != "" {
		// DecodeEach: the element (a pointer, see Vector.Each) to the
		// callback, with its index.
		i := e.tmp("i")
		out = append(out, jen.Id(i).Op(":=").Lit(0))
		body = append(body,
			jen.If(jen.Err().Op("=").Id(c.each).Call(jen.Id(i), jen.Op("*").Id(p)), jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Err())),
			jen.Id(i).Op("++"),
		)
	}
	out = append(out, jen.For(jen.Op("!").Id(sr).Dot("Empty").Call()).Block(body...))
	out = append(out, jen.Id(slabsVar).Dot(pop).Call(jen.Id(m), vec))
	return []jen.Code{jen.Block(out...)}
}

func (e *emitter) decodeElem(c ctx, ft FieldType, expr *jen.Statement) []jen.Code {
	if !ft.Optional {
		return e.decodeBase(c, ft.T, expr)
	}
	p := e.tmp("present")
	val := expr
	if derefOptional(ft.T) {
		val = jen.Parens(jen.Op("*").Add(expr))
	}
	return []jen.Code{
		jen.Var().Id(p).Bool(),
		e.tryDec(c, jen.Id(p), jen.Id(c.reader).Dot("ReadPresence").Call()),
		jen.If(jen.Id(p)).Block(append([]jen.Code{expr.Clone().Op("=").Add(e.newValue(ft.T))}, e.decodeBase(c, ft.T, val)...)...),
	}
}

func (e *emitter) decodeBase(c ctx, t *Type, expr *jen.Statement) []jen.Code {
	rd := jen.Id(c.reader)
	switch d := t.Def.(type) {
	case *Uint, *Opaque:
		return []jen.Code{e.tryDec(c, expr, rd.Clone().Dot("Read"+uintName(t.Bits())).Call())}
	case *Enum:
		x := e.tmp("x")
		out := []jen.Code{
			jen.Var().Id(x).Id(fmt.Sprintf("uint%d", d.Bits)),
			e.tryDec(c, jen.Id(x), rd.Clone().Dot("Read"+uintName(d.Bits)).Call()),
			expr.Clone().Op("=").Id(t.GoName).Call(jen.Id(x)),
		}
		if !d.Open {
			out = append(out, jen.If(jen.Op("!").Add(expr).Dot("IsKnown").Call()).Block(e.decFailWith(c, "ErrUnknownEnumValue", d.Bits/8)))
		}
		return out
	case *Vector:
		if isPlainBytes(t) {
			return []jen.Code{e.tryDec(c, expr, rd.Clone().Dot("ReadVarintBytes").Call())}
		}
	}
	method, args := "Decode", []jen.Code{rd}
	if e.usesSlabs(t) {
		method, args = decodeImpl, append(args, jen.Id(slabsVar))
	}
	if c.arg != nil && paramOf(t) != nil {
		args = append(args, c.arg)
	}
	return []jen.Code{jen.If(jen.Err().Op("=").Add(expr).Dot(method).Call(args...), jen.Err().Op("!=").Nil()).Block(e.decFail(c))}
}
