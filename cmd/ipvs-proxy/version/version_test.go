package version

import (
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestGet(t *testing.T) {
	const sha = "69c987b0d1f2a3b4c5d6e7f8091a2b3c4d5e6f70"
	vcs := map[string]string{"vcs.revision": "aaaa", "vcs.time": "2026-01-01T00:00:00Z", "vcs.modified": "true"}
	tests := []struct {
		name              string
		ver, commit, date string
		settings          map[string]string
		want              Info
	}{
		{name: "unstamped, no build settings (go test)", ver: "dev",
			want: Info{GitVersion: "dev"}},
		{name: "unstamped, empty version", want: Info{GitVersion: "dev"}},
		{name: "unstamped, the toolchain's VCS settings", ver: "dev", settings: vcs,
			want: Info{GitVersion: "dev", GitCommit: "aaaa", BuildDate: "2026-01-01T00:00:00Z", GitTreeState: "dirty"}},
		{name: "release", ver: "v0.1.0", commit: sha, date: "2026-11-26T08:00:00Z", settings: vcs,
			want: Info{Major: "0", Minor: "1", GitVersion: "v0.1.0", GitCommit: sha, GitTreeState: "clean", BuildDate: "2026-11-26T08:00:00Z"}},
		{name: "after a release", ver: "v0.1.0-3-g69c987b", commit: sha,
			want: Info{Major: "0", Minor: "1", GitVersion: "v0.1.0-3-g69c987b", GitCommit: sha, GitTreeState: "clean"}},
		{name: "dirty tree", ver: "v1.12.3-dirty", commit: sha,
			want: Info{Major: "1", Minor: "12", GitVersion: "v1.12.3-dirty", GitCommit: sha, GitTreeState: "dirty"}},
		{name: "no tag yet: a bare commit", ver: "69c987b-dirty", commit: sha,
			want: Info{GitVersion: "69c987b-dirty", GitCommit: sha, GitTreeState: "dirty"}},
		{name: "not a version", ver: "vnext", commit: sha,
			want: Info{GitVersion: "vnext", GitCommit: sha, GitTreeState: "clean"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := get(tc.ver, tc.commit, tc.date, tc.settings)
			if got.GoVersion != runtime.Version() || got.Compiler != runtime.Compiler || got.Platform != runtime.GOOS+"/"+runtime.GOARCH {
				t.Errorf("toolchain fields %q %q %q", got.GoVersion, got.Compiler, got.Platform)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(Info{}, "GoVersion", "Compiler", "Platform")); diff != "" {
				t.Errorf("Info (-want +got):\n%s", diff)
			}
			if got.String() != tc.want.GitVersion {
				t.Errorf("String() = %q, want %q", got.String(), tc.want.GitVersion)
			}
		})
	}
}

// TestGetUnstamped: a test binary is not stamped, so it reports "dev".
func TestGetUnstamped(t *testing.T) {
	if got := Get().GitVersion; got != "dev" {
		t.Errorf("GitVersion = %q, want dev", got)
	}
}
