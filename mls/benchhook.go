package mls

import (
	"fmt"

	"github.com/mlskit/mlskit/codec"
	"github.com/mlskit/mlskit/internal/benchhook"
	"github.com/mlskit/mlskit/mls/internal/framing"
	"github.com/mlskit/mlskit/mls/internal/secrettree"
	"github.com/mlskit/mlskit/providers"
)

func init() { benchhook.NewForger = newForger }

// newForger implements benchhook.NewForger: the busy-epoch benchmarks need
// thousands of senders in one epoch, and joining thousands of members (each
// validating the whole tree) would take hours.
func newForger(x any) (benchhook.Forger, error) {
	g, ok := x.(*Group)
	if !ok || g == nil || g.epoch == nil || g.epoch.protector.Tree() == nil {
		return nil, fmt.Errorf("%w: not a group with a secret tree", ErrInvalidArgument)
	}
	ts := g.epoch.protector.Tree().Export()
	st, err := secrettree.Import(g.cs, ts, g.cfg.senderRatchet())
	secrettree.ZeroRecord(ts)
	if err != nil {
		return nil, err
	}
	ctx := g.epoch.ctx
	p, err := framing.NewProtector(g.cs, &ctx, framing.EpochSecrets{SenderDataSecret: g.epoch.secrets.SenderData, MembershipKey: g.epoch.secrets.Membership}, st, g.protectorOptions())
	if err != nil {
		return nil, err
	}
	return func(leaf uint32, signer providers.Signer, data []byte) ([]byte, error) {
		fc := codec.FramedContent{
			GroupID:         ctx.GroupID,
			Epoch:           ctx.Epoch,
			Sender:          codec.Sender{SenderType: codec.SenderTypeMember, LeafIndex: leaf},
			ContentType:     codec.ContentTypeApplication,
			ApplicationData: data,
		}
		ac, err := p.Sign(signer, codec.WireFormatMLSPrivateMessage, &fc)
		if err != nil {
			return nil, err
		}
		pm, err := p.ProtectPrivate(ac)
		if err != nil {
			return nil, err
		}
		return (&codec.MLSMessage{WireFormat: codec.WireFormatMLSPrivateMessage, PrivateMessage: pm}).Marshal()
	}, nil
}
