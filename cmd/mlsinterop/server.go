package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"github.com/mlskit/mlskit/internal/verifycache"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mlskit/mlskit/cmd/mlsinterop/proto"
	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/mls"
	"github.com/mlskit/mlskit/providers"
	"github.com/mlskit/mlskit/providers/defaultcrypto"
	"github.com/mlskit/mlskit/providers/memstore"
)

// member is one client in one group (a state id): the mls.Client (own
// storage, signer, credential) and its Group.
type member struct {
	client  *mls.Client
	group   *mls.Group
	encrypt bool
	// sent holds digests of the proposal messages this member sent in the
	// current epoch: a Commit request may list them by reference, and they
	// are already in the member's proposal store.
	sent map[[32]byte]bool
}

// transaction is a key package waiting for a Welcome (CreateKeyPackage,
// NewMemberAddProposal): the client holds it in its storage.
type transaction struct {
	client *mls.Client
	bundle *mls.KeyPackageBundle
}

// reinit is a member between a ReInit Commit and the successor group: the
// old (ended) group and the client of the new cipher suite with its key
// package.
type reinit struct {
	old     *member
	client  *mls.Client
	bundle  *mls.KeyPackageBundle
	encrypt bool
}

// extSigner is an external sender (CreateExternalSigner).
type extSigner struct {
	proposer *mls.ExternalProposer
	suite    codec.CipherSuite
}

type server struct {
	pb.UnimplementedMLSClientServer

	provider providers.Provider
	grease   bool

	mu      sync.Mutex
	nextID  uint32
	members map[uint32]*member
	txs     map[uint32]*transaction
	reinits map[uint32]*reinit
	signers map[uint32]*extSigner
}

// newServer makes a server; grease sends GREASE values, verifyCache
// shares the signatures verified among the hosted clients
// (internal/verifycache): each hosted client verifies the same leaf nodes,
// key packages and messages, and with the slow ECDSA of P-521 and P-384 the
// deep_random scenario spent nearly all its time verifying, in every hosted
// member, signatures another one had already verified.
func newServer(grease, verifyCache bool) *server {
	var p providers.Provider = defaultcrypto.New()
	if verifyCache {
		p = verifycache.New(p)
	}
	return &server{
		provider: p,
		grease:   grease,
		members:  map[uint32]*member{},
		txs:      map[uint32]*transaction{},
		reinits:  map[uint32]*reinit{},
		signers:  map[uint32]*extSigner{},
	}
}

// id returns a fresh id (ids start at 1).
func (s *server) id() uint32 {
	s.nextID++
	return s.nextID
}

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

func notFound(what string, id uint32) error {
	return status.Errorf(codes.NotFound, "no %s with id %d", what, id)
}

func (s *server) member(id uint32) (*member, error) {
	m, ok := s.members[id]
	if !ok {
		return nil, notFound("state", id)
	}
	return m, nil
}

// suite checks a cipher suite id of a request.
func (s *server) suite(id uint32) (codec.CipherSuite, error) {
	if id > 0xffff {
		return 0, invalid("cipher suite %d out of range", id)
	}
	cs := codec.CipherSuite(id)
	if _, err := s.provider.CipherSuite(cs); err != nil {
		return 0, status.Errorf(codes.Unimplemented, "cipher suite %d: %v", id, err)
	}
	return cs, nil
}

// groupConfig is the configuration of every group: handshake messages as
// PrivateMessage or PublicMessage as the harness asks (both accepted), a
// few past epochs for late application messages and resumption PSKs, and
// the ratchet tree in Welcomes and GroupInfos unless a request's
// external_tree asks for it out of band (then the Welcome or GroupInfo
// has no ratchet_tree extension and the response carries the tree).
func (s *server) groupConfig(encrypt bool) mls.GroupConfig {
	cfg := mls.GroupConfig{
		WireFormatPolicy:        mls.MixedPlaintext(),
		MaxPastEpochs:           8,
		NumberOfResumptionPSKs:  32,
		UseRatchetTreeExtension: true,
	}
	if encrypt {
		cfg.WireFormatPolicy = mls.MixedCiphertext()
	}
	return cfg
}

// newClient makes a client for the cipher suite of a request (checked by
// suite) with its own storage, a fresh signature key pair and a basic
// credential of identity.
func (s *server) newClient(suiteID uint32, identity []byte) (*mls.Client, codec.CipherSuite, error) {
	suite, err := s.suite(suiteID)
	if err != nil {
		return nil, 0, err
	}
	signer, err := mls.GenerateSignatureKeyPair(s.provider, suite)
	if err != nil {
		return nil, 0, err
	}
	store := memstore.New()
	if err := signer.Store(store); err != nil {
		return nil, 0, err
	}
	return &mls.Client{
		Provider:   s.provider,
		Storage:    store,
		Signer:     signer,
		Credential: mls.NewBasicCredential(bytes.Clone(identity)),
	}, suite, nil
}

// groupInfoClient decodes a GroupInfo MLSMessage without verifying it and
// makes a new client of identity for its cipher suite (ExternalJoin,
// NewMemberAddProposal).
func (s *server) groupInfoClient(b, identity []byte) (*codec.GroupInfo, *mls.Client, codec.CipherSuite, error) {
	gi, err := groupInfo(b)
	if err != nil {
		return nil, nil, 0, err
	}
	c, suite, err := s.newClient(uint32(gi.GroupContext.CipherSuite), identity)
	return gi, c, suite, err
}

// install registers the group of a client as a new state and returns its
// id and the epoch authenticator for the response.
func (s *server) install(c *mls.Client, g *mls.Group, encrypt bool) (uint32, []byte) {
	id := s.id()
	s.members[id] = &member{client: c, group: g, encrypt: encrypt}
	return id, g.EpochAuthenticator()
}

// joinTx joins a group as the client of transaction txID (CreateKeyPackage,
// NewMemberAddProposal): join gets the client and the ratchet tree given
// out of band (nil if none). Once it succeeds the transaction is done and
// the group is installed as a new state (install).
func (s *server) joinTx(txID uint32, tree []byte, encrypt bool, join func(*mls.Client, codec.RatchetTree) (*mls.Group, error)) (uint32, []byte, error) {
	tx, ok := s.txs[txID]
	if !ok {
		return 0, nil, notFound("transaction", txID)
	}
	t, err := decodeTree(tree)
	if err != nil {
		return 0, nil, err
	}
	g, err := join(tx.client, t)
	if err != nil {
		return 0, nil, err
	}
	delete(s.txs, txID)
	id, auth := s.install(tx.client, g, encrypt)
	return id, auth, nil
}

// newKeyPackage builds and stores a key package of c for suite.
func (s *server) newKeyPackage(c *mls.Client, suite codec.CipherSuite) (*mls.KeyPackageBundle, []byte, error) {
	b := &mls.KeyPackageBuilder{Provider: s.provider, CipherSuite: suite, Credential: c.Credential, Signer: c.Signer}
	bundle, err := b.BuildAndStore(c.Storage)
	if err != nil {
		return nil, nil, err
	}
	kp := bundle.KeyPackage
	msg, err := (&codec.MLSMessage{WireFormat: codec.WireFormatMLSKeyPackage, KeyPackage: &kp}).Marshal()
	if err != nil {
		return nil, nil, err
	}
	return bundle, msg, nil
}

func privateKey(c *mls.Client) []byte {
	if kp, ok := c.Signer.(*mls.SignatureKeyPair); ok {
		return kp.PrivateKey()
	}
	return nil
}

// decodeKeyPackage accepts a KeyPackage as an MLSMessage (what the harness
// passes) or bare.
func decodeKeyPackage(b []byte) (*codec.KeyPackage, error) {
	kp, err := mls.ParseKeyPackage(b)
	if err != nil {
		return nil, invalid("key package does not decode: %v", err)
	}
	return kp, nil
}

func decodeTree(b []byte) (codec.RatchetTree, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var t codec.RatchetTree
	if err := t.Unmarshal(b); err != nil {
		return nil, invalid("ratchet tree does not decode: %v", err)
	}
	return t, nil
}

func encodeTree(t codec.RatchetTree) ([]byte, error) { return t.Marshal() }

func extensions(exts []*pb.Extension) ([]codec.Extension, error) {
	out := make([]codec.Extension, 0, len(exts))
	for _, e := range exts {
		if e.ExtensionType > 0xffff {
			return nil, invalid("extension type %d out of range", e.ExtensionType)
		}
		out = append(out, codec.Extension{ExtensionType: codec.ExtensionType(e.ExtensionType), ExtensionData: bytes.Clone(e.ExtensionData)})
	}
	return out, nil
}

// leafOf returns the leaf of the member whose credential identity is id.
func leafOf(members []mls.Member, id []byte) (mls.LeafIndex, error) {
	for _, m := range members {
		if bytes.Equal(m.Credential.Identity(), id) {
			return m.Index, nil
		}
	}
	return 0, invalid("no member with identity %q", id)
}

// treeMembers lists the members of a ratchet tree.
func treeMembers(t codec.RatchetTree) []mls.Member {
	var out []mls.Member
	for i := 0; i < len(t); i += 2 {
		if n := t[i]; n != nil && n.LeafNode != nil {
			out = append(out, mls.Member{Index: mls.LeafIndex(i / 2), Credential: mls.CredentialFromWire(&n.LeafNode.Credential), LeafNode: n.LeafNode})
		}
	}
	return out
}

// groupInfo decodes a GroupInfo MLSMessage without verifying it.
func groupInfo(b []byte) (*codec.GroupInfo, error) {
	var m codec.MLSMessage
	if err := m.Unmarshal(b); err != nil {
		return nil, invalid("GroupInfo does not decode: %v", err)
	}
	if m.WireFormat != codec.WireFormatMLSGroupInfo || m.GroupInfo == nil {
		return nil, invalid("MLSMessage of wire format %v is not a GroupInfo", m.WireFormat)
	}
	return m.GroupInfo, nil
}

func digest(b []byte) [32]byte { return sha256.Sum256(b) }

func (m *member) remember(msg []byte) {
	if m.sent == nil {
		m.sent = map[[32]byte]bool{}
	}
	m.sent[digest(msg)] = true
}

// newEpoch forgets the proposals of the epoch that ended.
func (m *member) newEpoch() { m.sent = nil }

// storeProposals processes and stores proposal messages of others; those
// this member sent are already in its store.
func (m *member) storeProposals(msgs [][]byte) error {
	for i, msg := range msgs {
		if m.sent[digest(msg)] {
			continue
		}
		pm, err := m.group.ProcessMessage(msg)
		if err != nil {
			return fmt.Errorf("proposal %d: %w", i, err)
		}
		if pm.Kind != mls.KindProposal {
			return invalid("message %d by reference is not a proposal", i)
		}
		if err := m.group.StoreProposal(pm.Proposal); err != nil {
			return fmt.Errorf("proposal %d: %w", i, err)
		}
	}
	return nil
}

// handleCommit processes the proposals and the Commit and merges it.
func (m *member) handleCommit(proposals [][]byte, commit []byte) (*mls.StagedCommit, error) {
	if err := m.storeProposals(proposals); err != nil {
		return nil, err
	}
	pm, err := m.group.ProcessMessage(commit)
	if err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	if pm.Kind != mls.KindCommit {
		return nil, invalid("message is not a Commit")
	}
	if err := m.group.MergeStagedCommit(pm.Commit); err != nil {
		return nil, err
	}
	m.newEpoch()
	return pm.Commit, nil
}

func (s *server) Name(context.Context, *pb.NameRequest) (*pb.NameResponse, error) {
	return &pb.NameResponse{Name: "mlskit"}, nil
}

func (s *server) SupportedCiphersuites(context.Context, *pb.SupportedCiphersuitesRequest) (*pb.SupportedCiphersuitesResponse, error) {
	var out []uint32
	for _, id := range s.provider.CipherSuites() {
		out = append(out, uint32(id))
	}
	return &pb.SupportedCiphersuitesResponse{Ciphersuites: out}, nil
}

func (s *server) CreateGroup(_ context.Context, req *pb.CreateGroupRequest) (*pb.CreateGroupResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, suite, err := s.newClient(req.CipherSuite, req.Identity)
	if err != nil {
		return nil, err
	}
	g, err := mls.NewGroup(c, suite, s.groupConfig(req.EncryptHandshake), &mls.CreateOptions{GroupID: bytes.Clone(req.GroupId)})
	if err != nil {
		return nil, err
	}
	id, _ := s.install(c, g, req.EncryptHandshake)
	return &pb.CreateGroupResponse{StateId: id}, nil
}

func (s *server) CreateKeyPackage(_ context.Context, req *pb.CreateKeyPackageRequest) (*pb.CreateKeyPackageResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, suite, err := s.newClient(req.CipherSuite, req.Identity)
	if err != nil {
		return nil, err
	}
	bundle, kp, err := s.newKeyPackage(c, suite)
	if err != nil {
		return nil, err
	}
	id := s.id()
	s.txs[id] = &transaction{client: c, bundle: bundle}
	return &pb.CreateKeyPackageResponse{
		TransactionId:  id,
		KeyPackage:     kp,
		InitPriv:       bytes.Clone(bundle.InitPrivateKey),
		EncryptionPriv: bytes.Clone(bundle.EncryptionPrivateKey),
		SignaturePriv:  privateKey(c),
	}, nil
}

func (s *server) JoinGroup(_ context.Context, req *pb.JoinGroupRequest) (*pb.JoinGroupResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, auth, err := s.joinTx(req.TransactionId, req.RatchetTree, req.EncryptHandshake, func(c *mls.Client, tree codec.RatchetTree) (*mls.Group, error) {
		// A Welcome may inject resumption PSKs (of usage application) of
		// groups this client is in: it has none yet, so only its own
		// storage (the default of GroupConfig.ResumptionPSKs).
		return mls.JoinFromWelcome(c, req.Welcome, tree, s.groupConfig(req.EncryptHandshake))
	})
	if err != nil {
		return nil, err
	}
	return &pb.JoinGroupResponse{StateId: id, EpochAuthenticator: auth}, nil
}

func (s *server) ExternalJoin(_ context.Context, req *pb.ExternalJoinRequest) (*pb.ExternalJoinResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gi, c, suite, err := s.groupInfoClient(req.GroupInfo, req.Identity)
	if err != nil {
		return nil, err
	}
	tree, err := decodeTree(req.RatchetTree)
	if err != nil {
		return nil, err
	}
	cs, err := s.provider.CipherSuite(suite)
	if err != nil {
		return nil, err
	}
	opts := &mls.ExternalCommitOptions{}
	for _, psk := range req.Psks {
		if err := mls.StoreExternalPSK(c.Storage, psk.PskId, psk.PskSecret); err != nil {
			return nil, err
		}
		id, err := mls.NewExternalPSKID(s.provider, cs, psk.PskId)
		if err != nil {
			return nil, err
		}
		opts.PSKs = append(opts.PSKs, id)
	}
	if req.RemovePrior {
		t := tree
		if t == nil {
			rt, ok, err := mls.Extensions(gi.Extensions).RatchetTree()
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, invalid("remove_prior without a ratchet tree")
			}
			t = rt
		}
		l, err := leafOf(treeMembers(t), req.Identity)
		if err != nil {
			return nil, err
		}
		opts.RemoveLeaf = &l
	}
	g, commit, err := mls.JoinByExternalCommit(c, req.GroupInfo, tree, s.groupConfig(req.EncryptHandshake), opts)
	if err != nil {
		return nil, err
	}
	id, auth := s.install(c, g, req.EncryptHandshake)
	return &pb.ExternalJoinResponse{StateId: id, Commit: commit, EpochAuthenticator: auth}, nil
}

func (s *server) GroupInfo(_ context.Context, req *pb.GroupInfoRequest) (*pb.GroupInfoResponse, error) {
	return withMember(s, req.StateId, func(m *member) (*pb.GroupInfoResponse, error) {
		gi, err := m.group.GroupInfo(!req.ExternalTree)
		if err != nil {
			return nil, err
		}
		resp := &pb.GroupInfoResponse{GroupInfo: gi}
		if req.ExternalTree {
			if resp.RatchetTree, err = encodeTree(m.group.RatchetTree()); err != nil {
				return nil, err
			}
		}
		return resp, nil
	})
}

func (s *server) StateAuth(_ context.Context, req *pb.StateAuthRequest) (*pb.StateAuthResponse, error) {
	return withMember(s, req.StateId, func(m *member) (*pb.StateAuthResponse, error) {
		return &pb.StateAuthResponse{StateAuthSecret: m.group.EpochAuthenticator()}, nil
	})
}

func (s *server) Export(_ context.Context, req *pb.ExportRequest) (*pb.ExportResponse, error) {
	return withMember(s, req.StateId, func(m *member) (*pb.ExportResponse, error) {
		out, err := m.group.Export(req.Label, req.Context, int(req.KeyLength))
		if err != nil {
			return nil, err
		}
		return &pb.ExportResponse{ExportedSecret: out}, nil
	})
}

func (s *server) Protect(_ context.Context, req *pb.ProtectRequest) (*pb.ProtectResponse, error) {
	return withMember(s, req.StateId, func(m *member) (*pb.ProtectResponse, error) {
		ct, err := m.group.SendApplicationMessage(req.Plaintext, req.AuthenticatedData)
		if err != nil {
			return nil, err
		}
		return &pb.ProtectResponse{Ciphertext: ct}, nil
	})
}

func (s *server) Unprotect(_ context.Context, req *pb.UnprotectRequest) (*pb.UnprotectResponse, error) {
	return withMember(s, req.StateId, func(m *member) (*pb.UnprotectResponse, error) {
		pm, err := m.group.ProcessMessage(req.Ciphertext)
		if err != nil {
			return nil, err
		}
		if pm.Kind != mls.KindApplication {
			return nil, invalid("message is not an application message")
		}
		return &pb.UnprotectResponse{AuthenticatedData: pm.AuthenticatedData, Plaintext: pm.ApplicationData}, nil
	})
}

func (s *server) StorePSK(_ context.Context, req *pb.StorePSKRequest) (*pb.StorePSKResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var store providers.Storage
	if m, ok := s.members[req.StateOrTransactionId]; ok {
		store = m.client.Storage
	} else if tx, ok := s.txs[req.StateOrTransactionId]; ok {
		store = tx.client.Storage
	} else {
		return nil, notFound("state or transaction", req.StateOrTransactionId)
	}
	if err := mls.StoreExternalPSK(store, req.PskId, req.PskSecret); err != nil {
		return nil, err
	}
	return &pb.StorePSKResponse{}, nil
}

// withMember runs f, under the server's lock, on the member of state id.
func withMember[R any](s *server, id uint32, f func(m *member) (R, error)) (R, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.member(id)
	if err != nil {
		var none R
		return none, err
	}
	return f(m)
}

// propose sends a proposal of m and remembers it.
func (s *server) propose(id uint32, f func(m *member) ([]byte, error)) (*pb.ProposalResponse, error) {
	return withMember(s, id, func(m *member) (*pb.ProposalResponse, error) {
		msg, err := f(m)
		if err != nil {
			return nil, err
		}
		m.remember(msg)
		return &pb.ProposalResponse{Proposal: msg}, nil
	})
}

func first(b []byte, _ *mls.QueuedProposal, err error) ([]byte, error) { return b, err }

func (s *server) AddProposal(_ context.Context, req *pb.AddProposalRequest) (*pb.ProposalResponse, error) {
	return s.propose(req.StateId, func(m *member) ([]byte, error) {
		kp, err := decodeKeyPackage(req.KeyPackage)
		if err != nil {
			return nil, err
		}
		return first(m.group.ProposeAdd(kp))
	})
}

func (s *server) UpdateProposal(_ context.Context, req *pb.UpdateProposalRequest) (*pb.ProposalResponse, error) {
	return s.propose(req.StateId, func(m *member) ([]byte, error) {
		return first(m.group.ProposeSelfUpdate(nil))
	})
}

func (s *server) RemoveProposal(_ context.Context, req *pb.RemoveProposalRequest) (*pb.ProposalResponse, error) {
	return s.propose(req.StateId, func(m *member) ([]byte, error) {
		l, err := leafOf(m.group.Members(), req.RemovedId)
		if err != nil {
			return nil, err
		}
		return first(m.group.ProposeRemove(l))
	})
}

func (s *server) cipherSuiteOf(g *mls.Group) (providers.CipherSuite, error) {
	return s.provider.CipherSuite(g.CipherSuite())
}

func (s *server) ExternalPSKProposal(_ context.Context, req *pb.ExternalPSKProposalRequest) (*pb.ProposalResponse, error) {
	return s.propose(req.StateId, func(m *member) ([]byte, error) {
		cs, err := s.cipherSuiteOf(m.group)
		if err != nil {
			return nil, err
		}
		id, err := mls.NewExternalPSKID(s.provider, cs, req.PskId)
		if err != nil {
			return nil, err
		}
		return first(m.group.ProposePSK(id))
	})
}

func (s *server) ResumptionPSKProposal(_ context.Context, req *pb.ResumptionPSKProposalRequest) (*pb.ProposalResponse, error) {
	return s.propose(req.StateId, func(m *member) ([]byte, error) {
		cs, err := s.cipherSuiteOf(m.group)
		if err != nil {
			return nil, err
		}
		id, err := mls.NewResumptionPSKID(s.provider, cs, codec.ResumptionPSKUsageApplication, m.group.GroupID(), req.EpochId)
		if err != nil {
			return nil, err
		}
		return first(m.group.ProposePSK(id))
	})
}

func (s *server) GroupContextExtensionsProposal(_ context.Context, req *pb.GroupContextExtensionsProposalRequest) (*pb.ProposalResponse, error) {
	return s.propose(req.StateId, func(m *member) ([]byte, error) {
		exts, err := extensions(req.Extensions)
		if err != nil {
			return nil, err
		}
		return first(m.group.ProposeGroupContextExtensions(exts))
	})
}

func (s *server) ReInitProposal(_ context.Context, req *pb.ReInitProposalRequest) (*pb.ProposalResponse, error) {
	return s.propose(req.StateId, func(m *member) ([]byte, error) {
		suite, err := s.suite(req.CipherSuite)
		if err != nil {
			return nil, err
		}
		exts, err := extensions(req.Extensions)
		if err != nil {
			return nil, err
		}
		return first(m.group.ProposeReInit(codec.ReInit{GroupID: bytes.Clone(req.GroupId), Version: codec.ProtocolVersionMLS10, CipherSuite: suite, Extensions: exts}))
	})
}

// commitOptions turns the by-value proposal descriptions of a Commit
// request into CommitOptions.
func (s *server) commitOptions(m *member, req *pb.CommitRequest) (mls.CommitOptions, error) {
	opts := mls.CommitOptions{ForcePath: req.ForcePath, RatchetTreeOutOfBand: req.ExternalTree}
	cs, err := s.cipherSuiteOf(m.group)
	if err != nil {
		return opts, err
	}
	for i, d := range req.ByValue {
		switch string(d.ProposalType) {
		case "add":
			kp, err := decodeKeyPackage(d.KeyPackage)
			if err != nil {
				return opts, err
			}
			opts.Add = append(opts.Add, kp)
		case "remove":
			l, err := leafOf(m.group.Members(), d.RemovedId)
			if err != nil {
				return opts, err
			}
			opts.Remove = append(opts.Remove, l)
		case "externalPSK":
			id, err := mls.NewExternalPSKID(s.provider, cs, d.PskId)
			if err != nil {
				return opts, err
			}
			opts.PSKs = append(opts.PSKs, id)
		case "resumptionPSK":
			id, err := mls.NewResumptionPSKID(s.provider, cs, codec.ResumptionPSKUsageApplication, m.group.GroupID(), d.EpochId)
			if err != nil {
				return opts, err
			}
			opts.PSKs = append(opts.PSKs, id)
		case "groupContextExtensions":
			exts, err := extensions(d.Extensions)
			if err != nil {
				return opts, err
			}
			if exts == nil {
				exts = []codec.Extension{}
			}
			opts.GroupContextExtensions = exts
		default:
			return opts, status.Errorf(codes.Unimplemented, "by-value proposal %d: unsupported type %q", i, d.ProposalType)
		}
	}
	return opts, nil
}

// commit creates a Commit of m for req.
func (s *server) commit(m *member, req *pb.CommitRequest) (*pb.CommitResponse, error) {
	if err := m.storeProposals(req.ByReference); err != nil {
		return nil, err
	}
	opts, err := s.commitOptions(m, req)
	if err != nil {
		return nil, err
	}
	res, err := m.group.Commit(opts)
	if err != nil {
		return nil, err
	}
	resp := &pb.CommitResponse{Commit: res.Commit, Welcome: res.Welcome}
	if req.ExternalTree {
		// The new epoch's tree, out of band: the Welcome has none.
		if resp.RatchetTree, err = encodeTree(res.RatchetTree); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

func (s *server) Commit(_ context.Context, req *pb.CommitRequest) (*pb.CommitResponse, error) {
	return withMember(s, req.StateId, func(m *member) (*pb.CommitResponse, error) { return s.commit(m, req) })
}

func (s *server) HandleCommit(_ context.Context, req *pb.HandleCommitRequest) (*pb.HandleCommitResponse, error) {
	return withMember(s, req.StateId, func(m *member) (*pb.HandleCommitResponse, error) {
		if _, err := m.handleCommit(req.Proposal, req.Commit); err != nil {
			return nil, err
		}
		return &pb.HandleCommitResponse{StateId: req.StateId, EpochAuthenticator: m.group.EpochAuthenticator()}, nil
	})
}

func (s *server) HandlePendingCommit(_ context.Context, req *pb.HandlePendingCommitRequest) (*pb.HandleCommitResponse, error) {
	return withMember(s, req.StateId, func(m *member) (*pb.HandleCommitResponse, error) {
		if err := m.group.MergePendingCommit(); err != nil {
			return nil, err
		}
		m.newEpoch()
		return &pb.HandleCommitResponse{StateId: req.StateId, EpochAuthenticator: m.group.EpochAuthenticator()}, nil
	})
}

func (s *server) ReInitCommit(_ context.Context, req *pb.CommitRequest) (*pb.CommitResponse, error) {
	return withMember(s, req.StateId, func(m *member) (*pb.CommitResponse, error) { return s.commit(m, req) })
}

// startReInit registers a member whose group a ReInit Commit ended: a new
// client (same identity, a signer of the new suite) and its key package.
func (s *server) startReInit(m *member) (*pb.HandleReInitCommitResponse, error) {
	ri, ok := m.group.ReInit()
	if !ok {
		return nil, invalid("the Commit did not cover a ReInit proposal")
	}
	c, suite, err := s.newClient(uint32(ri.CipherSuite), m.client.Credential.Identity())
	if err != nil {
		return nil, err
	}
	bundle, kp, err := s.newKeyPackage(c, suite)
	if err != nil {
		return nil, err
	}
	id := s.id()
	s.reinits[id] = &reinit{old: m, client: c, bundle: bundle, encrypt: m.encrypt}
	return &pb.HandleReInitCommitResponse{ReinitId: id, KeyPackage: kp, EpochAuthenticator: m.group.EpochAuthenticator()}, nil
}

func (s *server) HandlePendingReInitCommit(_ context.Context, req *pb.HandlePendingCommitRequest) (*pb.HandleReInitCommitResponse, error) {
	return withMember(s, req.StateId, func(m *member) (*pb.HandleReInitCommitResponse, error) {
		if err := m.group.MergePendingCommit(); err != nil {
			return nil, err
		}
		m.newEpoch()
		return s.startReInit(m)
	})
}

func (s *server) HandleReInitCommit(_ context.Context, req *pb.HandleCommitRequest) (*pb.HandleReInitCommitResponse, error) {
	return withMember(s, req.StateId, func(m *member) (*pb.HandleReInitCommitResponse, error) {
		if _, err := m.handleCommit(req.Proposal, req.Commit); err != nil {
			return nil, err
		}
		return s.startReInit(m)
	})
}

// subgroupResponse describes a group created by ReInitWelcome or
// CreateBranch.
func (s *server) subgroupResponse(c *mls.Client, g *mls.Group, res *mls.CommitResult, encrypt, externalTree bool) (*pb.CreateSubgroupResponse, error) {
	id, auth := s.install(c, g, encrypt)
	resp := &pb.CreateSubgroupResponse{StateId: id, Welcome: res.Welcome, EpochAuthenticator: auth}
	if externalTree {
		// The Welcome has no tree (ResumeOptions.RatchetTreeOutOfBand).
		var err error
		if resp.RatchetTree, err = encodeTree(res.RatchetTree); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

func (s *server) keyPackages(list [][]byte) ([]*codec.KeyPackage, error) {
	kps := make([]*codec.KeyPackage, 0, len(list))
	for _, b := range list {
		kp, err := decodeKeyPackage(b)
		if err != nil {
			return nil, err
		}
		kps = append(kps, kp)
	}
	return kps, nil
}

func (s *server) ReInitWelcome(_ context.Context, req *pb.ReInitWelcomeRequest) (*pb.CreateSubgroupResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ri, ok := s.reinits[req.ReinitId]
	if !ok {
		return nil, notFound("reinit", req.ReinitId)
	}
	kps, err := s.keyPackages(req.KeyPackage)
	if err != nil {
		return nil, err
	}
	// The welcomer's own key package is not used: it creates the group.
	_ = mls.DeleteKeyPackage(ri.client.Storage, ri.bundle.Ref)
	g, res, err := ri.old.group.ReInitSuccessor(ri.client, s.groupConfig(ri.encrypt), kps, &mls.ResumeOptions{ForcePath: req.ForcePath, RatchetTreeOutOfBand: req.ExternalTree})
	if err != nil {
		return nil, err
	}
	delete(s.reinits, req.ReinitId)
	return s.subgroupResponse(ri.client, g, res, ri.encrypt, req.ExternalTree)
}

func (s *server) HandleReInitWelcome(_ context.Context, req *pb.HandleReInitWelcomeRequest) (*pb.JoinGroupResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ri, ok := s.reinits[req.ReinitId]
	if !ok {
		return nil, notFound("reinit", req.ReinitId)
	}
	tree, err := decodeTree(req.RatchetTree)
	if err != nil {
		return nil, err
	}
	g, err := mls.JoinReInit(ri.client, ri.old.group, req.Welcome, tree, s.groupConfig(ri.encrypt))
	if err != nil {
		return nil, err
	}
	delete(s.reinits, req.ReinitId)
	id, auth := s.install(ri.client, g, ri.encrypt)
	return &pb.JoinGroupResponse{StateId: id, EpochAuthenticator: auth}, nil
}

func (s *server) CreateBranch(_ context.Context, req *pb.CreateBranchRequest) (*pb.CreateSubgroupResponse, error) {
	return withMember(s, req.StateId, func(m *member) (*pb.CreateSubgroupResponse, error) {
		kps, err := s.keyPackages(req.KeyPackages)
		if err != nil {
			return nil, err
		}
		exts, err := extensions(req.Extensions)
		if err != nil {
			return nil, err
		}
		opts := &mls.ResumeOptions{
			CreateOptions:        mls.CreateOptions{GroupID: bytes.Clone(req.GroupId), GroupContextExtensions: exts},
			ForcePath:            req.ForcePath,
			RatchetTreeOutOfBand: req.ExternalTree,
		}
		g, res, err := m.group.Branch(m.client, s.groupConfig(m.encrypt), kps, opts)
		if err != nil {
			return nil, err
		}
		return s.subgroupResponse(m.client, g, res, m.encrypt, req.ExternalTree)
	})
}

func (s *server) HandleBranch(_ context.Context, req *pb.HandleBranchRequest) (*pb.HandleBranchResponse, error) {
	return withMember(s, req.StateId, func(m *member) (*pb.HandleBranchResponse, error) {
		id, auth, err := s.joinTx(req.TransactionId, req.RatchetTree, m.encrypt, func(c *mls.Client, tree codec.RatchetTree) (*mls.Group, error) {
			return mls.JoinBranch(c, m.group, req.Welcome, tree, s.groupConfig(m.encrypt))
		})
		if err != nil {
			return nil, err
		}
		return &pb.HandleBranchResponse{StateId: id, EpochAuthenticator: auth}, nil
	})
}

func (s *server) NewMemberAddProposal(_ context.Context, req *pb.NewMemberAddProposalRequest) (*pb.NewMemberAddProposalResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, c, suite, err := s.groupInfoClient(req.GroupInfo, req.Identity)
	if err != nil {
		return nil, err
	}
	bundle, _, err := s.newKeyPackage(c, suite)
	if err != nil {
		return nil, err
	}
	msg, err := mls.NewJoinProposal(c, req.GroupInfo, nil, bundle, nil)
	if err != nil {
		return nil, err
	}
	id := s.id()
	s.txs[id] = &transaction{client: c, bundle: bundle}
	return &pb.NewMemberAddProposalResponse{
		TransactionId:  id,
		Proposal:       msg,
		InitPriv:       bytes.Clone(bundle.InitPrivateKey),
		EncryptionPriv: bytes.Clone(bundle.EncryptionPrivateKey),
		SignaturePriv:  privateKey(c),
	}, nil
}

func (s *server) CreateExternalSigner(_ context.Context, req *pb.CreateExternalSignerRequest) (*pb.CreateExternalSignerResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	suite, err := s.suite(req.CipherSuite)
	if err != nil {
		return nil, err
	}
	signer, err := mls.GenerateSignatureKeyPair(s.provider, suite)
	if err != nil {
		return nil, err
	}
	es := codec.ExternalSender{SignatureKey: signer.PublicKey(), Credential: mls.NewBasicCredential(bytes.Clone(req.Identity)).Wire()}
	b, err := es.Marshal()
	if err != nil {
		return nil, err
	}
	id := s.id()
	s.signers[id] = &extSigner{proposer: &mls.ExternalProposer{Provider: s.provider, Signer: signer}, suite: suite}
	return &pb.CreateExternalSignerResponse{SignerId: id, ExternalSender: b}, nil
}

func (s *server) AddExternalSigner(_ context.Context, req *pb.AddExternalSignerRequest) (*pb.ProposalResponse, error) {
	return s.propose(req.StateId, func(m *member) ([]byte, error) {
		var es codec.ExternalSender
		if err := es.Unmarshal(req.ExternalSender); err != nil {
			return nil, invalid("external sender does not decode: %v", err)
		}
		exts := m.group.Extensions()
		senders, err := exts.ExternalSenders()
		if err != nil {
			return nil, err
		}
		if exts, err = exts.WithExternalSenders(append(senders, es)); err != nil {
			return nil, err
		}
		return first(m.group.ProposeGroupContextExtensions(exts))
	})
}

func (s *server) ExternalSignerProposal(_ context.Context, req *pb.ExternalSignerProposalRequest) (*pb.ProposalResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	es, ok := s.signers[req.SignerId]
	if !ok {
		return nil, notFound("external signer", req.SignerId)
	}
	d := req.Description
	if d == nil {
		return nil, invalid("no proposal description")
	}
	tree, err := decodeTree(req.RatchetTree)
	if err != nil {
		return nil, err
	}
	ctx, err := es.proposer.GroupContextFromGroupInfo(req.GroupInfo, tree)
	if err != nil {
		return nil, err
	}
	cs, err := s.provider.CipherSuite(ctx.CipherSuite)
	if err != nil {
		return nil, err
	}
	msg, err := s.externalProposal(es, &ctx, cs, d, req.GroupInfo, tree)
	if err != nil {
		return nil, err
	}
	return &pb.ProposalResponse{Proposal: msg}, nil
}

func (s *server) Free(_ context.Context, req *pb.FreeRequest) (*pb.FreeResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Freeing an unknown state is not an error: the harness frees every
	// state it saw, some of them twice.
	if m, ok := s.members[req.StateId]; ok {
		delete(s.members, req.StateId)
		if m.group != nil {
			_ = mls.DeleteGroup(m.client.Storage, m.group.GroupID())
		}
	}
	return &pb.FreeResponse{}, nil
}

// externalProposal builds the proposal d of an external signer.
func (s *server) externalProposal(es *extSigner, ctx *codec.GroupContext, cs providers.CipherSuite, d *pb.ProposalDescription, gib []byte, tree codec.RatchetTree) ([]byte, error) {
	switch string(d.ProposalType) {
	case "add":
		kp, err := decodeKeyPackage(d.KeyPackage)
		if err != nil {
			return nil, err
		}
		return es.proposer.ProposeAdd(ctx, kp, nil)
	case "remove":
		if tree == nil {
			gi, err := groupInfo(gib)
			if err != nil {
				return nil, err
			}
			if tree, _, err = mls.Extensions(gi.Extensions).RatchetTree(); err != nil {
				return nil, err
			}
		}
		l, err := leafOf(treeMembers(tree), d.RemovedId)
		if err != nil {
			return nil, err
		}
		return es.proposer.ProposeRemove(ctx, l, nil)
	case "externalPSK":
		id, err := mls.NewExternalPSKID(s.provider, cs, d.PskId)
		if err != nil {
			return nil, err
		}
		return es.proposer.ProposePSK(ctx, id, nil)
	case "resumptionPSK":
		id, err := mls.NewResumptionPSKID(s.provider, cs, codec.ResumptionPSKUsageApplication, ctx.GroupID, d.EpochId)
		if err != nil {
			return nil, err
		}
		return es.proposer.ProposePSK(ctx, id, nil)
	case "groupContextExtensions":
		exts, err := extensions(d.Extensions)
		if err != nil {
			return nil, err
		}
		return es.proposer.ProposeGroupContextExtensions(ctx, exts, nil)
	case "reinit":
		suite, err := s.suite(d.CipherSuite)
		if err != nil {
			return nil, err
		}
		exts, err := extensions(d.Extensions)
		if err != nil {
			return nil, err
		}
		return es.proposer.ProposeReInit(ctx, codec.ReInit{GroupID: bytes.Clone(d.GroupId), Version: codec.ProtocolVersionMLS10, CipherSuite: suite, Extensions: exts}, nil)
	}
	return nil, status.Errorf(codes.Unimplemented, "external proposal of unsupported type %q", d.ProposalType)
}
