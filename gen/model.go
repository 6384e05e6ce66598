package gen

import (
	"fmt"
	"strings"
)

// The resolved model: every name looked up, every select tied to its
// discriminant, every rule that the emitter relies on checked.

// Type is a resolved named or built-in type: what every type has, and its
// kind-specific definition in Def.
type Type struct {
	Name    string // schema name
	GoName  string
	Pos     Pos
	Doc     string // the schema's comment on the declaration
	Section string // the § heading of the schema the declaration stands under

	Def TypeDef
}

// TypeDef is the definition of a type by kind: *Uint, *Opaque, *Enum,
// *Struct, *Vector or *Alias.
type TypeDef interface{ isTypeDef() }

// Uint is a built-in unsigned integer: uint8 … uint64.
type Uint struct{ Bits int }

// Opaque is the built-in opaque: one byte.
type Opaque struct{}

// Enum is `enum { … } Name;`, or a `uintN Name;` typedef (an open enum
// without named values).
type Enum struct {
	Bits   int // width: 8, 16, 32 or 64
	Values []EnumValue
	Open   bool // unknown values decode and re-encode unchanged
}

// Struct is `struct { … } Name;`.
type Struct struct {
	Members []StructMember // in wire order
	GoField []*FieldInfo   // the Go struct's fields, in order
	Param   *Param         // discriminant taken from another struct, if any
	// Head (@head): the struct also gets AppendHead, its encoding up to
	// and including the length prefix of its last vector (see headable).
	Head bool
	// Split (@split(field)): the struct also gets AppendHeadAt and
	// AppendTailAt, its encoding split at the content of the last field
	// (an opaque MLS vector) of one element of Split, an MLS vector of a
	// @head struct (see checkSplit).
	Split *FieldInfo
}

// Vector is a named vector: `opaque HPKEPublicKey<V>;`, Elem repeated as Vec
// says.
type Vector struct {
	Elem   FieldType
	Vec    Vec
	SizeLo uint64 // @size bounds in bytes (both 0: none)
	SizeHi uint64
	// Each (@each): the vector also gets DecodeEach, which hands each
	// element to a callback as soon as it is decoded. Only for an MLS or
	// TLS vector of optional<T>, T a struct: its elements are pointers to
	// values that do not move once decoded.
	Each bool
}

// Alias is another name for a named type: `HashReference KeyPackageRef;`.
type Alias struct {
	Target *Type // never an *Alias itself: chains are followed
}

func (*Uint) isTypeDef()   {}
func (*Opaque) isTypeDef() {}
func (*Enum) isTypeDef()   {}
func (*Struct) isTypeDef() {}
func (*Vector) isTypeDef() {}
func (*Alias) isTypeDef()  {}

// StructMember is a member of a struct: *FieldInfo or *SelectInfo.
type StructMember interface{ isStructMember() }

func (*FieldInfo) isStructMember()  {}
func (*SelectInfo) isStructMember() {}

// The kind accessors return the definition of t if it is of that kind, or
// nil.

// Uint returns t's definition if t is a built-in uintN.
func (t *Type) Uint() *Uint { d, _ := t.Def.(*Uint); return d }

// Opaque returns t's definition if t is the built-in opaque.
func (t *Type) Opaque() *Opaque { d, _ := t.Def.(*Opaque); return d }

// Enum returns t's definition if t is an enum.
func (t *Type) Enum() *Enum { d, _ := t.Def.(*Enum); return d }

// Struct returns t's definition if t is a struct.
func (t *Type) Struct() *Struct { d, _ := t.Def.(*Struct); return d }

// Vector returns t's definition if t is a named vector.
func (t *Type) Vector() *Vector { d, _ := t.Def.(*Vector); return d }

// Alias returns t's definition if t is another name for a type.
func (t *Type) Alias() *Alias { d, _ := t.Def.(*Alias); return d }

// Bits is the width in bits of a number type (uintN, opaque, enum), or 0.
func (t *Type) Bits() int {
	switch d := t.Def.(type) {
	case *Uint:
		return d.Bits
	case *Opaque:
		return 8
	case *Enum:
		return d.Bits
	}
	return 0
}

// Param is a discriminant that a struct's select reads from another struct,
// passed to its methods as an argument.
type Param struct {
	Owner  *Type    // the struct the RFC names, e.g. FramedContent
	Path   []string // field path inside Owner, e.g. content_type
	Enum   *Type
	GoName string // argument name in generated code
}

// FieldType is a field's element type: a named or built-in type, maybe
// optional.
type FieldType struct {
	T        *Type
	Optional bool
}

// FieldInfo is a resolved field.
type FieldInfo struct {
	Name    string
	GoName  string
	Pos     Pos
	Doc     string // the schema's comment before the field (or its select arm)
	Comment string // the schema's comment after it on the same line
	Type    FieldType
	Vec     Vec
	Const   *EnumValue // fixed value: no Go field
	Padding bool       // @padding: rest of input, all zero; Go field is the count
	SizeLo  uint64     // @size bounds in bytes (SizeHi 0: none)
	SizeHi  uint64
	HasSize bool
	Arm     bool // declared in a select arm
	Pointer bool // an arm whose type is a struct: *T, nil unless selected
	// Arg is how to obtain the discriminant that this field's type
	// needs (Type.T.Param): a path of Go field names from the enclosing
	// value, or nil when the enclosing struct's own parameter is passed on.
	Arg []string
}

// SelectInfo is a resolved select.
type SelectInfo struct {
	Pos     Pos
	Path    []string
	Enum    *Type
	GoPath  []string // Go field path from the enclosing value; nil: the struct's Param
	Cases   []*CaseInfo
	Default *CaseInfo
}

// CaseInfo is one resolved arm.
type CaseInfo struct {
	Values []EnumValue
	Fields []*FieldInfo
}

// Schema is a resolved set of schema files.
type Schema struct {
	Files  []string // names of the files, in order
	Types  []*Type  // declared types in order
	byName map[string]*Type
}

// Lookup returns the type declared with the schema name.
func (s *Schema) Lookup(name string) *Type { return s.byName[name] }

var builtins = map[string]*Type{
	"uint8":  {Name: "uint8", GoName: "uint8", Def: &Uint{Bits: 8}},
	"uint16": {Name: "uint16", GoName: "uint16", Def: &Uint{Bits: 16}},
	"uint32": {Name: "uint32", GoName: "uint32", Def: &Uint{Bits: 32}},
	"uint64": {Name: "uint64", GoName: "uint64", Def: &Uint{Bits: 64}},
	"opaque": {Name: "opaque", GoName: "byte", Def: &Opaque{}},
}

// Resolve checks and links parsed files into a Schema.
func Resolve(files ...*File) (*Schema, error) {
	s := &Schema{byName: map[string]*Type{}}
	var structs []*StructDecl
	var extendEnums []*EnumDecl
	var extendSelects []*ExtendSelect
	var typedefs []*TypedefDecl
	goNames := map[string]Pos{}

	declare := func(name string, pos Pos, t *Type) error {
		if _, ok := builtins[name]; ok {
			return errorf(pos, "%s redeclares a built-in type", name)
		}
		if prev, ok := s.byName[name]; ok {
			return errorf(pos, "%s is already declared at %s", name, prev.Pos)
		}
		t.Name, t.Pos, t.GoName = name, pos, GoName(name)
		if prev, ok := goNames[t.GoName]; ok {
			return errorf(pos, "%s has the same Go name %s as the type at %s", name, t.GoName, prev)
		}
		goNames[t.GoName] = pos
		s.byName[name] = t
		s.Types = append(s.Types, t)
		return nil
	}

	for _, f := range files {
		s.Files = append(s.Files, f.Name)
	}

	// Pass 1: declare every name.
	for _, f := range files {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *EnumDecl:
				if d.Extend {
					extendEnums = append(extendEnums, d)
					continue
				}
				en := &Enum{Open: findAnnotation(d.Annotations, "open") != nil}
				t := &Type{Def: en}
				if err := checkAnnotations(d.Annotations, "open"); err != nil {
					return nil, err
				}
				if err := declare(d.Name, d.Pos, t); err != nil {
					return nil, err
				}
				t.Doc, t.Section = d.Doc, d.Section
				switch {
				case d.Max == 0:
					return nil, errorf(d.Pos, "enum %s has no (max) entry to fix its width", d.Name)
				case d.Max <= 0xff:
					en.Bits = 8
				case d.Max <= 0xffff:
					en.Bits = 16
				case d.Max <= 0xffffffff:
					en.Bits = 32
				default:
					en.Bits = 64
				}
				if err := addEnumValues(t, d.Values, d.Max); err != nil {
					return nil, err
				}
			case *StructDecl:
				if err := checkAnnotations(d.Annotations, "head", "split"); err != nil {
					return nil, err
				}
				st := &Struct{Head: findAnnotation(d.Annotations, "head") != nil}
				if err := declare(d.Name, d.Pos, &Type{Def: st, Doc: d.Doc, Section: d.Section}); err != nil {
					return nil, err
				}
				structs = append(structs, d)
			case *TypedefDecl:
				if err := declare(d.Name, d.Pos, &Type{Doc: d.Doc, Section: d.Section}); err != nil {
					return nil, err
				}
				typedefs = append(typedefs, d)
			case *ExtendSelect:
				extendSelects = append(extendSelects, d)
			}
		}
	}

	// Pass 2: typedefs.
	for _, d := range typedefs {
		t := s.byName[d.Name]
		if err := checkAnnotations(d.Annotations, "open", "size", "each"); err != nil {
			return nil, err
		}
		elem, err := s.fieldType(d.Type)
		if err != nil {
			return nil, err
		}
		switch {
		case d.Vec.Kind == VecNone && !elem.Optional && elem.T.Uint() != nil:
			// `uint16 CipherSuite;`: a number type, as an open enum
			// without named values.
			t.Def = &Enum{Bits: elem.T.Bits(), Open: true}
		case d.Vec.Kind == VecNone && !elem.Optional && elem.T.Opaque() == nil:
			t.Def = &Alias{Target: elem.T}
		case d.Vec.Kind == VecMLS || d.Vec.Kind == VecTLS || d.Vec.Kind == VecFixed:
			v := &Vector{Elem: elem, Vec: d.Vec}
			t.Def = v
			if a := findAnnotation(d.Annotations, "size"); a != nil {
				if v.SizeLo, v.SizeHi, err = annotationRange(a); err != nil {
					return nil, err
				}
			}
			if a := findAnnotation(d.Annotations, "each"); a != nil {
				if d.Vec.Kind == VecFixed || !elem.Optional || elem.T.Struct() == nil {
					return nil, errorf(a.Pos, "@each on %s: only a vector (<V> or <lo..hi>) of optional<struct>", d.Name)
				}
				v.Each = true
			}
		default:
			return nil, errorf(d.Pos, "typedef %s: unsupported form", d.Name)
		}
	}
	// Aliases may point at aliases declared later: follow them now.
	for _, d := range typedefs {
		a := s.byName[d.Name].Alias()
		seen := map[*Type]bool{}
		for a != nil && a.Target.Alias() != nil {
			if seen[a.Target] {
				return nil, errorf(d.Pos, "typedef %s refers to itself", d.Name)
			}
			seen[a.Target] = true
			a.Target = a.Target.Alias().Target
		}
	}

	// Pass 3: enum extensions.
	for _, d := range extendEnums {
		t := s.byName[d.Name]
		if t == nil || t.Enum() == nil {
			return nil, errorf(d.Pos, "extend enum %s: no such enum", d.Name)
		}
		if d.Max != 0 {
			return nil, errorf(d.Pos, "extend enum %s: an extension cannot change the width", d.Name)
		}
		vals := append([]EnumValue(nil), d.Values...)
		for i := range vals {
			if vals[i].Doc == "" {
				vals[i].Doc = d.Doc // the extension's comment
			}
		}
		if err := addEnumValues(t, vals, 1<<uint(t.Bits())-1); err != nil {
			return nil, err
		}
	}

	// Pass 4: struct members (selects resolved after all structs exist).
	decls := map[*Type]*StructDecl{}
	for _, d := range structs {
		t := s.byName[d.Name]
		decls[t] = d
		if err := s.structMembers(t, d); err != nil {
			return nil, err
		}
	}
	for _, d := range extendSelects {
		if err := s.extendSelect(d); err != nil {
			return nil, err
		}
	}
	for _, d := range structs {
		if err := s.resolveSelects(s.byName[d.Name]); err != nil {
			return nil, err
		}
	}
	for _, d := range structs {
		if err := checkHead(s.byName[d.Name], d); err != nil {
			return nil, err
		}
	}
	for _, d := range structs {
		if err := checkSplit(s.byName[d.Name], d); err != nil {
			return nil, err
		}
	}
	if err := s.resolveArgs(); err != nil {
		return nil, err
	}
	if err := s.checkSharedFields(); err != nil {
		return nil, err
	}
	for _, t := range s.Types {
		if st := t.Struct(); st != nil {
			s.goFields(st)
		}
	}
	return s, nil
}

func checkAnnotations(as []Annotation, allowed ...string) error {
	for _, a := range as {
		ok := false
		for _, n := range allowed {
			ok = ok || a.Name == n
		}
		if !ok {
			return errorf(a.Pos, "annotation @%s is not allowed here", a.Name)
		}
	}
	return nil
}

func addEnumValues(t *Type, vals []EnumValue, max uint64) error {
	en := t.Enum()
	for _, v := range vals {
		if v.Value > max {
			return errorf(v.Pos, "%s(%d) overflows enum %s (max %d)", v.Name, v.Value, t.Name, max)
		}
		for _, w := range en.Values {
			if w.Name == v.Name {
				return errorf(v.Pos, "enum %s already has a value named %s at %s", t.Name, v.Name, w.Pos)
			}
			if w.Value == v.Value {
				return errorf(v.Pos, "enum %s: %s(%d) repeats the value of %s", t.Name, v.Name, v.Value, w.Name)
			}
		}
		en.Values = append(en.Values, v)
	}
	return nil
}

func (s *Schema) fieldType(e TypeExpr) (FieldType, error) {
	if t, ok := builtins[e.Name]; ok {
		return FieldType{T: t, Optional: e.Optional}, nil
	}
	t := s.byName[e.Name]
	if t == nil {
		return FieldType{}, errorf(e.Pos, "undefined type %s", e.Name)
	}
	return FieldType{T: t, Optional: e.Optional}, nil
}

func (s *Schema) field(owner *Type, f *Field, arm bool) (*FieldInfo, error) {
	ft, err := s.fieldType(f.Type)
	if err != nil {
		return nil, err
	}
	if err := checkAnnotations(f.Annotations, "padding", "size"); err != nil {
		return nil, err
	}
	fi := &FieldInfo{Name: f.Name, GoName: GoName(f.Name), Pos: f.Pos, Doc: f.Doc, Comment: f.Comment, Type: ft, Vec: f.Vec, Arm: arm}
	if ft.T == owner && !ft.Optional && f.Vec.Kind == VecNone {
		return nil, errorf(f.Pos, "%s contains itself", owner.Name)
	}
	if f.Const != "" {
		if ft.T.Enum() == nil || ft.Optional || f.Vec.Kind != VecNone {
			return nil, errorf(f.Pos, "field %s: only a plain enum field can have a fixed value", f.Name)
		}
		v, ok := enumValue(ft.T, f.Const)
		if !ok {
			return nil, errorf(f.Pos, "%s is not a value of enum %s", f.Const, ft.T.Name)
		}
		fi.Const = &v
	}
	if a := findAnnotation(f.Annotations, "padding"); a != nil {
		if f.Vec.Kind != VecRest || ft.T.Opaque() == nil || ft.Optional {
			return nil, errorf(a.Pos, "@padding applies to `opaque name[length]` only")
		}
		fi.Padding = true
	} else if f.Vec.Kind == VecRest {
		return nil, errorf(f.Pos, "field %s: a length given by name ([%s]) needs @padding", f.Name, f.Vec.Ref)
	}
	if a := findAnnotation(f.Annotations, "size"); a != nil {
		if f.Vec.Kind != VecMLS && f.Vec.Kind != VecTLS {
			return nil, errorf(a.Pos, "@size applies to vectors only")
		}
		if fi.SizeLo, fi.SizeHi, err = annotationRange(a); err != nil {
			return nil, err
		}
		fi.HasSize = true
	}
	if arm && ft.T.Struct() != nil && !ft.Optional && f.Vec.Kind == VecNone {
		fi.Pointer = true
	}
	return fi, nil
}

func enumValue(t *Type, name string) (EnumValue, bool) {
	for _, v := range t.Enum().Values {
		if v.Name == name {
			return v, true
		}
	}
	return EnumValue{}, false
}

// headable reports whether AppendHead can end at field f: an MLS vector
// (its varint length prefix is the last thing written) or a plain field of
// a @head struct type (whose AppendHead ends it).
func headable(f *FieldInfo) bool {
	switch f.Vec.Kind {
	case VecMLS:
		return true
	case VecNone:
		st := f.Type.T.Struct()
		return st != nil && st.Head && !f.Type.Optional
	}
	return false
}

// checkHead checks a @head struct: its last member is a headable field,
// or a select with at least one arm whose last field is headable (the
// other arms' AppendHead fails with ErrNoHead).
func checkHead(t *Type, d *StructDecl) error {
	st := t.Struct()
	if !st.Head {
		return nil
	}
	if len(st.Members) > 0 {
		switch m := st.Members[len(st.Members)-1].(type) {
		case *FieldInfo:
			if headable(m) {
				return nil
			}
		case *SelectInfo:
			for _, ci := range append(append([]*CaseInfo{}, m.Cases...), m.Default) {
				if ci != nil && len(ci.Fields) > 0 && headable(ci.Fields[len(ci.Fields)-1]) {
					return nil
				}
			}
		}
	}
	return errorf(d.Pos, "@head struct %s must end in an MLS vector, a field of a @head struct, or a select with such an arm", t.Name)
}

// checkSplit resolves the field of a @split(field) struct: a field of
// the struct itself (not of a select arm) that is an MLS vector of a
// @head struct without a parameter, whose last member is an opaque MLS
// vector (the content AppendHeadAt leaves to the caller, n bytes long).
func checkSplit(t *Type, d *StructDecl) error {
	a := findAnnotation(d.Annotations, "split")
	if a == nil {
		return nil
	}
	if len(a.Args) != 1 || a.Args[0].kind != tokIdent {
		return errorf(a.Pos, "@split takes one field name")
	}
	name := a.Args[0].text
	st := t.Struct()
	for _, m := range st.Members {
		f, ok := m.(*FieldInfo)
		if !ok || f.Name != name {
			continue
		}
		es := f.Type.T.Struct()
		if f.Vec.Kind != VecMLS || f.Type.Optional || es == nil || !es.Head || es.Param != nil || len(es.Members) == 0 {
			return errorf(a.Pos, "@split(%s): %s must be an MLS vector of a @head struct", name, name)
		}
		last, ok := es.Members[len(es.Members)-1].(*FieldInfo)
		if !ok || last.Vec.Kind != VecMLS || loopsOverElements(last) {
			return errorf(a.Pos, "@split(%s): %s must end in an opaque MLS vector", name, f.Type.T.Name)
		}
		st.Split = f
		return nil
	}
	return errorf(a.Pos, "@split(%s): %s has no field %s", name, t.Name, name)
}

func (s *Schema) structMembers(t *Type, d *StructDecl) error {
	st := t.Struct()
	names := map[string]*FieldInfo{}
	for i, m := range d.Members {
		switch m := m.(type) {
		case *Field:
			fi, err := s.field(t, m, false)
			if err != nil {
				return err
			}
			if fi.Padding && i != len(d.Members)-1 {
				return errorf(m.Pos, "@padding field %s must be the last member", m.Name)
			}
			if prev := names[fi.Name]; prev != nil {
				return errorf(m.Pos, "%s already has a field %s at %s", t.Name, fi.Name, prev.Pos)
			}
			names[fi.Name] = fi
			st.Members = append(st.Members, fi)
		case *Select:
			sel := &SelectInfo{Pos: m.Pos, Path: m.Path}
			for _, c := range m.Cases {
				if err := s.addCase(t, sel, c); err != nil {
					return err
				}
			}
			st.Members = append(st.Members, sel)
		}
	}
	return nil
}

func (s *Schema) addCase(t *Type, sel *SelectInfo, c *Case) error {
	ci := &CaseInfo{}
	for _, l := range c.Labels {
		ci.Values = append(ci.Values, EnumValue{Pos: c.Pos, Name: l})
	}
	for i, f := range c.Fields {
		fi, err := s.field(t, f, true)
		if err != nil {
			return err
		}
		if i == 0 && fi.Doc == "" {
			fi.Doc = c.Doc // the comment on the arm
		}
		if fi.Padding {
			return errorf(f.Pos, "@padding is not allowed in a select arm")
		}
		ci.Fields = append(ci.Fields, fi)
	}
	if len(c.Labels) == 0 {
		if sel.Default != nil {
			return errorf(c.Pos, "select has two default arms")
		}
		sel.Default = ci
		return nil
	}
	sel.Cases = append(sel.Cases, ci)
	return nil
}

func (s *Schema) extendSelect(d *ExtendSelect) error {
	owner := s.byName[d.Path[0]]
	if owner == nil || owner.Struct() == nil {
		return errorf(d.Pos, "extend select: %s is not a struct", d.Path[0])
	}
	for _, m := range owner.Struct().Members {
		if sel, ok := m.(*SelectInfo); ok && strings.Join(sel.Path, ".") == strings.Join(d.Path, ".") {
			for _, c := range d.Cases {
				if err := s.addCase(owner, sel, c); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return errorf(d.Pos, "extend select: %s has no select on %s", owner.Name, strings.Join(d.Path, "."))
}

// walk follows a field path through plain (non-arm, non-vector) struct
// fields, as far as `before` allows for the first step (nil: any field).
func walk(t *Type, path []string, pos Pos, before int) (*FieldInfo, []string, error) {
	var goPath []string
	var f *FieldInfo
	cur := t
	for i, name := range path {
		if cur == nil || cur.Struct() == nil {
			return nil, nil, errorf(pos, "select path %s: %s is not a struct", strings.Join(path, "."), name)
		}
		f = nil
		for j, m := range cur.Struct().Members {
			if i == 0 && before >= 0 && j >= before {
				break
			}
			if fi, ok := m.(*FieldInfo); ok && fi.Name == name {
				f = fi
			}
		}
		if f == nil {
			return nil, nil, errorf(pos, "select path %s: %s has no field %s declared before the select", strings.Join(path, "."), cur.Name, name)
		}
		if f.Vec.Kind != VecNone || f.Type.Optional {
			return nil, nil, errorf(pos, "select path %s: field %s is a vector or optional", strings.Join(path, "."), name)
		}
		goPath = append(goPath, f.GoName)
		cur = f.Type.T
		if a := cur.Alias(); a != nil {
			cur = a.Target
		}
	}
	return f, goPath, nil
}

func (s *Schema) resolveSelects(t *Type) error {
	st := t.Struct()
	for idx, m := range st.Members {
		sel, ok := m.(*SelectInfo)
		if !ok {
			continue
		}
		if len(sel.Path) < 2 {
			return errorf(sel.Pos, "select (%s): write the discriminant as Struct.field", strings.Join(sel.Path, "."))
		}
		var f *FieldInfo
		var goPath []string
		var err error
		if sel.Path[0] == t.Name {
			f, goPath, err = walk(t, sel.Path[1:], sel.Pos, idx)
			if err != nil {
				return err
			}
			sel.GoPath = goPath
		} else {
			owner := s.byName[sel.Path[0]]
			if owner == nil {
				return errorf(sel.Pos, "select (%s): undefined type %s", strings.Join(sel.Path, "."), sel.Path[0])
			}
			if owner.Struct() == nil {
				return errorf(sel.Pos, "select (%s): %s is not a struct", strings.Join(sel.Path, "."), sel.Path[0])
			}
			if f, _, err = walk(owner, sel.Path[1:], sel.Pos, -1); err != nil {
				return err
			}
			p := &Param{Owner: owner, Path: sel.Path[1:], Enum: f.Type.T}
			if st.Param != nil && (st.Param.Owner != p.Owner || strings.Join(st.Param.Path, ".") != strings.Join(p.Path, ".")) {
				return errorf(sel.Pos, "%s selects on both %s.%s and %s; one outside discriminant per struct is supported",
					t.Name, st.Param.Owner.Name, strings.Join(st.Param.Path, "."), strings.Join(sel.Path, "."))
			}
			st.Param = p
		}
		if f.Type.T.Enum() == nil {
			return errorf(sel.Pos, "select (%s): %s is not an enum", strings.Join(sel.Path, "."), f.Name)
		}
		sel.Enum = f.Type.T
		seen := map[string]bool{}
		for _, c := range sel.Cases {
			for i, v := range c.Values {
				ev, ok := enumValue(sel.Enum, v.Name)
				if !ok {
					return errorf(v.Pos, "case %s is not a value of enum %s", v.Name, sel.Enum.Name)
				}
				if seen[v.Name] {
					return errorf(v.Pos, "case %s appears twice", v.Name)
				}
				seen[v.Name] = true
				c.Values[i] = ev
			}
		}
		if sel.Default != nil && !sel.Enum.Enum().Open {
			return errorf(sel.Pos, "a default arm needs an @open enum; %s is closed", sel.Enum.Name)
		}
	}
	if st.Param != nil {
		st.Param.GoName = lowerFirst(st.Param.Enum.GoName)
	}
	return nil
}

// resolveArgs decides, for every field whose struct type takes a
// discriminant argument, where the enclosing struct finds it: in an earlier
// sibling field (searched through nested plain struct fields), or in its own
// argument of the same enum, which the enclosing struct then takes too.
func (s *Schema) resolveArgs() error {
	for changed := true; changed; {
		changed = false
		for _, t := range s.Types {
			st := t.Struct()
			if st == nil {
				continue
			}
			for _, fi := range allFields(st) {
				var p *Param
				if fst := fi.Type.T.Struct(); fst != nil {
					p = fst.Param
				}
				if p == nil || fi.Arg != nil {
					continue
				}
				if path := findOwner(st, fi, p.Owner); path != nil {
					fi.Arg = append(path, goNames(p)...)
					continue
				}
				if st.Param == nil {
					q := *p
					st.Param = &q
					changed = true
				} else if st.Param.Enum != p.Enum {
					return errorf(fi.Pos, "field %s of %s needs a %s discriminant that %s cannot supply",
						fi.Name, t.Name, p.Enum.Name, t.Name)
				}
			}
		}
	}
	return nil
}

func goNames(p *Param) []string {
	var out []string
	cur := p.Owner
	for _, n := range p.Path {
		st := cur.Struct()
		if a := cur.Alias(); a != nil {
			st = a.Target.Struct()
		}
		if st == nil {
			break
		}
		for _, m := range st.Members {
			if fi, ok := m.(*FieldInfo); ok && fi.Name == n {
				out = append(out, fi.GoName)
				cur = fi.Type.T
				break
			}
		}
	}
	return out
}

// paramOf is the discriminant parameter that methods of t take, if any.
func paramOf(t *Type) *Param {
	if a := t.Alias(); a != nil {
		t = a.Target
	}
	if st := t.Struct(); st != nil {
		return st.Param
	}
	return nil
}

// allFields lists a struct's fields in wire order, arm fields included.
func allFields(t *Struct) []*FieldInfo {
	var out []*FieldInfo
	for _, m := range t.Members {
		switch m := m.(type) {
		case *FieldInfo:
			out = append(out, m)
		case *SelectInfo:
			for _, c := range append(append([]*CaseInfo{}, m.Cases...), m.Default) {
				if c != nil {
					out = append(out, c.Fields...)
				}
			}
		}
	}
	return out
}

// findOwner looks, among the plain fields of t declared before field, for
// one of type owner (also inside nested plain struct fields), and returns
// its Go path.
func findOwner(t *Struct, field *FieldInfo, owner *Type) []string {
	var search func(cur *Struct, depth int, stopAt *FieldInfo) []string
	search = func(cur *Struct, depth int, stopAt *FieldInfo) []string {
		if depth > 4 {
			return nil
		}
		for _, m := range cur.Members {
			fi, ok := m.(*FieldInfo)
			if !ok {
				if sel, ok := m.(*SelectInfo); ok && stopAt != nil {
					for _, c := range sel.Cases {
						for _, f := range c.Fields {
							if f == stopAt {
								return nil
							}
						}
					}
				}
				continue
			}
			if fi == stopAt {
				return nil
			}
			if fi.Vec.Kind != VecNone || fi.Type.Optional || fi.Type.T.Struct() == nil {
				continue
			}
			if fi.Type.T == owner {
				return []string{fi.GoName}
			}
			if p := search(fi.Type.T.Struct(), depth+1, nil); p != nil {
				return append([]string{fi.GoName}, p...)
			}
		}
		return nil
	}
	return search(t, 0, field)
}

// goFields lays out the Go struct: plain fields in order, and each select's
// arm fields where the select stands (an arm field shared by several arms,
// same name and type, appears once).
func (s *Schema) goFields(t *Struct) {
	seen := map[string]*FieldInfo{}
	for _, m := range t.Members {
		switch m := m.(type) {
		case *FieldInfo:
			if m.Const == nil {
				t.GoField = append(t.GoField, m)
				seen[m.GoName] = m
			}
		case *SelectInfo:
			for _, c := range append(append([]*CaseInfo{}, m.Cases...), m.Default) {
				if c == nil {
					continue
				}
				for _, f := range c.Fields {
					if _, ok := seen[f.GoName]; ok {
						continue
					}
					seen[f.GoName] = f
					t.GoField = append(t.GoField, f)
				}
			}
		}
	}
}

// checkSharedFields reports arm fields that share a Go name with another field
// but differ in type.
func (s *Schema) checkSharedFields() error {
	for _, t := range s.Types {
		st := t.Struct()
		if st == nil {
			continue
		}
		byName := map[string]*FieldInfo{}
		for _, f := range allFields(st) {
			if f.Const != nil {
				continue
			}
			if prev, ok := byName[f.GoName]; ok {
				if !prev.Arm || !f.Arm || prev.Type != f.Type || prev.Vec != f.Vec {
					return errorf(f.Pos, "%s: field %s clashes with the field at %s", t.Name, f.Name, prev.Pos)
				}
				continue
			}
			byName[f.GoName] = f
		}
	}
	return nil
}

// initialisms are written in upper case in Go names.
var initialisms = map[string]string{
	"id": "ID", "mls": "MLS", "hpke": "HPKE", "psk": "PSK", "kem": "KEM", "tbs": "TBS",
	"tbm": "TBM", "aad": "AAD", "kdf": "KDF", "mac": "MAC", "tls": "TLS", "url": "URL",
	"psktype": "PSKType", "reinit": "ReInit",
}

// GoName turns a schema name into an exported Go name: snake_case parts are
// capitalized and known initialisms upper-cased (group_id → GroupID,
// mls10 → MLS10); names already in mixed case keep their case.
func GoName(name string) string {
	var b strings.Builder
	for _, part := range strings.Split(name, "_") {
		if part == "" {
			continue
		}
		letters := strings.TrimRight(part, "0123456789")
		if up, ok := initialisms[letters]; ok {
			b.WriteString(up + part[len(letters):])
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

func lowerFirst(s string) string {
	// Leading initialisms are lowered whole: PSKType → pskType.
	i := 0
	for i < len(s) && s[i] >= 'A' && s[i] <= 'Z' {
		i++
	}
	switch {
	case i == 0:
		return s
	case i == 1 || i == len(s):
		return strings.ToLower(s[:i]) + s[i:]
	default:
		return strings.ToLower(s[:i-1]) + s[i-1:]
	}
}

func (t *Type) String() string { return fmt.Sprintf("%s(%s)", t.Name, t.GoName) }
