package mls_test

import (
	"bytes"
	"fmt"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/memstore"
)

const exampleSuite = codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519

// newExampleClient returns a client with its own storage, a fresh signature
// key pair and a basic credential, and a key package of it in its storage.
func newExampleClient(name string) (*mls.Client, *codec.KeyPackage) {
	provider := defaultcrypto.New()
	signer, err := mls.GenerateSignatureKeyPair(provider, exampleSuite)
	if err != nil {
		panic(err)
	}
	c := &mls.Client{
		Provider:   provider,
		Storage:    memstore.New(),
		Signer:     signer,
		Credential: mls.NewBasicCredential([]byte(name)),
	}
	b := &mls.KeyPackageBuilder{Provider: provider, CipherSuite: exampleSuite, Credential: c.Credential, Signer: signer}
	kp, err := b.BuildAndStore(c.Storage)
	if err != nil {
		panic(err)
	}
	return c, &kp.KeyPackage
}

// printMembers prints the identities of a group's members by leaf.
func printMembers(who string, g *mls.Group) {
	fmt.Printf("%s sees epoch %d:", who, g.Epoch())
	for _, m := range g.Members() {
		fmt.Printf(" %d=%s", m.Index, m.Credential.Identity())
	}
	fmt.Println()
}

// A client creates a one-member group (RFC 9420 §11). The group id is
// random unless GroupConfig.GroupID sets it.
func ExampleNewGroup() {
	provider := defaultcrypto.New()
	signer, err := mls.GenerateSignatureKeyPair(provider, exampleSuite)
	if err != nil {
		panic(err)
	}
	alice := &mls.Client{
		Provider:   provider,
		Storage:    memstore.New(),
		Signer:     signer,
		Credential: mls.NewBasicCredential([]byte("alice")),
	}
	group, err := mls.NewGroup(alice, exampleSuite,
		mls.GroupConfig{UseRatchetTreeExtension: true},
		&mls.CreateOptions{GroupID: []byte("team chat")})

	if err != nil {
		panic(err)
	}
	fmt.Printf("group %q, epoch %d, suite %v\n", group.GroupID(), group.Epoch(), group.CipherSuite())
	fmt.Println("members:", group.MemberCount(), "- own leaf:", group.OwnLeafIndex())
	fmt.Println("creator:", string(group.Credential().Identity()))
	// Output:
	// group "team chat", epoch 0, suite MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	// members: 1 - own leaf: 0
	// creator: alice
}

// Alice adds Bob with his key package; Bob joins from the Welcome, which
// carries the ratchet tree, and both agree on the new epoch.
func ExampleJoinFromWelcome() {
	alice, _ := newExampleClient("alice")
	bob, bobKeyPackage := newExampleClient("bob")
	cfg := mls.GroupConfig{UseRatchetTreeExtension: true}

	group, err := mls.NewGroup(alice, exampleSuite, cfg, nil)
	if err != nil {
		panic(err)
	}
	// The Commit adding Bob stays pending until the Delivery Service
	// accepts it; then Alice merges it and sends the Welcome to Bob.
	res, err := group.AddMembers(bobKeyPackage)
	if err != nil {
		panic(err)
	}
	if err := group.MergePendingCommit(); err != nil {
		panic(err)
	}

	// Bob's key package is in his storage, so he can decrypt the Welcome.
	// No tree is passed: it comes from the ratchet_tree extension.
	bobGroup, err := mls.JoinFromWelcome(bob, res.Welcome, nil, cfg)
	if err != nil {
		panic(err)
	}
	printMembers("alice", group)
	printMembers("bob", bobGroup)
	fmt.Println("same epoch authenticator:", bytes.Equal(group.EpochAuthenticator(), bobGroup.EpochAuthenticator()))
	fmt.Println("bob's leaf:", bobGroup.OwnLeafIndex())
	// Output:
	// alice sees epoch 1: 0=alice 1=bob
	// bob sees epoch 1: 0=alice 1=bob
	// same epoch authenticator: true
	// bob's leaf: 1
}

// Members encrypt application messages for the group (RFC 9420 §6.3); the
// others process them, learning the plaintext and the authenticated sender.
func ExampleGroup_SendApplicationMessage() {
	alice, _ := newExampleClient("alice")
	bob, bobKeyPackage := newExampleClient("bob")
	cfg := mls.GroupConfig{UseRatchetTreeExtension: true}
	aliceGroup, err := mls.NewGroup(alice, exampleSuite, cfg, nil)
	if err != nil {
		panic(err)
	}
	res, err := aliceGroup.AddMembers(bobKeyPackage)
	if err != nil {
		panic(err)
	}
	if err := aliceGroup.MergePendingCommit(); err != nil {
		panic(err)
	}
	bobGroup, err := mls.JoinFromWelcome(bob, res.Welcome, nil, cfg)
	if err != nil {
		panic(err)
	}

	// Alice sends; the message is a PrivateMessage (an MLSMessage).
	msg, err := aliceGroup.SendApplicationMessage([]byte("hello, bob"), []byte("aad"))
	if err != nil {
		panic(err)
	}
	pm, err := bobGroup.ProcessMessage(msg)
	if err != nil {
		panic(err)
	}
	if pm.Kind == mls.KindApplication {
		fmt.Printf("bob got %q from %s (aad %q)\n", pm.ApplicationData, pm.SenderCredential.Identity(), pm.AuthenticatedData)
	}

	// And the other way round.
	msg, err = bobGroup.SendApplicationMessage([]byte("hi, alice"), nil)
	if err != nil {
		panic(err)
	}
	pm, err = aliceGroup.ProcessMessage(msg)
	if err != nil {
		panic(err)
	}
	fmt.Printf("alice got %q from %s\n", pm.ApplicationData, pm.SenderCredential.Identity())

	// Each message key is used once (§9.2): a replay is rejected.
	_, err = aliceGroup.ProcessMessage(msg)
	fmt.Println("replay rejected:", err != nil)
	// Output:
	// bob got "hello, bob" from alice (aad "aad")
	// alice got "hi, alice" from bob
	// replay rejected: true
}

// Alice removes Bob (RFC 9420 §12.1.3). Carol processes and merges the
// Commit; so does Bob, who learns that he was removed and can no longer use
// the group.
func ExampleGroup_RemoveMembers() {
	alice, _ := newExampleClient("alice")
	bob, bobKeyPackage := newExampleClient("bob")
	carol, carolKeyPackage := newExampleClient("carol")
	cfg := mls.GroupConfig{UseRatchetTreeExtension: true}
	aliceGroup, err := mls.NewGroup(alice, exampleSuite, cfg, nil)
	if err != nil {
		panic(err)
	}
	res, err := aliceGroup.AddMembers(bobKeyPackage, carolKeyPackage)
	if err != nil {
		panic(err)
	}
	if err := aliceGroup.MergePendingCommit(); err != nil {
		panic(err)
	}
	bobGroup, err := mls.JoinFromWelcome(bob, res.Welcome, nil, cfg)
	if err != nil {
		panic(err)
	}
	carolGroup, err := mls.JoinFromWelcome(carol, res.Welcome, nil, cfg)
	if err != nil {
		panic(err)
	}
	printMembers("carol", carolGroup)

	// Alice commits the removal of Bob's leaf and merges it.
	res, err = aliceGroup.RemoveMembers(bobGroup.OwnLeafIndex())
	if err != nil {
		panic(err)
	}
	if err := aliceGroup.MergePendingCommit(); err != nil {
		panic(err)
	}

	// The others process the Commit: it is staged, inspected, then merged.
	for _, m := range []struct {
		name string
		g    *mls.Group
	}{{"carol", carolGroup}, {"bob", bobGroup}} {
		pm, err := m.g.ProcessMessage(res.Commit)
		if err != nil {
			panic(err)
		}
		staged := pm.Commit
		fmt.Printf("%s: commit removes leaves %v, removes me: %v\n", m.name, staged.RemovedLeaves(), staged.SelfRemoved())
		if err := m.g.MergeStagedCommit(staged); err != nil {
			panic(err)
		}
	}
	printMembers("alice", aliceGroup)
	printMembers("carol", carolGroup)
	fmt.Println("same epoch authenticator:", bytes.Equal(aliceGroup.EpochAuthenticator(), carolGroup.EpochAuthenticator()))
	fmt.Println("bob active:", bobGroup.Active())
	_, err = bobGroup.SendApplicationMessage([]byte("still here?"), nil)
	fmt.Println("bob sends:", err)
	// Output:
	// carol sees epoch 1: 0=alice 1=bob 2=carol
	// carol: commit removes leaves [1], removes me: false
	// bob: commit removes leaves [1], removes me: true
	// alice sees epoch 2: 0=alice 2=carol
	// carol sees epoch 2: 0=alice 2=carol
	// same epoch authenticator: true
	// bob active: false
	// bob sends: mls: group is inactive
}
