package main

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/sysctl"
)

// kernelFeature is a kernel feature the daemon uses that older kernels
// lack. docs/kernel.md explains each one.
type kernelFeature struct {
	// since is the first mainline release that has it.
	since sysctl.KernelVersion
	// name says what the kernel lacks, neededFor what of ipvs-proxy
	// fails without it.
	name, neededFor string
}

// kernelFeatures is the policy table, oldest first. Features every kernel
// that runs Kubernetes has (IPVS and its classic schedulers, nf_tables,
// concatenated set keys since 4.1, ctnetlink) are not listed.
var kernelFeatures = []kernelFeature{
	{since: sysctl.KernelVersion{Major: 4, Minor: 17},
		name:      "nftables conntrack address keys (ct original ip daddr: NFT_CT_SRC_IP, NFT_CT_DST_IP and their IPv6 forms)",
		neededFor: "the masquerade rules of the nftables program"},
	{since: sysctl.KernelVersion{Major: 4, Minor: 18},
		name:      "the IPVS mh (Maglev hashing) scheduler, ip_vs_mh",
		neededFor: "the mh scheduler (--ipvs-scheduler=mh or a service's scheduler annotation)"},
	{since: sysctl.KernelVersion{Major: 5, Minor: 6},
		name:      "nftables interval sets with concatenated keys (nft_set_pipapo)",
		neededFor: "loadBalancerSourceRanges (the firewall-allow set)"},
	{since: sysctl.KernelVersion{Major: 5, Minor: 7},
		name:      "the nftables set flag NFT_SET_CONCAT",
		neededFor: "every concatenated set: the kernel refuses the whole nftables program, so nothing is masqueraded or filtered"},
}

// minimumKernel is the oldest kernel with every feature of kernelFeatures;
// testedKernel is the oldest the VM suites run on (Debian 12's 6.1).
var (
	minimumKernel = sysctl.KernelVersion{Major: 5, Minor: 7}
	testedKernel  = sysctl.KernelVersion{Major: 6, Minor: 1}
)

// missingKernelFeatures returns the features kernel v lacks, oldest first.
func missingKernelFeatures(v sysctl.KernelVersion) []kernelFeature {
	var out []kernelFeature
	for _, f := range kernelFeatures {
		if v.Less(f.since) {
			out = append(out, f)
		}
	}
	return out
}

// checkKernel reads the running kernel's release with uname(2) and reports
// it (reportKernel) before the daemon touches the kernel.
func checkKernel(logger klog.Logger) {
	release, err := unameRelease()
	if err != nil {
		logger.Error(err, "Could not read the kernel version; skipped the kernel feature check")
		return
	}
	reportKernel(logger, release)
}

// reportKernel logs one error-level warning per feature the kernel release
// lacks, or a note when it is older than any kernel the tests run on. It
// never stops the daemon: the adapters' probes decide that.
func reportKernel(logger klog.Logger, release string) {
	v, err := sysctl.ParseKernelVersion(release)
	if err != nil {
		logger.Error(err, "Could not parse the kernel version; skipped the kernel feature check")
		return
	}
	for _, f := range missingKernelFeatures(v) {
		logger.Error(nil, "Warning: the kernel is older than ipvs-proxy needs and lacks a feature; upgrade the node's kernel",
			"kernel", release, "minimumKernel", minimumKernel.String(), "missingFeature", f.name,
			"featureSince", f.since.String(), "neededFor", f.neededFor)
	}
	if !v.Less(minimumKernel) && v.Less(testedKernel) {
		logger.Info("The kernel is older than any ipvs-proxy is tested on", "kernel", release, "testedKernel", testedKernel.String())
	}
}

// unameRelease returns the running kernel's release, as uname -r prints it.
func unameRelease() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return strings.TrimSpace(unix.ByteSliceToString(u.Release[:])), nil
}
