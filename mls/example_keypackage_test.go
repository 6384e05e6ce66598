package mls_test

import (
	"errors"
	"fmt"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/memstore"
)

// A client creates a credential and a signature key pair, publishes key
// packages, and a peer validates one before adding the client. When a
// Welcome uses the key package, its private keys are consumed.
func ExampleKeyPackageBuilder() {
	provider := defaultcrypto.New()
	storage := memstore.New()
	const suite = codec.CipherSuiteMLS128DHKEMX25519AES128GCMSHA256Ed25519

	// Identity: a basic credential and a signature key pair kept in storage.
	credential := mls.NewBasicCredential([]byte("alice@example.com"))
	signer, err := mls.GenerateSignatureKeyPair(provider, suite)
	if err != nil {
		panic(err)
	}
	if err := signer.Store(storage); err != nil {
		panic(err)
	}

	// A key package; its private keys are stored under its KeyPackageRef.
	builder := &mls.KeyPackageBuilder{
		Provider:    provider,
		CipherSuite: suite,
		Credential:  credential,
		Signer:      signer,
	}
	bundle, err := builder.BuildAndStore(storage)
	if err != nil {
		panic(err)
	}
	wire, err := bundle.KeyPackage.Marshal() // published to the Delivery Service
	if err != nil {
		panic(err)
	}

	// A peer parses it (bare, or framed as an MLSMessage) and validates it
	// for its group (RFC 9420 §10.1).
	kp, err := mls.ParseKeyPackage(wire)
	if err != nil {
		panic(err)
	}
	err = mls.ValidateKeyPackage(provider, kp, &mls.ValidationOptions{CipherSuite: suite})
	fmt.Println("valid:", err == nil)

	// A tampered copy is rejected, naming the rule.
	kp.Signature[0] ^= 1
	err = mls.ValidateKeyPackage(provider, kp, nil)
	fmt.Println("tampered:", errors.Is(err, mls.RuleKeyPackageSignature))

	// Joining consumes the key package: it is deleted from storage.
	used, err := mls.ConsumeKeyPackage(storage, bundle.Ref)
	if err != nil {
		panic(err)
	}
	defer used.Zero()
	_, err = mls.LoadKeyPackageBundle(storage, bundle.Ref)
	fmt.Println("deleted after use:", errors.Is(err, mls.ErrNotFound))

	// Output:
	// valid: true
	// tampered: true
	// deleted after use: true
}
