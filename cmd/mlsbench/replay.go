package main

import (
	"errors"
	"fmt"
	"time"

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

// primitiveCalls returns a function that makes, directly through cs,
// exactly the primitive calls c counts (primcount.Counts; TestUpdatePrimitives
// counts them), on inputs of the sizes primcount.Costs.Floor prices them
// at for a handshake message of msgLen bytes, with the suite's real keys:
//
//   - Sign with signer, Verify of peer's signatures: one over 100+msgLen
//     bytes (the FramedContent's, §6.1), the others over 100 bytes;
//   - SealBase of an Nh-byte path secret to distinct public keys, under
//     one prepared info (providers.PreparedSealer, as an UpdatePath's
//     encryptions share their info, §7.6); OpenBase of such a ciphertext
//     with the receiver's public key known (providers.OpenBaseSplitInfo);
//   - DeriveKeyPair of Nh bytes, GenerateKeyPair, HPKEPublicKey;
//   - Expand (Nh bytes of an Nh-byte secret), Extract and MAC of Nh bytes;
//   - Hash: one over 100+msgLen bytes (the confirmed transcript hash
//     covers the message, §8.2), the others over 100;
//   - AEADSeal and AEADOpen: one over 32+msgLen bytes (the content,
//     §6.3.1), the others over 32.
//
// Every input, key and ciphertext is made before, so that each call of
// the function makes only c's calls and touches the same memory. Export
// (priced at nothing by the floor) is not supported.
func primitiveCalls(cs providers.CipherSuite, signer, peer providers.Signer, c primcount.Counts, msgLen int) (func() error, error) {
	if c.Export != 0 {
		return nil, errors.New("primitiveCalls: HPKE exports are not replayed")
	}
	nh, nk, nn := cs.HashSize(), cs.AEADKeySize(), cs.AEADNonceSize()
	secret := make([]byte, nh)
	for i := range secret {
		secret[i] = byte(i + 1)
	}
	// An encoded KDFLabel of §8: length, "MLS 1.0 " + label, context.
	info := make([]byte, 2+1+len(providers.LabelPrefix)+len("secret")+1+nh)
	out := make([]byte, 0, 2*nh)
	long, short := make([]byte, 100+msgLen), make([]byte, 100)
	// msgs[i] is the input of the i-th signature, hash or AEAD call: the
	// first covers the message.
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
	aeadLong, aeadShort := make([]byte, 32+msgLen), make([]byte, 32)
	aad := make([]byte, 32)
	sealed := make([]byte, 0, len(aeadLong)+cs.AEADOverhead())
	opened := make([]byte, 0, len(aeadLong))
	var cts [][]byte
	for i := range c.AEADOpen {
		ct, err := cs.Seal(nil, key, nonce, msgOf(i, aeadLong, aeadShort), aad)
		if err != nil {
			return nil, err
		}
		cts = append(cts, ct)
	}

	return func() error {
		for i := range c.AEADOpen {
			if _, err := cs.Open(opened[:0], key, nonce, cts[i], aad); err != nil {
				return err
			}
		}
		for i := range c.AEADSeal {
			if _, err := cs.Seal(sealed[:0], key, nonce, msgOf(i, aeadLong, aeadShort), aad); err != nil {
				return err
			}
		}
		for i := range c.Verify {
			if err := cs.Verify(peer.PublicKey(), msgOf(i, long, short), sigs[i]); err != nil {
				return err
			}
		}
		for i := range c.Sign {
			if _, err := signer.Sign(msgOf(i, long, short)); err != nil {
				return err
			}
		}
		for i := range c.Hash {
			cs.Hash(out[:0], msgOf(i, long, short))
		}
		for range c.OpenBase {
			if _, err := providers.OpenBaseSplitInfo(cs, openPriv, openPub, enc, hpkeInfo, nil, nil, hpkeCT); err != nil {
				return err
			}
		}
		for range c.DeriveKeyPair {
			if _, _, err := cs.DeriveKeyPair(secret); err != nil {
				return err
			}
		}
		for i := range c.SealBase {
			if _, _, err := seal(pubs[i], pathSecret); err != nil {
				return err
			}
		}
		for range c.GenerateKeyPair {
			if _, _, err := cs.GenerateKeyPair(nil); err != nil {
				return err
			}
		}
		for range c.HPKEPublicKey {
			if _, err := cs.HPKEPublicKey(pubPriv); err != nil {
				return err
			}
		}
		for range c.Expand {
			if _, err := cs.Expand(out[:0], secret, info, nh); err != nil {
				return err
			}
		}
		for range c.Extract {
			cs.Extract(out[:0], secret, secret)
		}
		for range c.MAC {
			cs.MAC(out[:0], secret, secret)
		}
		return nil
	}, nil
}
