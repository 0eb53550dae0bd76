package sysctl

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ipvs-proxy/ipvs-proxy/internal/fault"
)

func TestFakeFail(t *testing.T) {
	boom := errors.New("boom")
	f := NewFake(map[string]string{"a.b": "1", "a.c": "2"})
	f.Fail(CallSet, fault.Rule{Subject: "a.b", Err: boom})
	if err := f.Set("a.b", "3"); !errors.Is(err, boom) {
		t.Errorf("Set(a.b) = %v, want boom", err)
	}
	if err := f.Set("a.c", "3"); err != nil {
		t.Errorf("Set(a.c) = %v, want nil", err)
	}
	f.Fail(CallGet, fault.Rule{Err: boom})
	if _, err := f.Get("a.c"); !errors.Is(err, boom) {
		t.Errorf("Get(a.c) = %v, want boom", err)
	}
	f.ClearFaults()
	if err := f.Set("a.b", "3"); err != nil {
		t.Errorf("Set(a.b) after clearing = %v", err)
	}
	if got, want := f.Dump(), "a.b = 3\na.c = 3\n"; got != want {
		t.Errorf("Dump() = %q, want %q", got, want)
	}
	if r, w := f.Reads(), f.Writes(); r != 1 || w != 3 {
		t.Errorf("%d reads, %d writes; want 1, 3", r, w)
	}
}

func TestFakeConcurrent(t *testing.T) {
	f := NewFake(map[string]string{"a.b": "0"})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 100 {
				_ = f.Set("a.b", fmt.Sprint(i*100+j))
				_, _ = f.Get("a.b")
				_ = f.Dump()
			}
		}()
	}
	wg.Wait()
	if r, w := f.Reads(), f.Writes(); r != 800 || w != 800 {
		t.Errorf("%d reads, %d writes; want 800 of each", r, w)
	}
}
