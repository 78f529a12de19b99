// Package reachproof is how a peer proves, to its directory's dial-back,
// that the address it advertised answers as itself: the directory asks
// Path with a random challenge, and the peer answers the HMAC-SHA256 of
// the challenge keyed by its session id, which only the directory and the
// peer that logged in know. It stands until peers present pinned
// identities, when the dial-back checks the pin of the TLS handshake
// instead.
package reachproof

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// Path is the peer's route that answers a challenge (GET, query
// ChallengeParam).
const Path = "/.well-known/peerhub/reach"

// ChallengeParam is the query parameter of the challenge.
const ChallengeParam = "challenge"

// MaxAnswerLen is the longest answer the directory reads, in bytes.
const MaxAnswerLen = 128

// challengeBytes is the challenge's entropy, in bytes.
const challengeBytes = 32

// NewChallenge returns a random challenge, URL-safe.
func NewChallenge() (string, error) {
	var b [challengeBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("reach challenge: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Answer is the answer to challenge of the peer whose session is
// sessionID.
func Answer(sessionID, challenge string) string {
	m := hmac.New(sha256.New, []byte("peerhub reach "+sessionID))
	m.Write([]byte(challenge))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Check reports whether answer is the right one, in constant time.
func Check(sessionID, challenge, answer string) bool {
	return hmac.Equal([]byte(Answer(sessionID, challenge)), []byte(answer))
}
