package cli

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
)

// Listings: how many items the listing commands (search, peers, files)
// fetch, and how far they count past what they show.
const (
	// listPageSize is how many items a listing asks for per call: the
	// directory's largest page.
	listPageSize = 1000
	// maxCounted is how many items in all a listing counts, past its
	// limit, to say how many it left out; beyond, it says "over".
	maxCounted = 100_000
)

// listing is the --limit and --all flags of a listing command.
type listing struct {
	limit int
	all   bool
}

func (l *listing) bind(cmd *cobra.Command, defaultLimit int, what string) {
	cmd.Flags().IntVar(&l.limit, "limit", defaultLimit, "most "+what+" to show")
	cmd.Flags().BoolVar(&l.all, "all", false, "show every one of the "+what+", however many (pages through them)")
}

// page fetches one page: the items and the token of the next page ("" on
// the last), given the page token ("" for the first) and page size.
type page[T any] func(token string, size int32) ([]T, string, error)

// cut is what a listing left out: Total items exist (at least, if
// !Exact), of which Shown are shown.
type cut struct {
	Shown, Total int
	Exact        bool
}

// collect fetches items with fetch until it has l.limit of them (every one
// with --all), then keeps counting the rest, up to maxCounted, without
// keeping them, so the command can say how many it left out.
func collect[T any](l listing, fetch page[T]) ([]T, cut, error) {
	limit := l.limit
	if l.all {
		limit = int(^uint(0) >> 1)
	}
	if limit < 1 {
		return nil, cut{}, usageError{fmt.Errorf("--limit %d: must be at least 1 (or give --all)", l.limit)}
	}
	var out []T
	total, token := 0, ""
	for {
		size := listPageSize
		if len(out) < limit {
			size = min(listPageSize, limit-len(out))
		}
		items, next, err := fetch(token, int32(size))
		if err != nil {
			return nil, cut{}, err
		}
		total += len(items)
		if room := limit - len(out); room > 0 {
			out = append(out, items[:min(len(items), room)]...)
		}
		if next == "" {
			return out, cut{Shown: len(out), Total: total, Exact: true}, nil
		}
		if total >= maxCounted {
			return out, cut{Shown: len(out), Total: total}, nil
		}
		token = next
	}
}

// note tells, on w (standard error, so standard output stays the listing),
// how many items were left out, if any: "200 of 1 234 shown; --limit or
// --all for more".
func (c cut) note(w io.Writer) { c.tell(w, "--limit or --all for more") }

// tell is note with another hint of how to see more.
func (c cut) tell(w io.Writer, hint string) {
	if c.Exact && c.Total <= c.Shown {
		return
	}
	of := groupDigits(c.Total)
	if !c.Exact {
		of = "over " + of
	}
	fmt.Fprintf(w, "%s of %s shown; %s\n", groupDigits(c.Shown), of, hint)
}

// groupDigits writes n with a space between groups of three digits:
// 1234567 is "1 234 567".
func groupDigits(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + " " + s[i:]
	}
	return s
}

// printPeers writes the table of `peerhub peers` to w.
func printPeers(w io.Writer, peers []*directoryv1.PeerInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER\tACCOUNT\tADDRESS\tFILES\tLAST SEEN\tREACH\tKEY")
	for _, p := range peers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", p.GetName(), p.GetUsername(), p.GetAddress(), p.GetFileCount(), ago(p.GetLastSeen()), reachWord(p.GetReachability()), keyWord(p))
	}
	return tw.Flush()
}

// keyWord is how `peerhub peers` shows a peer's TLS key: "-" for a
// cleartext peer, "pinned" when the directory vouches for its key, and
// "changed 3m ago" once a login replaced the key bound to its name (a new
// key, or someone else with the account's password: worth a look).
func keyWord(p *directoryv1.PeerInfo) string {
	switch {
	case p.GetPin() == "":
		return "-"
	case p.GetPinChangedAt() != nil:
		return "changed " + ago(p.GetPinChangedAt())
	}
	return "pinned"
}
