package downloader

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Get downloads the candidate c into opts.Dest: with c's descriptor (its
// Target) from c's sources first and, if that descriptor cannot be
// delivered, with each of c.Others in turn. c comes from Resolve, which puts
// first the descriptor that the most independent accounts announce: a peer
// that announces a content's SHA-256 with a made-up piece list, size or
// piece size can delay a download, never prevent it while honest sources
// are online.
//
// A descriptor cannot be delivered when no source is left that serves it
// (ErrNoSources: each described another content, failed or was banned), when
// its pieces do not hash to its SHA-256 (ErrMismatch), or when it announces a
// size past the limits or the free disk (ErrBadTarget, ErrTooLarge,
// ErrNoSpace). Any other error (ErrExists, a cancelled context, an I/O error)
// ends Get at once. A source that sent a bad piece is banned for the rest of
// the download: it is not asked again under another descriptor.
//
// The Result is the last attempt's. When every descriptor failed, the error
// wraps the last one's and lists the others'.
func Get(ctx context.Context, c Candidate, opts Options) (*Result, error) {
	attempts := append([]Candidate{c}, c.Others...)
	banned := map[string]error{}
	var failures, skipped []string
	var res *Result
	var err error
	for i, a := range attempts {
		var srcs []Source
		for _, s := range a.Sources {
			if why, ok := banned[s.Address]; ok {
				skipped = append(skipped, fmt.Sprintf("%s not asked again (%v)", s, why))
				continue
			}
			srcs = append(srcs, s)
		}
		res, err = Download(ctx, a.Target, srcs, opts)
		if err == nil {
			return res, nil
		}
		if res != nil {
			for _, s := range res.Sources {
				if errors.Is(s.Err, ErrBadPiece) {
					banned[s.Address] = s.Err
				}
			}
		}
		if !undeliverable(err) || ctx.Err() != nil || i == len(attempts)-1 {
			break
		}
		failures = append(failures, fmt.Sprintf("piece root %.12s… (%d %s, %d %s): %v",
			a.PieceRoot, a.Accounts, plural(a.Accounts, "account", "accounts"), len(a.Sources), plural(len(a.Sources), "source", "sources"), err))
	}
	if len(attempts) > 1 && undeliverable(err) {
		err = fmt.Errorf("%w; before it, %d other %s of this sha256 failed: %s",
			err, len(failures), plural(len(failures), "description", "descriptions"), strings.Join(failures, "; "))
		if len(skipped) > 0 {
			err = fmt.Errorf("%w; %s", err, strings.Join(skipped, "; "))
		}
	}
	return res, err
}

// undeliverable reports whether err means that a descriptor cannot be
// delivered, so that another descriptor of the same content may be tried.
func undeliverable(err error) bool {
	for _, target := range []error{ErrNoSources, ErrMismatch, ErrBadTarget, ErrTooLarge, ErrNoSpace} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
