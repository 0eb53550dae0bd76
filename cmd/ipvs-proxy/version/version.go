// Package version reports what the build stamped into the binary: the
// release version, the git commit and the build date. The release build
// (make build, make release, hack/image.sh; values from hack/version.sh)
// sets them with the linker:
//
//	go build -ldflags "-X github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/version.version=v0.1.0
//	                   -X github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/version.gitCommit=<sha>
//	                   -X github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/version.buildDate=2026-01-02T03:04:05Z"
//
// An unstamped build (go run, go test) reports version "dev", and the commit
// and date the Go toolchain recorded, if any. Get returns the fields
// kube-proxy's kubernetes_build_info metric carries, so a metrics package
// can publish the same series for ipvs-proxy.
package version

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Stamped at build time; see the package comment. They are variables, not
// constants, because the linker's -X sets only string variables.
var (
	version   = "dev"
	gitCommit = ""
	buildDate = ""
)

// Info describes the running binary, with the field names of
// k8s.io/component-base/version.Info.
type Info struct {
	// Major and Minor are the numbers of a "vMAJOR.MINOR..." version,
	// empty for any other ("dev", a bare commit).
	Major, Minor string
	// GitVersion is the version as `git describe --tags --dirty --always`
	// printed it when the binary was built ("v0.1.0", "v0.1.0-3-gabc1234",
	// "v0.1.0-dirty"), or "dev".
	GitVersion string
	// GitCommit is the full commit hash, empty when unknown.
	GitCommit string
	// GitTreeState is "dirty" when the version says the tree had
	// uncommitted changes, "clean" when it was built from a commit, and
	// empty when unknown.
	GitTreeState string
	// BuildDate is an RFC 3339 UTC time: the commit's time for release
	// builds, so that a rebuild is byte-for-byte the same.
	BuildDate string
	// GoVersion, Compiler and Platform are the toolchain's.
	GoVersion, Compiler, Platform string
}

// Get returns the running binary's Info.
func Get() Info {
	return get(version, gitCommit, buildDate, readBuildSettings())
}

// String returns the version, as `ipvs-proxy --version` prints it after
// the program's name.
func (i Info) String() string { return i.GitVersion }

// get assembles Info from the stamped values, falling back to the build
// settings the Go toolchain recorded (vcs.revision, vcs.time,
// vcs.modified) for what was not stamped.
func get(ver, commit, date string, settings map[string]string) Info {
	i := Info{
		GitVersion: ver,
		GitCommit:  commit,
		BuildDate:  date,
		GoVersion:  runtime.Version(),
		Compiler:   runtime.Compiler,
		Platform:   runtime.GOOS + "/" + runtime.GOARCH,
	}
	if i.GitVersion == "" {
		i.GitVersion = "dev"
	}
	i.Major, i.Minor = majorMinor(i.GitVersion)
	stamped := i.GitCommit != ""
	if !stamped {
		i.GitCommit = settings["vcs.revision"]
	}
	if i.BuildDate == "" {
		i.BuildDate = settings["vcs.time"]
	}
	switch {
	case strings.HasSuffix(i.GitVersion, "-dirty"):
		i.GitTreeState = "dirty"
	case stamped:
		i.GitTreeState = "clean"
	case settings["vcs.modified"] == "true":
		i.GitTreeState = "dirty"
	case settings["vcs.modified"] == "false":
		i.GitTreeState = "clean"
	}
	return i
}

// majorMinor returns the major and minor numbers of "vMAJOR.MINOR[...]".
func majorMinor(v string) (major, minor string) {
	rest, ok := strings.CutPrefix(v, "v")
	if !ok {
		return "", ""
	}
	major, rest = leadingDigits(rest)
	rest, ok = strings.CutPrefix(rest, ".")
	minor, _ = leadingDigits(rest)
	if major == "" || !ok || minor == "" {
		return "", ""
	}
	return major, minor
}

// leadingDigits splits s after its leading decimal digits.
func leadingDigits(s string) (digits, rest string) {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return s[:n], s[n:]
}

// readBuildSettings returns the build settings the toolchain embedded, by
// key; none in test binaries or without VCS information.
func readBuildSettings() map[string]string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	out := make(map[string]string, len(bi.Settings))
	for _, s := range bi.Settings {
		out[s.Key] = s.Value
	}
	return out
}
