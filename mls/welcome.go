package mls

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/keyschedule"
	"github.com/mlskit/mlskit/providers"
)

// labelWelcome is the EncryptWithLabel label of GroupSecrets (RFC 9420
// §12.4.3.1).
const labelWelcome = "Welcome"

// Errors of Welcome processing (RFC 9420 §12.4.3.1). Branch on them with
// errors.Is; a bad GroupInfo signature matches ErrInvalidGroupInfoSignature
// and a missing PSK ErrMissingPSK (with a *MissingPSKError naming it).
var (
	// ErrNoMatchingKeyPackage: none of the Welcome's EncryptedGroupSecrets
	// is for a KeyPackage of this client ("identify an entry in the secrets
	// array where the new_member value corresponds to one of this client's
	// KeyPackages").
	ErrNoMatchingKeyPackage = errors.New("mls: Welcome is for none of our key packages")
	// ErrWelcomeDecryption: the encrypted_group_secrets do not decrypt with
	// the KeyPackage's init key, or the encrypted_group_info does not
	// decrypt with the welcome key. It wraps providers.ErrDecryption when
	// the AEAD or HPKE authentication failed.
	ErrWelcomeDecryption = errors.New("mls: Welcome does not decrypt")
	// ErrMalformedWelcome: a decrypted GroupSecrets or GroupInfo does not
	// decode, or the Welcome is not consistent (cipher suites differ, a
	// joiner_secret of the wrong length).
	ErrMalformedWelcome = errors.New("mls: malformed Welcome")
	// ErrWelcomeConfirmationTag: the GroupInfo's confirmation_tag does not
	// verify with the confirmation_key of the epoch the Welcome joins
	// ("verify the confirmation_tag in the GroupInfo").
	ErrWelcomeConfirmationTag = errors.New("mls: GroupInfo confirmation tag does not verify (RFC 9420 §12.4.3.1)")
)

// welcomeRecipient is a new member a Welcome is made for: its KeyPackage
// and the path_secret of the lowest node of the committer's direct path that
// the new member's leaf is under (nil if the Commit has no path) (RFC 9420
// §12.4.3.1).
type welcomeRecipient struct {
	KeyPackage *codec.KeyPackage
	PathSecret []byte
}

// welcomeParallelMin is the number of recipients from which sealWelcome
// encrypts the GroupSecrets of several recipients concurrently.
const welcomeParallelMin = 4

// sealWelcome builds the Welcome of RFC 9420 §12.4.3.1 for members:
//
//	welcome_secret, welcome_key, welcome_nonce from joiner_secret and psk_secret
//	encrypted_group_info = AEAD.Seal(welcome_key, welcome_nonce, "", GroupInfo)
//	for each new member: EncryptedGroupSecrets{
//	    new_member = KeyPackageRef,
//	    encrypted_group_secrets = EncryptWithLabel(init_key, "Welcome",
//	        encrypted_group_info, GroupSecrets{joiner_secret, path_secret, psks})}
//
// gi must be signed (SignGroupInfo). pskSecret is the psk_secret of psks (nil
// when there are none). Every KeyPackage must be of cs's suite; the HPKE
// encryptions of many recipients run concurrently. The secrets it derives
// are erased before it returns.
func sealWelcome(cs providers.CipherSuite, gi *codec.GroupInfo, joinerSecret, pskSecret []byte, psks []codec.PreSharedKeyID, members []welcomeRecipient) (*codec.Welcome, error) {
	w, _, err := sealWelcomeEncoded(cs, gi, welcomeGroupInfo{}, joinerSecret, pskSecret, nil, psks, members)
	return w, err
}

// welcomeGroupInfo is the encoding of a Welcome's signed GroupInfo, when
// the caller has it (signGroupInfoInto): enc[off:]. When spare, enc is the
// caller's buffer, which the Welcome takes: the off bytes before the
// GroupInfo are free room and its capacity after it holds the AEAD's tag,
// so that the GroupInfo is encrypted in place, not copied.
type welcomeGroupInfo struct {
	enc   []byte
	off   int
	spare bool
}

// sealWelcomeEncoded is sealWelcome with gib, the encoding of gi when the
// caller has it (zero: encoded here), and welcomeSecret, the
// welcome_secret of joinerSecret and pskSecret when the caller's key
// schedule derived it (keyschedule.Epoch.Welcome), or nil to derive it
// here (RFC 9420 §8: one Extract and one DeriveSecret, not needed twice).
// It also returns the Welcome
// encoded as an MLSMessage. The encrypted GroupInfo, which holds the whole
// ratchet tree when the GroupInfo carries it, is written into a buffer
// with room before it for the header of the EncryptContext the
// GroupSecrets are encrypted with (RFC 9420 §12.4.3.1), so that the
// EncryptContext is not a copy of it; the message is the codec's encoding
// of the Welcome (§6), which copies it once. A spare gib with room enough
// (welcomeRoom) is that buffer: the GroupInfo is encrypted in place.
func sealWelcomeEncoded(cs providers.CipherSuite, gi *codec.GroupInfo, gib welcomeGroupInfo, joinerSecret, pskSecret, welcomeSecret []byte, psks []codec.PreSharedKeyID, members []welcomeRecipient) (*codec.Welcome, []byte, error) {
	if cs == nil || gi == nil {
		return nil, nil, fmt.Errorf("%w: nil cipher suite or GroupInfo", ErrInvalidArgument)
	}
	if len(members) == 0 {
		return nil, nil, fmt.Errorf("%w: a Welcome needs at least one new member", ErrInvalidArgument)
	}
	if gi.GroupContext.CipherSuite != cs.ID() {
		return nil, nil, fmt.Errorf("%w: GroupInfo of suite %v, sealing with %v", ErrInvalidArgument, gi.GroupContext.CipherSuite, cs.ID())
	}
	for i := range members {
		kp := members[i].KeyPackage
		if kp == nil {
			return nil, nil, fmt.Errorf("%w: recipient %d has no KeyPackage", ErrInvalidArgument, i)
		}
		if kp.CipherSuite != cs.ID() {
			return nil, nil, RuleAddSuiteOrVersion.Errorf("recipient %d: key package of suite %v in a group of suite %v", i, kp.CipherSuite, cs.ID())
		}
	}
	if gib.off < 0 || gib.off > len(gib.enc) {
		return nil, nil, fmt.Errorf("%w: GroupInfo at %d of %d bytes", ErrInvalidArgument, gib.off, len(gib.enc))
	}
	giBytes := gib.enc[gib.off:]
	if gib.enc == nil {
		var err error
		if giBytes, err = gi.Marshal(); err != nil {
			return nil, nil, fmt.Errorf("mls: encoding the GroupInfo: %w", err)
		}
	}
	// The GroupSecrets of each member, erased once sealed.
	pts := make([][]byte, len(members))
	defer func() {
		for _, pt := range pts {
			clear(pt)
		}
	}()
	for i := range members {
		gs := codec.GroupSecrets{JoinerSecret: joinerSecret, Psks: psks}
		if ps := members[i].PathSecret; ps != nil {
			gs.PathSecret = &codec.PathSecret{PathSecret: ps}
		}
		pt, err := gs.Marshal()
		if err != nil {
			clear(pt)
			return nil, nil, fmt.Errorf("mls: recipient %d: encoding GroupSecrets: %w", i, err)
		}
		pts[i] = pt
	}
	var (
		key, nonce keyschedule.Secret
		err        error
	)
	if welcomeSecret != nil {
		key, nonce, err = keyschedule.WelcomeKeyNonce(cs, welcomeSecret)
	} else {
		ws, werr := keyschedule.WelcomeSecret(cs, joinerSecret, pskSecret)
		if werr != nil {
			return nil, nil, fmt.Errorf("mls: welcome_secret: %w", werr)
		}
		key, nonce, err = keyschedule.WelcomeKeyNonce(cs, ws)
		ws.Zero()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("mls: welcome key and nonce: %w", err)
	}
	// The encrypted GroupInfo is written after room for the header of
	// the EncryptContext its recipients' HPKE info is (below) and, once
	// they are sealed, for the Welcome message up to it
	// (welcomeMessageInPlace): neither copies it.
	head, err := welcomeHeadRoom(cs, members, func(i int) int { return len(pts[i]) }, len(giBytes)+cs.AEADOverhead())
	if err != nil {
		return nil, nil, fmt.Errorf("mls: encoding Welcome: %w", err)
	}
	room := max(providers.SignContentRoom(labelWelcome), head)
	var dst []byte
	if gib.spare && gib.off >= room && cap(gib.enc)-len(gib.enc) >= cs.AEADOverhead() {
		// In place: the ciphertext starts where the GroupInfo does
		// (providers.CipherSuite.Seal: exact overlap).
		room, dst = gib.off, gib.enc[:gib.off]
	} else {
		dst = make([]byte, room, room+len(giBytes)+cs.AEADOverhead())
	}
	sealed, err := cs.Seal(dst, key, nonce, giBytes, nil)
	key.Zero()
	nonce.Zero()
	if err != nil {
		return nil, nil, fmt.Errorf("mls: encrypting the GroupInfo: %w", err)
	}
	egi := sealed[room:]

	w := &codec.Welcome{
		CipherSuite:        cs.ID(),
		Secrets:            make([]codec.EncryptedGroupSecrets, len(members)),
		EncryptedGroupInfo: egi,
	}
	// The HPKE info of every recipient is EncryptContext{"MLS 1.0 Welcome",
	// encrypted_group_info} (§12.4.3.1): built once, not per recipient, as
	// the encrypted GroupInfo can hold the whole ratchet tree.
	info, err := providers.EncryptContextInPlace(labelWelcome, sealed, room, len(egi))
	if err != nil {
		return nil, nil, fmt.Errorf("mls: encoding EncryptContext: %w", err)
	}
	// A suite that can hash that info once does so (providers.
	// PreparedSealer), without a copy of it: without it, adding N
	// members hashes the encrypted GroupInfo N times.
	sealBase := func(pub, pt []byte) ([]byte, []byte, error) { return cs.SealBase(pub, info, nil, pt) }
	if ps, ok := cs.(providers.PreparedSealer); ok {
		if sealBase, err = ps.PrepareSealBase(info, nil); err != nil {
			return nil, nil, fmt.Errorf("mls: preparing the GroupSecrets encryption: %w", err)
		}
	}
	seal := func(i int) error {
		m := &members[i]
		ref, err := KeyPackageRef(cs, m.KeyPackage)
		if err != nil {
			return fmt.Errorf("recipient %d: %w", i, err)
		}
		kem, ct, err := sealBase(m.KeyPackage.InitKey, pts[i])
		if err != nil {
			return fmt.Errorf("recipient %d: encrypting GroupSecrets: %w", i, err)
		}
		w.Secrets[i] = codec.EncryptedGroupSecrets{
			NewMember:             ref,
			EncryptedGroupSecrets: codec.HPKECiphertext{KEMOutput: kem, Ciphertext: ct},
		}
		return nil
	}
	if err := forEachParallel(len(members), welcomeParallelMin, seal); err != nil {
		return nil, nil, fmt.Errorf("mls: sealing the Welcome: %w", err)
	}
	// Every seal is done: the room before the encrypted GroupInfo, which
	// held the EncryptContext's header, is free.
	msg, err := welcomeMessageInPlace(w, sealed, room)
	if err != nil {
		return nil, nil, fmt.Errorf("mls: encoding Welcome: %w", err)
	}
	return w, msg, nil
}

// welcomeHeadRoom returns the length of the encoding of a Welcome to
// members, as an MLSMessage (RFC 9420 §6, §12.4.3.1), before its
// encrypted_group_info of egiLen bytes, measured with the generated
// encoder (before the GroupSecrets are sealed: from the lengths of the
// fields, not their values): MLSMessage.AppendHead of a Welcome with no
// secrets, whose empty secrets vector is then given the recipients'
// length, and EncryptedGroupSecrets.AppendTo of each recipient's shape,
// a KeyPackageRef of HashSize bytes, a kem_output as long as its init key
// (as DHKEM's is, RFC 9180 §4.1) and its encrypted GroupSecrets (ptLen(i)
// bytes) with the AEAD's tag. A KEM whose output is longer than its public
// key makes the room too short: welcomeMessageInPlace then encodes the
// message anew; a shorter one leaves room to spare, which it allows.
func welcomeHeadRoom(cs providers.CipherSuite, members []welcomeRecipient, ptLen func(i int) int, egiLen int) (int, error) {
	var scratch []byte
	// The recipients of a Welcome have one or two shapes (with a
	// path_secret or without): each shape is encoded once, not each
	// recipient, which would cost as much as encoding the Welcome.
	type shape struct{ kem, ct, size int }
	var shapes []shape
	var zeros []byte
	secrets := 0
	for i := range members {
		sh := shape{kem: len(members[i].KeyPackage.InitKey), ct: ptLen(i) + cs.AEADOverhead()}
		j := slices.IndexFunc(shapes, func(o shape) bool { return o.kem == sh.kem && o.ct == sh.ct })
		if j < 0 {
			if n := max(cs.HashSize(), sh.kem, sh.ct); len(zeros) < n {
				zeros = make([]byte, n)
			}
			egs := codec.EncryptedGroupSecrets{
				NewMember:             zeros[:cs.HashSize()],
				EncryptedGroupSecrets: codec.HPKECiphertext{KEMOutput: zeros[:sh.kem], Ciphertext: zeros[:sh.ct]},
			}
			b, err := egs.AppendTo(scratch[:0])
			if err != nil {
				return 0, err
			}
			scratch = b
			sh.size = len(b)
			shapes = append(shapes, sh)
			j = len(shapes) - 1
		}
		secrets += shapes[j].size
	}
	head, err := (&codec.MLSMessage{WireFormat: codec.WireFormatMLSWelcome, Welcome: &codec.Welcome{CipherSuite: cs.ID()}}).AppendHead(scratch[:0], egiLen)
	if err != nil {
		return 0, err
	}
	return len(head) - codec.VarintSize(0) + codec.VarintSize(secrets) + secrets, nil
}

// welcomeRoom is at least the room sealWelcomeEncoded needs before a
// GroupInfo to encrypt it in place for a Welcome to members: the
// EncryptContext's header, and welcomeHeadRoom with each member's
// GroupSecrets (RFC 9420 §12.4.3.1) bounded from the lengths of its
// secrets (each with a length prefix of at most 4 bytes, §2.1.2) and the
// encoding of the psks.
func welcomeRoom(cs providers.CipherSuite, members []welcomeRecipient, joinerSecret []byte, psks []codec.PreSharedKeyID) (int, error) {
	bare, err := (&codec.GroupSecrets{Psks: psks}).Marshal()
	if err != nil {
		return 0, fmt.Errorf("mls: encoding GroupSecrets: %w", err)
	}
	// The encrypted GroupInfo's length is not known yet: its length
	// prefix is taken at its longest (§2.1.2: 4 bytes).
	head, err := welcomeHeadRoom(cs, members, func(i int) int {
		return len(bare) + 4 + len(joinerSecret) + 4 + len(members[i].PathSecret)
	}, 1<<30-1)
	if err != nil {
		return 0, fmt.Errorf("mls: encoding Welcome: %w", err)
	}
	return max(providers.SignContentRoom(labelWelcome), head), nil
}

// welcomeMessageInPlace returns the Welcome w encoded as an MLSMessage
// (RFC 9420 §6), when w.EncryptedGroupInfo is buf[off:] and buf[:off] is
// free room, without a copy of the encrypted GroupInfo (which holds the
// ratchet tree when the GroupInfo carries it): encrypted_group_info is the
// last field of the Welcome, itself the last of the MLSMessage, so the
// message is its encoding up to that field's length prefix, written into
// the room (the generated MLSMessage.AppendHead), followed by the field
// where it is. With too little room, or an encrypted_group_info elsewhere
// than buf[off:], the codec encodes the whole message anew.
func welcomeMessageInPlace(w *codec.Welcome, buf []byte, off int) ([]byte, error) {
	egi := w.EncryptedGroupInfo
	whole := func() ([]byte, error) {
		return (&codec.MLSMessage{WireFormat: codec.WireFormatMLSWelcome, Welcome: w}).Marshal()
	}
	if off <= 0 || off >= len(buf) || len(buf)-off != len(egi) || &buf[off] != &egi[0] {
		return whole()
	}
	// Encoded at the start of the room (its capacity ends at off, so
	// that a head too long for it is appended elsewhere, never over the
	// encrypted GroupInfo), then moved to its end.
	h, err := (&codec.MLSMessage{WireFormat: codec.WireFormatMLSWelcome, Welcome: w}).AppendHead(buf[:0:off], len(egi))
	if err != nil {
		return nil, err
	}
	if len(h) > off {
		return whole()
	}
	start := off - len(h)
	copy(buf[start:off], h)
	return buf[start:], nil
}

// forEachParallel calls f(0) … f(n-1), concurrently on up to GOMAXPROCS
// goroutines when n is at least threshold, and returns the error of the
// lowest index that failed.
func forEachParallel(n, threshold int, f func(i int) error) error {
	workers := runtime.GOMAXPROCS(0)
	if n < threshold || workers < 2 {
		for i := range n {
			if err := f(i); err != nil {
				return err
			}
		}
		return nil
	}
	workers = min(workers, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = f(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// KeyPackageFinder returns the bundle (KeyPackage and private keys) of this
// client's KeyPackage with the given KeyPackageRef, or an error matching
// ErrNotFound if the client has no such KeyPackage. The bundle it returns
// belongs to its caller, which zeroes it when done: return a copy, not a
// shared value.
type KeyPackageFinder func(ref codec.KeyPackageRef) (*KeyPackageBundle, error)

// StoreKeyPackageFinder looks KeyPackages up in s (LoadKeyPackageBundle). It
// does not delete them: that is done once the Welcome is accepted
// (ConsumeKeyPackage).
func StoreKeyPackageFinder(s providers.KeyPackageStore) KeyPackageFinder {
	return func(ref codec.KeyPackageRef) (*KeyPackageBundle, error) {
		return LoadKeyPackageBundle(s, ref)
	}
}

// listKeyPackagesMin is the number of Welcome entries from which
// welcomeKeyPackageFinder lists the store's KeyPackages instead of looking
// each entry up. Looking up costs a storage read per entry before ours
// (half the entries on average, all but one for the last one added),
// each a miss whose error the store formats (about 1 µs each in memory,
// a query each in SQLite; the last of 9 new members, at N=10, made 8);
// listing costs one read of the refs of the client's few KeyPackages.
// Below 4 entries, the misses expected (at most 1.5) cost no more than
// the list.
const listKeyPackagesMin = 4

// errKeyPackageNotListed: a KeyPackageRef that is not among the store's.
var errKeyPackageNotListed = fmt.Errorf("mls: key package not in storage: %w", ErrNotFound)

// welcomeKeyPackageFinder is StoreKeyPackageFinder for a Welcome of the
// given number of entries (RFC 9420 §12.4.3.1: find the entry whose
// new_member is one of our KeyPackages). From listKeyPackagesMin entries
// on, it lists the refs of the store's KeyPackages once and looks up only
// an entry among them: a Welcome adding N members would otherwise cost up
// to N storage reads (100,000 for the last member of a group created with
// 100,000), where a client keeps a few KeyPackages. If the store cannot
// list them, each entry is looked up.
func welcomeKeyPackageFinder(s providers.KeyPackageStore, entries int) KeyPackageFinder {
	find := StoreKeyPackageFinder(s)
	if entries < listKeyPackagesMin || s == nil {
		return find
	}
	refs, err := s.ListKeyPackages()
	if err != nil {
		return find
	}
	own := make(map[string]struct{}, len(refs))
	for _, r := range refs {
		own[string(r)] = struct{}{}
	}
	return func(ref codec.KeyPackageRef) (*KeyPackageBundle, error) {
		if _, ok := own[string(ref)]; !ok {
			return nil, errKeyPackageNotListed
		}
		return find(ref)
	}
}

// decryptedWelcome is a Welcome decrypted with one of our KeyPackages but
// not yet verified (RFC 9420 §12.4.3.1, the steps before "verify the
// signature on the GroupInfo"). GroupInfo must not be trusted until verify
// has succeeded.
type decryptedWelcome struct {
	// Bundle is our KeyPackage the Welcome is for; the caller zeroes it
	// and consumes it from storage once the join succeeds.
	Bundle *KeyPackageBundle
	// Index is the position of our entry in Welcome.secrets.
	Index        int
	GroupSecrets codec.GroupSecrets
	// PSKSecret is the psk_secret of GroupSecrets.psks (nil if none).
	PSKSecret keyschedule.Secret
	GroupInfo codec.GroupInfo
	// groupInfoBytes holds the decrypted GroupInfo, which GroupInfo
	// aliases, with room to verify its signature in place.
	groupInfoBytes groupInfoBytes
	// leafKey checks the private key of our KeyPackage's leaf
	// (leafKeyCheck).
	leafKey *leafKeyCheck
}

// zero erases the secrets of d: the joiner secret, path secret, PSK secret
// and the private keys of the bundle.
func (d *decryptedWelcome) zero() {
	if d == nil {
		return
	}
	d.leafKey.zero()
	clear(d.GroupSecrets.JoinerSecret)
	if d.GroupSecrets.PathSecret != nil {
		clear(d.GroupSecrets.PathSecret.PathSecret)
	}
	d.PSKSecret.Zero()
	if d.Bundle != nil {
		d.Bundle.Zero()
	}
}

// decryptWelcome runs the first steps of joining by Welcome (RFC 9420
// §12.4.3.1): it finds the entry of w.secrets for one of our KeyPackages
// (ErrNoMatchingKeyPackage), decrypts the GroupSecrets with its init key
// (ErrWelcomeDecryption), checks the PSK ids (RulePSKNonceLength, RulePSKType, RulePSKDuplicate) and resolves
// them (ErrMissingPSK), derives the welcome key and nonce, and decrypts and
// decodes the GroupInfo (ErrWelcomeDecryption, ErrMalformedWelcome). The
// cipher suites of the Welcome, the KeyPackage and the GroupInfo must be
// cs's.
func decryptWelcome(cs providers.CipherSuite, w *codec.Welcome, find KeyPackageFinder, psks pskResolver) (*decryptedWelcome, error) {
	if cs == nil || w == nil || find == nil {
		return nil, fmt.Errorf("%w: nil cipher suite, Welcome or key package finder", ErrInvalidArgument)
	}
	if w.CipherSuite != cs.ID() {
		return nil, fmt.Errorf("%w: Welcome of cipher suite %v opened with %v", ErrMalformedWelcome, w.CipherSuite, cs.ID())
	}
	d := &decryptedWelcome{Index: -1}
	for i := range w.Secrets {
		b, err := find(w.Secrets[i].NewMember)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("mls: looking up key package %x: %w", []byte(w.Secrets[i].NewMember), err)
		}
		d.Bundle, d.Index = b, i
		break
	}
	if d.Bundle == nil {
		return nil, fmt.Errorf("%w (%d entries)", ErrNoMatchingKeyPackage, len(w.Secrets))
	}
	ok := false
	defer func() {
		if !ok {
			d.zero()
		}
	}()
	if kp := &d.Bundle.KeyPackage; kp.CipherSuite != w.CipherSuite {
		return nil, fmt.Errorf("%w: key package of cipher suite %v, Welcome of %v", ErrMalformedWelcome, kp.CipherSuite, w.CipherSuite)
	}
	d.leafKey = newLeafKeyCheck(cs, d.Bundle.EncryptionPrivateKey, d.Bundle.KeyPackage.LeafNode.EncryptionKey)

	egs := &w.Secrets[d.Index].EncryptedGroupSecrets
	// The recipient's public key in the HPKE KEM context (RFC 9180 §4.1)
	// is our KeyPackage's init_key, to which the Welcome was encrypted: a
	// private key that is not its own opens nothing.
	pt, err := providers.DecryptWithLabelKeyPair(cs, d.Bundle.InitPrivateKey, d.Bundle.KeyPackage.InitKey, labelWelcome, w.EncryptedGroupInfo, egs.KEMOutput, egs.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("%w: GroupSecrets: %w", ErrWelcomeDecryption, err)
	}
	maxPSKs := psks.maxPSKs
	if maxPSKs <= 0 {
		maxPSKs = DefaultMaxPSKs
	}
	err = codec.UnmarshalLimited(pt, maxPSKs+smallElements, &d.GroupSecrets)
	clear(pt)
	if errors.Is(err, codec.ErrTooManyElements) {
		return nil, RuleLimit.Errorf("GroupSecrets: %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: GroupSecrets: %w", ErrMalformedWelcome, err)
	}
	if n := len(d.GroupSecrets.Psks); n > maxPSKs {
		return nil, RuleLimit.Errorf("Welcome injects %d PSKs, MaxPSKs is %d", n, maxPSKs)
	}
	if n := cs.HashSize(); len(d.GroupSecrets.JoinerSecret) != n {
		return nil, fmt.Errorf("%w: joiner_secret of %d bytes, KDF.Nh is %d", ErrMalformedWelcome, len(d.GroupSecrets.JoinerSecret), n)
	}
	if err := validateGroupSecretsPSKs(cs, d.GroupSecrets.Psks); err != nil {
		return nil, err
	}
	if d.PSKSecret, err = psks.pskSecret(cs, d.GroupSecrets.Psks); err != nil {
		return nil, err
	}

	welcomeSecret, err := keyschedule.WelcomeSecret(cs, d.GroupSecrets.JoinerSecret, d.PSKSecret)
	if err != nil {
		return nil, fmt.Errorf("mls: welcome_secret: %w", err)
	}
	key, nonce, err := keyschedule.WelcomeKeyNonce(cs, welcomeSecret)
	welcomeSecret.Zero()
	if err != nil {
		return nil, fmt.Errorf("mls: welcome key and nonce: %w", err)
	}
	// The GroupInfo is decrypted after room to verify its signature in
	// place (verifyGroupInfoBytes).
	buf := make([]byte, groupInfoRoom, groupInfoRoom+len(w.EncryptedGroupInfo))
	buf, err = cs.Open(buf, key, nonce, w.EncryptedGroupInfo, nil)
	key.Zero()
	nonce.Zero()
	if err != nil {
		return nil, fmt.Errorf("%w: GroupInfo: %w", ErrWelcomeDecryption, err)
	}
	d.groupInfoBytes = groupInfoBytes{enc: buf, off: groupInfoRoom}
	// buf is ours: the GroupInfo (and its ratchet tree, later) is decoded
	// in place.
	if err := codec.DecodeLimited(buf[groupInfoRoom:], smallElements, &d.GroupInfo); err != nil {
		if errors.Is(err, codec.ErrTooManyElements) {
			return nil, RuleLimit.Errorf("GroupInfo: %w", err)
		}
		return nil, fmt.Errorf("%w: GroupInfo: %w", ErrMalformedWelcome, err)
	}
	if s := d.GroupInfo.GroupContext.CipherSuite; s != w.CipherSuite {
		return nil, fmt.Errorf("%w: GroupInfo of cipher suite %v in a Welcome of %v", ErrMalformedWelcome, s, w.CipherSuite)
	}
	ok = true
	return d, nil
}

// verify checks the GroupInfo's signature with signerKey, the signature key
// of leaf GroupInfo.signer (ErrInvalidGroupInfoSignature), runs the key
// schedule from the joiner_secret and psk_secret with the GroupInfo's
// GroupContext, and checks the GroupInfo's confirmation_tag with the
// resulting confirmation_key (ErrWelcomeConfirmationTag) (RFC 9420
// §12.4.3.1). It returns the epoch's secrets; the caller erases them
// (Epoch.ZeroJoiner at once, Epoch.Zero when the epoch ends).
func (d *decryptedWelcome) verify(cs providers.CipherSuite, signerKey []byte) (*keyschedule.Epoch, error) {
	gi := &d.GroupInfo
	if err := verifyGroupInfoBytes(cs, gi, d.groupInfoBytes, signerKey); err != nil {
		return nil, err
	}
	ctx, err := gi.GroupContext.Marshal()
	if err != nil {
		return nil, fmt.Errorf("%w: GroupContext: %w", ErrMalformedWelcome, err)
	}
	ep, err := keyschedule.FromJoiner(cs, d.GroupSecrets.JoinerSecret, d.PSKSecret, ctx)
	if err != nil {
		return nil, fmt.Errorf("mls: key schedule from the joiner_secret: %w", err)
	}
	if err := keyschedule.VerifyConfirmationTag(cs, ep.Confirmation, gi.GroupContext.ConfirmedTranscriptHash, gi.ConfirmationTag); err != nil {
		ep.Zero()
		return nil, fmt.Errorf("%w: %w", ErrWelcomeConfirmationTag, err)
	}
	return ep, nil
}

// openedWelcome is a Welcome decrypted and verified up to the ratchet tree
// (RFC 9420 §12.4.3.1): the GroupInfo is authentic and the epoch's key
// schedule has run.
type openedWelcome struct {
	decryptedWelcome
	// Epoch holds the secrets of the epoch joined.
	Epoch *keyschedule.Epoch
}

// zero erases every secret of o.
func (o *openedWelcome) zero() {
	o.decryptedWelcome.zero()
	if o.Epoch != nil {
		o.Epoch.Zero()
	}
}

// SignerKeyFunc returns the signature public key of the member that signed
// gi: the signature_key of leaf gi.Signer of the group's ratchet tree, taken
// from the GroupInfo's ratchet_tree extension or supplied out of band
// (RFC 9420 §12.4.3.1). gi is not yet authenticated when it is called.
type SignerKeyFunc func(gi *codec.GroupInfo) ([]byte, error)

// openWelcome decrypts w with one of our KeyPackages (decryptWelcome) and
// verifies it (decryptedWelcome.verify) with the key signerKey returns. The
// caller validates the ratchet tree and builds the group from the result,
// then erases it.
func openWelcome(cs providers.CipherSuite, w *codec.Welcome, find KeyPackageFinder, psks pskResolver, signerKey SignerKeyFunc) (*openedWelcome, error) {
	if signerKey == nil {
		return nil, fmt.Errorf("%w: nil signer key function", ErrInvalidArgument)
	}
	d, err := decryptWelcome(cs, w, find, psks)
	if err != nil {
		return nil, err
	}
	key, err := signerKey(&d.GroupInfo)
	if err != nil {
		d.zero()
		return nil, fmt.Errorf("mls: signature key of GroupInfo signer leaf %d: %w", d.GroupInfo.Signer, err)
	}
	ep, err := d.verify(cs, key)
	if err != nil {
		d.zero()
		return nil, err
	}
	return &openedWelcome{decryptedWelcome: *d, Epoch: ep}, nil
}
