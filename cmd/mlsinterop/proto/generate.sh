#!/bin/sh
# Regenerates mls_client.pb.go and mls_client_grpc.pb.go from
# mls_client.proto (a verbatim copy of the MLS working group's interop
# service, ../../shared/interop/interop/proto/mls_client.proto) with
# protoc (Debian's protobuf-compiler) and the plugin versions pinned by
# cmd/mlsinterop/go.mod's tool directives. Run by go generate.
set -eu
cd "$(dirname "$0")"
command -v protoc >/dev/null || { echo "protoc not found: apt-get install -y protobuf-compiler (or make protoc)" >&2; exit 1; }
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
go build -o "$bin/protoc-gen-go-grpc" google.golang.org/grpc/cmd/protoc-gen-go-grpc
pkg=github.com/mlskit/mlskit/cmd/mlsinterop/proto
protoc --plugin=protoc-gen-go="$bin/protoc-gen-go" --plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" \
	--go_out=. --go_opt=paths=source_relative --go_opt=Mmls_client.proto="$pkg;mlsclient" \
	--go-grpc_out=. --go-grpc_opt=paths=source_relative --go-grpc_opt=Mmls_client.proto="$pkg;mlsclient" \
	mls_client.proto
