package mls_test

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/memstore"
)

// A Delivery Service follows a group it is not a member of with a
// PublicGroup: it starts from a GroupInfo with the ratchet tree, validates
// every handshake message before fanning it out, inspects each Commit for
// its policy before merging it, and always knows the members and the tree
// (which it can hand to joiners). The members send their handshake
// messages as PublicMessages (MixedPlaintext) so that it can read them.
func ExamplePublicGroup() {
	cfg := mls.GroupConfig{WireFormatPolicy: mls.MixedPlaintext()}
	alice, _ := newExampleClient("alice")
	bob, bobKP := newExampleClient("bob")
	group, err := mls.NewGroup(alice, exampleSuite, cfg, nil)
	if err != nil {
		panic(err)
	}

	// The DS needs a provider and a storage, no keys.
	ds := &mls.Client{Provider: defaultcrypto.New(), Storage: memstore.New()}
	gi, err := group.GroupInfo(true) // with the ratchet tree in band
	if err != nil {
		panic(err)
	}
	view, err := mls.NewPublicGroup(ds, gi, nil, mls.PublicGroupConfig{})
	if err != nil {
		panic(err)
	}

	// deliver is what the DS does with every handshake message.
	deliver := func(msg []byte) {
		pm, err := view.ProcessMessage(msg)
		if err != nil {
			fmt.Println("refused, bad signature:", errors.Is(err, mls.RuleSignature))
			return
		}
		switch pm.Kind {
		case mls.KindProposal:
			if err := view.StoreProposal(pm.Proposal); err != nil {
				panic(err)
			}
		case mls.KindCommit:
			// The policy sees the staged Commit before anything changes.
			fmt.Printf("commit by leaf %d: adds %v, removes %v\n", pm.Sender.LeafIndex, pm.Commit.AddedLeaves(), pm.Commit.RemovedLeaves())
			if err := view.MergeStagedCommit(pm.Commit); err != nil {
				panic(err)
			}
		}
	}

	// Alice adds Bob; the DS validates the Commit, then everyone merges.
	res, err := group.AddMembers(bobKP)
	if err != nil {
		panic(err)
	}
	deliver(res.Commit)
	if err := group.MergePendingCommit(); err != nil {
		panic(err)
	}
	// Bob's Welcome carries no tree: the DS gives him its copy.
	bobGroup, err := mls.JoinFromWelcome(bob, res.Welcome, view.RatchetTree(), cfg)
	if err != nil {
		panic(err)
	}

	// Bob updates his keys.
	res, err = bobGroup.SelfUpdate(nil)
	if err != nil {
		panic(err)
	}
	deliver(res.Commit)
	if err := bobGroup.MergePendingCommit(); err != nil {
		panic(err)
	}
	pm, err := group.ProcessMessage(res.Commit)
	if err != nil {
		panic(err)
	}
	if err := group.MergeStagedCommit(pm.Commit); err != nil {
		panic(err)
	}

	// A forged Commit (its signature broken in transit) is refused.
	forged, err := group.SelfUpdate(nil)
	if err != nil {
		panic(err)
	}
	var m codec.MLSMessage
	if err := m.Unmarshal(forged.Commit); err != nil {
		panic(err)
	}
	m.PublicMessage.Auth.Signature[0] ^= 1
	bad, err := m.Marshal()
	if err != nil {
		panic(err)
	}
	deliver(bad)
	// An application message is encrypted: the DS cannot read it.
	app, err := bobGroup.SendApplicationMessage([]byte("hi"), nil)
	if err != nil {
		panic(err)
	}
	_, err = view.ProcessMessage(app)
	fmt.Println("application message:", errors.Is(err, mls.ErrPrivateMessage))

	fmt.Print("DS sees epoch ", view.Epoch(), ":")
	for _, m := range view.Members() {
		fmt.Printf(" %d=%s", m.Index, m.Credential.Identity())
	}
	fmt.Println()
	fmt.Println("same tree hash as alice:", bytes.Equal(view.TreeHash(), group.TreeHash()))

	// The DS's view survives a restart.
	again, err := mls.LoadPublicGroup(ds, view.GroupID(), mls.PublicGroupConfig{})
	if err != nil {
		panic(err)
	}
	fmt.Println("reloaded epoch:", again.Epoch())
	// Output:
	// commit by leaf 0: adds [1], removes []
	// commit by leaf 1: adds [], removes []
	// refused, bad signature: true
	// application message: true
	// DS sees epoch 2: 0=alice 1=bob
	// same tree hash as alice: true
	// reloaded epoch: 2
}
