package guest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"

	"github.com/vishvananda/netlink"
)

// LinkAddrs returns the addresses of both families on interface name, read
// over netlink. For what is bound on kube-ipvs0, where ipvs-proxy binds an
// IPv4 service address as a local route, use BoundAddrs.
func LinkAddrs(name string) ([]netip.Addr, error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("finding interface %s: %w", name, err)
	}
	list, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("listing the addresses of %s: %w", name, err)
	}
	out := make([]netip.Addr, 0, len(list))
	for _, a := range list {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			out = append(out, ip.Unmap())
		}
	}
	return out, nil
}

// NftSet returns the elements of an nftables set as `nft -j` prints them:
// an address or a number as text, anything else (a concatenation, an
// interval, an element with a timeout) as compact JSON. family is "ip" or
// "ip6". It reads the kernel with the nft command, not through the daemon's
// code.
func NftSet(family, table, set string) ([]string, error) {
	out, err := exec.Command("nft", "-j", "list", "set", family, table, set).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		return nil, fmt.Errorf("nft -j list set %s %s %s: %w: %s", family, table, set, err, stderr)
	}
	return parseNftSet(out, set)
}

// parseNftSet reads the elements of set from `nft -j list set` output.
func parseNftSet(data []byte, set string) ([]string, error) {
	var doc struct {
		Nftables []struct {
			Set *struct {
				Name string            `json:"name"`
				Elem []json.RawMessage `json:"elem"`
			} `json:"set"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parsing nft's JSON: %w", err)
	}
	for _, o := range doc.Nftables {
		if o.Set == nil || o.Set.Name != set {
			continue
		}
		out := make([]string, 0, len(o.Set.Elem))
		for _, raw := range o.Set.Elem {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				out = append(out, s)
				continue
			}
			var b bytes.Buffer
			if err := json.Compact(&b, raw); err != nil {
				return nil, fmt.Errorf("element %s of set %s: %w", raw, set, err)
			}
			out = append(out, b.String())
		}
		return out, nil
	}
	return nil, fmt.Errorf("nft printed no set %s", set)
}
