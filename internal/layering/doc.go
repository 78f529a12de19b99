// Package layering holds the test that enforces the import ladder the README
// draws, main → cli → server | peer → internal → gen, over every package of
// the module and their tests (go list -deps -test, as buf's bandeps does):
// server and peer never import each other, internal imports neither, gen
// imports nothing of ours, and test helpers (non-test packages that import
// "testing") never reach the binary. It has no code of its own.
package layering
