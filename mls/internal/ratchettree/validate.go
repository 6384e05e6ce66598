package ratchettree

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls/internal/leafnode"
	"github.com/mlskit/mlskit/mls/internal/treemath"
	"github.com/mlskit/mlskit/providers"
)

// LeafValidation is the context in which a LeafNode is validated
// (RFC 9420 §7.3).
type LeafValidation struct {
	// Source is the leaf_node_source required where the LeafNode appears:
	// key_package in a KeyPackage (Add), update in an Update proposal,
	// commit in an UpdatePath. Zero accepts any source (a leaf already in
	// the tree).
	Source codec.LeafNodeSource
	// GroupID and Leaf are the signature context of update and commit
	// leaves (LeafNodeTBS, §7.2). For those sources Leaf is also the leaf
	// the node replaces: its own keys are exempt from the uniqueness check
	// (but an Update must change the encryption key), and it is left out of
	// the credential-support check.
	GroupID []byte
	Leaf    LeafIndex
	// Now is the current time in seconds since the Unix epoch; the lifetime
	// of a key_package leaf is checked against it (§7.2, §7.3). Zero skips
	// the check.
	Now uint64
	// RequiredCapabilities is the group's required_capabilities extension,
	// if any (§11.1).
	RequiredCapabilities *codec.RequiredCapabilities
	// GroupExtensions are the GroupContext extensions, whose non-default
	// types the leaf must support (§12.1.7).
	GroupExtensions []codec.Extension
	// CheckCredential, if set, validates the credential and its binding to
	// the signature key (§5.3.1); an error is wrapped with
	// ErrInvalidCredential.
	CheckCredential func(*codec.Credential, codec.SignaturePublicKey) error
	// SignatureVerified tells ValidateLeafNode that the caller verifies (or
	// has verified) the leaf's signature for this context itself — a
	// KeyPackage's validation does, and TreeKEM verifies a path's leaf
	// concurrently with its decryption — so it is not verified twice.
	SignatureVerified bool
}

// ValidateLeafNode validates ln against the tree (RFC 9420 §7.3): its
// source, signature, lifetime, capabilities (own credential and extension
// types, required capabilities, group context extensions), credential-type
// compatibility with all members, and the uniqueness of its encryption and
// signature keys. The leaf being replaced (see LeafValidation.Leaf) is
// exempt where the RFC says so.
func (t *Tree) ValidateLeafNode(ln *codec.LeafNode, lv *LeafValidation) error {
	return validateLeafNode(t, ln, lv)
}

// ValidateLeafNode is Tree.ValidateLeafNode on the staged state.
func (d *Diff) ValidateLeafNode(ln *codec.LeafNode, lv *LeafValidation) error {
	return validateLeafNode(d, ln, lv)
}

func validateLeafNode(v view, ln *codec.LeafNode, lv *LeafValidation) error {
	if ln == nil {
		return ErrNilNode
	}
	if lv == nil {
		lv = &LeafValidation{}
	}
	self, hasSelf := LeafIndex(0), false
	if lv.Source == codec.LeafNodeSourceUpdate || lv.Source == codec.LeafNodeSourceCommit {
		self, hasSelf = lv.Leaf, v.leafAt(lv.Leaf) != nil
	}
	// Errors about ln itself name its leaf, except for a KeyPackage's leaf
	// node, which has none yet.
	x := lv.Leaf.Node()
	if lv.Source == codec.LeafNodeSourceKeyPackage {
		x = treemath.InvalidNode
	}
	if lv.Source != 0 && ln.LeafNodeSource != lv.Source {
		return nodeErr(x, ErrLeafNodeSource, fmt.Errorf("%v, want %v", ln.LeafNodeSource, lv.Source))
	}
	if err := checkLeafStatic(ln, lv, x); err != nil {
		return err
	}
	if !lv.SignatureVerified {
		if err := verifyLeafSignature(v.suite(), ln, lv.GroupID, lv.Leaf, x, nil); err != nil {
			return err
		}
	}
	// Uniqueness (§7.3).
	if hasSelf && lv.Source == codec.LeafNodeSourceUpdate && bytes.Equal(v.leafAt(self).EncryptionKey, ln.EncryptionKey) {
		return nodeErr(x, ErrEncryptionKeyNotUpdated)
	}
	if o, ok := v.encOwner(ln.EncryptionKey); ok && !(hasSelf && o == self.Node()) {
		return nodeErr(o, ErrDuplicateEncryptionKey)
	}
	if o, ok := v.sigOwner(ln.SignatureKey); ok && !(hasSelf && o == self) {
		return leafErr(o, ErrDuplicateSignatureKey)
	}
	// Credential types (§7.3): counted over the other members.
	var old *codec.LeafNode
	if hasSelf {
		old = v.leafAt(self)
	}
	return checkCredentialSupport(v.credCounts(), v.memberCount(), old, ln, x)
}

// checkCredentialSupport checks that every member other than old supports
// ln's credential type and that ln supports every type they use.
func checkCredentialSupport(c credCounts, members int, old, ln *codec.LeafNode, x NodeIndex) error {
	others := members
	ct := ln.Credential.CredentialType
	support := c.support[ct]
	if old != nil {
		others--
		if slices.Contains(old.Capabilities.Credentials, ct) {
			support--
		}
	}
	if support != others {
		return nodeErr(x, ErrUnsupportedCredential, fmt.Errorf("%v not supported by %d member(s)", ct, others-support))
	}
	for u, n := range c.use {
		if old != nil && old.Credential.CredentialType == u {
			n--
		}
		if n > 0 && !slices.Contains(ln.Capabilities.Credentials, u) {
			return nodeErr(x, ErrUnsupportedCredential, fmt.Errorf("leaf does not support %v in use", u))
		}
	}
	return nil
}

// isDefaultExtension reports whether an extension type is "default" and so
// never listed in capabilities (RFC 9420 §7.2).
func isDefaultExtension(e codec.ExtensionType) bool { return e >= 1 && e <= 5 }

// isDefaultProposal reports whether a proposal type is "default" (§7.2).
func isDefaultProposal(p codec.ProposalType) bool { return p >= 1 && p <= 7 }

// checkLeafStatic performs the checks of §7.3 that depend only on the leaf
// and the group parameters (no signature, no tree state).
// Errors name node x.
func checkLeafStatic(ln *codec.LeafNode, lv *LeafValidation, x NodeIndex) error {
	if !ln.LeafNodeSource.IsKnown() {
		return nodeErr(x, ErrLeafNodeSource, fmt.Errorf("%v", ln.LeafNodeSource))
	}
	if lv.CheckCredential != nil {
		if err := lv.CheckCredential(&ln.Credential, ln.SignatureKey); err != nil {
			return nodeErr(x, ErrInvalidCredential, err)
		}
	}
	caps := &ln.Capabilities
	if !slices.Contains(caps.Credentials, ln.Credential.CredentialType) {
		return nodeErr(x, ErrUnsupportedCapabilities, fmt.Errorf("own credential type %v not listed", ln.Credential.CredentialType))
	}
	for _, e := range ln.Extensions {
		if !isDefaultExtension(e.ExtensionType) && !slices.Contains(caps.Extensions, e.ExtensionType) {
			return nodeErr(x, ErrUnsupportedCapabilities, fmt.Errorf("own extension %v not listed", e.ExtensionType))
		}
	}
	if rc := lv.RequiredCapabilities; rc != nil {
		for _, e := range rc.ExtensionTypes {
			if !isDefaultExtension(e) && !slices.Contains(caps.Extensions, e) {
				return nodeErr(x, ErrUnsupportedCapabilities, fmt.Errorf("required extension %v", e))
			}
		}
		for _, p := range rc.ProposalTypes {
			if !isDefaultProposal(p) && !slices.Contains(caps.Proposals, p) {
				return nodeErr(x, ErrUnsupportedCapabilities, fmt.Errorf("required proposal %v", p))
			}
		}
		for _, c := range rc.CredentialTypes {
			if !slices.Contains(caps.Credentials, c) {
				return nodeErr(x, ErrUnsupportedCapabilities, fmt.Errorf("required credential %v", c))
			}
		}
	}
	for _, e := range lv.GroupExtensions {
		if !isDefaultExtension(e.ExtensionType) && !slices.Contains(caps.Extensions, e.ExtensionType) {
			return nodeErr(x, ErrUnsupportedCapabilities, fmt.Errorf("group extension %v", e.ExtensionType))
		}
	}
	if ln.LeafNodeSource == codec.LeafNodeSourceKeyPackage && lv.Now != 0 {
		lt := ln.Lifetime
		if lt == nil || lv.Now < lt.NotBefore || lv.Now > lt.NotAfter {
			return nodeErr(x, ErrLifetime)
		}
	}
	return nil
}

// verifyLeafSignature verifies SignWithLabel(., "LeafNodeTBS",
// LeafNodeTBS) (RFC 9420 §7.2); group_id and leaf_index are part of the TBS
// for update and commit leaves (leafnode.Verify). Errors name node x. buf
// is optional scratch space.
func verifyLeafSignature(cs providers.CipherSuite, ln *codec.LeafNode, groupID []byte, l LeafIndex, x NodeIndex, buf *[]byte) error {
	err := leafnode.Verify(cs, ln, groupID, uint32(l), buf)
	switch {
	case errors.Is(err, leafnode.ErrEncoding):
		return nodeErr(x, ErrEncoding, err)
	case err != nil:
		return nodeErr(x, ErrBadLeafSignature, err)
	}
	return nil
}

// TreeValidation holds the parameters of whole-tree validation on joining
// a group (RFC 9420 §12.4.3.1).
type TreeValidation struct {
	// GroupID is the signature context of update and commit leaves.
	GroupID []byte
	// TreeHash is the tree_hash of the GroupInfo; nil skips the check.
	TreeHash []byte
	// Now, RequiredCapabilities, GroupExtensions and CheckCredential are as
	// in LeafValidation and apply to every leaf.
	Now                  uint64
	RequiredCapabilities *codec.RequiredCapabilities
	GroupExtensions      []codec.Extension
	CheckCredential      func(*codec.Credential, codec.SignaturePublicKey) error
	// Workers bounds the goroutines verifying leaf signatures besides the
	// caller's, which helps (startSignatureCheck says why); 0 means
	// runtime.GOMAXPROCS(0).
	Workers int
	// Trusted are leaf nodes whose signatures the caller has established
	// itself: a joiner's own leaf, from the KeyPackage it signed (RFC 9420
	// §12.4.3.1 requires that leaf to be identical to the KeyPackage's),
	// or a leaf it verified for its place in this tree. A leaf of the tree
	// whose encoding, signature included, equals one of them is not
	// verified again; every other check applies to it.
	Trusted []*codec.LeafNode
	// Signatures, when set, is the verification of the leaf signatures
	// started from the ratchet tree the Tree was built from
	// (StartLeafSignatures): Validate waits for it instead of verifying
	// them again, and Trusted is not used. If it was started for other
	// leaves or another group id, it is cancelled and the signatures
	// verified here.
	Signatures *LeafSignatures
	// During, when set, runs on the calling goroutine once the structural
	// checks have passed, while the signatures are still being verified
	// (the joiner's private keys are derived there); its error fails the
	// validation, after any signature error.
	During func() error
}

// Validate checks the whole tree as a joiner must (RFC 9420 §12.4.3.1):
// the tree hash equals opts.TreeHash; every non-blank parent node is
// parent-hash valid (§7.9.2); the unmerged_leaves of every parent are
// sorted, name non-blank leaves below it and also appear in every non-blank
// node between (ErrUnmergedLeaves); every leaf is valid (§7.3: signature,
// capabilities, credential support, lifetime); and encryption and signature
// keys are unique (guaranteed by construction, see FromRatchetTree).
// Signatures are verified on opts.Workers goroutines, concurrently with
// the other checks, and then on the caller's too. Structural failures take precedence; among signature
// failures, the lowest failing leaf found is reported.
func (t *Tree) Validate(opts *TreeValidation) error { return validateTree(t, opts) }

// Validate is Tree.Validate on the staged state.
func (d *Diff) Validate(opts *TreeValidation) error { return validateTree(d, opts) }

func validateTree(v view, opts *TreeValidation) error {
	if opts == nil {
		opts = &TreeValidation{}
	}
	var leaves []LeafIndex
	var nodes []*codec.LeafNode
	members(v, func(l LeafIndex, ln *codec.LeafNode) bool {
		leaves = append(leaves, l)
		nodes = append(nodes, ln)
		return true
	})
	// Signatures, the bulk of the work, are verified in the background
	// while this goroutine checks the structure and hashes and then helps
	// with the signatures left, so that on a machine with k cores the wall
	// time approaches (signatures + hashing)/k. They may have been started
	// before the tree was built (opts.Signatures).
	var sigs sigChecks
	if ls := opts.Signatures; ls != nil {
		ls.Close()
	}
	if ls := opts.Signatures; ls != nil && ls.covers(leaves, nodes, opts.GroupID) {
		sigs = append(sigs, ls.s)
		if len(ls.lateLeaves) > 0 {
			sigs = append(sigs, startSignatureCheck(v.suite(), ls.lateLeaves, ls.lateNodes, opts.GroupID, opts.Workers, ls.s.skip, nil))
		}
	} else {
		if ls != nil {
			ls.Cancel()
		}
		sigLeaves, sigNodes := leaves, nodes
		for _, ln := range opts.Trusted {
			if l, ok := findLeaf(v, ln); ok {
				if i, found := slices.BinarySearch(sigLeaves, l); found {
					sigLeaves = slices.Delete(slices.Clone(sigLeaves), i, i+1)
					sigNodes = slices.Delete(slices.Clone(sigNodes), i, i+1)
				}
			}
		}
		sigs = append(sigs, startSignatureCheck(v.suite(), sigLeaves, sigNodes, opts.GroupID, opts.Workers, nil, nil))
	}
	if err := validateStructure(v, opts, leaves, nodes); err != nil {
		sigs.cancel()
		return err
	}
	var during error
	if opts.During != nil {
		during = opts.During()
	}
	sigs.help()
	if err := sigs.wait(); err != nil {
		return err
	}
	return during
}

// validateStructure runs every check of validateTree except signatures.
func validateStructure(v view, opts *TreeValidation, leaves []LeafIndex, nodes []*codec.LeafNode) error {
	if opts.TreeHash != nil {
		th, err := v.hash(treemath.Root(v.leafCount()))
		if err != nil {
			return err
		}
		if !bytes.Equal(th, opts.TreeHash) {
			return ErrTreeHashMismatch
		}
	}
	if err := verifyUnmerged(v); err != nil {
		return err
	}
	if err := verifyParentHashes(v); err != nil {
		return err
	}
	lv := &LeafValidation{
		GroupID: opts.GroupID, Now: opts.Now,
		RequiredCapabilities: opts.RequiredCapabilities,
		GroupExtensions:      opts.GroupExtensions,
		CheckCredential:      opts.CheckCredential,
	}
	c := v.credCounts()
	for i, l := range leaves {
		ln := nodes[i]
		if err := checkLeafStatic(ln, lv, l.Node()); err != nil {
			return err
		}
		if err := checkCredentialSupport(c, v.memberCount(), ln, ln, l.Node()); err != nil {
			return err
		}
	}
	return nil
}

// LeafSignatures is the verification of the leaf signatures of a ratchet
// tree, started in the background from the ratchet_tree before the Tree
// is built and the GroupInfo verified (StartLeafSignatures, or
// StreamLeafSignatures while the tree is decoded), and finished by the
// Validate it is given to (TreeValidation.Signatures).
type LeafSignatures struct {
	s *sigCheck
	// workers is the number of workers to start; started, whether they
	// are.
	workers int
	started bool
	// early, if set, tells the leaves verified at once; the others are
	// left to Validate (late).
	early func(*codec.LeafNode) bool
	// late are the leaves left to Validate.
	lateLeaves []LeafIndex
	lateNodes  []*codec.LeafNode
	// all are every leaf of the tree, in order.
	all      []LeafIndex
	allNodes []*codec.LeafNode
}

// StartLeafSignatures starts verifying, on up to workers goroutines
// (runtime.GOMAXPROCS(0) if workers <= 0; the caller's joins them in
// Validate), the signature of every leaf of
// rt (RFC 9420 §7.3, §12.4.3.1) in the context of groupID, but for a leaf
// whose encoding, signature included, equals one of trusted (see
// TreeValidation.Trusted), and for a leaf for which early is false (when
// early is set), whose signature Validate verifies. rt must not change
// until the verification ends: pass the result to Validate on the Tree
// built from rt (FromRatchetTree keeps its leaf nodes), or Cancel it.
//
// Verifying before the GroupInfo's signature is checked costs no more
// than a hostile sender can cause anyway: whoever can encrypt a Welcome
// to our KeyPackage can also sign its GroupInfo, with the key of a leaf of
// its own tree, and have every leaf verified. The work is bounded by the
// tree's width, which the caller checks first; early lets the caller
// keep the memory a leaf's verification takes bounded until the GroupInfo
// is verified.
//
// also, when set, is one more task for the workers, taken last: work of
// the caller's that needs no core of its own (the joiner's check of its
// own leaf's private key, half a verification), shared with the
// signatures instead of costing a goroutine more. Last, because the
// shortest task last leaves the least imbalance between the cores at the
// end (a worker that starts late then still finds leaves to verify). It
// runs on a worker or on the caller in Validate (help), unless the
// verification fails or is cancelled first.
func StartLeafSignatures(cs providers.CipherSuite, rt codec.RatchetTree, groupID []byte, trusted []*codec.LeafNode, workers int, early func(*codec.LeafNode) bool, also func()) *LeafSignatures {
	ls := newLeafSignatures(cs, groupID, trusted, workers, early, also)
	for x, nd := range rt {
		ls.Add(x, nd)
	}
	ls.Close()
	return ls
}

// StreamLeafSignatures is StartLeafSignatures for a ratchet tree that is
// still being decoded (codec.RatchetTree.DecodeEach): its workers, workers
// goroutines (runtime.GOMAXPROCS(0) if workers <= 0), start with the first
// leaf the caller hands out (Add) and verify the leaves as they come, so
// that the other cores verify the first leaves while the caller decodes
// the rest of the tree (RFC 9420 §12.4.3.1). The caller then calls Close,
// once every node is added, or Cancel. The nodes added must not change
// until the verification ends. A caller that does not yet know the tree's
// width bounds the leaves it adds by the widest tree it accepts.
//
// Why with the first leaf rather than at once: a worker that finds no
// leaf waits, and waking it again costs the caller about as much as
// starting it (a futex wake in a virtual machine, 10-20 µs) and the
// worker tens of microseconds more; started with the first leaf, a worker
// finds leaves (the caller decodes one in well under a microsecond, a
// worker verifies one in 40 µs), and at the end of a small tree the list
// is closed before it runs.
func StreamLeafSignatures(cs providers.CipherSuite, groupID []byte, trusted []*codec.LeafNode, workers int, early func(*codec.LeafNode) bool, also func()) *LeafSignatures {
	return newLeafSignatures(cs, groupID, trusted, workers, early, also)
}

// newLeafSignatures returns the verification of StartLeafSignatures,
// open (Add), its workers not started.
func newLeafSignatures(cs providers.CipherSuite, groupID []byte, trusted []*codec.LeafNode, workers int, early func(*codec.LeafNode) bool, also func()) *LeafSignatures {
	var skip func(*codec.LeafNode) bool
	if len(trusted) > 0 {
		skip = func(ln *codec.LeafNode) bool {
			for _, t := range trusted {
				if t != nil && bytes.Equal(t.SignatureKey, ln.SignatureKey) && bytes.Equal(t.Signature, ln.Signature) && sameEncoding(t, ln) {
					return true
				}
			}
			return false
		}
	}
	return &LeafSignatures{s: newSigCheck(cs, nil, nil, groupID, skip, also, true), early: early, workers: workerCount(workers)}
}

// Add hands the verification node x of the ratchet tree (nil for a blank
// node); a leaf node's signature is verified in the background (or by
// Validate, see early). Nodes are added in order, by one goroutine, which
// also calls Close or Cancel.
func (ls *LeafSignatures) Add(x int, nd *codec.Node) {
	if x%2 != 0 || nd == nil || nd.LeafNode == nil {
		return
	}
	l, ln := LeafIndex(x/2), nd.LeafNode
	ls.all = append(ls.all, l)
	ls.allNodes = append(ls.allNodes, ln)
	if ls.early != nil && !ls.early(ln) {
		ls.lateLeaves = append(ls.lateLeaves, l)
		ls.lateNodes = append(ls.lateNodes, ln)
		return
	}
	ls.s.add(l, ln)
	if !ls.started && !ls.s.failed.Load() {
		ls.started = true
		ls.s.start(ls.workers)
	}
}

// Close tells the verification that every node is added (Add): once the
// leaves are verified, the workers run also and end. If no leaf started
// them, it starts as many workers as there are tasks, up to the number
// asked for. Validate closes the verification it is given.
func (ls *LeafSignatures) Close() {
	ls.s.close()
	if !ls.started && !ls.s.failed.Load() {
		ls.started = true
		ls.s.start(min(ls.workers, ls.s.tasks()))
	}
}

// sameEncoding reports whether a and b encode to the same bytes.
func sameEncoding(a, b *codec.LeafNode) bool {
	x, err1 := a.Marshal()
	y, err2 := b.Marshal()
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// Cancel stops the verification and waits for its goroutines; a Validate
// given it afterwards verifies the signatures itself.
func (ls *LeafSignatures) Cancel() { ls.s.cancel() }

// covers reports whether ls verifies exactly the given leaves (the same
// nodes) for groupID, and was not cancelled.
func (ls *LeafSignatures) covers(leaves []LeafIndex, nodes []*codec.LeafNode, groupID []byte) bool {
	if ls.s.cancelled.Load() || !bytes.Equal(ls.s.groupID, groupID) || len(ls.all) != len(leaves) {
		return false
	}
	for i := range leaves {
		if ls.all[i] != leaves[i] || ls.allNodes[i] != nodes[i] {
			return false
		}
	}
	return true
}

// sigChecks are the signature checks of one validation.
type sigChecks []*sigCheck

func (c sigChecks) cancel() {
	for _, s := range c {
		s.cancel()
	}
}

func (c sigChecks) help() {
	for _, s := range c {
		s.help()
	}
}

// wait returns the error of the lowest failing leaf of all, if any.
func (c sigChecks) wait() error {
	var errs []error
	for _, s := range c {
		s.wg.Wait()
		errs = append(errs, s.errs...)
	}
	return lowestError(errs)
}

// sigCheck is a background verification of leaf signatures.
type sigCheck struct {
	cs      providers.CipherSuite
	groupID []byte
	// skip, if set, tells the leaves whose signatures are trusted.
	skip func(*codec.LeafNode) bool
	// also, if set, is the last task, after the leaves
	// (StartLeafSignatures).
	also func()
	// mu guards the leaves, which may still be added while open
	// (StreamLeafSignatures), and next, the number of tasks taken; more
	// is signalled when a leaf is added, the list closed, or the check
	// failed.
	mu     sync.Mutex
	more   sync.Cond
	leaves []LeafIndex
	nodes  []*codec.LeafNode
	next   int
	open   bool
	failed atomic.Bool
	// cancelled: stopped by cancel, not every leaf verified.
	cancelled atomic.Bool
	wg        sync.WaitGroup
	errs      []error // one per worker; the last is the caller's (help)
}

// newSigCheck returns a check of the given leaves, more to come if open;
// start starts its workers.
func newSigCheck(cs providers.CipherSuite, leaves []LeafIndex, nodes []*codec.LeafNode, groupID []byte, skip func(*codec.LeafNode) bool, also func(), open bool) *sigCheck {
	s := &sigCheck{cs: cs, leaves: leaves, nodes: nodes, groupID: groupID, skip: skip, also: also, open: open}
	s.more.L = &s.mu
	return s
}

// tasks is the number of tasks known: the leaves, and also.
func (s *sigCheck) tasks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.leaves)
	if s.also != nil {
		n++
	}
	return n
}

// taken is the number of tasks taken so far.
func (s *sigCheck) taken() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

// add appends one leaf to verify.
func (s *sigCheck) add(l LeafIndex, ln *codec.LeafNode) {
	s.mu.Lock()
	s.leaves = append(s.leaves, l)
	s.nodes = append(s.nodes, ln)
	s.mu.Unlock()
	s.more.Signal()
}

// close ends the adding of leaves.
func (s *sigCheck) close() {
	s.mu.Lock()
	s.open = false
	s.mu.Unlock()
	s.more.Broadcast()
}

// stop marks the check failed and wakes the workers waiting for leaves.
func (s *sigCheck) stop() {
	s.mu.Lock()
	s.failed.Store(true)
	s.mu.Unlock()
	s.more.Broadcast()
}

func (s *sigCheck) cancel() {
	s.cancelled.Store(true)
	s.stop()
	s.wg.Wait()
}

// lowestError returns, of errs, the error of the lowest node, or else the
// first error.
func lowestError(errs []error) error {
	var first error
	var firstNode NodeIndex
	for _, err := range errs {
		if err == nil {
			continue
		}
		var ne *NodeError
		isNode := errors.As(err, &ne)
		if first == nil || (isNode && ne.Node < firstNode) {
			first = err
			if isNode {
				firstNode = ne.Node
			}
		}
	}
	return first
}

// take returns the next task: a leaf to verify (leaf), also (last), or
// none once every task is taken or the check failed. While the list is
// open and every leaf added is taken, it waits for more.
func (s *sigCheck) take() (l LeafIndex, ln *codec.LeafNode, leaf, last bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.open && s.next >= len(s.leaves) && !s.failed.Load() {
		s.more.Wait()
	}
	if s.failed.Load() {
		return 0, nil, false, false
	}
	i := s.next
	s.next++
	if i < len(s.leaves) {
		return s.leaves[i], s.nodes[i], true, false
	}
	return 0, nil, false, i == len(s.leaves) && s.also != nil
}

// work verifies leaves taken one at a time until none is left or a worker
// has failed; the error goes to s.errs[w].
func (s *sigCheck) work(w int) {
	var buf []byte
	for !s.failed.Load() {
		l, ln, leaf, last := s.take()
		if !leaf {
			if last {
				s.also()
			}
			return
		}
		if s.skip != nil && s.skip(ln) {
			continue
		}
		if err := verifyLeafSignature(s.cs, ln, s.groupID, l, l.Node(), &buf); err != nil {
			s.errs[w] = err
			s.stop()
			return
		}
	}
}

// help verifies, on the calling goroutine, the leaves no worker has taken
// yet.
func (s *sigCheck) help() { s.work(len(s.errs) - 1) }

// workerCount is the number of workers asked for: workers, or
// runtime.GOMAXPROCS(0) if workers <= 0.
func workerCount(workers int) int {
	if workers <= 0 {
		return runtime.GOMAXPROCS(0)
	}
	return workers
}

// startSignatureCheck verifies the signatures of the given leaves, then
// runs also when it is set (StartLeafSignatures), on up to workers
// goroutines (runtime.GOMAXPROCS(0) if workers <= 0), never more than the
// tasks, and on the caller's, which joins them (help) once it has done its
// own share of the validation (the GroupInfo's signature, the tree's
// hashes, our keys), then waits. Every worker stops at its first failure;
// the others stop at their next leaf.
//
// Why as many goroutines as cores, although the caller keeps one busy:
// Go puts the goroutine started last in its starter's "run next" slot,
// which an idle core steals only reluctantly, while the goroutines before
// it go to the run queue, which an idle core steals at once. With a
// single goroutine, the other core took it only once the caller blocked
// (measured with mlsbench's join row on 2 cores: wall/floor 1.71 at N=2
// and 1.44 at N=10, against 1.54 and 1.27 with two goroutines); the
// goroutine left in the slot runs when the caller waits, finds no leaf
// left and ends.
//
// Why one leaf at a time: the workers take leaves one by one under a
// mutex, which costs tens of nanoseconds against a verification's tens
// of microseconds; taking chunks of several leaves would save nothing and
// leave the other cores idle at the end while the last chunk is verified
// (with chunks of 16, up to 16 verifications, 0.6 ms, at N=100, whose
// join takes about 2 ms on two cores). With one leaf at a time, all cores
// work until the last leaf is taken, and the caller's own checks, done
// before it helps, fill the time the workers would otherwise wait for it.
func startSignatureCheck(cs providers.CipherSuite, leaves []LeafIndex, nodes []*codec.LeafNode, groupID []byte, workers int, skip func(*codec.LeafNode) bool, also func()) *sigCheck {
	s := newSigCheck(cs, leaves, nodes, groupID, skip, also, false)
	s.start(min(workerCount(workers), s.tasks()))
	return s
}

// start starts the check's workers: goroutines besides the caller's.
func (s *sigCheck) start(workers int) {
	s.errs = make([]error, workers+1)
	for w := range workers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.work(w)
		}()
	}
}

// verifyUnmerged checks the unmerged_leaves of every non-blank parent
// (RFC 9420 §7.1, §12.4.3.1).
func verifyUnmerged(v view) error {
	w := width(v)
	n := v.leafCount()
	for x := NodeIndex(1); uint32(x) < w; x += 2 {
		p := v.parentAt(x)
		if p == nil {
			continue
		}
		for i, u := range p.UnmergedLeaves {
			if i > 0 && p.UnmergedLeaves[i-1] >= u {
				return nodeErr(x, ErrUnmergedLeaves, errors.New("not sorted in increasing order"))
			}
			l := LeafIndex(u)
			if !n.HasLeaf(l) || !treemath.IsAncestor(x, l.Node()) {
				return nodeErr(x, ErrUnmergedLeaves, fmt.Errorf("leaf %d is not below the node", u))
			}
			if v.leafAt(l) == nil {
				return nodeErr(x, ErrUnmergedLeaves, fmt.Errorf("leaf %d is blank", u))
			}
			for y, ok := treemath.Parent(l.Node(), n); ok && y != x; y, ok = treemath.Parent(y, n) {
				if q := v.parentAt(y); q != nil {
					if _, found := slices.BinarySearch(q.UnmergedLeaves, u); !found {
						return nodeErr(y, ErrUnmergedLeaves, fmt.Errorf("leaf %d unmerged at node %d but not here", u, x))
					}
				}
			}
		}
	}
	return nil
}
