// Command mlsinterop serves the MLS working group's interop harness
// (mls_client.proto, github.com/mlswg/mls-implementations) for mlskit: a
// gRPC server on localhost that the harness's test runner drives through
// its scripted scenarios.
//
//	mlsinterop -port 50001
//
// It holds many groups, key packages, ReInit transitions and external
// signers at once, under the ids the proto returns (state, transaction,
// reinit and signer ids share one counter). Every request goes through
// mlskit's public API; an error, an unknown id or an unsupported request
// is a gRPC error with a message, and a panic in a handler is recovered
// into an Internal error. It is a separate module so that gRPC and
// protobuf stay out of mlskit's own dependencies.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mlskit/mlskit/cmd/mlsinterop/proto"
)

func main() {
	port := flag.Int("port", 50001, "TCP port to listen on (localhost)")
	noGrease := flag.Bool("no-grease", false, "do not send GREASE values (RFC 9420 §13.5)")
	noVerifyCache := flag.Bool("no-verify-cache", false, "verify every signature in every hosted client (no cache of the valid ones shared among them)")
	verbose := flag.Bool("v", false, "log every failed request")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file until the server stops")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatalf("mlsinterop: %v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatalf("mlsinterop: %v", err)
		}
		defer pprof.StopCPUProfile()
	}

	lis, err := net.Listen("tcp", fmt.Sprintf("localhost:%d", *port))
	if err != nil {
		log.Fatalf("mlsinterop: %v", err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(recoverInterceptor(*verbose)))
	pb.RegisterMLSClientServer(srv, newServer(!*noGrease, !*noVerifyCache))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		srv.Stop()
	}()
	log.Printf("mlsinterop: listening on %s", lis.Addr())
	if err := srv.Serve(lis); err != nil {
		log.Printf("mlsinterop: %v", err)
	}
}

// recoverInterceptor turns a panic in a handler into an Internal error (a
// bug, never a crash of the server) and maps plain errors to Unknown with
// their message.
func recoverInterceptor(verbose bool) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				log.Printf("mlsinterop: panic in %s: %v\n%s", info.FullMethod, r, debug.Stack())
				resp, err = nil, status.Errorf(codes.Internal, "%s: internal error: %v", info.FullMethod, r)
			}
			if err != nil && verbose {
				log.Printf("mlsinterop: %s: %v", info.FullMethod, err)
			}
		}()
		resp, err = handler(ctx, req)
		if err != nil {
			if _, ok := status.FromError(err); !ok {
				err = status.Errorf(codes.Unknown, "%v", err)
			}
		}
		return resp, err
	}
}
