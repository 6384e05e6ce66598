package codec_test

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math/rand"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/prop"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/testseed"
)

// wireTypes lists every generated type with a codec (AppendTo, Size, Marshal,
// Unmarshal, Decode, Validate), in schema order. TestWireTypesTableComplete
// checks it against rfc9420_gen.go, so a type added to the schema cannot be
// left out of the properties.
var wireTypes = []reflect.Type{
	reflect.TypeFor[codec.HPKEPublicKey](),
	reflect.TypeFor[codec.SignaturePublicKey](),
	reflect.TypeFor[codec.SignContent](),
	reflect.TypeFor[codec.EncryptContext](),
	reflect.TypeFor[codec.HashReference](),
	reflect.TypeFor[codec.KeyPackageRef](),
	reflect.TypeFor[codec.ProposalRef](),
	reflect.TypeFor[codec.RefHashInput](),
	reflect.TypeFor[codec.Certificate](),
	reflect.TypeFor[codec.Credential](),
	reflect.TypeFor[codec.ApplicationID](),
	reflect.TypeFor[codec.Sender](),
	reflect.TypeFor[codec.FramedContent](),
	reflect.TypeFor[codec.MLSMessage](),
	reflect.TypeFor[codec.MLSMessageHeader](),
	reflect.TypeFor[codec.AuthenticatedContent](),
	reflect.TypeFor[codec.FramedContentTBS](),
	reflect.TypeFor[codec.MAC](),
	reflect.TypeFor[codec.FramedContentAuthData](), // takes a ContentType
	reflect.TypeFor[codec.PublicMessage](),
	reflect.TypeFor[codec.AuthenticatedContentTBM](),
	reflect.TypeFor[codec.PrivateMessage](),
	reflect.TypeFor[codec.PrivateMessageContent](), // takes a ContentType
	reflect.TypeFor[codec.PrivateContentAAD](),
	reflect.TypeFor[codec.SenderData](),
	reflect.TypeFor[codec.SenderDataAAD](),
	reflect.TypeFor[codec.ParentNode](),
	reflect.TypeFor[codec.Capabilities](),
	reflect.TypeFor[codec.Lifetime](),
	reflect.TypeFor[codec.Extension](),
	reflect.TypeFor[codec.LeafNode](),
	reflect.TypeFor[codec.LeafNodeTBS](),
	reflect.TypeFor[codec.HPKECiphertext](),
	reflect.TypeFor[codec.UpdatePathNode](),
	reflect.TypeFor[codec.UpdatePath](),
	reflect.TypeFor[codec.TreeHashInput](),
	reflect.TypeFor[codec.LeafNodeHashInput](),
	reflect.TypeFor[codec.ParentNodeHashInput](),
	reflect.TypeFor[codec.ParentHashInput](),
	reflect.TypeFor[codec.KDFLabel](),
	reflect.TypeFor[codec.GroupContext](),
	reflect.TypeFor[codec.ConfirmedTranscriptHashInput](),
	reflect.TypeFor[codec.InterimTranscriptHashInput](),
	reflect.TypeFor[codec.PreSharedKeyID](),
	reflect.TypeFor[codec.PSKLabel](),
	reflect.TypeFor[codec.KeyPackage](),
	reflect.TypeFor[codec.KeyPackageTBS](),
	reflect.TypeFor[codec.RequiredCapabilities](),
	reflect.TypeFor[codec.Proposal](),
	reflect.TypeFor[codec.Add](),
	reflect.TypeFor[codec.Update](),
	reflect.TypeFor[codec.Remove](),
	reflect.TypeFor[codec.PreSharedKey](),
	reflect.TypeFor[codec.ReInit](),
	reflect.TypeFor[codec.ExternalInit](),
	reflect.TypeFor[codec.GroupContextExtensions](),
	reflect.TypeFor[codec.ExternalSender](),
	reflect.TypeFor[codec.ProposalOrRef](),
	reflect.TypeFor[codec.Commit](),
	reflect.TypeFor[codec.GroupInfo](),
	reflect.TypeFor[codec.GroupInfoTBS](),
	reflect.TypeFor[codec.PathSecret](),
	reflect.TypeFor[codec.GroupSecrets](),
	reflect.TypeFor[codec.EncryptedGroupSecrets](),
	reflect.TypeFor[codec.Welcome](),
	reflect.TypeFor[codec.ExternalPub](),
	reflect.TypeFor[codec.Node](),
	reflect.TypeFor[codec.RatchetTree](),
	reflect.TypeFor[codec.ExternalSenders](),
	reflect.TypeFor[codec.SelfRemove](),
}

// enumTypes lists every generated enum and whether it is open (unknown
// values decode and re-encode) or closed (decoders reject them).
var enumTypes = []struct {
	typ  reflect.Type
	open bool
}{
	{reflect.TypeFor[codec.CredentialType](), true},
	{reflect.TypeFor[codec.ProtocolVersion](), true},
	{reflect.TypeFor[codec.ContentType](), false},
	{reflect.TypeFor[codec.SenderType](), false},
	{reflect.TypeFor[codec.WireFormat](), true},
	{reflect.TypeFor[codec.LeafNodeSource](), false},
	{reflect.TypeFor[codec.CipherSuite](), true},
	{reflect.TypeFor[codec.ExtensionType](), true},
	{reflect.TypeFor[codec.ProposalType](), true},
	{reflect.TypeFor[codec.NodeType](), false},
	{reflect.TypeFor[codec.PSKType](), false},
	{reflect.TypeFor[codec.ResumptionPSKUsage](), false},
	{reflect.TypeFor[codec.ProposalOrRefType](), false},
}

// TestWireTypesTableComplete parses rfc9420_gen.go and checks that
// wireTypes names exactly the types with a Marshal method and enumTypes
// exactly the enums, with the right openness.
func TestWireTypesTableComplete(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "rfc9420_gen.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var codecs, enums []string
	open := map[string]bool{}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv != nil && d.Name.Name == "Marshal" {
				rt := d.Recv.List[0].Type
				if s, ok := rt.(*ast.StarExpr); ok {
					rt = s.X
				}
				codecs = append(codecs, rt.(*ast.Ident).Name)
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				ts, ok := s.(*ast.TypeSpec)
				if !ok {
					continue
				}
				if id, ok := ts.Type.(*ast.Ident); ok && strings.HasPrefix(id.Name, "uint") {
					enums = append(enums, ts.Name.Name)
					open[ts.Name.Name] = strings.Contains(d.Doc.Text(), "is an open enum")
				}
			}
		}
	}
	var table []string
	for _, typ := range wireTypes {
		table = append(table, typ.Name())
	}
	if !slices.Equal(table, codecs) {
		t.Errorf("wireTypes:\n %v\nrfc9420_gen.go types with a codec:\n %v", table, codecs)
	}
	var etable []string
	for _, e := range enumTypes {
		etable = append(etable, e.typ.Name())
		if open[e.typ.Name()] != e.open {
			t.Errorf("enum %s: open=%v in the table, %v in rfc9420_gen.go", e.typ.Name(), e.open, open[e.typ.Name()])
		}
	}
	if !slices.Equal(etable, enums) {
		t.Errorf("enumTypes:\n %v\nrfc9420_gen.go enums:\n %v", etable, enums)
	}
	t.Logf("%d wire types, %d enums", len(codecs), len(enums))
}

// codecOps is a value of a wire type with its codec, the ContentType
// parameter applied for the two types that take one.
type codecOps struct {
	marshal   func() ([]byte, error)
	unmarshal func([]byte) error
	validate  func() error
}

type plainCodec interface {
	Marshal() ([]byte, error)
	Unmarshal([]byte) error
	Validate() error
}

type contentTypeCodec interface {
	Marshal(codec.ContentType) ([]byte, error)
	Unmarshal([]byte, codec.ContentType) error
	Validate(codec.ContentType) error
}

// opsOf returns the codec of ptr, a pointer to a wire type.
func opsOf(ptr any, ct codec.ContentType) codecOps {
	switch v := ptr.(type) {
	case plainCodec:
		return codecOps{v.Marshal, v.Unmarshal, v.Validate}
	case contentTypeCodec:
		return codecOps{
			func() ([]byte, error) { return v.Marshal(ct) },
			func(b []byte) error { return v.Unmarshal(b, ct) },
			func() error { return v.Validate(ct) },
		}
	}
	panic(fmt.Sprintf("%T has no codec", ptr))
}

// takesContentType reports whether typ's codec takes a ContentType.
func takesContentType(typ reflect.Type) bool {
	_, ok := reflect.New(typ).Interface().(contentTypeCodec)
	return ok
}

type isKnowner interface{ IsKnown() bool }

var isKnownerType = reflect.TypeFor[isKnowner]()

// valueGen builds random values of the generated types by reflection.
// Closed enums take only values they name; open enums mostly named values
// and sometimes any other. The arms of a select are made consistent with
// their discriminant afterwards (see normalize).
type valueGen struct {
	known map[reflect.Type][]uint64
	open  map[reflect.Type]bool
}

func newValueGen() *valueGen {
	g := &valueGen{known: map[reflect.Type][]uint64{}, open: map[reflect.Type]bool{}}
	for _, e := range enumTypes {
		g.open[e.typ] = e.open
		v := reflect.New(e.typ).Elem()
		max := uint64(1)<<(8*e.typ.Size()) - 1
		for i := uint64(0); i <= max; i++ {
			v.SetUint(i)
			if v.Interface().(isKnowner).IsKnown() {
				g.known[e.typ] = append(g.known[e.typ], i)
			}
		}
	}
	return g
}

func randUint(rng *rand.Rand, bits int) uint64 {
	switch rng.Intn(4) {
	case 0:
		return 0
	case 1:
		return uint64(rng.Intn(256))
	}
	return rng.Uint64() >> (64 - bits)
}

// byteLen picks a length for an opaque vector: mostly short, sometimes
// across the 1-byte varint limit of 63, rarely across 16383.
func byteLen(rng *rand.Rand) int {
	switch x := rng.Intn(100); {
	case x < 25:
		return 0
	case x < 85:
		return 1 + rng.Intn(32)
	case x < 98:
		return 33 + rng.Intn(200)
	}
	return 16300 + rng.Intn(200)
}

// fill sets v (settable) to a random value. Pointers are all set; some are
// cleared later by normalize.
func (g *valueGen) fill(rng *rand.Rand, v reflect.Value, depth int) {
	t := v.Type()
	if t.Implements(isKnownerType) {
		known := g.known[t]
		if g.open[t] && rng.Intn(8) == 0 {
			v.SetUint(randUint(rng, 8*int(t.Size())))
		} else {
			v.SetUint(known[rng.Intn(len(known))])
		}
		return
	}
	switch t.Kind() {
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(randUint(rng, 8*int(t.Size())))
	case reflect.Int: // PrivateMessageContent.Padding
		if rng.Intn(3) == 0 {
			v.SetInt(int64(rng.Intn(40)))
		}
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			g.fill(rng, v.Index(i), depth+1)
		}
	case reflect.Slice:
		var n int
		if t.Elem().Kind() == reflect.Uint8 {
			n = byteLen(rng)
		} else if depth < 10 {
			n = rng.Intn(4)
		}
		if n == 0 {
			if rng.Intn(2) == 0 {
				v.Set(reflect.MakeSlice(t, 0, 0)) // empty but not nil: normalize makes it nil
			}
			return
		}
		s := reflect.MakeSlice(t, n, n)
		if t.Elem().Kind() == reflect.Uint8 {
			rng.Read(s.Bytes())
		} else {
			for i := 0; i < n; i++ {
				g.fill(rng, s.Index(i), depth+1)
			}
		}
		v.Set(s)
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		g.fill(rng, p.Elem(), depth+1)
		v.Set(p)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			g.fill(rng, v.Field(i), depth+1)
		}
	default:
		panic("unexpected kind " + t.Kind().String())
	}
}

// walk calls visit on every settable part of v (struct fields, vector
// elements, pointees); visit returns false to skip the inside of a part.
func walk(v reflect.Value, visit func(reflect.Value) bool) {
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if visit(v.Field(i)) {
				walk(v.Field(i), visit)
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		for i := 0; i < v.Len(); i++ {
			if visit(v.Index(i)) {
				walk(v.Index(i), visit)
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			walk(v.Elem(), visit)
		}
	}
}

// normalize turns a random value into one that decoding its encoding gives
// back exactly: it clears some pointers where the encoding allows it
// (absent optionals), then zeroes every part that does not contribute to
// the encoding — arms the discriminant does not select, and empty vectors,
// which decode as nil. It reports false if the value cannot be encoded.
func normalize(rng *rand.Rand, root reflect.Value, enc func() ([]byte, error)) bool {
	save := func(f reflect.Value) reflect.Value {
		old := reflect.New(f.Type()).Elem()
		old.Set(f)
		return old
	}
	walk(root, func(f reflect.Value) bool {
		if f.Kind() != reflect.Pointer || f.IsNil() || rng.Intn(3) != 0 {
			return true
		}
		old := save(f)
		f.SetZero()
		if _, err := enc(); err != nil {
			f.Set(old)
			return true
		}
		return false
	})
	base, err := enc()
	if err != nil {
		return false
	}
	zero := func(f reflect.Value) bool {
		if f.IsZero() {
			return true
		}
		old := save(f)
		f.SetZero()
		if out, err := enc(); err == nil && bytes.Equal(out, base) {
			return false
		}
		f.Set(old)
		return true
	}
	if zero(root) {
		walk(root, zero)
	}
	return true
}

// sample is a random valid value of a wire type and its encoding.
type sample struct {
	typ reflect.Type
	ptr any // *T
	ct  codec.ContentType
	enc []byte
}

func (s *sample) String() string { return fmt.Sprintf("%s %x", s.typ.Name(), s.enc) }

// genSample returns a gopter generator of valid values of typ: random
// values, normalized, and kept only if Validate accepts them and they
// encode.
func (g *valueGen) genSample(typ reflect.Type) gopter.Gen {
	cts := g.known[reflect.TypeFor[codec.ContentType]()]
	return func(p *gopter.GenParameters) *gopter.GenResult {
		for attempt := 0; attempt < 1000; attempt++ {
			rng := p.Rng
			ptr := reflect.New(typ)
			g.fill(rng, ptr.Elem(), 0)
			s := &sample{typ: typ, ptr: ptr.Interface()}
			if takesContentType(typ) {
				s.ct = codec.ContentType(cts[rng.Intn(len(cts))])
			}
			ops := opsOf(s.ptr, s.ct)
			if !normalize(rng, ptr.Elem(), ops.marshal) {
				continue
			}
			if ops.validate() != nil {
				continue
			}
			enc, err := ops.marshal()
			if err != nil {
				continue
			}
			s.enc = enc
			return gopter.NewGenResult(s, gopter.NoShrinker)
		}
		panic("no valid value of " + typ.Name() + " in 1000 attempts")
	}
}

// checkRoundTrip: decode(encode(x)) == x, and AppendTo after a prefix
// gives the same bytes.
func checkRoundTrip(s *sample) error {
	got := reflect.New(s.typ)
	ops := opsOf(got.Interface(), s.ct)
	if err := ops.unmarshal(s.enc); err != nil {
		return fmt.Errorf("decoding: %v", err)
	}
	if !reflect.DeepEqual(got.Interface(), s.ptr) {
		return fmt.Errorf("decoded value differs:\n got %+v\nwant %+v", got.Elem(), reflect.ValueOf(s.ptr).Elem())
	}
	if err := ops.validate(); err != nil {
		return fmt.Errorf("decoded value does not validate: %v", err)
	}
	again, err := ops.marshal()
	if err != nil || !bytes.Equal(again, s.enc) {
		return fmt.Errorf("re-encoding: %x, %v", again, err)
	}
	// Decoding from a large input (4 KiB or more: the decoders' slab
	// allocation path) gives the same value.
	if err := checkSlabDecode(s); err != nil {
		return err
	}
	// AppendTo writes after what the buffer holds.
	prefix := []byte{0xaa, 0xbb, 0xcc}
	out := appendTo(s, bytes.Clone(prefix))
	if !bytes.Equal(out, append(prefix, s.enc...)) {
		return fmt.Errorf("AppendTo after a prefix: %x", out)
	}
	return nil
}

// checkSlabDecode decodes s.enc with Decode from a sub-reader that ends
// 4 KiB or more into its input, where the decoders allocate from slabs.
func checkSlabDecode(s *sample) error {
	padded := append(make([]byte, 4096), s.enc...)
	r := codec.NewReader(padded)
	if _, err := r.ReadBytes(4096); err != nil {
		return err
	}
	sub, err := r.Sub(len(s.enc))
	if err != nil {
		return fmt.Errorf("sub-reader of a padded input: %v", err)
	}
	got := reflect.New(s.typ)
	args := []reflect.Value{reflect.ValueOf(&sub)}
	if takesContentType(s.typ) {
		args = append(args, reflect.ValueOf(s.ct))
	}
	if res := got.MethodByName("Decode").Call(args); !res[0].IsNil() {
		return fmt.Errorf("Decode with slabs: %v", res[0].Interface())
	}
	if !sub.Empty() {
		return fmt.Errorf("Decode with slabs left %d bytes", sub.Len())
	}
	if !reflect.DeepEqual(got.Interface(), s.ptr) {
		return fmt.Errorf("Decode with slabs gives another value:\n got %+v\nwant %+v", got.Elem(), reflect.ValueOf(s.ptr).Elem())
	}
	return nil
}

// sizeOf calls the Size method of s's value by reflection.
func sizeOf(s *sample) int {
	var args []reflect.Value
	if takesContentType(s.typ) {
		args = append(args, reflect.ValueOf(s.ct))
	}
	return int(reflect.ValueOf(s.ptr).MethodByName("Size").Call(args)[0].Int())
}

// checkSize: Size() is the length of the encoding AppendTo writes (into
// a buffer that starts empty, so that Marshal's own use of Size plays no
// part), and Marshal's buffer is allocated at exactly that size.
func checkSize(s *sample) error {
	enc := appendTo(s, []byte{})
	if enc == nil {
		return fmt.Errorf("AppendTo fails")
	}
	if got := sizeOf(s); got != len(enc) {
		return fmt.Errorf("Size() = %d, encoding has %d bytes", got, len(enc))
	}
	out, err := opsOf(s.ptr, s.ct).marshal()
	if err != nil || !bytes.Equal(out, enc) {
		return fmt.Errorf("Marshal = %x, %v; AppendTo gives %x", out, err, enc)
	}
	if cap(out) != len(out) {
		return fmt.Errorf("Marshal's buffer has capacity %d for %d bytes", cap(out), len(out))
	}
	return nil
}

// sizeSweeps are the lengths in bytes a vector takes in
// TestSizeAcrossVarintBoundaries: every length up to 80 and from 16300 to
// 16400, across the 1-to-2 (63/64) and 2-to-4 (16383/16384) byte steps
// of a varint length prefix (RFC 9420 §2.1.2), its own and, for an
// enclosing vector whose other content is under 80 bytes, the enclosing
// vector's.
var sizeSweeps = [][2]int{{0, 80}, {16300, 16400}}

// TestSizeAcrossVarintBoundaries checks Size against the encoding for
// random values of every wire type in which one vector of bytes or
// numbers (chosen at random among those the value holds) takes each
// length of sizeSweeps. Lengths a vector's bounds reject (AppendTo fails)
// are skipped, but each type that holds such vectors must have one swept
// across both steps.
func TestSizeAcrossVarintBoundaries(t *testing.T) {
	g := newValueGen()
	rng := rand.New(rand.NewSource(int64(testseed.Seed(t))))
	samples := 6
	if testing.Short() {
		samples = 2
	}
	for _, typ := range wireTypes {
		gen := g.genSample(typ)
		crossed, swept := 0, 0
		for range samples {
			s := gen(&gopter.GenParameters{Rng: rng, MaxSize: 100}).Result.(*sample)
			var vecs []reflect.Value
			numbers := func(f reflect.Value) bool {
				if f.Kind() != reflect.Slice || !f.CanSet() {
					return false
				}
				switch f.Type().Elem().Kind() {
				case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
					return true
				}
				return false
			}
			if root := reflect.ValueOf(s.ptr).Elem(); numbers(root) {
				vecs = append(vecs, root)
			}
			walk(reflect.ValueOf(s.ptr), func(f reflect.Value) bool {
				if numbers(f) {
					vecs = append(vecs, f)
				}
				return true
			})
			if len(vecs) == 0 {
				continue
			}
			swept++
			vec := vecs[rng.Intn(len(vecs))]
			width := int(vec.Type().Elem().Size())
			var short, mid, long bool // contents encoded: < 64, 64..16383, >= 16384 bytes
			for _, w := range sizeSweeps {
				for n := (w[0] + width - 1) / width; n*width <= w[1]; n++ {
					vec.Set(reflect.MakeSlice(vec.Type(), n, n))
					enc := appendTo(s, []byte{})
					if enc == nil {
						continue // out of the vector's bounds
					}
					l := n * width
					short, mid, long = short || l < 64, mid || (l >= 64 && l < 16384), long || l >= 16384
					if got := sizeOf(s); got != len(enc) {
						t.Fatalf("%s with a %s of %d bytes: Size() = %d, encoding has %d bytes", typ.Name(), vec.Type(), l, got, len(enc))
					}
				}
			}
			if short && mid && long {
				crossed++
			}
		}
		if swept > 0 && crossed == 0 {
			t.Errorf("%s: no vector of %d random values swept across both varint steps", typ.Name(), samples)
		}
	}
}

// appendTo calls the AppendTo method of s's value by reflection.
func appendTo(s *sample, b []byte) []byte {
	args := []reflect.Value{reflect.ValueOf(b)}
	if takesContentType(s.typ) {
		args = append(args, reflect.ValueOf(s.ct))
	}
	res := reflect.ValueOf(s.ptr).MethodByName("AppendTo").Call(args)
	if !res[1].IsNil() {
		return nil
	}
	return res[0].Bytes()
}

// maxPrefixChecks bounds the strict prefixes tried per value: all of them
// up to this length, otherwise this many spread over the encoding plus the
// last few.
const maxPrefixChecks = 400

// checkPrefixes: every strict prefix of a valid encoding is rejected,
// except that PrivateMessageContent's padding runs to the end of its
// plaintext (§6.3.1), so cutting the padding gives a valid value with less
// of it.
func checkPrefixes(s *sample) error {
	padding := 0
	if pc, ok := s.ptr.(*codec.PrivateMessageContent); ok {
		padding = pc.Padding
	}
	n := len(s.enc)
	try := func(i int) error {
		got := reflect.New(s.typ)
		err := opsOf(got.Interface(), s.ct).unmarshal(s.enc[:i])
		if i >= n-padding {
			if err != nil {
				return fmt.Errorf("prefix of %d/%d bytes cutting only padding: %v", i, n, err)
			}
			if pad := got.Interface().(*codec.PrivateMessageContent).Padding; pad != padding-(n-i) {
				return fmt.Errorf("prefix of %d/%d bytes: padding %d, want %d", i, n, pad, padding-(n-i))
			}
			return nil
		}
		if err == nil {
			return fmt.Errorf("strict prefix of %d/%d bytes decodes", i, n)
		}
		if !errors.Is(err, codec.ErrTruncated) {
			return fmt.Errorf("strict prefix of %d/%d bytes: %v, want ErrTruncated", i, n, err)
		}
		return nil
	}
	if n <= maxPrefixChecks {
		for i := 0; i < n; i++ {
			if err := try(i); err != nil {
				return err
			}
		}
		return nil
	}
	for k := 0; k < maxPrefixChecks; k++ {
		i := k * n / maxPrefixChecks
		if k >= maxPrefixChecks-8 {
			i = n - (maxPrefixChecks - k)
		}
		if err := try(i); err != nil {
			return err
		}
	}
	return nil
}

// mutate returns a damaged copy of b: bytes flipped, inserted or removed,
// or plain random bytes.
func mutate(rng *rand.Rand, b []byte) []byte {
	b = bytes.Clone(b)
	for k := 1 + rng.Intn(3); k > 0; k-- {
		switch op := rng.Intn(5); {
		case op == 0 || len(b) == 0:
			b = slices.Insert(b, rng.Intn(len(b)+1), byte(rng.Intn(256)))
		case op == 1:
			i := rng.Intn(len(b))
			b = slices.Delete(b, i, i+1)
		case op == 2:
			b = b[:rng.Intn(len(b))]
		default:
			b[rng.Intn(len(b))] ^= byte(1 + rng.Intn(255))
		}
	}
	if rng.Intn(8) == 0 {
		b = make([]byte, rng.Intn(300))
		rng.Read(b)
	}
	return b
}

// checkNoPanic decodes damaged bytes: never a panic; an error that is a
// *codec.Error; and when the damage still decodes, the value re-encodes to
// exactly the input (the decoder accepts canonical encodings only).
func checkNoPanic(typ reflect.Type, ct codec.ContentType, in []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic decoding %x: %v", in, r)
		}
	}()
	got := reflect.New(typ)
	ops := opsOf(got.Interface(), ct)
	if derr := ops.unmarshal(in); derr != nil {
		var ce *codec.Error
		if !errors.As(derr, &ce) {
			return fmt.Errorf("error %v is not a *codec.Error", derr)
		}
		return nil
	}
	out, merr := ops.marshal()
	if merr != nil {
		return fmt.Errorf("decoded %x but cannot re-encode: %v", in, merr)
	}
	if !bytes.Equal(out, in) {
		return fmt.Errorf("decoded %x but re-encodes as %x", in, out)
	}
	return nil
}

// TestProperties checks, for every generated wire type: decoding the
// encoding of a random valid value gives the value back; Size is the
// length of the encoding; decoding never
// panics on damaged or random bytes; every strict prefix of an encoding is
// rejected.
func TestProperties(t *testing.T) {
	g := newValueGen()
	for _, typ := range wireTypes {
		t.Run(typ.Name(), func(t *testing.T) {
			params := testseed.Gopter(t)
			params.MinSuccessfulTests = 300
			if testing.Short() {
				params.MinSuccessfulTests = 30
			}
			params.MaxSize = 100
			props := gopter.NewProperties(params)
			check := func(f func(*sample) error) func(*sample) bool {
				return func(s *sample) bool {
					if err := f(s); err != nil {
						t.Logf("%s: %v\nvalue %x", typ.Name(), err, s.enc)
						return false
					}
					return true
				}
			}
			props.Property("decode(encode(x)) == x", prop.ForAll(check(checkRoundTrip), g.genSample(typ)))
			props.Property("Size() == len(encode(x))", prop.ForAll(check(checkSize), g.genSample(typ)))
			props.Property("strict prefixes are rejected", prop.ForAll(check(checkPrefixes), g.genSample(typ)))
			props.Property("damaged and random bytes never panic", prop.ForAll(
				func(s *sample, seed int64) bool {
					rng := rand.New(rand.NewSource(seed))
					for k := 0; k < 8; k++ {
						ct := s.ct
						if k == 7 && takesContentType(typ) {
							ct = codec.ContentType(rng.Intn(5)) // including values with no arm
						}
						if err := checkNoPanic(typ, ct, mutate(rng, s.enc)); err != nil {
							t.Logf("%s: %v", typ.Name(), err)
							return false
						}
					}
					return true
				},
				g.genSample(typ), func(p *gopter.GenParameters) *gopter.GenResult {
					return gopter.NewGenResult(p.Rng.Int63(), gopter.NoShrinker)
				}))
			props.TestingRun(t)
		})
	}
}

// TestPropertiesCoverSelectArms checks that the random values reach every
// arm of the selects and both states of optionals: the generator is not
// stuck on one shape. It records the distinct pointer fields seen set (and
// nil) over random MLSMessage, AuthenticatedContent, RatchetTree,
// TreeHashInput and GroupSecrets values, drawing until every wanted shape
// has appeared. A rare arm can take a few hundred values to appear (a fixed
// sample of 60 missed one for 7% of seeds), so the test draws up to
// maxRounds values of each type, which no working generator needs, and
// fails only when a shape is still missing then.
func TestPropertiesCoverSelectArms(t *testing.T) {
	const maxRounds = 20000
	g := newValueGen()
	rng := rand.New(rand.NewSource(int64(testseed.Seed(t))))
	seenSet := map[string]bool{}
	seenNil := map[string]bool{}
	wantSet := []string{"PublicMessage", "PrivateMessage", "Welcome", "GroupInfo", "KeyPackage",
		"Proposal", "Commit", "Add", "Update", "Remove", "PreSharedKey", "ReInit", "ExternalInit",
		"GroupContextExtensions", "SelfRemove", "UpdatePath", "Lifetime", "Node", "LeafNode", "ParentNode",
		"LeafNodeHashInput", "ParentNodeHashInput", "PathSecret"}
	wantNil := []string{"UpdatePath", "Node", "LeafNode", "ParentNode", "PathSecret"} // optionals
	missing := func() []string {
		var out []string
		for _, w := range wantSet {
			if !seenSet[w] {
				out = append(out, w)
			}
		}
		for _, w := range wantNil {
			if !seenNil[w] {
				out = append(out, "nil "+w)
			}
		}
		sort.Strings(out)
		return out
	}
	var gens []gopter.Gen
	for _, typ := range []reflect.Type{reflect.TypeFor[codec.MLSMessage](), reflect.TypeFor[codec.AuthenticatedContent](),
		reflect.TypeFor[codec.RatchetTree](), reflect.TypeFor[codec.TreeHashInput](), reflect.TypeFor[codec.GroupSecrets]()} {
		gens = append(gens, g.genSample(typ))
	}
	rounds := 0
	for ; rounds < maxRounds && len(missing()) > 0; rounds++ {
		for _, gen := range gens {
			s := gen(&gopter.GenParameters{Rng: rng, MaxSize: 100}).Result.(*sample)
			walk(reflect.ValueOf(s.ptr), func(f reflect.Value) bool {
				if f.Kind() == reflect.Pointer {
					name := f.Type().Elem().Name()
					if f.IsNil() {
						seenNil[name] = true
					} else {
						seenSet[name] = true
					}
				}
				return true
			})
		}
	}
	if m := missing(); len(m) > 0 {
		t.Fatalf("%d random values of each type never had: %v", rounds, m)
	}
	t.Logf("every shape seen within %d values of each type", rounds)
}
