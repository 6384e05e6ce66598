package groupbench

import (
	"fmt"

	"github.com/mlskit/mlskit/mls"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/memstore"
)

// Snapshot is a copy of what alice and member 1 have stored: the records of
// their group, their signature key pairs and key packages. Restore puts it
// into another storage, so that one fixture, built once, can be measured
// on several stores, each from the same state.
type Snapshot struct {
	groupID   []byte
	alice, m1 *memstore.Store
}

// Snapshot copies the records of alice and member 1.
func (f *Fixture) Snapshot() (*Snapshot, error) {
	s := &Snapshot{groupID: f.AliceGroup.GroupID(), alice: memstore.New(), m1: memstore.New()}
	if err := copyRecords(s.alice, f.Alice.Storage, s.groupID, f.Alice.Signer.PublicKey()); err != nil {
		return nil, fmt.Errorf("groupbench: alice's records: %w", err)
	}
	m1 := f.Members[0].Client
	if err := copyRecords(s.m1, m1.Storage, s.groupID, m1.Signer.PublicKey()); err != nil {
		return nil, fmt.Errorf("groupbench: member 1's records: %w", err)
	}
	return s, nil
}

// Restore gives alice (as a new AliceStore) and member 1 new storage made
// by storage(name), holding the records of snap, and loads their groups
// from it; clients made from now on (FreshJoiner) get storage(name) too.
// The members that spoke through MessageFrom are forgotten: the forger is
// made again, on first use, from alice's restored group.
func (f *Fixture) Restore(snap *Snapshot, storage func(name string) providers.Storage) error {
	f.storage = storage
	as := NewCountingStore(f.newStorage("alice"))
	if err := copyRecords(as, snap.alice, snap.groupID, f.Alice.Signer.PublicKey()); err != nil {
		return fmt.Errorf("groupbench: restoring alice's records: %w", err)
	}
	alice := *f.Alice
	alice.Storage = as
	ag, err := mls.LoadGroup(&alice, snap.groupID)
	if err != nil {
		return fmt.Errorf("groupbench: restoring alice's group: %w", err)
	}
	m1 := *f.Members[0].Client
	m1.Storage = f.newStorage("member-00001")
	if err := copyRecords(m1.Storage, snap.m1, snap.groupID, m1.Signer.PublicKey()); err != nil {
		return fmt.Errorf("groupbench: restoring member 1's records: %w", err)
	}
	mg, err := mls.LoadGroup(&m1, snap.groupID)
	if err != nil {
		return fmt.Errorf("groupbench: restoring member 1's group: %w", err)
	}
	f.Alice, f.AliceStore, f.AliceGroup = &alice, as, ag
	f.Members[0].Client, f.M1Group = &m1, mg
	f.forge, f.spoken = nil, nil
	return nil
}

// copyRecords copies in one transaction the records of the group groupID,
// the signature key pair of signerPub and every key package from src to
// dst.
func copyRecords(dst providers.Storage, src providers.Records, groupID, signerPub []byte) error {
	return dst.Update(func(tx providers.Records) error {
		v, b, err := src.ReadGroupState(groupID)
		if err != nil {
			return err
		}
		if err := tx.WriteGroupState(groupID, v, b); err != nil {
			return err
		}
		epochs, err := src.ListEpochs(groupID)
		if err != nil {
			return err
		}
		for _, e := range epochs {
			b, err := src.ReadEpochSecrets(groupID, e)
			if err != nil {
				return err
			}
			if err := tx.WriteEpochSecrets(groupID, e, b); err != nil {
				return err
			}
			xs, err := src.ListSecretTreeNodes(groupID, e)
			if err != nil {
				return err
			}
			for _, x := range xs {
				b, err := src.ReadSecretTreeNode(groupID, e, x)
				if err != nil {
					return err
				}
				if err := tx.WriteSecretTreeNode(groupID, e, x, b); err != nil {
					return err
				}
			}
		}
		trees, err := src.ListRatchetTrees(groupID)
		if err != nil {
			return err
		}
		for _, e := range trees {
			b, err := src.ReadRatchetTree(groupID, e)
			if err != nil {
				return err
			}
			if err := tx.WriteRatchetTree(groupID, e, b); err != nil {
				return err
			}
		}
		if b, err := src.ReadSignatureKeyPair(signerPub); err == nil {
			if err := tx.WriteSignatureKeyPair(signerPub, b); err != nil {
				return err
			}
		}
		refs, err := src.ListKeyPackages()
		if err != nil {
			return err
		}
		for _, r := range refs {
			b, err := src.ReadKeyPackage(r)
			if err != nil {
				return err
			}
			if err := tx.WriteKeyPackage(r, b); err != nil {
				return err
			}
		}
		return nil
	})
}

// Member1State is a copy of member 1's records (SaveMember1), to which
// RestoreMember1 returns it.
type Member1State struct {
	groupID []byte
	s       *memstore.Store
}

// SaveMember1 copies member 1's records as they are now.
func (f *Fixture) SaveMember1() (*Member1State, error) {
	m1 := f.Members[0].Client
	st := &Member1State{groupID: f.M1Group.GroupID(), s: memstore.New()}
	if err := copyRecords(st.s, m1.Storage, st.groupID, m1.Signer.PublicKey()); err != nil {
		return nil, fmt.Errorf("groupbench: member 1's records: %w", err)
	}
	return st, nil
}

// RestoreMember1 puts member 1 back into the state saved by SaveMember1,
// on a new memstore (member 1's storage is not measured), and loads its
// group as f.M1Group. Its sender ratchets go back with it: the handshake
// messages it makes next reuse the generations it had then. That is what
// a benchmark of processing needs, and nothing else may do it (RFC 9420
// §9.2): the measured member processes, and discards, a Commit of member
// 1 in every repetition, without consuming its generation (a Commit's
// generation is consumed by its merge), so without the restore each
// Commit would be one generation further ahead of what the measured
// member has consumed, and its processing would derive the generations
// in between, a cost no real member pays repeatedly.
func (f *Fixture) RestoreMember1(st *Member1State) error {
	m1 := *f.Members[0].Client
	m1.Storage = memstore.New()
	if err := copyRecords(m1.Storage, st.s, st.groupID, m1.Signer.PublicKey()); err != nil {
		return fmt.Errorf("groupbench: restoring member 1's records: %w", err)
	}
	mg, err := mls.LoadGroup(&m1, st.groupID)
	if err != nil {
		return fmt.Errorf("groupbench: restoring member 1's group: %w", err)
	}
	f.Members[0].Client, f.M1Group = &m1, mg
	return nil
}
