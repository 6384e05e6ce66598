package framing

import "github.com/mlskit/mlskit/codec"

// ProtectPrivateBadPadding protects ac with a non-zero last padding byte
// (the Protector must pad).
func ProtectPrivateBadPadding(p *Protector, ac *codec.AuthenticatedContent) (*codec.PrivateMessage, error) {
	return p.protectPrivate(ac, true)
}
