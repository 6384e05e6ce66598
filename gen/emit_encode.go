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

// structAppendHead emits AppendHead(b, n) for a @head struct: the
// encoding of v up to and including the length prefix of the vector its
// encoding ends in, for that vector's content of n bytes, which the caller
// writes after it (the vector's own value in v is not read). The members
// before the last are encoded as AppendTo does; the last one is headField,
// in each arm for a select.
func (e *emitter) structAppendHead(f *jen.File, t *Type, st *Struct, recv jen.Code, params []jen.Code) {
	e.n = 0
	body := []jen.Code{jen.Var().Id("err").Error()}
	last := len(st.Members) - 1
	for _, m := range st.Members[:last] {
		body = append(body, e.encodeMember(t, st, m)...)
	}
	switch m := st.Members[last].(type) {
	case *FieldInfo:
		body = append(body, e.headField(t, st, m)...)
	case *SelectInfo:
		ends := map[*FieldInfo]bool{}
		empty := false // an arm of no field, which falls out of the switch
		for _, ci := range append(append([]*CaseInfo{}, m.Cases...), m.Default) {
			switch {
			case ci == nil:
			case len(ci.Fields) == 0:
				empty = true
			default:
				ends[ci.Fields[len(ci.Fields)-1]] = true
			}
		}
		c := ctx{typ: t.Name, field: strings.Join(m.Path, ".")}
		body = append(body, e.selectSwitch(st, m, c, func(f *FieldInfo) []jen.Code {
			if ends[f] {
				return e.headField(t, st, f)
			}
			return e.encodeField(t, st, f, goPath("v", []string{f.GoName}))
		}, func(f *FieldInfo) jen.Code {
			return jen.If(jen.Id("v").Dot(f.GoName).Op("==").Nil()).Block(e.encFailWith(ctx{typ: t.Name, field: f.Name}, "ErrMissingArm"))
		}, e.encFailWith(c, "ErrNoArm")))
		if empty {
			body = append(body, e.encFailWith(c, "ErrNoHead"))
		}
	}
	if fi, ok := st.Members[last].(*FieldInfo); ok && fi.Vec.Kind == VecMLS {
		defer e.structAppendTail(f, t, st, fi, recv, params)
	}
	comments(f, "AppendHead appends to b the encoding of v up to and including the\nlength prefix of the vector its encoding ends in, for n bytes of that\nvector's content, which the caller appends after it; the value of that\nvector in v is not read. Appending those n bytes gives v's encoding with\nthem as that vector.")
	f.Func().Params(recv).Id("AppendHead").Params(append([]jen.Code{jen.Id("b").Index().Byte(), jen.Id("n").Int()}, params...)...).
		Params(jen.Index().Byte(), jen.Error()).Block(body...)
}

// structAppendTail emits AppendTail(b) for a @head struct that ends in an
// MLS vector field fi: the encoding of that field alone (length prefix and
// content), what AppendTo writes after AppendHead's bytes. A caller that
// has the encoding of the other fields (a GroupInfoTBS, signed before its
// GroupInfo's signature exists) completes the struct with it, or finds
// where that field starts in an encoding it received.
func (e *emitter) structAppendTail(f *jen.File, t *Type, st *Struct, fi *FieldInfo, recv jen.Code, params []jen.Code) {
	e.n = 0
	body := []jen.Code{jen.Var().Id("err").Error()}
	body = append(body, e.encodeField(t, st, fi, goPath("v", []string{fi.GoName}))...)
	body = append(body, jen.Return(jen.Id("b"), jen.Err()))
	comments(f, fmt.Sprintf("AppendTail appends to b the encoding of v's last field, %s, alone:\nwhat AppendTo writes after the bytes of AppendHead.", fi.Name))
	f.Func().Params(recv).Id("AppendTail").Params(append([]jen.Code{jen.Id("b").Index().Byte()}, params...)...).
		Params(jen.Index().Byte(), jen.Error()).Block(body...)
}

// structSplit emits AppendHeadAt(b, i, n) and AppendTailAt(b, i) for a
// @split(F) struct: its encoding split at the content of the last field
// (an opaque MLS vector) of element i of F, an MLS vector of a @head
// struct. AppendHeadAt writes the members before F, F's length prefix
// (counting n bytes for that content instead of its value's), the
// elements before i and element i's AppendHead(b, n); AppendTailAt writes
// the elements after i and the members after F. Between them the caller
// writes the n bytes in place: a large content (a GroupInfo's
// ratchet_tree extension, §12.4.3.3) is written once, where it belongs,
// instead of being made and then copied into the encoding.
func (e *emitter) structSplit(f *jen.File, t *Type, st *Struct, recv jen.Code, params []jen.Code) {
	sf := st.Split
	es := sf.Type.T.Struct()
	last := es.Members[len(es.Members)-1].(*FieldInfo)
	c := ctx{typ: t.Name, field: sf.Name}
	x := goPath("v", []string{sf.GoName})
	content := x.Clone().Index(jen.Id("i")).Dot(last.GoName)
	bad := jen.If(jen.Id("i").Op("<").Lit(0).Op("||").Id("i").Op(">=").Len(x.Clone()).Op("||").Id("n").Op("<").Lit(0)).Block(e.encFailWith(c, "ErrNoHead"))
	at := -1
	for k, m := range st.Members {
		if m == sf {
			at = k
		}
	}

	e.n = 0
	head := []jen.Code{jen.Var().Id("err").Error(), bad}
	for _, m := range st.Members[:at] {
		head = append(head, e.encodeMember(t, st, m)...)
	}
	_, lo, hi := bounds(sf)
	max := jen.Code(jen.Lit(int(hi)))
	if hi == 0 {
		max = e.rt("MaxVarint")
	}
	j := e.tmp("j")
	head = append(head,
		jen.Id("m").Op(":=").Add(e.rt("VarintSize")).Call(jen.Id("n")).Op("+").Id("n").Op("-").Add(e.rt("VarintSize")).Call(jen.Len(content.Clone())).Op("-").Len(content.Clone()),
		jen.For(jen.Id(j).Op(":=").Range().Add(x.Clone())).Block(jen.Id("m").Op("+=").Add(x.Clone()).Index(jen.Id(j)).Dot("Size").Call()),
		e.try(c, e.rt("AppendVarintLength").Call(jen.Id("b"), jen.Id("m"), jen.Lit(int(lo)), max)),
		jen.For(jen.Id(j).Op(":=").Range().Add(x.Clone()).Index(jen.Empty(), jen.Id("i"))).Block(e.try(c, x.Clone().Index(jen.Id(j)).Dot("AppendTo").Call(jen.Id("b")))),
		e.try(c, x.Clone().Index(jen.Id("i")).Dot("AppendHead").Call(jen.Id("b"), jen.Id("n"))),
		jen.Return(jen.Id("b"), jen.Nil()),
	)
	comments(f, fmt.Sprintf("AppendHeadAt appends to b the encoding of v up to and including the\nlength prefix of %s of element i of %s, for n bytes of that\nfield's content, which the caller appends after it; the value of that\nfield in v is not read. Appending those n bytes and then AppendTailAt\ngives v's encoding with them as that field.", last.Name, sf.Name))
	f.Func().Params(recv).Id("AppendHeadAt").Params(append([]jen.Code{jen.Id("b").Index().Byte(), jen.List(jen.Id("i"), jen.Id("n")).Int()}, params...)...).
		Params(jen.Index().Byte(), jen.Error()).Block(head...)

	e.n = 0
	badTail := jen.If(jen.Id("i").Op("<").Lit(0).Op("||").Id("i").Op(">=").Len(x.Clone())).Block(e.encFailWith(c, "ErrNoHead"))
	tail := []jen.Code{jen.Var().Id("err").Error(), badTail}
	k := e.tmp("k")
	tail = append(tail, jen.For(jen.Id(k).Op(":=").Id("i").Op("+").Lit(1), jen.Id(k).Op("<").Len(x.Clone()), jen.Id(k).Op("++")).Block(e.try(c, x.Clone().Index(jen.Id(k)).Dot("AppendTo").Call(jen.Id("b")))))
	for _, m := range st.Members[at+1:] {
		tail = append(tail, e.encodeMember(t, st, m)...)
	}
	tail = append(tail, jen.Return(jen.Id("b"), jen.Err()))
	comments(f, fmt.Sprintf("AppendTailAt appends to b what AppendTo writes after the content of\n%s of element i of %s: the elements after it and the fields\nafter %s (see AppendHeadAt).", last.Name, sf.Name, sf.Name))
	f.Func().Params(recv).Id("AppendTailAt").Params(append([]jen.Code{jen.Id("b").Index().Byte(), jen.Id("i").Int()}, params...)...).
		Params(jen.Index().Byte(), jen.Error()).Block(tail...)
}

// headField ends an AppendHead at field f: the varint length prefix of an
// MLS vector of n bytes (checked against its bounds), the AppendHead of a
// field of a @head struct type, or ErrNoHead for any other field (the last
// of a select arm that has no head).
func (e *emitter) headField(t *Type, st *Struct, f *FieldInfo) []jen.Code {
	c := ctx{typ: t.Name, field: f.Name, arg: e.argFor(st, f)}
	if !headable(f) {
		return []jen.Code{e.encFailWith(c, "ErrNoHead")}
	}
	x := goPath("v", []string{f.GoName})
	if f.Vec.Kind == VecMLS {
		_, lo, hi := bounds(f)
		max := jen.Code(jen.Lit(int(hi)))
		if hi == 0 {
			max = e.rt("MaxVarint")
		}
		return []jen.Code{
			e.try(c, e.rt("AppendVarintLength").Call(jen.Id("b"), jen.Id("n"), jen.Lit(int(lo)), max)),
			jen.Return(jen.Id("b"), jen.Nil()),
		}
	}
	args := []jen.Code{jen.Id("b"), jen.Id("n")}
	if c.arg != nil {
		args = append(args, c.arg)
	}
	return []jen.Code{
		e.try(c, x.Dot("AppendHead").Call(args...)),
		jen.Return(jen.Id("b"), jen.Nil()),
	}
}

func (e *emitter) vectorAppendTo(f *jen.File, t *Type, fi *FieldInfo) {
	c := ctx{typ: t.Name, field: "", reader: "r"}
	if loopsOverElements(fi) {
		e.vectorElementEncoder(f, t, fi)
		c.elemFn = elemEncoderName(t)
	}
	e.n = 0
	enc := []jen.Code{jen.Var().Id("err").Error()}
	enc = append(enc, e.encodeVec(c, fi, jen.Id("v"))...)
	enc = append(enc, jen.Return(jen.Id("b"), jen.Err()))
	f.Commentf("AppendTo appends the encoding of v to b.")
	f.Func().Params(jen.Id("v").Id(t.GoName)).Id("AppendTo").Params(jen.Id("b").Index().Byte()).
		Params(jen.Index().Byte(), jen.Error()).Block(enc...)
	if loopsOverElements(fi) && fi.Vec.Kind == VecMLS {
		e.vectorFrame(f, t, fi)
	}
}

// loopsOverElements reports whether a vector's encoder writes its elements
// one by one (all but byte vectors, which it appends at once).
func loopsOverElements(fi *FieldInfo) bool {
	return fi.Type.T.Opaque() == nil || fi.Type.Optional
}

// elemEncoderName is the element encoder of a named vector type X:
// AppendXElement.
func elemEncoderName(t *Type) string { return "Append" + t.GoName + "Element" }

// elemByPointer reports whether a vector element of type ft is handed to
// its element encoder by pointer: a struct (or another name for one), not
// copied for the call. Optional elements already are pointers.
func elemByPointer(ft FieldType) bool {
	if ft.Optional {
		return false
	}
	if a := ft.T.Alias(); a != nil {
		return a.Target.Struct() != nil
	}
	return ft.T.Struct() != nil
}

// vectorElementEncoder emits AppendXElement for a named vector type X whose
// elements are written one by one: it appends the encoding of one element
// (with its optional's presence octet, RFC 9420 §2.1.1), exactly as X's
// AppendTo writes each element, which calls it. With FrameX, a caller that
// keeps the elements' encodings can rebuild the vector from them.
func (e *emitter) vectorElementEncoder(f *jen.File, t *Type, fi *FieldInfo) {
	e.n = 0
	c := ctx{typ: t.Name, field: "", reader: "r"}
	ft := fi.Type
	param := e.elemType(ft)
	if elemByPointer(ft) {
		param = jen.Op("*").Add(param)
	}
	body := []jen.Code{jen.Var().Id("err").Error()}
	body = append(body, e.encodeElem(c, ft, jen.Id("x"))...)
	body = append(body, jen.Return(jen.Id("b"), jen.Err()))
	name := elemEncoderName(t)
	comments(f, fmt.Sprintf("%s appends to b the encoding of x as\n%s.AppendTo writes each of its elements.", name, t.GoName))
	f.Func().Id(name).Params(jen.Id("b").Index().Byte(), jen.Id("x").Add(param)).
		Params(jen.Index().Byte(), jen.Error()).Block(body...)
}

// vectorFrame emits FrameX for a named MLS vector type X (T X<V>): the
// vector X made, without moving them, of elements already encoded (by
// AppendXElement) in buf[start:], its varint length prefix written into
// room the caller left before them (codec.FrameVarintVector).
func (e *emitter) vectorFrame(f *jen.File, t *Type, fi *FieldInfo) {
	c := ctx{typ: t.Name, field: "", reader: "r"}
	_, lo, hi := bounds(fi)
	max := jen.Code(jen.Lit(int(hi)))
	if hi == 0 {
		max = e.rt("MaxVarint")
	}
	name := "Frame" + t.GoName
	comments(f, fmt.Sprintf("%s returns the %s whose elements' encodings\n(%s) are buf[start:], writing its length prefix\ninto the MaxVarintLen bytes of room before start (FrameVarintVector):\nbuf[start-k:] for a prefix of k bytes, the content not moved.", name, t.GoName, elemEncoderName(t)))
	f.Func().Id(name).Params(jen.Id("buf").Index().Byte(), jen.Id("start").Int()).
		Params(jen.Index().Byte(), jen.Error()).Block(
		jen.List(jen.Id("b"), jen.Err()).Op(":=").Add(e.rt("FrameVarintVector")).Call(jen.Id("buf"), jen.Id("start"), jen.Lit(int(lo)), max),
		jen.If(jen.Err().Op("!=").Nil()).Block(e.encFail(c)),
		jen.Return(jen.Id("b"), jen.Nil()),
	)
}

// comments emits text as a comment of one line per line of text.
func comments(f *jen.File, text string) {
	for _, l := range strings.Split(text, "\n") {
		f.Comment(l)
	}
}

// vecElem encodes one element of a vector: by a call of the named vector
// type's element encoder (c.elemFn), or inline.
func (e *emitter) vecElem(c ctx, ft FieldType, x *jen.Statement) []jen.Code {
	if c.elemFn == "" {
		return e.encodeElem(c, ft, x)
	}
	if elemByPointer(ft) {
		x = jen.Op("&").Add(x)
	}
	return []jen.Code{e.try(c, jen.Id(c.elemFn).Call(jen.Id("b"), x))}
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
		return []jen.Code{jen.For(jen.Id(i).Op(":=").Range().Add(expr)).Block(e.vecElem(c, ft, expr.Clone().Index(jen.Id(i)))...)}
	}
	width, lo, hi := bounds(f)
	if f.Vec.Kind == VecMLS && lo == 0 && hi == 0 && ft.T.Opaque() != nil && !ft.Optional {
		return []jen.Code{e.try(c, e.rt("AppendVarintBytes").Call(jen.Id("b"), expr))}
	}
	if f.Vec.Kind == VecMLS && lo == 0 && hi == 0 {
		if sz, ok := e.flatSize(ft, 0); ok {
			return e.encodeSizedVec(c, ft, expr, sz)
		}
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
		out = append(out, jen.For(jen.Id(i).Op(":=").Range().Add(expr)).Block(e.vecElem(c, ft, expr.Clone().Index(jen.Id(i)))...))
	}
	out = append(out, e.try(c, end(jen.Id("b"), jen.Id(start))))
	return out
}

// encodeSizedVec encodes an unbounded MLS vector (T x<V>) whose elements'
// sizes are cheap to compute (flatSize): their sum first, then the varint
// prefix, then the elements, so that the content is written once, never
// moved to widen the prefix as EndVarintVector does when the length needs
// more than one byte. A vector of extensions holding a whole ratchet tree
// (a GroupInfo's, RFC 9420 §12.4.3.3) is so not copied twice.
func (e *emitter) encodeSizedVec(c ctx, ft FieldType, expr *jen.Statement, sz elemSize) []jen.Code {
	n, i := e.tmp("n"), e.tmp("i")
	var out []jen.Code
	if sz.fn == nil {
		out = append(out, jen.Id(n).Op(":=").Len(expr.Clone()).Op("*").Lit(sz.fixed))
	} else {
		j := e.tmp("i")
		out = append(out,
			jen.Id(n).Op(":=").Lit(0),
			jen.For(jen.Id(j).Op(":=").Range().Add(expr)).Block(jen.Id(n).Op("+=").Add(sz.fn(expr.Clone().Index(jen.Id(j))))))
	}
	return append(out,
		e.try(c, e.rt("AppendVarint").Call(jen.Id("b"), jen.Uint64().Call(jen.Id(n)))),
		jen.For(jen.Id(i).Op(":=").Range().Add(expr)).Block(e.vecElem(c, ft, expr.Clone().Index(jen.Id(i)))...),
	)
}

// elemSize is the encoded size of a value: fixed bytes when fn is nil,
// else the expression fn gives from an expression of the value.
type elemSize struct {
	fixed int
	fn    func(x *jen.Statement) jen.Code
}

// flatSize returns the encoded size of a vector element of type ft, ok
// only if that size is a sum of fixed sizes and byte vector lengths: a
// number or enum, an unbounded byte vector (opaque x<V>), or a struct of
// such fields (and of such structs, up to a small depth) with no select,
// parameter, padding or optional.
func (e *emitter) flatSize(ft FieldType, depth int) (elemSize, bool) {
	if ft.Optional || depth > 2 {
		return elemSize{}, false
	}
	t := ft.T
	switch d := t.Def.(type) {
	case *Uint, *Enum:
		return elemSize{fixed: t.Bits() / 8}, true
	case *Vector:
		if isPlainBytes(t) {
			return elemSize{fn: e.bytesSize}, true
		}
	case *Struct:
		if d.Param != nil || len(d.Members) == 0 {
			return elemSize{}, false
		}
		fixed := 0
		var parts []func(x *jen.Statement) jen.Code
		for _, m := range d.Members {
			f, ok := m.(*FieldInfo)
			if !ok || f.Padding || f.Arm || f.Pointer || f.Arg != nil {
				return elemSize{}, false
			}
			if f.Const != nil {
				fixed += f.Type.T.Bits() / 8
				continue
			}
			var sz elemSize
			switch {
			case f.Vec.Kind == VecNone:
				if sz, ok = e.flatSize(f.Type, depth+1); !ok {
					return elemSize{}, false
				}
			case f.Vec.Kind == VecMLS && !f.HasSize && f.SizeLo == 0 && f.SizeHi == 0 && f.Type.T.Opaque() != nil && !f.Type.Optional:
				sz = elemSize{fn: e.bytesSize}
			default:
				return elemSize{}, false
			}
			if sz.fn == nil {
				fixed += sz.fixed
				continue
			}
			name := f.GoName
			parts = append(parts, func(x *jen.Statement) jen.Code { return sz.fn(x.Clone().Dot(name)) })
		}
		if len(parts) == 0 {
			return elemSize{fixed: fixed}, true
		}
		return elemSize{fn: func(x *jen.Statement) jen.Code {
			sum := jen.Add(parts[0](x))
			if fixed > 0 {
				sum = jen.Lit(fixed).Op("+").Add(sum)
			}
			for _, p := range parts[1:] {
				sum = sum.Op("+").Add(p(x))
			}
			return sum
		}}, true
	}
	return elemSize{}, false
}

// bytesSize is the encoded size of a byte vector x<V>: its varint prefix
// and its content.
func (e *emitter) bytesSize(x *jen.Statement) jen.Code {
	return jen.Add(e.rt("VarintSize")).Call(jen.Len(x)).Op("+").Len(x.Clone())
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
