package kubeproxy

import (
	"errors"
	"syscall"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// ipset's netlink protocol (linux/netfilter/ipset/ip_set.h). The request
// is built here rather than with vishvananda/netlink's IpsetDestroy: that
// one sends no NLM_F_EXCL, and without it the kernel answers success for a
// set that does not exist (as `ipset -exist destroy`), so a report could
// not tell a destroyed set from an absent one; and finding out first with
// its IpsetList prints every set's unknown attributes with log.Printf.
const (
	ipsetCmdDestroy   = 3 // IPSET_CMD_DESTROY
	ipsetAttrProtocol = 1 // IPSET_ATTR_PROTOCOL
	ipsetAttrSetName  = 2 // IPSET_ATTR_SETNAME
	// ipsetProtocol is IPSET_PROTOCOL_MIN, which every kernel accepts
	// (those before 5.6 want exactly 6, later ones 6 or 7).
	ipsetProtocol = 6
	// ipsetErrBusy is IPSET_ERR_BUSY: a rule still references the set.
	ipsetErrBusy = syscall.Errno(4096 + 4)
)

// destroyRequest is the IPSET_CMD_DESTROY message for one set. A request
// without a set name would destroy every set: the name is never empty.
func destroyRequest(name string) (netlink.Message, error) {
	if name == "" {
		return netlink.Message{}, errors.New("destroying an ipset needs its name")
	}
	attrs, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: ipsetAttrProtocol, Data: []byte{ipsetProtocol}},
		{Type: ipsetAttrSetName, Data: []byte(name + "\x00")},
	})
	if err != nil {
		return netlink.Message{}, err
	}
	return netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_IPSET<<8 | ipsetCmdDestroy),
			Flags: netlink.Request | netlink.Acknowledge | netlink.Excl,
		},
		Data: append([]byte{unix.AF_INET, unix.NFNETLINK_V0, 0, 0}, attrs...),
	}, nil
}

// ipsetDestroy destroys a set. The error wraps errSetMissing (ENOENT) or
// errSetBusy (IPSET_ERR_BUSY) when that is why it failed.
func ipsetDestroy(c *netlink.Conn, name string) error {
	req, err := destroyRequest(name)
	if err != nil {
		return err
	}
	_, err = c.Execute(req)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ENOENT):
		return errors.Join(errSetMissing, err)
	case errors.Is(err, ipsetErrBusy):
		return errors.Join(errSetBusy, err)
	}
	return err
}
