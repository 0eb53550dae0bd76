package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/version"
)

// versionFlag is the value of --version, with kube-proxy's forms
// (k8s.io/component-base/version/verflag): --version prints
// "ipvs-proxy v0.1.0", --version=raw the whole version.Info, and
// --version=false runs the daemon.
type versionFlag string

const (
	versionOff versionFlag = "false"
	versionOn  versionFlag = "true"
	versionRaw versionFlag = "raw"
)

// addVersionFlag adds --version to fs; a bare --version means true.
func addVersionFlag(fs *pflag.FlagSet) *versionFlag {
	v := versionOff
	fs.Var(&v, "version", "--version prints the version and exits; --version=raw prints every build field (commit, date, Go version).")
	fs.Lookup("version").NoOptDefVal = string(versionOn)
	return &v
}

// Set implements pflag.Value.
func (v *versionFlag) Set(s string) error {
	if s == string(versionRaw) {
		*v = versionRaw
		return nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true, false or raw")
	}
	*v = versionOff
	if b {
		*v = versionOn
	}
	return nil
}

// String implements pflag.Value.
func (v *versionFlag) String() string { return string(*v) }

// Type implements pflag.Value.
func (v *versionFlag) Type() string { return "version" }

// print writes the version as asked and reports whether it did.
func (v versionFlag) print(w io.Writer) bool {
	switch v {
	case versionOn:
		fmt.Fprintln(w, "ipvs-proxy", version.Get())
	case versionRaw:
		fmt.Fprintf(w, "%#v\n", version.Get())
	default:
		return false
	}
	return true
}
