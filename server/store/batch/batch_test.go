package batch

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
)

var errTestClosed = errors.New("test store closed")

func TestDoAnswersEachRequest(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var sizes []int
	b := New(ctx, errTestClosed, 4, func(_ context.Context, reqs []int) []int {
		mu.Lock()
		sizes = append(sizes, len(reqs))
		mu.Unlock()
		out := make([]int, len(reqs))
		for i, r := range reqs {
			out[i] = 2 * r
		}
		return out
	})
	var wg sync.WaitGroup
	wg.Go(b.Run)
	defer wg.Wait()
	defer cancel()
	var calls sync.WaitGroup
	for i := range 50 {
		calls.Go(func() {
			got, err := b.Do(context.Background(), i)
			if err != nil || got != 2*i {
				t.Errorf("Do(%d) = %d, %v; want %d", i, got, err, 2*i)
			}
		})
	}
	calls.Wait()
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for _, n := range sizes {
		if n < 1 || n > 4 {
			t.Errorf("batch of %d requests, want 1 to 4", n)
		}
		total += n
	}
	if total != 50 {
		t.Errorf("%d requests committed, want 50", total)
	}
}

func TestDoCallerGivesUp(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	release := make(chan struct{})
	b := New(ctx, errTestClosed, 4, func(_ context.Context, reqs []int) []int {
		<-release
		return make([]int, len(reqs))
	})
	var wg sync.WaitGroup
	wg.Go(b.Run)
	defer wg.Wait()
	defer cancel()
	defer close(release)
	callCtx, callCancel := context.WithCancel(context.Background())
	callCancel()
	if _, err := b.Do(callCtx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Do with a canceled context: %v, want context.Canceled", err)
	}
}

func TestDoAfterClose(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	b := New(ctx, errTestClosed, 1, func(_ context.Context, reqs []int) []int {
		return make([]int, len(reqs))
	})
	cancel()
	b.Run() // returns at once: the background context is done
	if _, err := b.Do(context.Background(), 1); !errors.Is(err, errTestClosed) {
		t.Fatalf("Do after close: %v, want the closed error", err)
	}
}

func TestRounds(t *testing.T) {
	// Requests are "key/n"; keys are their first byte. "c" is dropped.
	reqs := []string{"a/1", "b/1", "a/2", "c/1", "a/3", "b/2"}
	var got [][]string
	err := Rounds(reqs, func(r string) byte { return r[0] }, func(r string) bool { return r[0] == 'c' },
		func(round []string) error {
			got = append(got, round)
			return nil
		})
	want := [][]string{{"a/1", "b/1"}, {"a/2", "b/2"}, {"a/3"}}
	if err != nil || len(got) != len(want) {
		t.Fatalf("Rounds: %q, %v; want %q", got, err, want)
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("Rounds: %q; want %q", got, want)
		}
	}
	errStop := errors.New("stop")
	calls := 0
	err = Rounds(reqs, func(r string) byte { return r[0] }, func(string) bool { return false },
		func([]string) error {
			calls++
			return errStop
		})
	if !errors.Is(err, errStop) || calls != 1 {
		t.Fatalf("Rounds with a failing apply: %v after %d calls; want errStop after 1", err, calls)
	}
}
