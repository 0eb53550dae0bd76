package netfilter

import (
	"encoding/binary"
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Generation implements Interface with one NFT_MSG_GETGEN request: the
// kernel's nf_tables generation ID, which every committed transaction in the
// network namespace increments, whoever sent it. (google/nftables parses
// the reply of this request but has no call that sends it.)
func (k *Kernel) Generation() (uint32, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: k.cfg.NetNS})
	if err != nil {
		return 0, fmt.Errorf("opening a netfilter netlink socket: %w", err)
	}
	defer c.Close()
	req := netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETGEN),
			Flags: netlink.Request,
		},
		// struct nfgenmsg: family AF_UNSPEC, version NFNETLINK_V0, res_id 0.
		Data: []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0},
	}
	msgs, err := c.Execute(req)
	if err != nil {
		return 0, fmt.Errorf("reading the nf_tables generation: %w", err)
	}
	for _, m := range msgs {
		if g, ok := parseGeneration(m); ok {
			return g, nil
		}
	}
	return 0, fmt.Errorf("reading the nf_tables generation: no NFTA_GEN_ID in %d replies", len(msgs))
}

// parseGeneration returns the NFTA_GEN_ID of an NFT_MSG_NEWGEN message.
func parseGeneration(m netlink.Message) (uint32, bool) {
	if m.Header.Type != netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWGEN) || len(m.Data) < 4 {
		return 0, false
	}
	ad, err := netlink.NewAttributeDecoder(m.Data[4:])
	if err != nil {
		return 0, false
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		if ad.Type() == unix.NFTA_GEN_ID {
			return ad.Uint32(), true
		}
	}
	return 0, false
}
