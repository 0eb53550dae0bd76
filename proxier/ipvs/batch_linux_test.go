package ipvs

import (
	"errors"
	"syscall"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/proxier/model"
)

func TestBatchResult(t *testing.T) {
	vs := makeVS("198.18.0.10", 80)
	rs := makeRS("198.18.1.1", 80)
	addVS := model.Op{Kind: model.OpAddVirtualServer, VS: vs}
	delRS := model.Op{Kind: model.OpDeleteRealServer, VS: vs, RS: rs}
	updRS := model.Op{Kind: model.OpUpdateRealServer, VS: vs, RS: rs}
	cut := errors.New("recv: no buffer space")
	tests := []struct {
		name   string
		op     model.Op
		errnos []int32
		err    error
		want   []error // empty: nil
	}{
		{name: "success", op: addVS, errnos: []int32{0}},
		{name: "exists", op: addVS, errnos: []int32{int32(syscall.EEXIST)}, want: []error{ErrExists}},
		{name: "delete missing is nil", op: delRS, errnos: []int32{int32(syscall.ENOENT)}},
		{name: "update missing", op: updRS, errnos: []int32{int32(syscall.ENOENT)}, want: []error{ErrNotFound}},
		{name: "answer lost", op: updRS, errnos: []int32{0}, err: cut, want: []error{errAckLost, cut}},
		{name: "send failed", op: updRS, err: cut, want: []error{errAckLost}},
		{name: "error answered before the loss", op: addVS, errnos: []int32{int32(syscall.EEXIST)}, err: cut, want: []error{ErrExists}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := batchResult(tc.op, tc.errnos, 0, tc.err)
			if len(tc.want) == 0 && got != nil {
				t.Fatalf("err = %v, want nil", got)
			}
			for _, w := range tc.want {
				if !errors.Is(got, w) {
					t.Errorf("err = %v, want one wrapping %v", got, w)
				}
			}
		})
	}
}
