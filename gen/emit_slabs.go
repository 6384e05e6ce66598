package gen

import (
	"strings"

	"github.com/dave/jennifer/jen"
)

// slab is a block allocator of the generated decoders (see slabTypes): it
// hands out pointers to structs one at a time (ptr) or runs of fixed-size
// vector elements.
type slab struct {
	field  string // field of the slab set
	method string // method handing out values
	elem   *jen.Statement
	ptr    bool
}

// slabSetType and slabsOf name the generated slab set and its accessor.
const (
	slabSetType = "tlsgenSlabs"
	slabsOf     = "tlsgenSlabsOf"
)

func (e *emitter) useSlab(field, method string, elem *jen.Statement, ptr bool) string {
	if _, ok := e.slabIndex[field]; !ok {
		e.slabIndex[field] = len(e.slabs)
		e.slabs = append(e.slabs, slab{field: field, method: method, elem: elem, ptr: ptr})
	}
	return method
}

// newValue returns the expression that allocates a fresh *T while decoding
// from reader: one element of a slab for structs, new(T) otherwise.
func (e *emitter) newValue(reader string, t *Type) *jen.Statement {
	if t.Struct() == nil {
		return jen.New(e.baseType(t))
	}
	m := e.useSlab("p"+t.GoName, "new"+t.GoName, jen.Id(t.GoName), true)
	return jen.Id(slabsOf).Call(jen.Id(reader)).Dot(m).Call()
}

// newRun returns the expression giving an empty vector of capacity n of
// fixed-size elements ft while decoding from reader, cut from a slab.
func (e *emitter) newRun(reader string, ft FieldType, n jen.Code) *jen.Statement {
	name := ft.T.GoName
	name = strings.ToUpper(name[:1]) + name[1:]
	m := e.useSlab("s"+name, "run"+name, e.baseType(ft.T), false)
	return jen.Id(slabsOf).Call(jen.Id(reader)).Dot(m).Call(n)
}

// slabTypes emits the slab set of the decoders: per struct type that is
// decoded behind a pointer (optional<T>, select arms) and per element type
// of fixed-size vectors, a block of values handed out in order. Decoding a
// large value (a ratchet tree of thousands of leaves) then makes a few
// allocations per type instead of one per value. The set lives in the
// Reader's scratch slot, shared with its sub-readers, for one decoding.
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

	rd := jen.Id("r")
	f.Commentf("%s returns the slab set of the decoding that r belongs to, or nil", slabsOf)
	f.Comment("for a small one, whose values are allocated one by one.")
	f.Func().Id(slabsOf).Params(rd.Clone().Op("*").Add(e.rt("Reader"))).Op("*").Id(slabSetType).Block(
		jen.If(jen.List(jen.Id("s"), jen.Id("ok")).Op(":=").Add(rd).Dot("Scratch").Call().Assert(jen.Op("*").Id(slabSetType)), jen.Id("ok")).Block(
			jen.Return(jen.Id("s")),
		),
		jen.If(jen.Op("!").Add(rd).Dot("UseSlabs").Call()).Block(jen.Return(jen.Nil())),
		jen.Id("s").Op(":=").New(jen.Id(slabSetType)),
		rd.Clone().Dot("SetScratch").Call(jen.Id("s")),
		jen.Return(jen.Id("s")),
	)
	for _, sl := range e.slabs {
		fld := jen.Id("s").Dot(sl.field)
		if sl.ptr {
			f.Commentf("%s returns a zero %s from its block.", sl.method, jen.Add(sl.elem.Clone()).GoString())
			f.Func().Params(jen.Id("s").Op("*").Id(slabSetType)).Id(sl.method).Params().Op("*").Add(sl.elem.Clone()).Block(
				jen.If(jen.Id("s").Op("==").Nil()).Block(jen.Return(jen.New(sl.elem.Clone()))),
				jen.If(jen.Len(fld).Op("==").Cap(fld)).Block(
					fld.Clone().Op("=").Make(jen.Index().Add(sl.elem.Clone()), jen.Lit(0), e.rt("SlabSize").Call(jen.Cap(fld), jen.Lit(1))),
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
				fld.Clone().Op("=").Make(jen.Index().Add(sl.elem.Clone()), jen.Lit(0), e.rt("SlabSize").Call(jen.Cap(fld), jen.Id("n"))),
			),
			jen.Id("i").Op(":=").Len(fld),
			fld.Clone().Op("=").Add(fld).Index(jen.Empty(), jen.Id("i").Op("+").Id("n")),
			jen.Return(fld.Clone().Index(jen.Id("i"), jen.Id("i"), jen.Id("i").Op("+").Id("n"))),
		)
	}
}
