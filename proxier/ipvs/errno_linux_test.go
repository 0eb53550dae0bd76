package ipvs

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
)

func TestVSError(t *testing.T) {
	vs := makeVS("198.18.0.10", 80, withSched("mh", 0))
	tests := []struct {
		name    string
		call    Call
		errno   error
		want    []error // each must match with errors.Is; empty: nil result
		wantMsg string
	}{
		{name: "success", call: CallAddVirtualServer},
		{name: "add exists", call: CallAddVirtualServer, errno: syscall.EEXIST, want: []error{ErrExists, syscall.EEXIST},
			wantMsg: "adding virtual server tcp 198.18.0.10:80: already exists (file exists)"},
		{name: "add without scheduler module", call: CallAddVirtualServer, errno: syscall.ENOENT, want: []error{ErrSchedulerMissing},
			wantMsg: "adding virtual server tcp 198.18.0.10:80: scheduler module not loaded: ip_vs_mh (no such file or directory)"},
		{name: "update missing", call: CallUpdateVirtualServer, errno: syscall.ESRCH, want: []error{ErrNotFound}},
		{name: "delete missing", call: CallDeleteVirtualServer, errno: syscall.ESRCH},
		{name: "other errno", call: CallAddVirtualServer, errno: syscall.EINVAL, want: []error{syscall.EINVAL}},
		{name: "wrapped errno", call: CallUpdateVirtualServer, errno: fmt.Errorf("x: %w", syscall.ESRCH), want: []error{ErrNotFound}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkMapped(t, vsError(tc.call, vs, tc.errno), tc.want, tc.wantMsg)
		})
	}
}

func TestRSError(t *testing.T) {
	vs, rs := makeVS("198.18.0.10", 80).VSKey, makeRS("198.18.1.1", 8080).RSKey
	tests := []struct {
		name    string
		call    Call
		errno   error
		want    []error
		wantMsg string
	}{
		{name: "add exists", call: CallAddRealServer, errno: syscall.EEXIST, want: []error{ErrExists}},
		{name: "add to missing service", call: CallAddRealServer, errno: syscall.ESRCH, want: []error{ErrNotFound},
			wantMsg: "adding real server 198.18.1.1:8080 of tcp 198.18.0.10:80: virtual server not found (no such process)"},
		{name: "update missing", call: CallUpdateRealServer, errno: syscall.ENOENT, want: []error{ErrNotFound}},
		{name: "update in missing service", call: CallUpdateRealServer, errno: syscall.ESRCH, want: []error{ErrNotFound}},
		{name: "delete missing", call: CallDeleteRealServer, errno: syscall.ENOENT},
		{name: "delete in missing service", call: CallDeleteRealServer, errno: syscall.ESRCH},
		{name: "range", call: CallUpdateRealServer, errno: syscall.ERANGE, want: []error{syscall.ERANGE}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkMapped(t, rsError(tc.call, vs, rs, tc.errno), tc.want, tc.wantMsg)
		})
	}
}

func checkMapped(t *testing.T, err error, want []error, wantMsg string) {
	t.Helper()
	if len(want) == 0 && err != nil {
		t.Fatalf("err = %v, want nil", err)
	}
	for _, w := range want {
		if !errors.Is(err, w) {
			t.Errorf("err = %v, want one wrapping %v", err, w)
		}
	}
	if wantMsg != "" && (err == nil || err.Error() != wantMsg) {
		t.Errorf("message = %q, want %q", err, wantMsg)
	}
}

func TestInterrupted(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("x: %w", errInconsistent), true},
		{errNLDumpInterrupted, true},
		{syscall.EINTR, true},
		{syscall.EPERM, false},
	} {
		if got := interrupted(tc.err); got != tc.want {
			t.Errorf("interrupted(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
