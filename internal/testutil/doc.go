// Package testutil is the one home of what peerhub's tests share: a poller
// that replaces fixed sleeps, the rule for a missing tool or service (skip on
// a developer's machine, fail under CI=true), the repository root, real
// command-line tools (grpcurl pinned in tools/go.mod), reproducible random
// content and its SHA-256, a settable clock, and a token issuer standing in
// for a directory. It is imported by tests only.
package testutil
