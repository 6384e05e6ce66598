package mls

import (
	"fmt"
	"io"
	"slices"

	"github.com/mlskit/mlskit/codec"
)

// GREASE (RFC 9420 §13.5, RFC 8701): by default the key packages, leaf
// nodes and GroupInfos this library makes carry random GREASE values —
// in the four capabilities lists, in LeafNode.extensions (listed in the
// capabilities, as §7.3 requires), in KeyPackage.extensions and in
// GroupInfo.extensions (with random data) — so that peers that reject
// unknown values fail visibly in interop tests.
// KeyPackageBuilder.NoGREASE and GroupConfig.NoGREASE turn it off.
// GREASE values are never sent as a proposal or credential type.

// IsGREASE reports whether v is one of the GREASE values of RFC 9420
// §13.5: 0x0A0A, 0x1A1A, …, 0xEAEA.
func IsGREASE(v uint16) bool {
	return v&0x0F0F == 0x0A0A && v>>12 == (v>>4)&0x0F && v != 0xFAFA
}

// greaseValue draws one of the 15 GREASE values that is not in used.
func greaseValue(r io.Reader, used func(uint16) bool) (uint16, error) {
	var b [1]byte
	for range 64 {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, fmt.Errorf("mls: drawing a GREASE value: %w", err)
		}
		if b[0] >= 240 {
			continue
		}
		i := uint16(b[0] % 15)
		v := i<<12 | 0x0A00 | i<<4 | 0x0A
		if used == nil || !used(v) {
			return v, nil
		}
	}
	return 0, fmt.Errorf("mls: no unused GREASE value")
}

// greaseData returns 0 to 15 random bytes, the extension_data of a GREASE
// extension (§13.5: "any contents").
func greaseData(r io.Reader) ([]byte, error) {
	var n [1]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, fmt.Errorf("mls: drawing GREASE data: %w", err)
	}
	d := make([]byte, n[0]%16)
	if _, err := io.ReadFull(r, d); err != nil {
		return nil, fmt.Errorf("mls: drawing GREASE data: %w", err)
	}
	return d, nil
}

// addGREASE adds a GREASE value to each list of caps, and a GREASE
// extension (listed in caps) to each of the extension lists, returning
// them (RFC 9420 §13.5).
func addGREASE(r io.Reader, caps *codec.Capabilities, extLists ...[]codec.Extension) ([][]codec.Extension, error) {
	suite, err := greaseValue(r, func(v uint16) bool { return slices.Contains(caps.CipherSuites, codec.CipherSuite(v)) })
	if err != nil {
		return nil, err
	}
	caps.CipherSuites = append(caps.CipherSuites, codec.CipherSuite(suite))
	prop, err := greaseValue(r, func(v uint16) bool { return slices.Contains(caps.Proposals, codec.ProposalType(v)) })
	if err != nil {
		return nil, err
	}
	caps.Proposals = append(caps.Proposals, codec.ProposalType(prop))
	cred, err := greaseValue(r, func(v uint16) bool { return slices.Contains(caps.Credentials, codec.CredentialType(v)) })
	if err != nil {
		return nil, err
	}
	caps.Credentials = append(caps.Credentials, codec.CredentialType(cred))
	out := make([][]codec.Extension, len(extLists))
	for i, exts := range extLists {
		t, err := greaseValue(r, func(v uint16) bool {
			return slices.Contains(caps.Extensions, codec.ExtensionType(v)) ||
				slices.ContainsFunc(exts, func(e codec.Extension) bool { return e.ExtensionType == codec.ExtensionType(v) })
		})
		if err != nil {
			return nil, err
		}
		caps.Extensions = append(caps.Extensions, codec.ExtensionType(t))
		d, err := greaseData(r)
		if err != nil {
			return nil, err
		}
		out[i] = append(slices.Clone(exts), codec.Extension{ExtensionType: codec.ExtensionType(t), ExtensionData: d})
	}
	if len(extLists) == 0 {
		t, err := greaseValue(r, func(v uint16) bool { return slices.Contains(caps.Extensions, codec.ExtensionType(v)) })
		if err != nil {
			return nil, err
		}
		caps.Extensions = append(caps.Extensions, codec.ExtensionType(t))
	}
	return out, nil
}

// greaseLeaf adds GREASE to the capabilities and extensions of a leaf node
// the group configuration describes (a creator's or an external joiner's),
// unless c.NoGREASE.
func (c *GroupConfig) greaseLeaf(r io.Reader, caps *codec.Capabilities, exts []codec.Extension) ([]codec.Extension, error) {
	if c.NoGREASE {
		return exts, nil
	}
	out, err := addGREASE(r, caps, exts)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// greaseGroupInfo adds a GREASE extension with random data to the
// extensions of a GroupInfo, unless the group's configuration says
// NoGREASE.
func (g *Group) greaseGroupInfo(exts []codec.Extension) ([]codec.Extension, error) {
	if g.cfg.NoGREASE {
		return exts, nil
	}
	t, err := greaseValue(g.provider.Rand(), func(v uint16) bool {
		return slices.ContainsFunc(exts, func(e codec.Extension) bool { return e.ExtensionType == codec.ExtensionType(v) })
	})
	if err != nil {
		return nil, err
	}
	d, err := greaseData(g.provider.Rand())
	if err != nil {
		return nil, err
	}
	return append(exts, codec.Extension{ExtensionType: codec.ExtensionType(t), ExtensionData: d}), nil
}
