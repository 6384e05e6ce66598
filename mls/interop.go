package mls

import (
	"errors"
	"fmt"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/providers"
)

// Interoperability rules found by testing against other implementations
// (issue 13).

// ErrGroupInfoConfirmationTag: a GroupInfo's confirmation_tag is not a MAC
// of the group's cipher suite (RFC 9420 §6.1, §12.4.3: MAC output of KDF.Nh
// bytes). One implementation publishes an empty tag after an external join;
// such a GroupInfo is refused before any of it is used.
var ErrGroupInfoConfirmationTag = errors.New("mls: GroupInfo confirmation_tag is not a MAC of the cipher suite")

// checkGroupInfoConfirmationTag refuses a confirmation_tag of the wrong
// length for cs.
func checkGroupInfoConfirmationTag(cs providers.CipherSuite, gi *codec.GroupInfo) error {
	if n := cs.HashSize(); len(gi.ConfirmationTag) != n {
		return fmt.Errorf("%w: %d bytes, %v's MAC is %d bytes (RFC 9420 §12.4.3)", ErrGroupInfoConfirmationTag, len(gi.ConfirmationTag), cs.ID(), n)
	}
	return nil
}
