package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/primcount"
	"github.com/mlskit/mlskit/providers"
)

// primsInPlace are the median CPU times of the primitive calls a row's
// prim floor counts, made alone (primitiveCalls): inPlace measured as the
// row is (its prep and setup, right after the same preceding operation),
// hot back to back with no setup in between.
type primsInPlace struct {
	inPlace, hot time.Duration
}

// primsLine is the line printed after the table for row op, whose median
// CPU time is cpu and prim floor floor: the row's excess over its floor
// (cpu − floor), split into its primitives' own excess in place (inPlace
// − floor: the same calls cost more after the operation's setup than the
// floor prices them, measured hot in the primitives' loop) and the rest,
// mlskit's own code (cpu − inPlace).
func (p primsInPlace) line(op string, n int, cpu, floor time.Duration) string {
	excess := cpu - floor
	prims := p.inPlace - floor
	return fmt.Sprintf("%-14s %6d %s: the floor's primitive calls alone take %s cpu in place (%s hot, the prim floor; %s back to back): of the row's %s over the prim floor, %s is its primitives in place, %s the rest (mlskit's own code)",
		"", n, op, fmtDur(p.inPlace), fmtDur(floor), fmtDur(p.hot), fmtSigned(excess), fmtSigned(prims), fmtSigned(excess-prims))
}

// callInputs are the inputs of the calls primitiveCalls makes: the
// sizes it makes them on, and how its Expand calls share their keys.
type callInputs struct {
	// signed is the size of the first Sign, Verify and Hash input (the
	// message's); the others' are 100 bytes.
	signed int
	// sealed is the plaintext size of the first AEAD call (the
	// content's), others that of the other AEAD calls.
	sealed, others int
	// expandKeys groups the Expand calls by KDF key, in order: each
	// group is made through one Expander under one key (SetKey once), as
	// the secret tree derives a ratchet's key, nonce and next secret,
	// and the calls are made in a send's order (primitiveCalls); its sum
	// must be the count of Expand calls. Nil: each Expand is a
	// CipherSuite.Expand under its own key.
	expandKeys []int
}

// handshakeInputs are the inputs primcount.Costs.Floor prices for an
// operation whose handshake message has msgLen bytes: the FramedContent's
// signature, verification and transcript hash cover 100+msgLen bytes
// (§6.1, §8.2), the content's AEAD call 32+msgLen (§6.3.1), every other
// call a short input (100 bytes signed or hashed, 32 bytes sealed: a path
// secret), and each Expand is made alone.
func handshakeInputs(msgLen int) callInputs {
	return callInputs{signed: 100 + msgLen, sealed: 32 + msgLen, others: 32}
}

// senderDataLen is the size of a PrivateMessage's SenderData (§6.3.2):
// leaf_index, generation and reuse_guard.
const senderDataLen = 4 + 4 + 4

// sendInputs are the inputs of a send's calls (primcount.Send) as a group
// makes them for a content of contentLen bytes: a signature of 100 bytes
// (as the prim floor prices it), the AEAD seals of the content and of the
// SenderData (§6.3.1, §6.3.2), and the ratchet's key, nonce and next
// secret (DeriveTreeSecret, §9.1) under one key, then the sender data's
// key and nonce (§6.3.2) under another.
func sendInputs(contentLen int) callInputs {
	return callInputs{signed: 100, sealed: contentLen, others: senderDataLen, expandKeys: []int{3, 2}}
}

// primitiveCalls returns a function that makes, directly through cs,
// exactly the primitive calls c counts (primcount.Counts;
// TestUpdatePrimitives and TestSendPrimitives count them), with the
// suite's real keys, on the inputs in describes (handshakeInputs for the
// update rows, sendInputs for the send rows):
//
//   - Sign with signer, Verify of peer's signatures: the first over
//     in.signed bytes, the others over 100 bytes;
//   - SealBase of an Nh-byte path secret to distinct public keys, under
//     one prepared info (providers.PreparedSealer, as an UpdatePath's
//     encryptions share their info, §7.6); OpenBase of such a ciphertext
//     with the receiver's public key known (providers.OpenBaseSplitInfo);
//   - DeriveKeyPair of Nh bytes, GenerateKeyPair, HPKEPublicKey;
//   - Expand (at most Nh bytes of an Nh-byte secret, an info of one HMAC
//     block), grouped by key as in.expandKeys says; Extract and MAC of
//     Nh bytes;
//   - Hash: the first over in.signed bytes, the others over 100;
//   - AEADSeal and AEADOpen: the first over in.sealed bytes, the others
//     over in.others.
//
// With in.expandKeys, the calls are made in the order a send makes them
// (the signature, then each key's Expand calls and the AEAD seal they
// key); otherwise primitive by primitive: AEAD opens and seals, Verify,
// Sign, Hash, OpenBase, DeriveKeyPair, SealBase, GenerateKeyPair,
// HPKEPublicKey, Expand, Extract, MAC. Every input, key and ciphertext is
// made before, so that each call of the function makes only c's calls and
// touches the same memory, as a group's operation does. Export (priced at nothing by the floor) is not
// supported.
func primitiveCalls(cs providers.CipherSuite, signer, peer providers.Signer, c primcount.Counts, in callInputs) (func() error, error) {
	if c.Export != 0 {
		return nil, errors.New("primitiveCalls: HPKE exports are not replayed")
	}
	if in.expandKeys != nil {
		n := 0
		for _, k := range in.expandKeys {
			n += k
		}
		if n != c.Expand {
			return nil, fmt.Errorf("primitiveCalls: %d Expand calls grouped by key, %d counted", n, c.Expand)
		}
	}
	nh, nk, nn := cs.HashSize(), cs.AEADKeySize(), cs.AEADNonceSize()
	secret := make([]byte, nh)
	for i := range secret {
		secret[i] = byte(i + 1)
	}
	// An encoded KDFLabel of §8: length, "MLS 1.0 " + label, context.
	info := make([]byte, 2+1+len(providers.LabelPrefix)+len("secret")+1+nh)
	out := make([]byte, 0, max(2*nh, nk, nn))
	long, short := make([]byte, in.signed), make([]byte, 100)
	// msgOf(i, first, other) is the input of the i-th signature, hash
	// or AEAD call: the first covers the message.
	msgOf := func(i int, first, other []byte) []byte {
		if i == 0 {
			return first
		}
		return other
	}

	var sigs [][]byte
	for i := range c.Verify {
		if peer == nil {
			return nil, errors.New("primitiveCalls: no peer to verify")
		}
		s, err := peer.Sign(msgOf(i, long, short))
		if err != nil {
			return nil, err
		}
		sigs = append(sigs, s)
	}
	if c.Sign > 0 && signer == nil {
		return nil, errors.New("primitiveCalls: no signer")
	}

	// HPKE: c.SealBase recipients' key pairs, one ciphertext to open.
	hpkeInfo := make([]byte, 40)
	pathSecret := make([]byte, nh)
	var pubs [][]byte
	for i := range c.SealBase {
		ikm := append([]byte(nil), secret...)
		ikm[0] = byte(i)
		ikm[1] = byte(i >> 8)
		ikm[2] = byte(i >> 16)
		_, pub, err := cs.DeriveKeyPair(ikm)
		if err != nil {
			return nil, err
		}
		pubs = append(pubs, pub)
	}
	seal := func(pub, pt []byte) ([]byte, []byte, error) { return cs.SealBase(pub, hpkeInfo, nil, pt) }
	if ps, ok := cs.(providers.PreparedSealer); ok && c.SealBase > 0 {
		f, err := ps.PrepareSealBase(hpkeInfo, nil)
		if err != nil {
			return nil, err
		}
		seal = f
	}
	var openPriv, openPub, enc, hpkeCT []byte
	if c.OpenBase > 0 {
		var err error
		if openPriv, openPub, err = cs.DeriveKeyPair(secret); err != nil {
			return nil, err
		}
		if enc, hpkeCT, err = cs.SealBase(openPub, hpkeInfo, nil, pathSecret); err != nil {
			return nil, err
		}
	}
	pubPriv, _, err := cs.GenerateKeyPair(nil)
	if err != nil {
		return nil, err
	}

	// AEAD: the ciphertexts to open.
	key, nonce := make([]byte, nk), make([]byte, nn)
	aeadLong, aeadShort := make([]byte, in.sealed), make([]byte, in.others)
	aad := make([]byte, 32)
	sealed := make([]byte, 0, max(len(aeadLong), len(aeadShort))+cs.AEADOverhead())
	opened := make([]byte, 0, max(len(aeadLong), len(aeadShort)))
	var cts [][]byte
	for i := range c.AEADOpen {
		ct, err := cs.Seal(nil, key, nonce, msgOf(i, aeadLong, aeadShort), aad)
		if err != nil {
			return nil, err
		}
		cts = append(cts, ct)
	}

	// Each step makes n calls of one primitive, the i-th by call(i).
	type step struct {
		n    int
		call func(i int) error
	}
	aeadOpen := step{c.AEADOpen, func(i int) error {
		_, err := cs.Open(opened[:0], key, nonce, cts[i], aad)
		return err
	}}
	aeadSeal := step{c.AEADSeal, func(i int) error {
		_, err := cs.Seal(sealed[:0], key, nonce, msgOf(i, aeadLong, aeadShort), aad)
		return err
	}}
	verify := step{c.Verify, func(i int) error { return cs.Verify(peer.PublicKey(), msgOf(i, long, short), sigs[i]) }}
	sign := step{c.Sign, func(i int) error {
		_, err := signer.Sign(msgOf(i, long, short))
		return err
	}}
	hash := step{c.Hash, func(i int) error { cs.Hash(out[:0], msgOf(i, long, short)); return nil }}
	openBase := step{c.OpenBase, func(int) error {
		_, err := providers.OpenBaseSplitInfo(cs, openPriv, openPub, enc, hpkeInfo, nil, nil, hpkeCT)
		return err
	}}
	deriveKeyPair := step{c.DeriveKeyPair, func(int) error {
		_, _, err := cs.DeriveKeyPair(secret)
		return err
	}}
	sealBase := step{c.SealBase, func(i int) error {
		_, _, err := seal(pubs[i], pathSecret)
		return err
	}}
	generateKeyPair := step{c.GenerateKeyPair, func(int) error {
		_, _, err := cs.GenerateKeyPair(nil)
		return err
	}}
	hpkePublicKey := step{c.HPKEPublicKey, func(int) error {
		_, err := cs.HPKEPublicKey(pubPriv)
		return err
	}}
	extract := step{c.Extract, func(int) error { cs.Extract(out[:0], secret, secret); return nil }}
	mac := step{c.MAC, func(int) error { cs.MAC(out[:0], secret, secret); return nil }}

	var steps []step
	if in.expandKeys == nil {
		// Each Expand alone under its own key (CipherSuite.Expand, Nh
		// bytes).
		expand := step{c.Expand, func(int) error {
			_, err := cs.Expand(out[:0], secret, info, nh)
			return err
		}}
		steps = []step{aeadOpen, aeadSeal, verify, sign, hash, openBase, deriveKeyPair, sealBase, generateKeyPair, hpkePublicKey, expand, extract, mac}
	} else {
		// In the order a send makes them: the signature first (the
		// content is signed, then protected, §6.3.1), then each key's
		// Expand calls, through one Expander, followed by the AEAD seal
		// they key (the ratchet's key and nonce seal the content, the
		// sender data's the SenderData, §6.3.2); a group's outputs have
		// the sizes of a ratchet's key, nonce and next secret in turn.
		x := providers.NewExpander(cs)
		lengths := [...]int{nk, nn, nh}
		steps = []step{sign}
		for g, k := range in.expandKeys {
			steps = append(steps, step{1, func(int) error {
				defer x.Zero()
				if err := x.SetKey(secret); err != nil {
					return err
				}
				for i := range k {
					if _, err := x.Expand(out[:0], info, lengths[i%len(lengths)]); err != nil {
						return err
					}
				}
				return nil
			}})
			if g < c.AEADSeal {
				steps = append(steps, step{1, func(int) error { return aeadSeal.call(g) }})
			}
		}
		if keyed := min(len(in.expandKeys), c.AEADSeal); keyed < c.AEADSeal {
			steps = append(steps, step{c.AEADSeal - keyed, func(i int) error { return aeadSeal.call(keyed + i) }})
		}
		steps = append(steps, aeadOpen, verify, hash, openBase, deriveKeyPair, sealBase, generateKeyPair, hpkePublicKey, extract, mac)
	}

	return func() error {
		for _, s := range steps {
			for i := range s.n {
				if err := s.call(i); err != nil {
					return err
				}
			}
		}
		return nil
	}, nil
}

// sendPrimitivesFor returns primitiveCalls for a send of alice's
// (primcount.Send, sendInputs), with her signer and the content length of
// sent, a PrivateMessage she sent (its ciphertext less the AEAD's
// overhead).
func sendPrimitivesFor(f *fixture, sent []byte) (func() error, error) {
	cs, err := f.Provider.CipherSuite(f.Suite)
	if err != nil {
		return nil, err
	}
	var m codec.MLSMessage
	if err := m.Unmarshal(sent); err != nil || m.PrivateMessage == nil {
		return nil, fmt.Errorf("decoding alice's message: %v", err)
	}
	contentLen := len(m.PrivateMessage.Ciphertext) - cs.AEADOverhead()
	if contentLen < 0 {
		return nil, fmt.Errorf("alice's message has a ciphertext of %d bytes", len(m.PrivateMessage.Ciphertext))
	}
	return primitiveCalls(cs, f.Alice.Signer, nil, primcount.Send(), sendInputs(contentLen))
}
