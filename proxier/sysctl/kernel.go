package sysctl

import (
	"fmt"
	"strconv"
	"strings"
)

// OSReleaseName is the parameter holding the running kernel's release
// string ("6.1.0-27-amd64"), the same text uname -r prints.
const OSReleaseName = "kernel.osrelease"

// KernelVersion is the numeric part of a kernel release. The zero value
// means unknown.
type KernelVersion struct {
	Major, Minor, Patch int
}

// String formats the version as "major.minor.patch".
func (v KernelVersion) String() string {
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
}

// IsZero reports whether the version is unknown.
func (v KernelVersion) IsZero() bool { return v == KernelVersion{} }

// Less reports whether v is older than o.
func (v KernelVersion) Less(o KernelVersion) bool {
	if v.Major != o.Major {
		return v.Major < o.Major
	}
	if v.Minor != o.Minor {
		return v.Minor < o.Minor
	}
	return v.Patch < o.Patch
}

// ParseKernelVersion parses the leading "major.minor[.patch]" of a kernel
// release string such as "5.4.0-150-generic", "6.1.0-rc3",
// "3.10.0-1160.el7.x86_64" or "6.18.44-fc-v669". Anything after the numbers
// (a distribution suffix, "-rc", "+") is ignored.
func ParseKernelVersion(release string) (KernelVersion, error) {
	s := strings.TrimSpace(release)
	var nums []int
	for len(nums) < 3 {
		n := 0
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		if n == 0 {
			break
		}
		v, err := strconv.Atoi(s[:n])
		if err != nil {
			return KernelVersion{}, fmt.Errorf("parsing kernel release %q: %w", release, err)
		}
		nums = append(nums, v)
		s = s[n:]
		if !strings.HasPrefix(s, ".") {
			break
		}
		s = s[1:]
	}
	if len(nums) < 2 {
		return KernelVersion{}, fmt.Errorf("parsing kernel release %q: want major.minor", release)
	}
	v := KernelVersion{Major: nums[0], Minor: nums[1]}
	if len(nums) == 3 {
		v.Patch = nums[2]
	}
	if v.IsZero() {
		return KernelVersion{}, fmt.Errorf("parsing kernel release %q: version 0.0.0", release)
	}
	return v, nil
}

// RunningKernel reads and parses the running kernel's version through the
// interface (kernel.osrelease), so the fake can pretend any kernel. Proc
// answers it from uname(2), wherever its Root is.
func RunningKernel(iface Interface) (KernelVersion, error) {
	rel, err := iface.Get(OSReleaseName)
	if err != nil {
		return KernelVersion{}, err
	}
	return ParseKernelVersion(rel)
}
