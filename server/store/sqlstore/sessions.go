package sqlstore

import "github.com/peerhub/peerhub/server/store"

// SessionCols are the session columns ScanSession reads, in its order.
const SessionCols = `id, username, peer_name, address, created, last_seen, expires_at`

// ScanSession reads SessionCols, then extra destinations.
func ScanSession(row Row, extra ...any) (store.Session, error) {
	var ss store.Session
	var created, lastSeen, expires int64
	dest := append([]any{&ss.ID, &ss.Username, &ss.PeerName, &ss.Address, &created, &lastSeen, &expires}, extra...)
	if err := row.Scan(dest...); err != nil {
		return store.Session{}, err
	}
	ss.Created, ss.LastSeen, ss.ExpiresAt = FromNanos(created), FromNanos(lastSeen), FromNanos(expires)
	return ss, nil
}
