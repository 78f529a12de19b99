package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/peerhub/peerhub/peer/downloader"
	"github.com/peerhub/peerhub/peer/session"
)

// plannedGet is a download of get NAME... or get --folder, or the reason
// it cannot be made.
type plannedGet struct {
	job getJob
	err error
}

// runGetMany is get with several names, or with --folder: every name is
// resolved and every folder listed first (an ambiguous name is asked
// about on a terminal, per name, before any download starts), then the
// downloads run in one getRunner.
func runGetMany(ctx context.Context, g *globals, o *clientOptions, names []string, folders []string, ro getRunOptions) error {
	var specs []folderSpec
	for _, f := range folders {
		spec, err := parseFolderSpec(f)
		if err != nil {
			return err
		}
		specs = append(specs, spec)
	}
	if err := os.MkdirAll(ro.OutDir, 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	if abs, err := filepath.Abs(ro.OutDir); err == nil {
		ro.OutDir = abs // what get prints says exactly where files went
	}
	s, err := o.login(ctx, g)
	if err != nil {
		return err
	}
	defer s.Logout(context.WithoutCancel(ctx))
	stop := keepAlive(ctx, s)
	defer stop()

	var plan []plannedGet
	for _, name := range names {
		plan = append(plan, resolveForMany(ctx, g, o, s, name, ro.Wait))
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
	}
	if len(specs) > 0 {
		root, err := os.OpenRoot(ro.OutDir)
		if err != nil {
			return fmt.Errorf("output folder: %w", err)
		}
		defer root.Close()
		plan = append(plan, folderJobs(ctx, s, specs, root)...)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
	}

	r := startGetRunner(ctx, g, s, ro)
	for _, p := range plan {
		if p.err != nil {
			r.fail(p.job.Label, p.err)
		} else {
			r.add(p.job)
		}
	}
	return r.finish()
}

// resolveForMany finds what name names, with get's rules: a name several
// files share is asked about on a terminal (not with --json), and fails
// otherwise; a name no online peer shares is looked for again once its
// download starts if --wait allows.
func resolveForMany(ctx context.Context, g *globals, o *clientOptions, s *session.Session, name string, wait time.Duration) plannedGet {
	p := plannedGet{job: getJob{Label: name, Query: name}}
	cand, err := downloader.Resolve(ctx, s.Reads(), name)
	if amb, ok := errors.AsType[*downloader.AmbiguousError](err); ok && !o.json && isTerminal(g.streams.In) {
		cand, err = choose(g, amb)
	}
	switch {
	case errors.Is(err, downloader.ErrNotFound) && wait > 0:
	case err != nil:
		p.err = err
	default:
		p.job.Cand = &cand
	}
	return p
}
