package probe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// kube-proxy's nftables mode keeps its IPv4 state in table "ip kube-proxy";
// map service-ips sends each cluster IP . protocol . port to the service's
// chain, which picks an endpoint chain with "numgen random mod N vmap".
const (
	kubeProxyTable = "kube-proxy"
	serviceIPsMap  = "service-ips"
)

// KubeProxyNFT reads kube-proxy's IPv4 nftables table.
type KubeProxyNFT struct {
	conn  *nftables.Conn
	table *nftables.Table
}

// NewKubeProxyNFT opens a netlink connection; the table need not exist yet.
func NewKubeProxyNFT() (*KubeProxyNFT, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("opening nftables netlink: %w", err)
	}
	return &KubeProxyNFT{conn: c, table: &nftables.Table{Name: kubeProxyTable, Family: nftables.TableFamilyIPv4}}, nil
}

// ServiceChains returns the service-ips map: cluster IP to the service
// chain its elements jump to (one port per service in the benchmark). A
// missing table or map is an empty result, not an error.
func (k *KubeProxyNFT) ServiceChains() (map[netip.Addr]string, error) {
	set, err := k.conn.GetSetByName(k.table, serviceIPsMap)
	if errors.Is(err, syscall.ENOENT) {
		return map[netip.Addr]string{}, nil // not created yet
	}
	if err != nil {
		return nil, fmt.Errorf("getting map %s: %w", serviceIPsMap, err)
	}
	elems, err := k.conn.GetSetElements(set)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", serviceIPsMap, err)
	}
	out := make(map[netip.Addr]string, len(elems))
	for _, e := range elems {
		chain := verdictChain(e.Val)
		if len(e.Key) < 4 || chain == "" {
			continue
		}
		out[netip.AddrFrom4([4]byte(e.Key[:4]))] = chain
	}
	return out, nil
}

// Modulus returns the numgen modulus of chain's rules: how many endpoints
// the service balances over. found is false when the chain has no numgen
// (no endpoint, or one endpoint reached by a plain goto).
func (k *KubeProxyNFT) Modulus(chain string) (mod uint32, found bool, err error) {
	rules, err := k.conn.GetRules(k.table, &nftables.Chain{Name: chain, Table: k.table})
	if err != nil {
		return 0, false, fmt.Errorf("listing the rules of chain %s: %w", chain, err)
	}
	for _, r := range rules {
		for _, e := range r.Exprs {
			if n, ok := e.(*expr.Numgen); ok {
				return n.Modulus, true, nil
			}
		}
	}
	return 0, false, nil
}

// Netlink attribute types inside a map element's verdict (linux
// nf_tables.h: enum nft_verdict_attributes).
const (
	nftaVerdictChain = 2
	attrHeader       = 4
	attrTypeMask     = 0x3fff // drops NLA_F_NESTED and NLA_F_NET_BYTEORDER
)

// verdictChain returns the chain of a vmap element's verdict. google/nftables
// hands the verdict to us undecoded: the attributes nested in
// NFTA_DATA_VERDICT, each a 4-byte header (length, type) and its data
// padded to 4 bytes.
func verdictChain(b []byte) string {
	for len(b) >= attrHeader {
		n := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4]) & attrTypeMask
		if n < attrHeader || n > len(b) {
			return ""
		}
		if typ == nftaVerdictChain {
			return strings.TrimRight(string(b[attrHeader:n]), "\x00")
		}
		b = b[min(len(b), (n+3)&^3):]
	}
	return ""
}
