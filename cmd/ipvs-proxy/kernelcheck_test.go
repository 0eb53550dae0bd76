package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"k8s.io/klog/v2/textlogger"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/sysctl"
)

func TestMissingKernelFeatures(t *testing.T) {
	tests := []struct {
		release string
		want    []string // the since of each missing feature
	}{
		{release: "3.10.0-1160.el7.x86_64", want: []string{"4.17.0", "4.18.0", "5.6.0", "5.7.0"}},
		{release: "4.17.19", want: []string{"4.18.0", "5.6.0", "5.7.0"}},
		{release: "4.19.0-27-amd64", want: []string{"5.6.0", "5.7.0"}},
		{release: "5.4.0-150-generic", want: []string{"5.6.0", "5.7.0"}},
		{release: "5.6.19", want: []string{"5.7.0"}},
		{release: "5.7.0-rc1", want: nil},
		{release: "5.10.0-30-amd64", want: nil},
		{release: "6.1.0-27-amd64", want: nil},
		{release: "6.18.44-fc-v669", want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.release, func(t *testing.T) {
			v, err := sysctl.ParseKernelVersion(tc.release)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range missingKernelFeatures(v) {
				got = append(got, f.since.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("missing features since %v, want %v", got, tc.want)
			}
		})
	}
}

// TestKernelFeatureTable: the table is ordered, and the documented minimum
// is its newest entry.
func TestKernelFeatureTable(t *testing.T) {
	for i := 1; i < len(kernelFeatures); i++ {
		if kernelFeatures[i].since.Less(kernelFeatures[i-1].since) {
			t.Errorf("kernelFeatures[%d] (%s) is older than the entry before it", i, kernelFeatures[i].since)
		}
	}
	if last := kernelFeatures[len(kernelFeatures)-1].since; last != minimumKernel {
		t.Errorf("minimumKernel %s, newest feature %s", minimumKernel, last)
	}
	if testedKernel.Less(minimumKernel) {
		t.Errorf("tested kernel %s is below the minimum %s", testedKernel, minimumKernel)
	}
}

func TestReportKernel(t *testing.T) {
	tests := []struct {
		release string
		want    []string // per logged line, in order: its severity letter, then a substring
	}{
		{release: "5.4.0-150-generic", want: []string{
			`E` + `missingFeature="nftables interval sets with concatenated keys (nft_set_pipapo)" featureSince="5.6.0"`,
			`E` + `missingFeature="the nftables set flag NFT_SET_CONCAT" featureSince="5.7.0"`,
		}},
		{release: "5.15.0-100-generic", want: []string{`I` + `"The kernel is older than any ipvs-proxy is tested on" kernel="5.15.0-100-generic" testedKernel="6.1.0"`}},
		{release: "6.1.0-27-amd64"},
		{release: "not-a-kernel", want: []string{`E` + `"Could not parse the kernel version; skipped the kernel feature check"`}},
	}
	for _, tc := range tests {
		t.Run(tc.release, func(t *testing.T) {
			var buf bytes.Buffer
			reportKernel(textlogger.NewLogger(textlogger.NewConfig(textlogger.Output(&buf))), tc.release)
			lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			if buf.Len() == 0 {
				lines = nil
			}
			if len(lines) != len(tc.want) {
				t.Fatalf("logged %d lines, want %d:\n%s", len(lines), len(tc.want), strings.Join(lines, "\n"))
			}
			for i, w := range tc.want {
				if lines[i][:1] != w[:1] || !strings.Contains(lines[i], w[1:]) {
					t.Errorf("line %d = %s\nwant it to contain %s", i, lines[i], w)
				}
			}
		})
	}
}

// TestUnameRelease: the running kernel's release parses.
func TestUnameRelease(t *testing.T) {
	rel, err := unameRelease()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sysctl.ParseKernelVersion(rel); err != nil {
		t.Error(err)
	}
}
