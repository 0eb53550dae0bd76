//go:build vmtest

package netfilter_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

// TestNftListsOurTables runs the nft CLI (when the machine has it) on our
// tables: operators list rulesets with it, and rules it cannot decode make
// it abort (nftables 1.0.6 asserts on the generic ct address keys). The
// daemon itself never runs nft.
func TestNftListsOurTables(t *testing.T) {
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Skip("no nft executable here")
	}
	k, ns := newKernel(t)
	if err := k.Apply(dualStack()); err != nil {
		t.Fatal(err)
	}
	var out []byte
	ns.Do(t, func() {
		out, err = exec.Command(nft, "list", "ruleset").CombinedOutput()
	})
	if err != nil {
		t.Fatalf("nft list ruleset: %v\n%s", err, out)
	}
	for _, want := range []string{
		"table ip ipvs-proxy", "table ip6 ipvs-proxy",
		"ct original ip daddr . meta l4proto . ct original proto-dst @masq-ports",
		"ct original ip6 saddr != @local-cidrs",
		"ip daddr . meta l4proto . th dport . ip saddr != @firewall-allow",
		"198.19.2.1 . tcp . 443 . 198.18.0.0/16",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("nft list ruleset lacks %q:\n%s", want, out)
		}
	}

	// The interface detect-local modes' rules list too.
	n := dualStack()
	n.LocalCIDRs, n.LocalInterface, n.MasqueradeMark = nil, model.LocalInterface{Name: "cali", Prefix: true}, 1<<14
	if err := k.Apply(n); err != nil {
		t.Fatal(err)
	}
	ns.Do(t, func() {
		out, err = exec.Command(nft, "list", "ruleset").CombinedOutput()
	})
	if err != nil {
		t.Fatalf("nft list ruleset with an interface mode: %v\n%s", err, out)
	}
	for _, want := range []string{`iifname != "cali*"`, "chain nat-prerouting", "chain nat-output", "meta mark set"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("nft list ruleset lacks %q:\n%s", want, out)
		}
	}
}
