// Package e2e holds end-to-end tests of whole peerhub networks: a real
// directory and real peers on 127.0.0.1 (e2e/testnet), the local demo,
// and the Docker Compose deployment. It has no code of its own; e2e/testnet
// is the test-only package that starts such networks.
package e2e
