package defaultcrypto

import (
	"crypto/ecdh"
	"crypto/hmac"
	stdhpke "crypto/hpke"
	"crypto/sha3"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	circlx25519 "github.com/cloudflare/circl/dh/x25519"
	circlx448 "github.com/cloudflare/circl/dh/x448"
	circlhpke "github.com/cloudflare/circl/hpke"
	"github.com/cloudflare/circl/kem"

	"github.com/mlskit/mlskit/providers"
)

// kemImpl is HPKE in base mode (RFC 9180 §5.1, §6.1) for one suite.
type kemImpl interface {
	sealBase(rand io.Reader, pub, info, aad, plaintext []byte) (enc, ct []byte, err error)
	openBase(priv, enc, info, aad, ct []byte) ([]byte, error)
	exportBaseS(rand io.Reader, pub, info, exporterContext []byte, length int) (enc, secret []byte, err error)
	exportBaseR(priv, enc, info, exporterContext []byte, length int) ([]byte, error)
	deriveKeyPair(ikm []byte) (priv, pub []byte, err error)
	publicKey(priv []byte) ([]byte, error)
	validatePublic(pub []byte) error
	seedSize() int // Nsk, the ikm length GenerateKeyPair draws
	// decap is the KEM's Decap(enc, skR) (RFC 9180 §4): the shared secret
	// of the kem output enc for the private key priv. pub is nil or priv's
	// public key, which a DHKEM may put into the KEM context instead of
	// computing pk(skR) (providers.SplitInfoOpener).
	decap(priv, pub, enc []byte) ([]byte, error)
	// ids returns the HPKE identifiers of the KEM, KDF and AEAD (RFC 9180
	// §7), the suite_id of the key schedule (§5.1).
	ids() (kem, kdf, aead uint16)
}

// circlKEM is HPKE from github.com/cloudflare/circl/hpke, used for X25519
// (circl's X25519 is about twice as fast as crypto/ecdh's on amd64, see
// BenchmarkRawX25519 and BenchmarkRawHPKESeal), X448 (not in the standard
// library) and X-Wing (circl's KEM_XWING).
type circlKEM struct {
	suite  circlhpke.Suite
	scheme kem.Scheme
	kemID  circlhpke.KEM
	kdf    hashKind // the KEM's own KDF for DeriveKeyPair (RFC 9180 §7.1.3)
	nsk    int
	xwing  bool
	// xwingUnlabeled selects X-Wing's own draft's DeriveKeyPair instead of
	// draft-ietf-hpke-pq's (WithUnlabeledXWingDeriveKeyPair).
	xwingUnlabeled bool
}

func newCirclKEM(k circlhpke.KEM, kdf circlhpke.KDF, aead circlhpke.AEAD, kemKDF hashKind) *circlKEM {
	s := k.Scheme()
	return &circlKEM{
		suite:  circlhpke.NewSuite(k, kdf, aead),
		scheme: s,
		kemID:  k,
		kdf:    kemKDF,
		nsk:    s.PrivateKeySize(),
		xwing:  k == circlhpke.KEM_XWING,
	}
}

func (c *circlKEM) seedSize() int { return c.nsk }

func (c *circlKEM) parsePublic(pub []byte) (kem.PublicKey, error) {
	if len(pub) != c.scheme.PublicKeySize() {
		return nil, fmt.Errorf("%w: HPKE public key is %d bytes, want %d", providers.ErrInvalidPublicKey, len(pub), c.scheme.PublicKeySize())
	}
	pk, err := c.scheme.UnmarshalBinaryPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", providers.ErrInvalidPublicKey, err)
	}
	return pk, nil
}

func (c *circlKEM) parsePrivate(priv []byte) (kem.PrivateKey, error) {
	if len(priv) != c.nsk {
		return nil, fmt.Errorf("%w: HPKE private key is %d bytes, want %d", providers.ErrInvalidPrivateKey, len(priv), c.nsk)
	}
	sk, err := c.scheme.UnmarshalBinaryPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", providers.ErrInvalidPrivateKey, err)
	}
	return sk, nil
}

// setupS is SetupBaseS (RFC 9180 §5.1.1) to pub, with the ephemeral key
// drawn from rand.
func (c *circlKEM) setupS(rand io.Reader, pub, info []byte) ([]byte, circlhpke.Sealer, error) {
	pk, err := c.parsePublic(pub)
	if err != nil {
		return nil, nil, err
	}
	snd, err := c.suite.NewSender(pk, info)
	if err != nil {
		return nil, nil, err
	}
	enc, sealer, err := snd.Setup(rand)
	if err != nil {
		if errors.Is(err, circlhpke.ErrInvalidKEMSharedSecret) {
			return nil, nil, fmt.Errorf("%w: %v", providers.ErrInvalidPublicKey, err)
		}
		return nil, nil, err
	}
	return enc, sealer, nil
}

// setupR is SetupBaseR (RFC 9180 §5.1.1) with priv and the kem output enc.
func (c *circlKEM) setupR(priv, enc, info []byte) (circlhpke.Opener, error) {
	sk, err := c.parsePrivate(priv)
	if err != nil {
		return nil, err
	}
	if len(enc) != c.scheme.CiphertextSize() {
		return nil, fmt.Errorf("%w: %d bytes, want %d", providers.ErrInvalidKEMOutput, len(enc), c.scheme.CiphertextSize())
	}
	rcv, err := c.suite.NewReceiver(sk, info)
	if err != nil {
		return nil, err
	}
	opener, err := rcv.Setup(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", providers.ErrInvalidKEMOutput, err)
	}
	return opener, nil
}

// decap uses pub for X25519 and X448 only: X-Wing's Decapsulate takes
// its keys from the seed priv.
func (c *circlKEM) decap(priv, pub, enc []byte) ([]byte, error) {
	if c.isDH() {
		return c.decapDH(priv, pub, enc)
	}
	sk, err := c.parsePrivate(priv)
	if err != nil {
		return nil, err
	}
	if len(enc) != c.scheme.CiphertextSize() {
		return nil, fmt.Errorf("%w: %d bytes, want %d", providers.ErrInvalidKEMOutput, len(enc), c.scheme.CiphertextSize())
	}
	ss, err := c.scheme.Decapsulate(sk, enc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", providers.ErrInvalidKEMOutput, err)
	}
	return ss, nil
}

func (c *circlKEM) ids() (uint16, uint16, uint16) {
	k, kdf, aead := c.suite.Params()
	return uint16(k), uint16(kdf), uint16(aead)
}

func (c *circlKEM) sealBase(rand io.Reader, pub, info, aad, plaintext []byte) ([]byte, []byte, error) {
	enc, sealer, err := c.setupS(rand, pub, info)
	if err != nil {
		return nil, nil, err
	}
	ct, err := sealer.Seal(plaintext, aad)
	if err != nil {
		return nil, nil, err
	}
	return enc, ct, nil
}

func (c *circlKEM) openBase(priv, enc, info, aad, ct []byte) ([]byte, error) {
	opener, err := c.setupR(priv, enc, info)
	if err != nil {
		return nil, err
	}
	pt, err := opener.Open(ct, aad)
	if err != nil {
		return nil, fmt.Errorf("%w: HPKE: %v", providers.ErrDecryption, err)
	}
	return pt, nil
}

// exportBaseS is SetupBaseS then Export (RFC 9180 §5.1.1, §5.3); the
// ephemeral key is drawn from rand. The caller has checked length.
func (c *circlKEM) exportBaseS(rand io.Reader, pub, info, exporterContext []byte, length int) ([]byte, []byte, error) {
	enc, ctx, err := c.setupS(rand, pub, info)
	if err != nil {
		return nil, nil, err
	}
	return enc, ctx.Export(exporterContext, uint(length)), nil
}

// exportBaseR is SetupBaseR then Export (RFC 9180 §5.1.1, §5.3). The caller
// has checked length.
func (c *circlKEM) exportBaseR(priv, enc, info, exporterContext []byte, length int) ([]byte, error) {
	ctx, err := c.setupR(priv, enc, info)
	if err != nil {
		return nil, err
	}
	return ctx.Export(exporterContext, uint(length)), nil
}

// deriveKeyPair implements DeriveKeyPair (RFC 9180 §7.1.3) for inputs of
// any length; circl's own DeriveKeyPair panics unless len(ikm) == Nsk, and
// MLS derives X448 keys from 64-byte secrets (Nh of SHA-512).
func (c *circlKEM) deriveKeyPair(ikm []byte) ([]byte, []byte, error) {
	if c.xwing {
		// The 32-byte private key is the X-Wing seed (GenerateKeyPairDerand,
		// see the package doc).
		seed := xwingDeriveSeed(ikm, c.xwingUnlabeled)
		sk, err := c.parsePrivate(seed)
		if err != nil {
			return nil, nil, err
		}
		pub, err := sk.Public().MarshalBinary()
		return seed, pub, err
	}
	// DHKEM(X25519 / X448): dkp_prk = LabeledExtract("", "dkp_prk", ikm);
	// sk = LabeledExpand(dkp_prk, "sk", "", Nsk).
	var suiteID [5]byte
	copy(suiteID[:], "KEM")
	binary.BigEndian.PutUint16(suiteID[3:], uint16(c.kemID))
	var pb [maxHashSize]byte
	prk := labeledExtract(c.kdf, pb[:0], suiteID[:], nil, "dkp_prk", ikm)
	var sb [circlx448.Size]byte // keyPair copies sk
	sk, err := labeledExpand(c.kdf, sb[:0], suiteID[:], prk, "sk", nil, c.nsk)
	clear(pb[:])
	if err != nil {
		clear(sb[:])
		return nil, nil, err
	}
	priv, pub, err := c.keyPair(sk)
	clear(sb[:])
	return priv, pub, err
}

// keyPair returns SerializePrivateKey (clamped, RFC 9180 §7.1.2) and the
// public key of the X25519 or X448 scalar sk. The X25519 pair shares one
// allocation (TreeKEM derives one per path node, §7.4), each key its own
// slice of it, capacity limited.
func (c *circlKEM) keyPair(sk []byte) ([]byte, []byte, error) {
	switch len(sk) {
	case circlx25519.Size:
		kp := new([2]circlx25519.Key)
		s, p := &kp[0], &kp[1]
		copy(s[:], sk)
		circlx25519.KeyGen(p, s)
		s[0] &= 248
		s[31] &= 127
		s[31] |= 64
		return s[:len(s):len(s)], p[:len(p):len(p)], nil
	case circlx448.Size:
		var s, p circlx448.Key
		copy(s[:], sk)
		circlx448.KeyGen(&p, &s)
		s[0] &= 252
		s[55] |= 128
		return s[:], p[:], nil
	}
	return nil, nil, providers.ErrInvalidPrivateKey
}

func (c *circlKEM) publicKey(priv []byte) ([]byte, error) {
	if c.xwing {
		sk, err := c.parsePrivate(priv)
		if err != nil {
			return nil, err
		}
		return sk.Public().MarshalBinary()
	}
	if len(priv) != c.nsk {
		return nil, fmt.Errorf("%w: HPKE private key is %d bytes, want %d", providers.ErrInvalidPrivateKey, len(priv), c.nsk)
	}
	_, pub, err := c.keyPair(priv)
	return pub, err
}

// labeledExtract appends LabeledExtract(salt, label, ikm) (RFC 9180 §4)
// to dst (a caller's temporary secret can be on its stack). Its labeled
// ikm is built on the stack when it fits (stackInfo, as context does) and
// erased after use: ikm is a secret (a DH output).
func labeledExtract(h hashKind, dst, suiteID, salt []byte, label string, ikm []byte) []byte {
	var buf [stackInfo]byte
	in := buf[:0]
	if n := 7 + len(suiteID) + len(label) + len(ikm); n > len(buf) {
		in = make([]byte, 0, n)
	}
	in = append(in, "HPKE-v1"...)
	in = append(in, suiteID...)
	in = append(in, label...)
	in = append(in, ikm...)
	prk := h.extract(dst, salt, in)
	clear(in)
	return prk
}

// labeledExtractParts is labeledExtract with an empty salt and the ikm
// given in parts, hashed without concatenating them (an info of megabytes:
// SplitInfoOpener).
func labeledExtractParts(h hashKind, suiteID []byte, label string, ikm ...[]byte) []byte {
	m := hmac.New(h.new, nil)
	m.Write([]byte("HPKE-v1"))
	m.Write(suiteID)
	m.Write([]byte(label))
	for _, p := range ikm {
		m.Write(p)
	}
	return m.Sum(nil)
}

// labeledExpand appends LabeledExpand(prk, label, info, length) (RFC 9180
// §4) to dst, its labeled info built on the stack when it fits
// (stackInfo).
func labeledExpand(h hashKind, dst, suiteID, prk []byte, label string, info []byte, length int) ([]byte, error) {
	var buf [stackInfo]byte
	in := buf[:0]
	if n := 2 + 7 + len(suiteID) + len(label) + len(info); n > len(buf) {
		in = make([]byte, 0, n)
	}
	in = binary.BigEndian.AppendUint16(in, uint16(length))
	in = append(in, "HPKE-v1"...)
	in = append(in, suiteID...)
	in = append(in, label...)
	in = append(in, info...)
	return h.expand(dst, prk, in, length)
}

// stdKEM is HPKE from crypto/hpke, used for the NIST curves: it is as fast
// as circl there (both run crypto/ecdh) with fewer allocations, and its
// DeriveKeyPair takes inputs of any length (MLS derives P-521 keys from
// 64-byte secrets, shorter than Nsk = 66).
type stdKEM struct {
	kem   stdhpke.KEM
	kdf   stdhpke.KDF
	aead  stdhpke.AEAD
	nsk   int
	curve ecdh.Curve
	// kemKDF is the hash of the DHKEM's own KDF (RFC 9180 §7.1: HKDF-SHA256
	// for P-256, -SHA384 for P-384, -SHA512 for P-521), used by decap.
	kemKDF hashKind
}

func newStdKEM(curve ecdh.Curve, kdf stdhpke.KDF, aead stdhpke.AEAD, nsk int, kemKDF hashKind) *stdKEM {
	return &stdKEM{kem: stdhpke.DHKEM(curve), kdf: kdf, aead: aead, nsk: nsk, curve: curve, kemKDF: kemKDF}
}

func (s *stdKEM) ids() (uint16, uint16, uint16) { return s.kem.ID(), s.kdf.ID(), s.aead.ID() }

// decap is DHKEM's Decap (RFC 9180 §4.1), which crypto/hpke does not
// export:
//
//	pkE           = DeserializePublicKey(enc)
//	dh            = DH(skR, pkE)
//	kem_context   = enc || SerializePublicKey(pk(skR))
//	eae_prk       = LabeledExtract("", "eae_prk", dh)
//	shared_secret = LabeledExpand(eae_prk, "shared_secret", kem_context, Nsecret)
//
// with suite_id "KEM" || I2OSP(kem_id, 2) and Nsecret the KDF's Nh
// (§7.1). TestOpenBaseSplitInfo checks it against crypto/hpke's SealBase,
// TestCryptoBasicsVectors against the MLS vectors.
func (s *stdKEM) decap(priv, _, enc []byte) ([]byte, error) {
	sk, err := s.curve.NewPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", providers.ErrInvalidPrivateKey, err)
	}
	pkE, err := s.curve.NewPublicKey(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", providers.ErrInvalidKEMOutput, err)
	}
	dh, err := sk.ECDH(pkE)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", providers.ErrInvalidKEMOutput, err)
	}
	var suiteID [5]byte
	copy(suiteID[:], "KEM")
	binary.BigEndian.PutUint16(suiteID[3:], s.kem.ID())
	var pb [maxHashSize]byte
	prk := labeledExtract(s.kemKDF, pb[:0], suiteID[:], nil, "eae_prk", dh)
	clear(dh)
	pkR := sk.PublicKey().Bytes()
	kemContext := make([]byte, 0, len(enc)+len(pkR))
	kemContext = append(append(kemContext, enc...), pkR...)
	ss, err := labeledExpand(s.kemKDF, nil, suiteID[:], prk, "shared_secret", kemContext, s.kemKDF.size())
	clear(pb[:])
	return ss, err
}

func (s *stdKEM) seedSize() int { return s.nsk }

func (s *stdKEM) sealBase(_ io.Reader, pub, info, aad, plaintext []byte) ([]byte, []byte, error) {
	pk, err := s.kem.NewPublicKey(pub)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", providers.ErrInvalidPublicKey, err)
	}
	enc, snd, err := stdhpke.NewSender(pk, s.kdf, s.aead, info)
	if err != nil {
		return nil, nil, err
	}
	ct, err := snd.Seal(aad, plaintext)
	if err != nil {
		return nil, nil, err
	}
	return enc, ct, nil
}

func (s *stdKEM) openBase(priv, enc, info, aad, ct []byte) ([]byte, error) {
	sk, err := s.kem.NewPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", providers.ErrInvalidPrivateKey, err)
	}
	rcv, err := stdhpke.NewRecipient(enc, sk, s.kdf, s.aead, info)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", providers.ErrInvalidKEMOutput, err)
	}
	pt, err := rcv.Open(aad, ct)
	if err != nil {
		return nil, fmt.Errorf("%w: HPKE: %v", providers.ErrDecryption, err)
	}
	return pt, nil
}

// exportBaseS is SetupBaseS then Export (RFC 9180 §5.1.1, §5.3). Like
// sealBase it ignores rand: crypto/hpke draws the ephemeral key from the
// system's source.
func (s *stdKEM) exportBaseS(_ io.Reader, pub, info, exporterContext []byte, length int) ([]byte, []byte, error) {
	pk, err := s.kem.NewPublicKey(pub)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", providers.ErrInvalidPublicKey, err)
	}
	enc, snd, err := stdhpke.NewSender(pk, s.kdf, s.aead, info)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", providers.ErrInvalidPublicKey, err)
	}
	secret, err := snd.Export(string(exporterContext), length)
	if err != nil {
		return nil, nil, err
	}
	return enc, secret, nil
}

// exportBaseR is SetupBaseR then Export (RFC 9180 §5.1.1, §5.3).
func (s *stdKEM) exportBaseR(priv, enc, info, exporterContext []byte, length int) ([]byte, error) {
	sk, err := s.kem.NewPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", providers.ErrInvalidPrivateKey, err)
	}
	rcv, err := stdhpke.NewRecipient(enc, sk, s.kdf, s.aead, info)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", providers.ErrInvalidKEMOutput, err)
	}
	return rcv.Export(string(exporterContext), length)
}

func (s *stdKEM) deriveKeyPair(ikm []byte) ([]byte, []byte, error) {
	sk, err := s.kem.DeriveKeyPair(ikm)
	if err != nil {
		return nil, nil, err
	}
	priv, err := sk.Bytes()
	if err != nil {
		return nil, nil, err
	}
	return priv, sk.PublicKey().Bytes(), nil
}

func (s *stdKEM) publicKey(priv []byte) ([]byte, error) {
	sk, err := s.kem.NewPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", providers.ErrInvalidPrivateKey, err)
	}
	return sk.PublicKey().Bytes(), nil
}

func (c *circlKEM) validatePublic(pub []byte) error {
	_, err := c.parsePublic(pub)
	return err
}

func (s *stdKEM) validatePublic(pub []byte) error {
	if _, err := s.kem.NewPublicKey(pub); err != nil {
		return fmt.Errorf("%w: %v", providers.ErrInvalidPublicKey, err)
	}
	return nil
}

// xwingKEMID is the HPKE KEM identifier of X-Wing (MLKEM768-X25519).
const xwingKEMID = 0x647a

// xwingDeriveSeed returns the X-Wing seed DeriveKeyPair(ikm) makes the
// private key of:
//
//   - draft-ietf-hpke-pq (-05, §4; the default): SHAKE256.LabeledDerive(ikm,
//     "DeriveKeyPair", "", 32) = SHAKE256(ikm || "HPKE-v1" || "KEM" ||
//     I2OSP(0x647a, 2) || I2OSP(13, 2) || "DeriveKeyPair" || I2OSP(32, 2),
//     32), as Go's crypto/hpke and OpenMLS main derive it;
//   - unlabeled (draft-connolly-cfrg-xwing-kem §5.6, OpenMLS 0.9.0):
//     SHAKE256(ikm, 32).
func xwingDeriveSeed(ikm []byte, unlabeled bool) []byte {
	if unlabeled {
		out := sha3.SumSHAKE256(ikm, 32)
		return out[:]
	}
	const label = "DeriveKeyPair"
	in := make([]byte, 0, len(ikm)+7+5+2+len(label)+2)
	in = append(in, ikm...)
	in = append(in, "HPKE-v1KEM"...)
	in = binary.BigEndian.AppendUint16(in, xwingKEMID)
	in = binary.BigEndian.AppendUint16(in, uint16(len(label)))
	in = append(in, label...)
	in = binary.BigEndian.AppendUint16(in, 32)
	out := sha3.SumSHAKE256(in, 32)
	return out[:]
}
