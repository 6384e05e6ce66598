package sqlitestore

import (
	"fmt"
	"testing"

	"github.com/mlskit/mlskit/internal/cputime"
	"github.com/mlskit/mlskit/providers"
)

func BenchmarkWrite(b *testing.B) {
	for _, sync := range []Synchronous{SyncFull, SyncNormal} {
		for _, er := range []Erasure{EraseOnCommit, EraseOnCheckpoint} {
			b.Run(fmt.Sprintf("%v/erase%d", sync, er), func(b *testing.B) {
				db := openTemp(b, &Options{Synchronous: sync, Erasure: er})
				s := db.Store([]byte("c"))
				v := make([]byte, 2000)
				for i := 0; b.Loop(); i++ {
					v[0] = byte(i)
					if err := s.WriteGroupState([]byte("g"), 1, v); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkRead(b *testing.B) {
	db := openTemp(b, nil)
	s := db.Store([]byte("c"))
	s.WriteGroupState([]byte("g"), 1, make([]byte, 2000))
	for b.Loop() {
		if _, _, err := s.ReadGroupState([]byte("g")); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTxWrite writes 1,000 secret tree node records of 120 bytes in
// one transaction, as a receiver's batch of messages from 1,000 senders
// does (per record): "new" writes records that do not exist yet (a new
// epoch each iteration), "overwrite" replaces existing ones. The database
// is synchronous=NORMAL without erasure at commit, so that the
// statements, not the flush, are measured.
//
//	go test -run '^$' -bench TxWrite -benchtime 20x ./providers/sqlitestore
func BenchmarkTxWrite(b *testing.B) {
	const records = 1000
	for _, kind := range []string{"new", "overwrite"} {
		b.Run(kind, func(b *testing.B) {
			s := openTemp(b, fast).Store([]byte("member"))
			v := make([]byte, 120)
			write := func(epoch uint64) {
				err := s.Update(func(tx providers.Records) error {
					for x := range uint32(records) {
						if err := tx.WriteSecretTreeNode([]byte("group"), epoch, 2*x, v); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			if kind == "overwrite" {
				write(0)
			}
			cpu := cputime.Process()
			for i := uint64(1); b.Loop(); i++ {
				if kind == "new" {
					write(i)
				} else {
					write(0)
				}
			}
			b.ReportMetric(float64((cputime.Process()-cpu).Nanoseconds())/float64(b.N*records), "cpu-ns/record")
		})
	}
}
