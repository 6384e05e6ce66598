package gen

import (
	"strings"

	"github.com/dave/jennifer/jen"
)

// Decoding slabs. A large decoding (a ratchet tree of thousands of leaves)
// takes the structs it decodes behind pointers and its vectors of
// fixed-size elements from blocks, a few allocations per type instead of
// one per value. The blocks belong to one call of Decode: a type whose
// decoding uses them has an unexported decode method that takes the slab
// set, and its Decode makes the set (nil when r's input ends before
// slabMinInputBytes, counted from the start of the whole input of which r
// may be a sub-reader; such values are allocated one by one) and calls
// decode. Nothing of this is in the runtime's API.

// slab is a block allocator of the generated decoders: it hands out
// pointers to structs one at a time (ptr) or runs of fixed-size vector
// elements.
type slab struct {
	field  string // field of the slab set
	method string // method handing out values
	elem   *jen.Statement
	ptr    bool
}

// Names in the generated code.
const (
	slabSetType = "tlsgenSlabs"        // the slab set
	newSlabs    = "newTlsgenSlabs"     // makes the set of one decoding
	slabSize    = "tlsgenSlabSize"     // the size of the next block
	slabMin     = "tlsgenSlabMinInput" // the input size from which slabs pay
	slabsVar    = "slabs"              // the set, in a decode method
	decodeImpl  = "decode"             // the decode method taking the set
)

// slabMinInputBytes is the smallest input for which decoders allocate from
// slabs: below it, a slab set costs more than it saves.
const slabMinInputBytes = 4096

// maxSlab is the largest block, in elements.
const maxSlab = 1024

func (e *emitter) useSlab(field, method string, elem *jen.Statement, ptr bool) string {
	if _, ok := e.slabIndex[field]; !ok {
		e.slabIndex[field] = len(e.slabs)
		e.slabs = append(e.slabs, slab{field: field, method: method, elem: elem, ptr: ptr})
	}
	return method
}

// newValue returns the expression that allocates a fresh *T while decoding:
// one element of a slab for structs, new(T) otherwise.
func (e *emitter) newValue(t *Type) *jen.Statement {
	if t.Struct() == nil {
		return jen.New(e.baseType(t))
	}
	m := e.useSlab("p"+t.GoName, "new"+t.GoName, jen.Id(t.GoName), true)
	return jen.Id(slabsVar).Dot(m).Call()
}

// newRun returns the expression giving an empty vector of capacity n of
// fixed-size elements ft, cut from a slab.
func (e *emitter) newRun(ft FieldType, n jen.Code) *jen.Statement {
	name := ft.T.GoName
	name = strings.ToUpper(name[:1]) + name[1:]
	m := e.useSlab("s"+name, "run"+name, e.baseType(ft.T), false)
	return jen.Id(slabsVar).Dot(m).Call(n)
}

// usesSlabs reports whether decoding a value of t takes values from the
// slab set: t, or a type it holds, has a struct behind a pointer or a
// vector of fixed-size elements.
func (e *emitter) usesSlabs(t *Type) bool {
	if v, ok := e.slabUse[t]; ok {
		return v
	}
	e.slabUse[t] = false // cycle guard: a recursive reference adds no use by itself
	r := false
	switch d := t.Def.(type) {
	case *Struct:
		for _, f := range allFields(d) {
			r = r || e.fieldUsesSlabs(f)
		}
	case *Vector:
		r = e.fieldUsesSlabs(&FieldInfo{Type: d.Elem, Vec: d.Vec})
	case *Alias:
		r = e.usesSlabs(d.Target)
	}
	e.slabUse[t] = r
	return r
}

func (e *emitter) fieldUsesSlabs(f *FieldInfo) bool {
	ft := f.Type
	switch {
	case f.Const != nil || f.Padding:
		return false
	case f.Pointer, ft.Optional && ft.T.Struct() != nil:
		return true
	case (f.Vec.Kind == VecMLS || f.Vec.Kind == VecTLS) && !ft.Optional && ft.T.Opaque() == nil && fixedSize(ft.T) > 0:
		return true
	}
	return e.usesSlabs(ft.T)
}

// decodeEntry emits Decode for a type whose decoding uses slabs: it makes
// the slab set of this decoding and calls decode with it.
func (e *emitter) decodeEntry(f *jen.File, t *Type, params, args []jen.Code) {
	f.Commentf("Decode reads one %s from r.", t.GoName)
	f.Func().Params(jen.Id("v").Op("*").Id(t.GoName)).Id("Decode").Params(append([]jen.Code{jen.Id("r").Op("*").Add(e.rt("Reader"))}, params...)...).Error().Block(
		jen.Return(jen.Id("v").Dot(decodeImpl).Call(append([]jen.Code{jen.Id("r"), jen.Id(newSlabs).Call(jen.Id("r"))}, args...)...)),
	)
}

// decodeParams are the parameters of decode: the reader, the slab set and
// the type's own parameters.
func (e *emitter) decodeParams(params []jen.Code) []jen.Code {
	return append([]jen.Code{jen.Id("r").Op("*").Add(e.rt("Reader")), jen.Id(slabsVar).Op("*").Id(slabSetType)}, params...)
}

// slabTypes emits the slab set of the decoders: per struct type that is
// decoded behind a pointer (optional<T>, select arms) and per element type
// of fixed-size vectors, a block of values handed out in order.
func (e *emitter) slabTypes(f *jen.File) {
	if len(e.slabs) == 0 {
		return
	}
	var fields []jen.Code
	for _, sl := range e.slabs {
		fields = append(fields, jen.Id(sl.field).Index().Add(sl.elem.Clone()))
	}
	f.Commentf("%s holds the blocks from which one decoding takes the structs it", slabSetType)
	f.Comment("decodes behind pointers and its vectors of fixed-size elements. A block")
	f.Comment("stays alive as long as any value taken from it.")
	f.Type().Id(slabSetType).Struct(fields...)

	f.Commentf("%s is the input size, in bytes, from which a decoding takes its", slabMin)
	f.Comment("values from slabs: below it, a slab set costs more than it saves. A")
	f.Comment("sub-reader counts from the start of the whole input.")
	f.Const().Id(slabMin).Op("=").Lit(slabMinInputBytes)

	f.Commentf("%s returns the slab set of a decoding from r, or nil for a small", newSlabs)
	f.Comment("one, whose values are allocated one by one.")
	f.Func().Id(newSlabs).Params(jen.Id("r").Op("*").Add(e.rt("Reader"))).Op("*").Id(slabSetType).Block(
		jen.If(jen.Id("r").Dot("Offset").Call().Op("+").Id("r").Dot("Len").Call().Op("<").Id(slabMin)).Block(jen.Return(jen.Nil())),
		jen.Return(jen.New(jen.Id(slabSetType))),
	)

	f.Commentf("%s is the number of elements of the next block of a slab whose", slabSize)
	f.Comment("previous block held prev elements and that must hand out need elements")
	f.Commentf("at once: blocks double from one element up to %d.", maxSlab)
	f.Func().Id(slabSize).Params(jen.List(jen.Id("prev"), jen.Id("need")).Int()).Int().Block(
		jen.Return(jen.Max(jen.Min(jen.Lit(2).Op("*").Id("prev"), jen.Lit(maxSlab)), jen.Id("need"), jen.Lit(1))),
	)

	for _, sl := range e.slabs {
		fld := jen.Id("s").Dot(sl.field)
		if sl.ptr {
			f.Commentf("%s returns a zero %s from its block.", sl.method, jen.Add(sl.elem.Clone()).GoString())
			f.Func().Params(jen.Id("s").Op("*").Id(slabSetType)).Id(sl.method).Params().Op("*").Add(sl.elem.Clone()).Block(
				jen.If(jen.Id("s").Op("==").Nil()).Block(jen.Return(jen.New(sl.elem.Clone()))),
				jen.If(jen.Len(fld).Op("==").Cap(fld)).Block(
					fld.Clone().Op("=").Make(jen.Index().Add(sl.elem.Clone()), jen.Lit(0), jen.Id(slabSize).Call(jen.Cap(fld), jen.Lit(1))),
				),
				fld.Clone().Op("=").Add(fld).Index(jen.Empty(), jen.Len(fld).Op("+").Lit(1)),
				jen.Return(jen.Op("&").Add(fld).Index(jen.Len(fld).Op("-").Lit(1))),
			)
			continue
		}
		f.Commentf("%s returns an empty vector of capacity n from its block.", sl.method)
		f.Func().Params(jen.Id("s").Op("*").Id(slabSetType)).Id(sl.method).Params(jen.Id("n").Int()).Index().Add(sl.elem.Clone()).Block(
			jen.If(jen.Id("s").Op("==").Nil()).Block(jen.Return(jen.Make(jen.Index().Add(sl.elem.Clone()), jen.Lit(0), jen.Id("n")))),
			jen.If(jen.Cap(fld).Op("-").Len(fld).Op("<").Id("n")).Block(
				fld.Clone().Op("=").Make(jen.Index().Add(sl.elem.Clone()), jen.Lit(0), jen.Id(slabSize).Call(jen.Cap(fld), jen.Id("n"))),
			),
			jen.Id("i").Op(":=").Len(fld),
			fld.Clone().Op("=").Add(fld).Index(jen.Empty(), jen.Id("i").Op("+").Id("n")),
			jen.Return(fld.Clone().Index(jen.Id("i"), jen.Id("i"), jen.Id("i").Op("+").Id("n"))),
		)
	}
}
