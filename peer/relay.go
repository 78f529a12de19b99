package peer

import (
	"crypto/tls"
	"fmt"
	"net/http"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/identity"
	"github.com/peerhub/peerhub/internal/reachproof"
	"github.com/peerhub/peerhub/internal/rpcclient"
	"github.com/peerhub/peerhub/peer/relayagent"
	"github.com/peerhub/peerhub/peer/session"
)

// relayAgent returns the agent that keeps this peer reachable through the
// directory's relay as Config.Relay says, serving relayed downloaders with
// handler (over TLS with the peer's certificate when it serves TLS).
func (p *Peer) relayAgent(sess *session.Session, handler http.Handler) (*relayagent.Agent, error) {
	var serverTLS *tls.Config
	if p.cert != nil {
		serverTLS = identity.ServerConfig(*p.cert)
	}
	var known *rpcclient.KnownHosts
	if p.cfg.KnownHosts != "" {
		known = rpcclient.NewKnownHosts(p.cfg.KnownHosts)
	}
	base, dirTLS, err := rpcclient.DirectoryTLSFor(p.cfg.Directory, known)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	return relayagent.New(relayagent.Config{
		Directory:    base,
		DirectoryTLS: dirTLS,
		Mode:         p.cfg.Relay,
		Unreachable: func() bool {
			r := sess.Reachability()
			return r != directoryv1.Reachability_REACHABILITY_DIRECT && r != directoryv1.Reachability_REACHABILITY_UNSPECIFIED
		},
		Token:   sess.Token().Get,
		Handler: handler,
		TLS:     serverTLS,
		Logger:  p.log.With("component", "relay"),
	})
}

// reachAnswer answers the directory's dial-back (reachproof): the proof
// that this address serves the peer of the session that logged in.
func reachAnswer(sess *session.Session) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sid := sess.SessionID()
		challenge := r.URL.Query().Get(reachproof.ChallengeParam)
		if sid == "" || challenge == "" || len(challenge) > reachproof.MaxAnswerLen {
			http.Error(w, "no challenge to answer", http.StatusBadRequest)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(reachproof.Answer(sid, challenge)))
	}
}
