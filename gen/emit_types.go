package gen

import (
	"fmt"
	"strings"

	"github.com/dave/jennifer/jen"
)

// The Go types of the schema's types, and the methods every one of them has
// (AppendTo, Size, Marshal, Unmarshal, Decode, Validate) in that order;
// their bodies come from emit_encode.go, emit_size.go, emit_decode.go and
// emit_validate.go.

func (e *emitter) enum(f *jen.File, t *Type, en *Enum) {
	kind, note := "a closed enum", "Decoders reject values it does not name."
	if en.Open {
		kind, note = "an open enum", "Values it does not name decode and re-encode unchanged."
	}
	e.typeDoc(f, t, kind, note)
	f.Type().Id(t.GoName).Id(fmt.Sprintf("uint%d", en.Bits))
	var consts []jen.Code
	var cases []jen.Code
	var names []jen.Code
	for _, v := range en.Values {
		if v.Name == "reserved" {
			continue
		}
		id := t.GoName + GoName(v.Name)
		c := jen.Id(id).Id(t.GoName).Op("=").Lit(int(v.Value))
		if v.Comment != "" {
			c.Comment(lineComment(v.Comment))
		}
		consts = append(consts, docLines(v.Doc)...)
		consts = append(consts, c)
		cases = append(cases, jen.Id(id))
		names = append(names, jen.Case(jen.Id(id)).Block(jen.Return(jen.Lit(v.Name))))
	}
	if len(consts) > 0 {
		f.Const().Defs(consts...)
	}
	f.Commentf("IsKnown reports whether e is a value the schema names.")
	if len(cases) == 0 {
		f.Func().Params(jen.Id("e").Id(t.GoName)).Id("IsKnown").Params().Bool().Block(jen.Return(jen.False()))
	} else {
		f.Func().Params(jen.Id("e").Id(t.GoName)).Id("IsKnown").Params().Bool().Block(
			jen.Switch(jen.Id("e")).Block(jen.Case(cases...).Block(jen.Return(jen.True()))),
			jen.Return(jen.False()),
		)
	}
	f.Commentf("String returns the schema name of e, or %s(n) for a value it does not name.", t.GoName)
	body := []jen.Code{}
	if len(names) > 0 {
		body = append(body, jen.Switch(jen.Id("e")).Block(names...))
	}
	body = append(body, jen.Return(jen.Qual("fmt", "Sprintf").Call(jen.Lit(t.GoName+"(%d)"), jen.Id("e"))))
	f.Func().Params(jen.Id("e").Id(t.GoName)).Id("String").Params().String().Block(body...)
}

// params are the extra parameters of a struct's methods: its discriminant,
// when it selects on another struct's field.
func (e *emitter) params(st *Struct) []jen.Code {
	if st == nil || st.Param == nil {
		return nil
	}
	return []jen.Code{jen.Id(st.Param.GoName).Id(st.Param.Enum.GoName)}
}

// paramArgs passes a struct's own parameters on.
func (e *emitter) paramArgs(st *Struct) []jen.Code {
	if st == nil || st.Param == nil {
		return nil
	}
	return []jen.Code{jen.Id(st.Param.GoName)}
}

func goPath(root string, path []string) *jen.Statement {
	s := jen.Id(root)
	for _, p := range path {
		s = s.Dot(p)
	}
	return s
}

// argFor is the discriminant argument passed to a field's struct type.
func (e *emitter) argFor(owner *Struct, f *FieldInfo) jen.Code {
	if st := f.Type.T.Struct(); st == nil || st.Param == nil {
		return nil
	}
	if f.Arg != nil {
		return goPath("v", f.Arg)
	}
	return jen.Id(owner.Param.GoName)
}

func (e *emitter) structType(f *jen.File, t *Type, st *Struct) {
	var fields []jen.Code
	for i, fi := range st.GoField {
		s := jen.Id(fi.GoName).Add(e.fieldType(fi))
		var note string
		switch {
		case fi.Padding:
			note = "number of zero bytes of " + fi.Name
		case fi.Pointer:
			note = "arm of a select: set only when selected"
		}
		if c := lineComment(note, fi.Comment); c != "" {
			s.Comment(c)
		}
		if fi.Doc != "" && i > 0 {
			fields = append(fields, jen.Line())
		}
		fields = append(fields, docLines(fi.Doc)...)
		fields = append(fields, s)
	}
	var notes []string
	if st.Param != nil {
		notes = append(notes, fmt.Sprintf("Its methods take the %s.%s that selects its arms.", st.Param.Owner.Name, strings.Join(st.Param.Path, ".")))
	}
	e.typeDoc(f, t, "a struct", notes...)
	f.Type().Id(t.GoName).Struct(fields...)

	recv := jen.Id("v").Op("*").Id(t.GoName)
	params := e.params(st)
	e.structAppendTo(f, t, st, recv, params)
	if st.Head {
		e.structAppendHead(f, t, st, recv, params)
	}
	if st.Split != nil {
		e.structSplit(f, t, st, recv, params)
	}
	e.structSize(f, t, st, recv, params)
	e.marshalUnmarshal(f, t, recv, params, e.paramArgs(st))
	e.structDecode(f, t, st, recv, params)
	e.structValidate(f, t, st, recv, params)
}

func (e *emitter) marshalUnmarshal(f *jen.File, t *Type, recv jen.Code, params, args []jen.Code) {
	e.marshal(f, recv, params, args)
	e.unmarshal(f, t, params, args)
}

// marshal emits Marshal: AppendTo into a buffer of exactly Size bytes,
// allocated once.
func (e *emitter) marshal(f *jen.File, recv jen.Code, params, args []jen.Code) {
	f.Commentf("Marshal returns the encoding of v, in a buffer allocated once at its Size.")
	buf := jen.Make(jen.Index().Byte(), jen.Lit(0), jen.Id("v").Dot("Size").Call(args...))
	f.Func().Params(recv).Id("Marshal").Params(params...).Params(jen.Index().Byte(), jen.Error()).Block(
		jen.Return(jen.Id("v").Dot("AppendTo").Call(append([]jen.Code{buf}, args...)...)),
	)
}

func (e *emitter) unmarshal(f *jen.File, t *Type, params, args []jen.Code) {
	f.Commentf("Unmarshal decodes data, which must hold exactly one %s.", t.GoName)
	f.Func().Params(jen.Id("v").Op("*").Id(t.GoName)).Id("Unmarshal").Params(append([]jen.Code{jen.Id("data").Index().Byte()}, params...)...).Error().Block(
		jen.Id("r").Op(":=").Add(e.rt("NewReader")).Call(jen.Qual("bytes", "Clone").Call(jen.Id("data"))),
		jen.If(jen.Err().Op(":=").Id("v").Dot("Decode").Call(append([]jen.Code{jen.Id("r")}, args...)...), jen.Err().Op("!=").Nil()).Block(
			jen.Return(jen.Err()),
		),
		jen.If(jen.Err().Op(":=").Id("r").Dot("Finish").Call(), jen.Err().Op("!=").Nil()).Block(
			jen.Return(e.rt("WrapError").Call(jen.Err(), jen.Lit(t.Name), jen.Lit(""), jen.Id("r").Dot("Offset").Call())),
		),
		jen.Return(jen.Nil()),
	)
}

// vectorField describes a named vector as the field its methods encode.
func vectorField(t *Type, v *Vector) *FieldInfo {
	return &FieldInfo{Name: t.Name, GoName: t.GoName, Type: v.Elem, Vec: v.Vec,
		SizeLo: v.SizeLo, SizeHi: v.SizeHi, HasSize: v.SizeLo != 0 || v.SizeHi != 0}
}

func (e *emitter) vectorType(f *jen.File, t *Type, v *Vector) {
	e.typeDoc(f, t, "a vector")
	f.Type().Id(t.GoName).Add(e.vecType(v.Elem, v.Vec))
	fi := vectorField(t, v)
	e.vectorAppendTo(f, t, fi)
	e.vectorSize(f, t, fi)
	e.marshal(f, jen.Id("v").Id(t.GoName), nil, nil)
	e.unmarshal(f, t, nil, nil)
	e.vectorDecode(f, t, v, fi)
	e.vectorValidate(f, t, fi)
	if v.Each {
		e.vectorDecodeEach(f, t, v, fi)
	}
}

// aliasType emits another name for a type, whose methods convert to the
// target's.
func (e *emitter) aliasType(f *jen.File, t *Type, a *Alias) {
	target := a.Target
	e.typeDoc(f, t, "another name for "+target.GoName)
	f.Type().Id(t.GoName).Id(target.GoName)
	ptrOnly := target.Struct() != nil
	params, args := e.params(target.Struct()), e.paramArgs(target.Struct())
	valRecv := jen.Id("v").Id(t.GoName)
	conv := jen.Id(target.GoName).Call(jen.Id("v"))
	if ptrOnly {
		valRecv = jen.Id("v").Op("*").Id(t.GoName)
		conv = jen.Parens(jen.Op("*").Id(target.GoName)).Call(jen.Id("v"))
	}
	ptrConv := jen.Parens(jen.Op("*").Id(target.GoName)).Call(jen.Id("v"))
	ptrRecv := jen.Id("v").Op("*").Id(t.GoName)
	f.Commentf("AppendTo appends the encoding of v to b.")
	f.Func().Params(valRecv).Id("AppendTo").Params(append([]jen.Code{jen.Id("b").Index().Byte()}, params...)...).
		Params(jen.Index().Byte(), jen.Error()).Block(jen.Return(conv.Clone().Dot("AppendTo").Call(append([]jen.Code{jen.Id("b")}, args...)...)))
	comments(f, sizeDoc)
	f.Func().Params(valRecv).Id("Size").Params(params...).Int().
		Block(jen.Return(conv.Clone().Dot("Size").Call(args...)))
	f.Commentf("Marshal returns the encoding of v.")
	f.Func().Params(valRecv).Id("Marshal").Params(params...).Params(jen.Index().Byte(), jen.Error()).
		Block(jen.Return(conv.Clone().Dot("Marshal").Call(args...)))
	f.Commentf("Unmarshal decodes data, which must hold exactly one %s.", t.GoName)
	f.Func().Params(ptrRecv).Id("Unmarshal").Params(append([]jen.Code{jen.Id("data").Index().Byte()}, params...)...).Error().
		Block(jen.Return(ptrConv.Clone().Dot("Unmarshal").Call(append([]jen.Code{jen.Id("data")}, args...)...)))
	f.Commentf("Decode reads one %s from r.", t.GoName)
	f.Func().Params(ptrRecv).Id("Decode").Params(append([]jen.Code{jen.Id("r").Op("*").Add(e.rt("Reader"))}, params...)...).Error().
		Block(jen.Return(ptrConv.Clone().Dot("Decode").Call(append([]jen.Code{jen.Id("r")}, args...)...)))
	if e.usesSlabs(target) {
		f.Commentf("%s is Decode taking values from the slab set of the decoding.", decodeImpl)
		f.Func().Params(ptrRecv).Id(decodeImpl).Params(e.decodeParams(params)...).Error().
			Block(jen.Return(ptrConv.Clone().Dot(decodeImpl).Call(append([]jen.Code{jen.Id("r"), jen.Id(slabsVar)}, args...)...)))
	}
	f.Commentf("Validate checks the rules the schema states beyond syntax.")
	f.Func().Params(valRecv).Id("Validate").Params(params...).Error().
		Block(jen.Return(conv.Clone().Dot("Validate").Call(args...)))
}
