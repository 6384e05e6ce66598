package framing

import "github.com/mlskit/mlskit/codec"

// ProtectPrivateBadPadding protects ac with a non-zero last padding byte
// (the Protector must pad).
func ProtectPrivateBadPadding(p *Protector, ac *codec.AuthenticatedContent) (*codec.PrivateMessage, error) {
	msg := new(codec.PrivateMessage)
	st, err := p.protectPrivate(msg, nil, ac, true)
	if err != nil {
		return nil, err
	}
	err = st.Commit()
	st.Discard()
	return msg, err
}
