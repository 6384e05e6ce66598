module github.com/mlskit/mlskit

go 1.26.0

require (
	github.com/cloudflare/circl v1.6.5
	github.com/dave/jennifer v1.7.1
	golang.org/x/crypto v0.58.0
)

require (
	github.com/leanovate/gopter v0.2.11 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
