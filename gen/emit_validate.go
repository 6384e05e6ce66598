package gen

import (
	"strings"

	"github.com/dave/jennifer/jen"
)

// Validators: Validate checks what the schema states beyond syntax (closed
// enums, bounds, the arm a select's discriminant chooses).

func (e *emitter) structValidate(f *jen.File, t *Type, st *Struct, recv jen.Code, params []jen.Code) {
	e.n = 0
	var val []jen.Code
	for _, m := range st.Members {
		val = append(val, e.validateMember(t, st, m)...)
	}
	val = append(val, jen.Return(jen.Nil()))
	f.Commentf("Validate checks the rules the schema states beyond syntax.")
	f.Func().Params(recv).Id("Validate").Params(params...).Error().Block(val...)
}

func (e *emitter) vectorValidate(f *jen.File, t *Type, fi *FieldInfo) {
	c := ctx{typ: t.Name, field: "", reader: "r"}
	val := e.validateField(c, fi, jen.Id("v"))
	val = append(val, jen.Return(jen.Nil()))
	f.Commentf("Validate checks the rules the schema states beyond syntax.")
	f.Func().Params(jen.Id("v").Id(t.GoName)).Id("Validate").Params().Error().Block(val...)
}

// hasRules reports whether values of t can break a rule Validate checks.
func (e *emitter) hasRules(t *Type) bool {
	if v, ok := e.rules[t]; ok {
		return v
	}
	e.rules[t] = false // cycle guard: a recursive reference adds no rule by itself
	r := false
	switch d := t.Def.(type) {
	case *Enum:
		r = !d.Open
	case *Struct:
		for _, m := range d.Members {
			switch m := m.(type) {
			case *FieldInfo:
				r = r || e.fieldHasRules(m)
			case *SelectInfo:
				r = true
			}
		}
	case *Vector:
		r = d.SizeLo > 0 || d.SizeHi > 0 || d.Vec.Kind == VecTLS || e.hasRules(d.Elem.T)
	case *Alias:
		r = e.hasRules(d.Target)
	}
	e.rules[t] = r
	return r
}

func (e *emitter) fieldHasRules(f *FieldInfo) bool {
	if f.Const != nil {
		return false
	}
	return f.Padding || f.HasSize || f.Vec.Kind == VecTLS || e.hasRules(f.Type.T)
}

func (e *emitter) valFail(c ctx, err jen.Code) jen.Code {
	return jen.Return(e.rt("WrapError").Call(err, jen.Lit(c.typ), jen.Lit(c.field), jen.Lit(-1)))
}

func (e *emitter) validateMember(t *Type, st *Struct, m StructMember) []jen.Code {
	switch m := m.(type) {
	case *FieldInfo:
		c := ctx{typ: t.Name, field: m.Name, arg: e.argFor(st, m)}
		return e.validateField(c, m, goPath("v", []string{m.GoName}))
	case *SelectInfo:
		c := ctx{typ: t.Name, field: strings.Join(m.Path, ".")}
		// Pointer arms of this select, to check that only the selected one is set.
		var ptrs []*FieldInfo
		for _, ci := range append(append([]*CaseInfo{}, m.Cases...), m.Default) {
			if ci == nil {
				continue
			}
			for _, f := range ci.Fields {
				if f.Pointer {
					ptrs = append(ptrs, f)
				}
			}
		}
		body := func(f *FieldInfo) []jen.Code {
			fc := ctx{typ: t.Name, field: f.Name, arg: e.argFor(st, f)}
			return e.validateField(fc, f, goPath("v", []string{f.GoName}))
		}
		return []jen.Code{e.validateSelect(t, st, m, c, ptrs, body)}
	}
	return nil
}

func inCase(ci *CaseInfo, f *FieldInfo) bool {
	if ci == nil {
		return false
	}
	for _, g := range ci.Fields {
		if g.GoName == f.GoName {
			return true
		}
	}
	return false
}

// validateSelect is selectSwitch for Validate: in each arm, the selected
// pointer fields must be set and every other pointer arm must be nil.
func (e *emitter) validateSelect(t *Type, st *Struct, sel *SelectInfo, c ctx, ptrs []*FieldInfo, body func(*FieldInfo) []jen.Code) jen.Code {
	disc := goPath("v", sel.GoPath)
	if sel.GoPath == nil {
		disc = jen.Id(st.Param.GoName)
	}
	arm := func(ci *CaseInfo) []jen.Code {
		var out []jen.Code
		for _, p := range ptrs {
			if !inCase(ci, p) {
				out = append(out, jen.If(jen.Id("v").Dot(p.GoName).Op("!=").Nil()).Block(e.valFail(ctx{typ: t.Name, field: p.Name}, e.rt("ErrUnselectedArm"))))
			}
		}
		for _, f := range ci.Fields {
			if f.Pointer {
				out = append(out, jen.If(jen.Id("v").Dot(f.GoName).Op("==").Nil()).Block(e.valFail(ctx{typ: t.Name, field: f.Name}, e.rt("ErrMissingArm"))))
			}
			out = append(out, body(f)...)
		}
		return out
	}
	var cases []jen.Code
	for _, ci := range sel.Cases {
		var labels []jen.Code
		for _, v := range ci.Values {
			labels = append(labels, jen.Id(sel.Enum.GoName+GoName(v.Name)))
		}
		cases = append(cases, jen.Case(labels...).Block(arm(ci)...))
	}
	if sel.Default != nil {
		cases = append(cases, jen.Default().Block(arm(sel.Default)...))
	} else {
		cases = append(cases, jen.Default().Block(e.valFail(c, e.rt("ErrNoArm"))))
	}
	return jen.Switch(disc).Block(cases...)
}

func (e *emitter) validateField(c ctx, f *FieldInfo, expr *jen.Statement) []jen.Code {
	if !e.fieldHasRules(f) {
		return nil
	}
	if f.Padding {
		return []jen.Code{jen.If(expr.Clone().Op("<").Lit(0)).Block(e.valFail(c, e.rt("ErrLengthBound")))}
	}
	var out []jen.Code
	ft := f.Type
	switch f.Vec.Kind {
	case VecNone:
		return e.validateElem(c, ft, expr)
	case VecFixed:
		if !e.hasRules(ft.T) {
			return nil
		}
		i := e.tmp("i")
		return []jen.Code{jen.For(jen.Id(i).Op(":=").Range().Add(expr)).Block(e.validateElem(c, ft, expr.Clone().Index(jen.Id(i)))...)}
	}
	_, lo, hi := bounds(f)
	if ft.T.Opaque() != nil && !ft.Optional {
		if lo > 0 || hi > 0 {
			cond := jen.Len(expr).Op("<").Lit(int(lo))
			if hi > 0 {
				cond = cond.Op("||").Len(expr).Op(">").Lit(int(hi))
			}
			out = append(out, jen.If(cond).Block(e.valFail(c, e.rt("ErrLengthBound"))))
		}
		return out
	}
	if lo > 0 {
		out = append(out, jen.If(jen.Len(expr).Op("==").Lit(0)).Block(e.valFail(c, e.rt("ErrLengthBound"))))
	}
	if e.hasRules(ft.T) {
		i := e.tmp("i")
		out = append(out, jen.For(jen.Id(i).Op(":=").Range().Add(expr)).Block(e.validateElem(c, ft, expr.Clone().Index(jen.Id(i)))...))
	}
	return out
}

func (e *emitter) validateElem(c ctx, ft FieldType, expr *jen.Statement) []jen.Code {
	if !e.hasRules(ft.T) {
		return nil
	}
	var inner []jen.Code
	switch ft.T.Def.(type) {
	case *Enum:
		val := expr
		if ft.Optional {
			val = jen.Parens(jen.Op("*").Add(expr))
		}
		inner = []jen.Code{jen.If(jen.Op("!").Add(val).Dot("IsKnown").Call()).Block(e.valFail(c, e.rt("ErrUnknownEnumValue")))}
	default:
		var args []jen.Code
		if c.arg != nil && paramOf(ft.T) != nil {
			args = append(args, c.arg)
		}
		inner = []jen.Code{jen.If(jen.Err().Op(":=").Add(expr).Dot("Validate").Call(args...), jen.Err().Op("!=").Nil()).Block(e.valFail(c, jen.Err()))}
	}
	if ft.Optional {
		return []jen.Code{jen.If(expr.Clone().Op("!=").Nil()).Block(inner...)}
	}
	return inner
}
