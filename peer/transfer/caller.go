package transfer

import (
	"context"
	"fmt"
	"sync"
)

// Defaults of the per-caller caps of Options.
const (
	// DefaultMaxPerAccount is how many transfers one account may have
	// running or waiting at once: what one download of an older client
	// keeps open at one source (two streams; peer/downloader now opens
	// one), twice.
	DefaultMaxPerAccount = 4
	// DefaultMaxPerAddress is how many transfers one remote address may
	// have running or waiting at once: a few accounts behind one address,
	// and still a third of DefaultMaxTransfers.
	DefaultMaxPerAddress = 8
)

// Caller is who asks for a transfer, as the transport knows them: the
// account of the caller's token and the address it calls from. A Service
// caps the transfers of each, so that one client cannot take every slot or
// fill the queue.
type Caller struct {
	// Account is the caller's account; not capped if empty.
	Account string
	// Address is the caller's address, as it is to be counted (one IPv4
	// address, one IPv6 /64: clientaddr.Of); not capped if
	// empty.
	Address string
}

type callerKey struct{}

// WithCaller returns ctx carrying c, for Download and Upload to count. The
// caller travels in the context, as the token's claims do, because it
// describes the request, not the file.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

func callerFrom(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}

// callers counts the transfers each account and address has running or
// waiting.
type callers struct {
	maxAccount, maxAddress int // 0: no cap

	mu        sync.Mutex
	byAccount map[string]int
	byAddress map[string]int
}

func newCallers(maxAccount, maxAddress int) *callers {
	return &callers{maxAccount: max(maxAccount, 0), maxAddress: max(maxAddress, 0), byAccount: map[string]int{}, byAddress: map[string]int{}}
}

// admit counts one more transfer of c, unless c is at a cap. The caller
// must call the returned release once the transfer is over.
// Errors: ErrBusy, naming the cap.
func (cs *callers) admit(c Caller) (release func(), err error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c.Account != "" && cs.maxAccount > 0 && cs.byAccount[c.Account] >= cs.maxAccount {
		return nil, fmt.Errorf("%w: account %q has %d transfers running or waiting here, the most this peer allows one account", ErrBusy, c.Account, cs.maxAccount)
	}
	if c.Address != "" && cs.maxAddress > 0 && cs.byAddress[c.Address] >= cs.maxAddress {
		return nil, fmt.Errorf("%w: address %s has %d transfers running or waiting here, the most this peer allows one address", ErrBusy, c.Address, cs.maxAddress)
	}
	cs.byAccount[c.Account]++
	cs.byAddress[c.Address]++
	return func() {
		cs.mu.Lock()
		defer cs.mu.Unlock()
		decrement(cs.byAccount, c.Account)
		decrement(cs.byAddress, c.Address)
	}, nil
}

// decrement counts one less for k, forgetting k at zero so the maps hold
// only callers with transfers.
func decrement(m map[string]int, k string) {
	if m[k] <= 1 {
		delete(m, k)
		return
	}
	m[k]--
}
