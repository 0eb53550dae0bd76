package kubeproxy

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"golang.org/x/sys/unix"
)

func TestIpsetDestroy(t *testing.T) {
	for _, tc := range []struct {
		name  string
		errno int // the kernel's answer, 0 for success
		want  error
	}{
		{"destroyed", 0, nil},
		{"missing", int(unix.ENOENT), errSetMissing},
		{"in use", int(ipsetErrBusy), errSetBusy},
		{"other", int(unix.EPERM), unix.EPERM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []netlink.Message
			c := nltest.Dial(func(req []netlink.Message) ([]netlink.Message, error) {
				got = append(got, req...)
				if tc.errno != 0 {
					return nltest.Error(tc.errno, req)
				}
				return nltest.Error(0, req) // the acknowledgement
			})
			defer c.Close()
			err := ipsetDestroy(c, "KUBE-CLUSTER-IP")
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if len(got) != 1 {
				t.Fatalf("%d requests, want 1", len(got))
			}
			h := got[0].Header
			if h.Type != netlink.HeaderType(unix.NFNL_SUBSYS_IPSET<<8|ipsetCmdDestroy) || h.Flags&netlink.Excl == 0 {
				t.Errorf("header %+v: want IPSET_CMD_DESTROY with NLM_F_EXCL", h)
			}
			attrs, err := netlink.UnmarshalAttributes(got[0].Data[4:])
			if err != nil {
				t.Fatal(err)
			}
			want := []netlink.Attribute{
				{Length: 5, Type: ipsetAttrProtocol, Data: []byte{ipsetProtocol}},
				{Length: 20, Type: ipsetAttrSetName, Data: []byte("KUBE-CLUSTER-IP\x00")},
			}
			if diff := cmp.Diff(want, attrs); diff != "" {
				t.Errorf("attributes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDestroyRequestNeedsAName(t *testing.T) {
	if _, err := destroyRequest(""); err == nil {
		t.Error("a request without a set name (which destroys every set) was built")
	}
}
