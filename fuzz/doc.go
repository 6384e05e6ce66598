// Package fuzz holds native Go fuzz targets for the top-level decoders of
// the wire layer (package codec): MLSMessage, Welcome, GroupInfo,
// KeyPackage and the ratchet tree of RFC 9420 §12.4.3.3.
//
// Each target is seeded with the wire objects of the official test vectors
// (testdata at the repository root, or the directory MLS_TEST_VECTORS
// names) and checks that decoding never panics, that what decodes
// re-encodes to exactly the input (the encoding is canonical), and that
// decoding that again gives an equal value. FuzzProcessMessage feeds
// untrusted bytes to a live group member instead: processing never panics,
// a rejected input leaves the group unchanged, and processing alone never
// moves the epoch. FuzzPublicGroupProcess does the same to a Delivery
// Service's PublicGroup: processing never panics and leaves the
// PublicGroup and its stored records byte for byte as they were. Run them
// all with
//
//	make fuzz FUZZTIME=60s
//
// or one at a time with go test ./fuzz -run='^$' -fuzz='^FuzzWelcome$'.
// Inputs that once failed are kept as regression seeds in testdata/fuzz.
package fuzz
