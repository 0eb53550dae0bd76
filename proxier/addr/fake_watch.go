package addr

import (
	"context"
	"net/netip"
	"slices"
	"time"
)

// Watch implements Interface: fn gets every change of the Fake's state
// made after the subscription, and the events given to Inject. Unlike the
// kernel's, the Fake's notifications are delivered synchronously, from
// the goroutine whose call made the change, before that call returns: a
// test knows an event was handled when the change it made returns. fn must
// not call the Fake. A fault injected on CallWatch fails the subscription:
// fn gets an EventsLost at once and another when it is renewed, after
// watchBackoffMin.
func (f *Fake) Watch(ctx context.Context, fn func(Event)) {
	var lost error
	for {
		f.mu.Lock()
		err := f.call(CallWatch, "", false)
		if err == nil {
			f.watch = fn
			if lost != nil {
				f.notify(Event{Kind: EventsLost, Err: lost})
			}
		}
		f.mu.Unlock()
		if err == nil {
			break
		}
		fn(Event{Kind: EventsLost, Err: err})
		lost = err
		select {
		case <-ctx.Done():
			return
		case <-time.After(watchBackoffMin):
		}
	}
	f.deliver()
	<-ctx.Done()
	f.mu.Lock()
	f.watch, f.pending = nil, nil
	f.mu.Unlock()
}

// Watching reports whether a Watch is subscribed (tests wait for it).
func (f *Fake) Watching() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.watch != nil
}

// Inject delivers ev to the running Watch, if any, as the kernel would:
// EventsLost stands for an overflowing receive buffer.
func (f *Fake) Inject(ev Event) {
	defer f.deliver()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notify(ev)
}

// RemoveAddress unbinds a from the dummy interface behind the code's back,
// as an administrator could; it is not counted and is reported to Watch.
func (f *Fake) RemoveAddress(a netip.Addr) {
	a = a.Unmap()
	defer f.deliver()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bound[a] {
		f.notify(Event{Kind: AddressRemoved, Addr: a, Dummy: true})
	}
	delete(f.bound, a)
}

// AddAddress binds a to the existing dummy interface behind the code's
// back; it is not counted and is reported to Watch.
func (f *Fake) AddAddress(a netip.Addr) {
	a = a.Unmap()
	defer f.deliver()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.exists && !f.bound[a] {
		f.bound[a] = true
		f.notify(Event{Kind: AddressAdded, Addr: a, Dummy: true})
	}
}

// notify queues ev for the running Watch; f.mu is held. deliver sends it.
func (f *Fake) notify(ev Event) {
	if f.watch != nil {
		f.pending = append(f.pending, ev)
	}
}

// notifyHost queues the differences between the host's addresses before
// and after; f.mu is held.
func (f *Fake) notifyHost(before, after []netip.Addr) {
	for _, a := range before {
		if !slices.Contains(after, a) {
			f.notify(Event{Kind: AddressRemoved, Addr: a.Unmap()})
		}
	}
	for _, a := range after {
		if !slices.Contains(before, a) {
			f.notify(Event{Kind: AddressAdded, Addr: a.Unmap()})
		}
	}
}

// deliver calls the running Watch's fn with the queued events, in order.
// It is called without f.mu held (fn may take its own locks).
func (f *Fake) deliver() {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	f.mu.Lock()
	evs, fn := f.pending, f.watch
	f.pending = nil
	f.mu.Unlock()
	for _, ev := range evs {
		fn(ev)
	}
}
