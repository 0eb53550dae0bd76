package sysctl

import (
	"testing"
)

func TestParseKernelVersion(t *testing.T) {
	tests := []struct {
		release string
		want    KernelVersion
		wantErr bool
	}{
		{release: "5.4.0-150-generic", want: KernelVersion{5, 4, 0}},
		{release: "6.1.0-27-amd64", want: KernelVersion{6, 1, 0}},
		{release: "6.18.44-fc-v669", want: KernelVersion{6, 18, 44}},
		{release: "3.10.0-1160.el7.x86_64", want: KernelVersion{3, 10, 0}},
		{release: "5.10.0-0.deb10.16-amd64", want: KernelVersion{5, 10, 0}},
		{release: "6.1.0-rc3", want: KernelVersion{6, 1, 0}},
		{release: "5.8", want: KernelVersion{5, 8, 0}},
		{release: "4.19.0+\n", want: KernelVersion{4, 19, 0}},
		{release: "5.9.16.1-microsoft", want: KernelVersion{5, 9, 16}},
		{release: "", wantErr: true},
		{release: "6", wantErr: true},
		{release: "linux-6.1", wantErr: true},
		{release: "0.0.0", wantErr: true},
		{release: "99999999999999999999.1", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.release, func(t *testing.T) {
			got, err := ParseKernelVersion(tc.release)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseKernelVersion(%q) error = %v, wantErr %t", tc.release, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("ParseKernelVersion(%q) = %v, want %v", tc.release, got, tc.want)
			}
		})
	}
}

func TestKernelVersionLess(t *testing.T) {
	tests := []struct {
		a, b KernelVersion
		want bool
	}{
		{KernelVersion{5, 8, 99}, KernelVersion{5, 9, 0}, true},
		{KernelVersion{5, 9, 0}, KernelVersion{5, 9, 0}, false},
		{KernelVersion{5, 10, 0}, KernelVersion{5, 9, 0}, false},
		{KernelVersion{4, 19, 0}, KernelVersion{5, 9, 0}, true},
		{KernelVersion{6, 0, 0}, KernelVersion{5, 9, 0}, false},
		{KernelVersion{5, 9, 1}, KernelVersion{5, 9, 2}, true},
	}
	for _, tc := range tests {
		if got := tc.a.Less(tc.b); got != tc.want {
			t.Errorf("%v.Less(%v) = %t, want %t", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestRunningKernel(t *testing.T) {
	f := NewFake(map[string]string{OSReleaseName: "5.4.0-150-generic\n"})
	got, err := RunningKernel(f)
	if err != nil {
		t.Fatal(err)
	}
	if want := (KernelVersion{5, 4, 0}); got != want {
		t.Errorf("RunningKernel() = %v, want %v", got, want)
	}
	if _, err := RunningKernel(NewFake(nil)); err == nil {
		t.Error("RunningKernel() without kernel.osrelease returned no error")
	}
}
