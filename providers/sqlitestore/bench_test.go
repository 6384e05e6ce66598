package sqlitestore

import (
	"fmt"
	"testing"
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
