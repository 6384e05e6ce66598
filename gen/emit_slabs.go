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
	// stack: a scratch stack (field of type tlsgenStack) with the methods
	// method (push), mark and pop; run is the method cutting its vectors.
	stack     bool
	mark, pop string
	run       string
}

// Names in the generated code.
const (
	slabSetType = "tlsgenSlabs"        // the slab set
	newSlabs    = "newTlsgenSlabs"     // makes the set of one decoding
	slabSize    = "tlsgenSlabSize"     // the size of the next block
	slabMin     = "tlsgenSlabMinInput" // the input size from which slabs pay
	slabsVar    = "slabs"              // the set, in a decode method
	decodeImpl  = "decode"             // the decode method taking the set
	stackType   = "tlsgenStack"        // the scratch stack of one element type
	stackChunk  = "tlsgenChunk"        // elements per chunk of a stack
)

// stackChunkElems is the number of elements of each chunk of a scratch
// stack.
const stackChunkElems = 64

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

// useStack registers the scratch stack of vectors of elements ft (of
// varying size) and returns the names of its push, mark and pop methods.
func (e *emitter) useStack(ft FieldType) (push, mark, pop string) {
	name := ft.T.GoName
	name = strings.ToUpper(name[:1]) + name[1:]
	if ft.Optional {
		name = "Opt" + name
	}
	run := e.useSlab("s"+name, "run"+name, e.elemType(ft), false)
	field := "x" + name
	if _, ok := e.slabIndex[field]; !ok {
		e.slabIndex[field] = len(e.slabs)
		e.slabs = append(e.slabs, slab{field: field, method: "push" + name, elem: e.elemType(ft),
			stack: true, mark: "mark" + name, pop: "pop" + name, run: run})
	}
	return "push" + name, "mark" + name, "pop" + name
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
	case (f.Vec.Kind == VecMLS || f.Vec.Kind == VecTLS) && (ft.Optional || ft.T.Opaque() == nil):
		return true // elements of varying size: the scratch stack of their type
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
	fields := []jen.Code{jen.Id("lim").Op("*").Add(e.rt("DecodeLimits")).Comment("charged for what is allocated (Reader.Alloc)")}
	for _, sl := range e.slabs {
		if sl.stack {
			fields = append(fields, jen.Id(sl.field).Id(stackType).Types(sl.elem.Clone()))
			continue
		}
		fields = append(fields, jen.Id(sl.field).Index().Add(sl.elem.Clone()))
	}
	f.Commentf("%s holds the blocks from which one decoding takes the structs it", slabSetType)
	f.Comment("decodes behind pointers and its vectors, and the scratch stacks on")
	f.Comment("which it decodes the vectors of elements of varying size. A block")
	f.Comment("stays alive as long as any value taken from it.")
	f.Type().Id(slabSetType).Struct(fields...)

	e.stackTypes(f)

	f.Commentf("%s is the input size, in bytes, from which a decoding takes its", slabMin)
	f.Comment("values from slabs: below it, a slab set costs more than it saves. A")
	f.Comment("sub-reader counts from the start of the whole input.")
	f.Const().Id(slabMin).Op("=").Lit(slabMinInputBytes)

	f.Commentf("%s returns the slab set of a decoding from r, or nil for a small", newSlabs)
	f.Comment("one, whose values are allocated one by one.")
	f.Func().Id(newSlabs).Params(jen.Id("r").Op("*").Add(e.rt("Reader"))).Op("*").Id(slabSetType).Block(
		jen.If(jen.Id("r").Dot("Offset").Call().Op("+").Id("r").Dot("Len").Call().Op("<").Id(slabMin)).Block(jen.Return(jen.Nil())),
		jen.Return(jen.Op("&").Id(slabSetType).Values(jen.Dict{jen.Id("lim"): jen.Id("r").Dot("Limits").Call()})),
	)

	f.Commentf("%s is the number of elements of the next block of a slab whose", slabSize)
	f.Comment("previous block held prev elements and that must hand out need elements")
	f.Commentf("at once: blocks double from one element up to %d.", maxSlab)
	f.Func().Id(slabSize).Params(jen.List(jen.Id("prev"), jen.Id("need")).Int()).Int().Block(
		jen.Return(jen.Max(jen.Min(jen.Lit(2).Op("*").Id("prev"), jen.Lit(maxSlab)), jen.Id("need"), jen.Lit(1))),
	)

	for _, sl := range e.slabs {
		fld := jen.Id("s").Dot(sl.field)
		if sl.stack {
			e.stackMethods(f, sl)
			continue
		}
		if sl.ptr {
			f.Commentf("%s returns a zero %s from its block.", sl.method, jen.Add(sl.elem.Clone()).GoString())
			f.Func().Params(jen.Id("s").Op("*").Id(slabSetType)).Id(sl.method).Params().Op("*").Add(sl.elem.Clone()).Block(
				jen.If(jen.Id("s").Op("==").Nil()).Block(jen.Return(jen.New(sl.elem.Clone()))),
				jen.Id("s").Dot("lim").Dot("Alloc").Call(jen.Int().Call(jen.Qual("unsafe", "Sizeof").Call(fld.Clone().Index(jen.Lit(0))))),
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

// stackTypes emits the scratch stack: the elements of the vectors of one
// element type being decoded, nested ones above their parents', in chunks
// that never move (so a pointer to an element stays good while elements
// of nested vectors are pushed above it).
func (e *emitter) stackTypes(f *jen.File) {
	has := false
	for _, sl := range e.slabs {
		has = has || sl.stack
	}
	if !has {
		return
	}
	T := jen.Id("T")
	st := jen.Op("*").Id(stackType).Types(T.Clone())
	f.Commentf("%s is the scratch stack on which a decoding decodes the vectors", stackType)
	f.Comment("of one element type whose elements vary in size, before copying each")
	f.Comment("into a vector of its exact length: its elements, nested vectors' above")
	f.Comment("their parents', in chunks that never move.")
	f.Type().Id(stackType).Types(T.Clone().Any()).Struct(
		jen.Id("chunks").Index().Index().Add(T.Clone()),
		jen.Id("n").Int().Comment("elements on the stack"),
	)
	f.Commentf("%s is the number of elements of a chunk of a %s.", stackChunk, stackType)
	f.Const().Id(stackChunk).Op("=").Lit(stackChunkElems)

	f.Comment("push returns a pointer to a new zero element on top of s, charging lim")
	f.Comment("for a new chunk.")
	f.Func().Params(jen.Id("s").Add(st.Clone())).Id("push").Params(jen.Id("lim").Op("*").Add(e.rt("DecodeLimits"))).Op("*").Add(T.Clone()).Block(
		jen.Var().Id("zero").Add(T.Clone()),
		jen.Id("i").Op(":=").Id("s").Dot("n").Op("/").Id(stackChunk),
		jen.If(jen.Id("i").Op("==").Len(jen.Id("s").Dot("chunks"))).Block(
			jen.Comment("The chunk, and the list of chunks when it grows (about doubling)."),
			jen.Id("lim").Dot("Alloc").Call(jen.Id(stackChunk).Op("*").Int().Call(jen.Qual("unsafe", "Sizeof").Call(jen.Id("zero")))),
			jen.If(jen.Id("i").Op("==").Cap(jen.Id("s").Dot("chunks"))).Block(
				jen.Id("lim").Dot("Alloc").Call(jen.Lit(2).Op("*").Parens(jen.Id("i").Op("+").Lit(1)).Op("*").Int().Call(jen.Qual("unsafe", "Sizeof").Call(jen.Id("s").Dot("chunks").Index(jen.Lit(0))))),
			),
			jen.Id("s").Dot("chunks").Op("=").Append(jen.Id("s").Dot("chunks"), jen.Make(jen.Index().Add(T.Clone()), jen.Id(stackChunk))),
		),
		jen.Id("p").Op(":=").Op("&").Id("s").Dot("chunks").Index(jen.Id("i")).Index(jen.Id("s").Dot("n").Op("%").Id(stackChunk)),
		jen.Id("s").Dot("n").Op("++"),
		jen.Op("*").Id("p").Op("=").Id("zero"),
		jen.Return(jen.Id("p")),
	)
	f.Comment("pop copies the elements above mark into dst and removes them.")
	f.Func().Params(jen.Id("s").Add(st.Clone())).Id("pop").Params(jen.Id("mark").Int(), jen.Id("dst").Index().Add(T.Clone())).Block(
		jen.For(jen.Id("i").Op(":=").Id("mark"), jen.Id("i").Op("<").Id("s").Dot("n"), jen.Empty()).Block(
			jen.Id("i").Op("+=").Copy(jen.Id("dst").Index(jen.Id("i").Op("-").Id("mark"), jen.Empty()),
				jen.Id("s").Dot("chunks").Index(jen.Id("i").Op("/").Id(stackChunk)).Index(jen.Id("i").Op("%").Id(stackChunk), jen.Empty())),
		),
		jen.Id("s").Dot("n").Op("=").Id("mark"),
	)
}

// stackMethods emits the methods of the slab set for the scratch stack
// sl: mark (the height to pop back to), push (a pointer to a new element;
// without a slab set, appended to the vector itself) and pop (the vector
// of the elements above mark, of their exact number, charged to the
// reader; without a slab set, the vector appended to).
func (e *emitter) stackMethods(f *jen.File, sl slab) {
	s := jen.Id("s")
	fld := s.Clone().Dot(sl.field)
	vec := jen.Op("*").Index().Add(sl.elem.Clone())
	f.Commentf("%s returns the height of the scratch stack of %s.", sl.mark, jen.Add(sl.elem.Clone()).GoString())
	f.Func().Params(s.Clone().Op("*").Id(slabSetType)).Id(sl.mark).Params().Int().Block(
		jen.If(s.Clone().Op("==").Nil()).Block(jen.Return(jen.Lit(0))),
		jen.Return(fld.Clone().Dot("n")),
	)
	f.Commentf("%s returns a new zero element of *v: on the scratch stack, or", sl.method)
	f.Comment("appended to *v without a slab set.")
	f.Func().Params(s.Clone().Op("*").Id(slabSetType)).Id(sl.method).Params(jen.Id("v").Add(vec.Clone())).Op("*").Add(sl.elem.Clone()).Block(
		jen.If(s.Clone().Op("==").Nil()).Block(
			jen.Var().Id("zero").Add(sl.elem.Clone()),
			jen.Op("*").Id("v").Op("=").Append(jen.Op("*").Id("v"), jen.Id("zero")),
			jen.Return(jen.Op("&").Parens(jen.Op("*").Id("v")).Index(jen.Len(jen.Op("*").Id("v")).Op("-").Lit(1))),
		),
		jen.Return(fld.Clone().Dot("push").Call(s.Clone().Dot("lim"))),
	)
	f.Commentf("%s sets *v to the elements above mark on the scratch stack, in a", sl.pop)
	f.Comment("vector of their exact number (nil for none), and removes them from")
	f.Comment("the stack. Past the allocation limit it leaves *v nil: the decoding")
	f.Comment("fails at its next vector element.")
	f.Func().Params(s.Clone().Op("*").Id(slabSetType)).Id(sl.pop).Params(jen.Id("mark").Int(), jen.Id("v").Add(vec.Clone())).Block(
		jen.If(s.Clone().Op("==").Nil()).Block(jen.Return()),
		jen.Id("n").Op(":=").Add(fld.Clone()).Dot("n").Op("-").Id("mark"),
		jen.If(jen.Id("n").Op("==").Lit(0).Op("||").Op("!").Add(s.Clone()).Dot("lim").Dot("Alloc").Call(
			jen.Id("n").Op("*").Int().Call(jen.Qual("unsafe", "Sizeof").Call(jen.Parens(jen.Op("*").Id("v")).Index(jen.Lit(0)))))).Block(
			fld.Clone().Dot("n").Op("=").Id("mark"),
			jen.Return(),
		),
		jen.Op("*").Id("v").Op("=").Add(s.Clone()).Dot(sl.run).Call(jen.Id("n")),
		jen.Op("*").Id("v").Op("=").Parens(jen.Op("*").Id("v")).Index(jen.Empty(), jen.Id("n")),
		fld.Clone().Dot("pop").Call(jen.Id("mark"), jen.Op("*").Id("v")),
	)
}
