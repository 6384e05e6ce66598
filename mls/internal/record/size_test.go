package record_test

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"math/rand"
	"reflect"
	"slices"
	"testing"

	"github.com/mlskit/mlskit/internal/testseed"
	"github.com/mlskit/mlskit/mls/internal/record"
)

// sized is what every generated record type has.
type sized interface {
	AppendTo([]byte) ([]byte, error)
	Size() int
	Marshal() ([]byte, error)
}

// recordTypes lists every generated type of record_gen.go with a codec;
// TestRecordSizes checks the list is complete.
var recordTypes = []reflect.Type{
	reflect.TypeFor[record.NodeSecret](), reflect.TypeFor[record.KeptKey](),
	reflect.TypeFor[record.SenderRatchet](), reflect.TypeFor[record.LeafRatchets](),
	reflect.TypeFor[record.SecretTree](), reflect.TypeFor[record.EpochSecrets](),
	reflect.TypeFor[record.SecretTreeNode](), reflect.TypeFor[record.TreeChange](),
	reflect.TypeFor[record.TreeDelta](), reflect.TypeFor[record.RatchetTreeRecord](),
	reflect.TypeFor[record.NodePrivateKey](), reflect.TypeFor[record.KeyScheduleSecrets](),
	reflect.TypeFor[record.EpochState](), reflect.TypeFor[record.RuntimeConfig](),
	reflect.TypeFor[record.StoredProposal](), reflect.TypeFor[record.StoredProposalV3](),
	reflect.TypeFor[record.ResumptionPSK](), reflect.TypeFor[record.EncodedReInit](),
	reflect.TypeFor[record.PendingCommit](), reflect.TypeFor[record.PendingCommitV4](), reflect.TypeFor[record.PendingCommitV3](),
	reflect.TypeFor[record.GroupState](), reflect.TypeFor[record.GroupStateV4](), reflect.TypeFor[record.GroupStateV3](),
	reflect.TypeFor[record.EpochSecretsV2](), reflect.TypeFor[record.EpochSecretsV1](),
	reflect.TypeFor[record.PendingCommitV1](), reflect.TypeFor[record.GroupStateV1](),
	reflect.TypeFor[record.PublicGroupState](), reflect.TypeFor[record.EncryptionKeyPairRecord](),
	reflect.TypeFor[record.SignatureKeyPairRecord](), reflect.TypeFor[record.KeyPackageBundleRecord](),
	reflect.TypeFor[record.RecordVersion](), reflect.TypeFor[record.KeyPackageBundleV1Keys](),
	reflect.TypeFor[record.ExternalPSKRecord](),
}

// recordFiller makes random values of the record types: enums take the
// values they name (so that selects have an arm), byte vectors lengths
// around the steps of a varint prefix (RFC 9420 §2.1.2: 63/64 and
// 16383/16384 bytes), other vectors a few elements, optionals and arms
// are set or not.
type recordFiller struct {
	rng   *rand.Rand
	known map[reflect.Type][]uint64
}

func (g *recordFiller) fill(v reflect.Value, depth int) {
	t := v.Type()
	if k, ok := v.Addr().Interface().(interface{ IsKnown() bool }); ok && t.Size() == 1 {
		if g.known[t] == nil {
			for i := range uint64(256) {
				v.SetUint(i)
				if k.IsKnown() {
					g.known[t] = append(g.known[t], i)
				}
			}
		}
		v.SetUint(g.known[t][g.rng.Intn(len(g.known[t]))])
		return
	}
	switch t.Kind() {
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(g.rng.Uint64())
	case reflect.Slice:
		n := g.rng.Intn(4)
		if t.Elem().Kind() == reflect.Uint8 {
			lens := []int{0, 1, 32, 62, 63, 64, 65, 16382, 16383, 16384, 16385}
			n = lens[g.rng.Intn(len(lens))] + g.rng.Intn(3) - 1
			n = max(n, 0)
		} else if depth > 6 {
			n = 0
		}
		s := reflect.MakeSlice(t, n, n)
		if t.Elem().Kind() == reflect.Uint8 {
			g.rng.Read(s.Bytes())
		} else {
			for i := range n {
				g.fill(s.Index(i), depth+1)
			}
		}
		v.Set(s)
	case reflect.Pointer:
		if g.rng.Intn(4) == 0 {
			return
		}
		p := reflect.New(t.Elem())
		g.fill(p.Elem(), depth+1)
		v.Set(p)
	case reflect.Struct:
		for i := range v.NumField() {
			g.fill(v.Field(i), depth+1)
		}
	}
}

// TestRecordSizes: for random values of every generated record type,
// Size is the length of the encoding AppendTo writes, and Marshal
// allocates exactly that. Values AppendTo rejects (an arm left unset)
// are drawn again.
func TestRecordSizes(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "record_gen.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names, table []string
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv != nil && fd.Name.Name == "Marshal" {
			rt := fd.Recv.List[0].Type
			if s, ok := rt.(*ast.StarExpr); ok {
				rt = s.X
			}
			names = append(names, rt.(*ast.Ident).Name)
		}
	}
	for _, typ := range recordTypes {
		table = append(table, typ.Name())
	}
	if !slices.Equal(names, table) {
		t.Fatalf("recordTypes:\n %v\nrecord_gen.go types with a codec:\n %v", table, names)
	}
	g := &recordFiller{rng: rand.New(rand.NewSource(int64(testseed.Seed(t)))), known: map[reflect.Type][]uint64{}}
	rounds := 200
	if testing.Short() {
		rounds = 20
	}
	for _, typ := range recordTypes {
		encoded := 0
		for range rounds {
			p := reflect.New(typ)
			g.fill(p.Elem(), 0)
			v := p.Interface().(sized)
			enc, err := v.AppendTo([]byte{})
			if err != nil {
				continue
			}
			encoded++
			if got := v.Size(); got != len(enc) {
				t.Fatalf("%s: Size() = %d, encoding has %d bytes", typ.Name(), got, len(enc))
			}
			m, err := v.Marshal()
			if err != nil || !bytes.Equal(m, enc) || cap(m) != len(m) {
				t.Fatalf("%s: Marshal = %d bytes (capacity %d), %v; AppendTo gives %d", typ.Name(), len(m), cap(m), err, len(enc))
			}
		}
		if encoded < rounds/4 {
			t.Errorf("%s: only %d of %d random values encode", typ.Name(), encoded, rounds)
		}
	}
}
