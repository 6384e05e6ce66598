// Package gen is tlsgen's engine: it turns schemas written in the TLS
// presentation language (RFC 8446 §3) with the additions of MLS (RFC 9420
// §2.1) into Go types with encoders, decoders and validators.
//
// It works in three steps with a seam between each:
//
//	Parse    source → File (syntax only; errors carry file:line:col)
//	Resolve  Files → Schema (names looked up, selects tied to enums, rules checked)
//	Generate Schema → Go source (built with github.com/dave/jennifer)
//
// # The schema language
//
//	uint8 uint16 uint32 uint64 opaque      built-in types
//	T name;                                 a field
//	T name<V>;                              MLS vector: varint length in bytes (RFC 9420 §2.1.2)
//	T name<lo..hi>;                         TLS vector: fixed-width length in bytes (2^32-1 style bounds allowed)
//	T name[N];                              fixed array
//	optional<T> name;                       presence byte 0 or 1, then T (RFC 9420 §2.1.1)
//	T name = value;                         enum field fixed to one value (no Go field)
//	enum { a(1), b(2), (max) } Name;        (max) fixes the width: 8, 16, 32 or 64 bits
//	struct { members } Name;
//	opaque Name<V>;  T Name;                named vectors and other names for a type
//	select (Name.field.sub) { case a: case b: T x; case c: struct{}; default: T y; };
//	extend enum Name { c(3) };              add values to an enum declared elsewhere
//	extend select (Name.field) { case c: T; };  add arms to a select declared elsewhere
//
// In a select arm, `T;` (as RFC 9420 writes Proposal) declares a field named
// after its type. A select whose path starts with another struct's name
// (FramedContentAuthData selects on FramedContent.content_type) takes that
// discriminant as an argument of every generated method; a struct holding
// such a field passes it on from an earlier sibling (searched through nested
// struct fields) or from its own argument.
//
// Annotations state what the RFC says in prose:
//
//	@open                 on an enum: unknown values decode and re-encode unchanged
//	@padding              on `opaque name[length]`: zero bytes to the end of input
//	@size(lo..hi)         on a vector: bounds in bytes (`@size(1..)`: non-empty)
//	@head                 on a struct: it also gets AppendHead (below)
//	@split(f)             on a struct: it also gets AppendHeadAt/AppendTailAt (below)
//	@each                 on a named vector of optional<struct>: it also gets DecodeEach (below)
//	default:              the arm an @open enum's other values take
//
// Comments are // and /* */, and they document: a comment right before a
// declaration, a field, a select arm or an enum value (no blank line
// between) becomes its Go doc comment, one after a field or value on the
// same line its line comment, and one that starts with a section number
// (/* §12.4 Commit */) also names the section in the docs of the
// declarations after it. The header of the generated file names the schema
// files. Names keep the RFC's spelling; Go names are derived by GoName
// (group_id → GroupID).
//
// # Named vectors' elements
//
// A named vector type X whose elements are written one by one (any but a
// byte vector, `opaque X<V>`) also gets AppendXElement(b, x), which appends
// one element (with its presence octet for optional<T>; a struct by
// pointer) and which X.AppendTo calls for each: the element's encoding has
// one definition. An MLS vector X (`T X<V>`) also gets FrameX(buf, start),
// which makes the vector of elements already encoded in buf[start:] by
// writing its varint length prefix into codec.MaxVarintLen bytes of room
// the caller left before them (codec.FrameVarintVector), without moving
// them: a caller that keeps its elements' encodings (the ratchet tree's,
// spliced when nodes change) rebuilds the vector with no codec of its own.
//
// A named vector annotated @each also gets DecodeEach(r, each), which
// decodes as Decode does and calls each(i, x) with every element x as
// soon as it is decoded: a caller can start working on the first elements
// (a joiner verifies the ratchet tree's leaves, RFC 9420 §12.4.3.1) while
// the rest is decoded. Its elements must be optional<T> of a struct T, so
// that each is a pointer to a value that never moves afterwards (the
// scratch stack holds the pointers, not the values). An error of each
// ends the decoding and is returned as is.
//
// # Sizes
//
// Every type also gets Size() int, the length of its encoding computed from
// the value without encoding it or allocating: fixed-size fields and
// elements by their width (len × width for a vector of them), a vector's
// length prefix by its content's length (a varint's 1, 2 or 4 bytes, RFC
// 9420 §2.1.2, or a TLS prefix's width), an optional<T> by its presence
// octet and T, a select by the selected arm, a struct field by its own
// Size. Marshal encodes into a buffer of exactly Size bytes, allocated
// once; a caller that builds a larger buffer (a hash input, a signed
// content) sums its parts' Size. Size is exact for every value AppendTo
// encodes; for one it rejects (an arm missing, a vector out of bounds) it
// is an estimate, never negative, and never panics.
//
// # Heads of structs
//
// A struct annotated @head also gets AppendHead(b, n), which appends its
// encoding up to and including the length prefix of the MLS vector it ends
// in, for n bytes of that vector's content (checked against its bounds,
// codec.AppendVarintLength); the caller appends the content, or already
// has it in place after room it left. Its last member must be an MLS
// vector, a field of another @head struct (whose AppendHead ends the
// head), or a select with at least one arm ending so (the others give
// codec.ErrNoHead). Labeled signing and encryption (SignContent,
// EncryptContext of RFC 9420 §5.1.2-§5.1.3) so frame content they do not
// copy, and an MLSMessage's head frames a Welcome around an
// encrypted_group_info sealed in place.
//
// A struct annotated @split(f), where f is its MLS vector of a @head
// struct whose last field is an opaque MLS vector, also gets
// AppendHeadAt(b, i, n) and AppendTailAt(b, i): its encoding split at the
// content of that last field of element i of f. AppendHeadAt writes
// everything before the content, with the length prefixes of f and of the
// field computed for n bytes of content (the field's value is not read);
// the caller writes the n bytes; AppendTailAt writes the rest. A
// GroupInfoTBS so gets its ratchet_tree extension (RFC 9420 §12.4.3.3),
// the whole tree, written once where it belongs instead of copied in.
//
// # Allocation in the generated decoders
//
// Byte vectors are sub-slices of the (once copied) input. Structs decoded
// behind a pointer (optional<T>, struct arms of a select) and vectors of
// fixed-size elements come, for an input of at least 4 KiB, from a slab set
// (tlsgenSlabs) that one call of Decode makes and hands down through the
// unexported decode methods: blocks doubling up to 1024 values, each vector
// cut with its capacity capped. A 10,000-leaf ratchet tree then decodes in
// about 10,000 allocations instead of 110,000; small messages allocate as
// before, one value at a time. The slab set is generated code of the
// package, so the runtime needs no hooks for it.
//
// Vectors of elements of varying size (structs, optional<T>, byte vectors)
// are sized exactly: with a slab set, their elements are decoded on a
// scratch stack of their element type (tlsgenStack: chunks of 64 elements
// that never move, so nested vectors of the same type push above their
// parent's element safely) and, at the end of the vector, copied into a run
// of exactly their number cut from the slab of that type. No vector grows
// by append (which allocates about five times the final size along the
// way), and the scratch, reused by every vector of the decoding, is as
// large as the largest vector. Without a slab set (input under 4 KiB) they
// grow by append as before.
//
// # Bounded allocation
//
// Reader.LimitAlloc gives a decoding a byte budget, which
// codec.UnmarshalLimited and codec.DecodeLimited set to AllocBudget(input
// length) (2.5 bytes per input byte plus 1 MiB; mls gives a ratchet tree 2.5
// per byte plus 16 per node of the widest tree allowed). The generated
// code charges it (Reader.Alloc, through the DecodeLimits the slab set
// holds) for what a hostile input can make large relative to its size:
// every struct taken behind a pointer (its size), every scratch chunk and
// every exact run of varying-size elements (count × element size, taken
// from unsafe.Sizeof). Byte vectors alias the input and vectors of
// fixed-size elements are no larger than their encoding: they are not
// charged. Past the budget the charge fails, the run is not allocated,
// and the decoding fails at its next vector element (Reader.Empty cuts
// every reader short), with an error matching codec.ErrTooManyElements
// and codec.ErrAllocLimit. What a decoding allocates is so at most its
// budget plus one slab block per type (at most 1024 values) and one
// scratch chunk: a 10 MB ratchet tree of empty extensions decodes to at
// most ~31 MB before it is refused (174 MB before), while the 22 MB tree
// of a full 100,000-member group (2.25 bytes per byte) still decodes.
package gen
