package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/peerhub/peerhub/server/store"
)

// Peer pins (the peer_pins table of both schemas: name, pin, bound,
// changed) are the TLS identities bound to peer names at their peers'
// logins.

// PinJoin joins the pin bound to each row's peer name (sessions s) for
// PinCols, in the listings that carry pins.
const PinJoin = ` LEFT JOIN peer_pins pp ON pp.name = s.peer_name`

// PinCols are the pin and the time it last changed (nanoseconds, 0 if
// never) of PinJoin's row; PinOf makes them a PeerPin.
const PinCols = `coalesce(pp.pin, ''), coalesce(pp.changed, 0)`

// PinOf is the PeerPin of PinCols' values.
func PinOf(pin string, changed int64) store.PeerPin {
	pp := store.PeerPin{Pin: pin}
	if changed != 0 {
		pp.ChangedAt = time.Unix(0, changed)
	}
	return pp
}

// Peer-pin statements.
const (
	sqlPeerPin     = `SELECT pin FROM peer_pins WHERE name = $1`
	sqlBindPeerPin = `INSERT INTO peer_pins (name, pin, bound, changed) VALUES ($1, $2, $3, 0)
		ON CONFLICT (name) DO UPDATE SET
			changed = CASE WHEN peer_pins.pin <> '' AND excluded.pin <> '' AND peer_pins.pin <> excluded.pin
				THEN excluded.bound ELSE peer_pins.changed END,
			pin = excluded.pin, bound = excluded.bound`
)

// BindPeerPin is store.Store.BindPeerPin in a write transaction q; lock is
// appended to the read of the previous pin (" FOR UPDATE" where writers
// run concurrently).
func BindPeerPin(ctx context.Context, q Querier, name, pin string, now time.Time, lock string) (string, error) {
	var previous string
	err := q.QueryRow(ctx, sqlPeerPin+lock, name).Scan(&previous)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("pin of peer %s: %w", name, err)
	}
	if _, err := q.Exec(ctx, sqlBindPeerPin, name, pin, Nanos(now)); err != nil {
		return "", fmt.Errorf("bind pin of peer %s: %w", name, err)
	}
	if previous == pin {
		return "", nil
	}
	return previous, nil
}

// PeerPins is store.Store.PeerPins on q.
func PeerPins(ctx context.Context, q Querier, names []string) (map[string]store.PeerPin, error) {
	out := make(map[string]store.PeerPin, len(names))
	if len(names) == 0 {
		return out, nil
	}
	var b strings.Builder
	args := make([]any, len(names))
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("$" + strconv.Itoa(i+1))
		args[i] = n
	}
	rows, err := q.Query(ctx, `SELECT name, pin, changed FROM peer_pins WHERE name IN (`+b.String()+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("peer pins: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, pin string
		var changed int64
		if err := rows.Scan(&name, &pin, &changed); err != nil {
			return nil, fmt.Errorf("peer pins: %w", err)
		}
		out[name] = PinOf(pin, changed)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("peer pins: %w", err)
	}
	return out, nil
}
