package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestBinaryLinksOnlyTheAPIGroupsItReads: the daemon reads core/v1 and
// discovery.k8s.io/v1 only. client-go's generated clientset and informer
// factory link every API group and register them all at start-up (binary
// 34 → 22 MB and about 9 MB of resident pages without them); kubeapi is
// the daemon's client, kubeapi/kubeapitest the tests' bridge to the fake
// clientset.
func TestBinaryLinksOnlyTheAPIGroupsItReads(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	var groups, banned []string
	for _, d := range deps {
		switch {
		case strings.HasPrefix(d, "k8s.io/api/"):
			groups = append(groups, d)
		case d == "k8s.io/client-go/kubernetes", d == "k8s.io/client-go/kubernetes/scheme",
			d == "k8s.io/client-go/informers", strings.HasSuffix(d, "/kubeapitest"):
			banned = append(banned, d)
		}
	}
	slices.Sort(groups)
	if want := []string{"k8s.io/api/core/v1", "k8s.io/api/discovery/v1"}; !slices.Equal(groups, want) {
		t.Errorf("API groups linked: %v, want %v", groups, want)
	}
	if len(banned) > 0 {
		t.Errorf("the daemon links %v", banned)
	}
}
