package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	pb "github.com/mlskit/mlskit/cmd/mlsinterop/proto"
)

// dial serves a fresh server over an in-memory connection, with the
// interceptor of main.
func dial(t *testing.T) pb.MLSClientClient {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(grpc.UnaryInterceptor(recoverInterceptor(false)))
	pb.RegisterMLSClientServer(srv, newServer(true, true))
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) { return lis.Dial() }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewMLSClientClient(conn)
}

func TestServerSession(t *testing.T) {
	c := dial(t)
	ctx := context.Background()
	sc, err := c.SupportedCiphersuites(ctx, &pb.SupportedCiphersuitesRequest{})
	if err != nil || len(sc.Ciphersuites) < 7 {
		t.Fatalf("SupportedCiphersuites: %v %v", sc, err)
	}
	for _, encrypt := range []bool{true, false} {
		g, err := c.CreateGroup(ctx, &pb.CreateGroupRequest{GroupId: []byte("g"), CipherSuite: 1, EncryptHandshake: encrypt, Identity: []byte("alice")})
		if err != nil {
			t.Fatal(err)
		}
		kp, err := c.CreateKeyPackage(ctx, &pb.CreateKeyPackageRequest{CipherSuite: 1, Identity: []byte("bob")})
		if err != nil {
			t.Fatal(err)
		}
		cm, err := c.Commit(ctx, &pb.CommitRequest{StateId: g.StateId, ByValue: []*pb.ProposalDescription{{ProposalType: []byte("add"), KeyPackage: kp.KeyPackage}}})
		if err != nil {
			t.Fatal(err)
		}
		hp, err := c.HandlePendingCommit(ctx, &pb.HandlePendingCommitRequest{StateId: g.StateId})
		if err != nil {
			t.Fatal(err)
		}
		j, err := c.JoinGroup(ctx, &pb.JoinGroupRequest{TransactionId: kp.TransactionId, Welcome: cm.Welcome, EncryptHandshake: encrypt, Identity: []byte("bob")})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(j.EpochAuthenticator, hp.EpochAuthenticator) {
			t.Fatal("epoch authenticators differ")
		}
		// A Commit from Bob with an Update from Alice by reference.
		up, err := c.UpdateProposal(ctx, &pb.UpdateProposalRequest{StateId: g.StateId})
		if err != nil {
			t.Fatal(err)
		}
		cm, err = c.Commit(ctx, &pb.CommitRequest{StateId: j.StateId, ByReference: [][]byte{up.Proposal}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.HandlePendingCommit(ctx, &pb.HandlePendingCommitRequest{StateId: j.StateId}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.HandleCommit(ctx, &pb.HandleCommitRequest{StateId: g.StateId, Proposal: [][]byte{up.Proposal}, Commit: cm.Commit}); err != nil {
			t.Fatal(err)
		}
		pr, err := c.Protect(ctx, &pb.ProtectRequest{StateId: g.StateId, AuthenticatedData: []byte("ad"), Plaintext: []byte("hi")})
		if err != nil {
			t.Fatal(err)
		}
		un, err := c.Unprotect(ctx, &pb.UnprotectRequest{StateId: j.StateId, Ciphertext: pr.Ciphertext})
		if err != nil || string(un.Plaintext) != "hi" || string(un.AuthenticatedData) != "ad" {
			t.Fatalf("Unprotect: %v %v", un, err)
		}
		a1, _ := c.StateAuth(ctx, &pb.StateAuthRequest{StateId: g.StateId})
		a2, _ := c.StateAuth(ctx, &pb.StateAuthRequest{StateId: j.StateId})
		if a1 == nil || a2 == nil || !bytes.Equal(a1.StateAuthSecret, a2.StateAuthSecret) {
			t.Fatal("state auth differs")
		}
	}
}

// Unknown ids, unsupported suites and garbage get gRPC errors, not a crash.
func TestServerErrors(t *testing.T) {
	c := dial(t)
	ctx := context.Background()
	code := func(err error) codes.Code { return status.Code(err) }
	if _, err := c.StateAuth(ctx, &pb.StateAuthRequest{StateId: 99}); code(err) != codes.NotFound {
		t.Errorf("unknown state: %v", err)
	}
	if _, err := c.JoinGroup(ctx, &pb.JoinGroupRequest{TransactionId: 99}); code(err) != codes.NotFound {
		t.Errorf("unknown transaction: %v", err)
	}
	if _, err := c.HandleReInitWelcome(ctx, &pb.HandleReInitWelcomeRequest{ReinitId: 99}); code(err) != codes.NotFound {
		t.Errorf("unknown reinit: %v", err)
	}
	if _, err := c.ExternalSignerProposal(ctx, &pb.ExternalSignerProposalRequest{SignerId: 99}); code(err) != codes.NotFound {
		t.Errorf("unknown signer: %v", err)
	}
	if _, err := c.CreateGroup(ctx, &pb.CreateGroupRequest{CipherSuite: 0x1234, Identity: []byte("a")}); code(err) != codes.Unimplemented {
		t.Errorf("unknown suite: %v", err)
	}
	kp, err := c.CreateKeyPackage(ctx, &pb.CreateKeyPackageRequest{CipherSuite: 1, Identity: []byte("bob")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.JoinGroup(ctx, &pb.JoinGroupRequest{TransactionId: kp.TransactionId, Welcome: []byte{1, 2, 3}}); err == nil {
		t.Error("garbage Welcome accepted")
	}
	g, err := c.CreateGroup(ctx, &pb.CreateGroupRequest{CipherSuite: 1, Identity: []byte("a")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Commit(ctx, &pb.CommitRequest{StateId: g.StateId, ByValue: []*pb.ProposalDescription{{ProposalType: []byte("appAck")}}}); code(err) != codes.Unimplemented {
		t.Errorf("unknown proposal type: %v", err)
	}
	if _, err := c.HandleCommit(ctx, &pb.HandleCommitRequest{StateId: g.StateId, Commit: []byte{0}}); err == nil {
		t.Error("garbage Commit accepted")
	}
	if _, err := c.Free(ctx, &pb.FreeRequest{StateId: 12345}); err != nil {
		t.Errorf("Free of an unknown state: %v", err)
	}
}

// external_tree: the Commit's (and a branch's) Welcome has no ratchet_tree
// extension, the response carries the tree, and the joiner needs it. Without
// external_tree the response has no tree and the Welcome is enough.
func TestServerExternalTree(t *testing.T) {
	c := dial(t)
	ctx := context.Background()
	g, err := c.CreateGroup(ctx, &pb.CreateGroupRequest{GroupId: []byte("g"), CipherSuite: 1, Identity: []byte("alice")})
	if err != nil {
		t.Fatal(err)
	}
	add := func(name string, external bool) (*pb.CreateKeyPackageResponse, *pb.CommitResponse, []byte) {
		t.Helper()
		kp, err := c.CreateKeyPackage(ctx, &pb.CreateKeyPackageRequest{CipherSuite: 1, Identity: []byte(name)})
		if err != nil {
			t.Fatal(err)
		}
		cm, err := c.Commit(ctx, &pb.CommitRequest{StateId: g.StateId, ExternalTree: external, ByValue: []*pb.ProposalDescription{{ProposalType: []byte("add"), KeyPackage: kp.KeyPackage}}})
		if err != nil {
			t.Fatal(err)
		}
		hp, err := c.HandlePendingCommit(ctx, &pb.HandlePendingCommitRequest{StateId: g.StateId})
		if err != nil {
			t.Fatal(err)
		}
		return kp, cm, hp.EpochAuthenticator
	}

	kp, cm, auth := add("bob", true)
	if len(cm.RatchetTree) == 0 {
		t.Fatal("external_tree: no ratchet tree in the response")
	}
	if _, err := c.JoinGroup(ctx, &pb.JoinGroupRequest{TransactionId: kp.TransactionId, Welcome: cm.Welcome, Identity: []byte("bob")}); err == nil || !strings.Contains(err.Error(), "no ratchet tree") {
		t.Fatalf("join without the out-of-band tree: %v", err)
	}
	j, err := c.JoinGroup(ctx, &pb.JoinGroupRequest{TransactionId: kp.TransactionId, Welcome: cm.Welcome, RatchetTree: cm.RatchetTree, Identity: []byte("bob")})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(j.EpochAuthenticator, auth) {
		t.Fatal("epoch authenticators differ")
	}
	bobState := j.StateId

	kp, cm, auth = add("carol", false)
	if len(cm.RatchetTree) != 0 {
		t.Fatal("a ratchet tree in the response without external_tree")
	}
	if _, err := c.HandleCommit(ctx, &pb.HandleCommitRequest{StateId: bobState, Commit: cm.Commit}); err != nil {
		t.Fatal(err)
	}
	j, err = c.JoinGroup(ctx, &pb.JoinGroupRequest{TransactionId: kp.TransactionId, Welcome: cm.Welcome, Identity: []byte("carol")})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(j.EpochAuthenticator, auth) {
		t.Fatal("epoch authenticators differ")
	}

	// A branch of Alice and Bob, the tree out of band.
	kp, err = c.CreateKeyPackage(ctx, &pb.CreateKeyPackageRequest{CipherSuite: 1, Identity: []byte("bob")})
	if err != nil {
		t.Fatal(err)
	}
	br, err := c.CreateBranch(ctx, &pb.CreateBranchRequest{StateId: g.StateId, GroupId: []byte("sub"), KeyPackages: [][]byte{kp.KeyPackage}, ExternalTree: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(br.RatchetTree) == 0 {
		t.Fatal("external_tree: no ratchet tree in the branch response")
	}
	if _, err := c.HandleBranch(ctx, &pb.HandleBranchRequest{StateId: bobState, TransactionId: kp.TransactionId, Welcome: br.Welcome}); err == nil || !strings.Contains(err.Error(), "no ratchet tree") {
		t.Fatalf("branch join without the out-of-band tree: %v", err)
	}
	hb, err := c.HandleBranch(ctx, &pb.HandleBranchRequest{StateId: bobState, TransactionId: kp.TransactionId, Welcome: br.Welcome, RatchetTree: br.RatchetTree})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(hb.EpochAuthenticator, br.EpochAuthenticator) {
		t.Fatal("branch epoch authenticators differ")
	}
}
