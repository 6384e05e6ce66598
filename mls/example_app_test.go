package mls_test

import (
	"errors"
	"fmt"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls"
)

// exampleGroup creates a group of alice and the other named clients, all
// joined from one Welcome, with cfg.
func exampleGroup(cfg mls.GroupConfig, names ...string) ([]*mls.Client, []*mls.Group) {
	var cs []*mls.Client
	var kps []*codec.KeyPackage
	for _, n := range names {
		c, kp := newExampleClient(n)
		cs = append(cs, c)
		kps = append(kps, kp)
	}
	gs := make([]*mls.Group, len(names))
	var err error
	if gs[0], err = mls.NewGroup(cs[0], exampleSuite, cfg, nil); err != nil {
		panic(err)
	}
	res, err := gs[0].AddMembers(kps[1:]...)
	if err != nil {
		panic(err)
	}
	if err := gs[0].MergePendingCommit(); err != nil {
		panic(err)
	}
	for i := 1; i < len(names); i++ {
		if gs[i], err = mls.JoinFromWelcome(cs[i], res.Welcome, nil, cfg); err != nil {
			panic(err)
		}
	}
	return cs, gs
}

// A Delivery Service that echoes every message to its sender: the sender
// handles its own Commit, proposal and application message with the same
// calls as everyone else's. The echo of its pending Commit is merged with
// MergeStagedCommit; the echo of its own proposal is already stored; the
// echo of its own application message cannot be read (the key is deleted
// once used) and is reported as ErrOwnMessage.
func ExampleProcessedMessage_Own() {
	_, gs := exampleGroup(mls.GroupConfig{UseRatchetTreeExtension: true}, "alice", "bob")
	alice, bob := gs[0], gs[1]

	// What the Delivery Service fans out to both, alice included.
	proposal, _, err := bob.ProposeSelfUpdate(nil)
	if err != nil {
		panic(err)
	}
	hello, err := alice.SendApplicationMessage([]byte("hello"), nil)
	if err != nil {
		panic(err)
	}
	handle := func(name string, g *mls.Group, msg []byte) {
		pm, err := g.ProcessMessage(msg)
		switch {
		case errors.Is(err, mls.ErrOwnMessage):
			fmt.Printf("%s: own message, dropped\n", name)
			return
		case err != nil:
			panic(err)
		}
		switch pm.Kind {
		case mls.KindApplication:
			fmt.Printf("%s: reads %q\n", name, pm.ApplicationData)
		case mls.KindProposal:
			if err := g.StoreProposal(pm.Proposal); err != nil {
				panic(err)
			}
			fmt.Printf("%s: proposal stored (own: %v)\n", name, pm.Own)
		case mls.KindCommit:
			if err := g.MergeStagedCommit(pm.Commit); err != nil {
				panic(err)
			}
			fmt.Printf("%s: commit merged (own: %v), epoch %d\n", name, pm.Own, g.Epoch())
		}
	}
	for _, msg := range [][]byte{proposal, hello} {
		handle("alice", alice, msg)
		handle("bob", bob, msg)
	}
	// Alice commits bob's Update; the DS echoes her Commit to her too.
	res, err := alice.CommitPendingProposals()
	if err != nil {
		panic(err)
	}
	handle("alice", alice, res.Commit)
	handle("bob", bob, res.Commit)
	// Output:
	// alice: proposal stored (own: false)
	// bob: proposal stored (own: true)
	// alice: own message, dropped
	// bob: reads "hello"
	// alice: commit merged (own: true), epoch 2
	// bob: commit merged (own: false), epoch 2
}

// An application-defined proposal (RFC 9420 §17.4's private-use range):
// every member lists the type in its capabilities; alice proposes one by
// reference and commits another by value; bob sees both in the
// StagedCommit before he decides to merge it.
func ExampleGroup_ProposeCustom() {
	const setTopic codec.ProposalType = 0xF001
	// Both members declare the type: alice in her leaf, bob in his key
	// package.
	alice, _ := newExampleClient("alice")
	caps := mls.DefaultCapabilities(alice.Provider)
	caps.Proposals = append(caps.Proposals, setTopic)
	ag, err := mls.NewGroup(alice, exampleSuite, mls.GroupConfig{UseRatchetTreeExtension: true}, &mls.CreateOptions{LeafCapabilities: &caps})
	if err != nil {
		panic(err)
	}
	bob, _ := newExampleClient("bob")
	b := &mls.KeyPackageBuilder{Provider: bob.Provider, CipherSuite: exampleSuite, Credential: bob.Credential, Signer: bob.Signer, Capabilities: &caps}
	kp, err := b.BuildAndStore(bob.Storage)
	if err != nil {
		panic(err)
	}
	res, err := ag.AddMembers(&kp.KeyPackage)
	if err != nil {
		panic(err)
	}
	if err := ag.MergePendingCommit(); err != nil {
		panic(err)
	}
	bg, err := mls.JoinFromWelcome(bob, res.Welcome, nil, mls.GroupConfig{})
	if err != nil {
		panic(err)
	}

	// By reference: a proposal message that bob stores.
	msg, _, err := ag.ProposeCustom(mls.CustomProposal{Type: setTopic, Payload: []byte("topic: lunch")})
	if err != nil {
		panic(err)
	}
	pm, err := bg.ProcessMessage(msg)
	if err != nil {
		panic(err)
	}
	if err := bg.StoreProposal(pm.Proposal); err != nil {
		panic(err)
	}
	// By value, in the Commit that also covers the stored one.
	res, err = ag.Commit(mls.CommitOptions{Custom: []mls.CustomProposal{{Type: setTopic, Payload: []byte("topic: dinner")}}})
	if err != nil {
		panic(err)
	}
	if err := ag.MergePendingCommit(); err != nil {
		panic(err)
	}
	pm, err = bg.ProcessMessage(res.Commit)
	if err != nil {
		panic(err)
	}
	for _, c := range pm.Commit.CustomProposals() {
		fmt.Printf("bob sees proposal %#04x: %s\n", uint16(c.Type), c.Payload)
	}
	if err := bg.MergeStagedCommit(pm.Commit); err != nil {
		panic(err)
	}
	fmt.Println("same epoch:", ag.Epoch() == bg.Epoch())
	// Output:
	// bob sees proposal 0xf001: topic: lunch
	// bob sees proposal 0xf001: topic: dinner
	// same epoch: true
}

// A fork: alice and carol commit in the same epoch and each merges her own
// Commit, bob follows alice and dave follows carol. The members compare
// their epoch reports and find the fork; alice re-adds carol and dave from
// fresh key packages, and they replace their forked state from the
// Welcome. (Reboot is the other way out: a new group with the same
// members and extensions.)
func ExampleGroup_RecoverForkByReadding() {
	cfg := mls.GroupConfig{UseRatchetTreeExtension: true}
	cs, gs := exampleGroup(cfg, "alice", "bob", "carol", "dave")
	alice, bob, carol, dave := gs[0], gs[1], gs[2], gs[3]

	ra, _ := alice.SelfUpdate(nil)
	rc, _ := carol.SelfUpdate(nil)
	_ = alice.MergePendingCommit()
	_ = carol.MergePendingCommit()
	merge := func(g *mls.Group, msg []byte) {
		pm, err := g.ProcessMessage(msg)
		if err != nil {
			panic(err)
		}
		if err := g.MergeStagedCommit(pm.Commit); err != nil {
			panic(err)
		}
	}
	merge(bob, ra.Commit)
	merge(dave, rc.Commit)

	// Detect: the reports travel out of band (the DS, say).
	reports := map[mls.LeafIndex]mls.EpochReport{}
	for _, g := range gs {
		reports[g.OwnLeafIndex()] = g.EpochReport()
	}
	check := alice.CheckFork(reports)
	fmt.Println("forked:", check.IsForked(), "in sync with alice:", check.InSync, "other side:", check.Forked)

	// Recover: alice re-adds the other side from fresh key packages.
	var kps []*codec.KeyPackage
	for _, i := range []int{2, 3} {
		b := &mls.KeyPackageBuilder{Provider: cs[i].Provider, CipherSuite: exampleSuite, Credential: cs[i].Credential, Signer: cs[i].Signer}
		kp, err := b.BuildAndStore(cs[i].Storage)
		if err != nil {
			panic(err)
		}
		kps = append(kps, &kp.KeyPackage)
	}
	res, err := alice.RecoverForkByReadding(check.Forked, kps)
	if err != nil {
		panic(err)
	}
	if err := alice.MergePendingCommit(); err != nil {
		panic(err)
	}
	merge(bob, res.Commit)
	if carol, err = mls.JoinAfterFork(cs[2], carol, res.Welcome, nil, cfg); err != nil {
		panic(err)
	}
	if dave, err = mls.JoinAfterFork(cs[3], dave, res.Welcome, nil, cfg); err != nil {
		panic(err)
	}
	for _, g := range []*mls.Group{alice, bob, carol, dave} {
		reports[g.OwnLeafIndex()] = g.EpochReport()
	}
	check = alice.CheckFork(reports)
	fmt.Println("forked:", check.IsForked(), "in sync:", len(check.InSync), "members")
	msg, _ := dave.SendApplicationMessage([]byte("back together"), nil)
	pm, err := alice.ProcessMessage(msg)
	if err != nil {
		panic(err)
	}
	fmt.Printf("alice reads %q\n", pm.ApplicationData)
	// Output:
	// forked: true in sync with alice: [0 1] other side: [2 3]
	// forked: false in sync: 4 members
	// alice reads "back together"
}
