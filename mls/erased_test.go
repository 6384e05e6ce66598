package mls

import (
	"errors"
	"testing"

	"github.com/mlskit/mlskit/mls/internal/record"
)

// A stored record whose secrets were zeroed (an erased epoch written back)
// does not load: ErrCorruptState, not a group whose exporter is that of an
// all-zero secret.
func TestLoadGroupRefusesZeroedSecrets(t *testing.T) {
	for _, field := range []string{"exporter", "epoch_authenticator", "init", "sender_data"} {
		t.Run(field, func(t *testing.T) {
			s := stThree(t, GroupConfig{})
			b := s.members[1]
			v, raw, err := b.c.Storage.ReadGroupState(b.g.GroupID())
			if err != nil {
				t.Fatal(err)
			}
			var rec record.GroupState
			if err := rec.Unmarshal(raw); err != nil {
				t.Fatal(err)
			}
			sec := &rec.Current.Secrets
			switch field {
			case "exporter":
				clear(sec.ExporterSecret)
			case "epoch_authenticator":
				clear(sec.EpochAuthenticator)
			case "init":
				clear(sec.InitSecret)
			case "sender_data":
				clear(sec.SenderDataSecret)
			}
			enc, err := rec.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if err := b.c.Storage.WriteGroupState(b.g.GroupID(), v, enc); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadGroup(b.c, b.g.GroupID()); !errors.Is(err, ErrCorruptState) {
				t.Fatalf("LoadGroup of zeroed %s: %v, want ErrCorruptState", field, err)
			}
		})
	}
}

// An erased epoch's secrets are nil: using them fails cleanly.
func TestErasedEpochFailsCleanly(t *testing.T) {
	s := stThree(t, GroupConfig{})
	g := s.members[1].g
	g.epoch.zero()
	if _, err := g.Export("x", nil, 16); !errors.Is(err, ErrErasedSecret) {
		t.Fatalf("Export of an erased epoch: %v", err)
	}
	if a := g.EpochAuthenticator(); a != nil {
		t.Fatalf("epoch authenticator of an erased epoch: %x", a)
	}
	if _, err := g.SendApplicationMessage([]byte("x"), nil); err == nil {
		t.Fatal("sent in an erased epoch")
	}
	if err := g.save(); !errors.Is(err, ErrErasedSecret) {
		t.Fatalf("saving an erased epoch: %v", err)
	}
}
