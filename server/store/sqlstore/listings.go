package sqlstore

import (
	"fmt"

	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/pagetoken"
)

// Page tokens of the listings hold the position of the last item listed:
// a peer name for ListPeers, a peer and a file name for ListFiles. The next
// page starts after it in byte order.

// PeersAfter decodes the page token of a ListPeers listing: the peer name
// the page starts after; ok is false for the first page (token ""). A token
// of another listing, or malformed, is an error wrapping
// store.ErrInvalidArgument.
func PeersAfter(tokens pagetoken.Format, token string) (last string, ok bool, err error) {
	if token == "" {
		return "", false, nil
	}
	payload, err := tokens.Decode(token, pagetoken.Hash("peers"))
	if err != nil {
		return "", false, err
	}
	last, rest, err := pagetoken.ReadString(payload)
	if err != nil || len(rest) != 0 {
		return "", false, fmt.Errorf("page token %q: %w", token, store.ErrInvalidArgument)
	}
	return last, true, nil
}

// PeersPage cuts peers, read with a limit of size+1, to a page of size and
// returns the next page's token, "" on the last page.
func PeersPage(tokens pagetoken.Format, peers []store.Peer, size int) ([]store.Peer, string) {
	if len(peers) <= size {
		return peers, ""
	}
	peers = peers[:size]
	last := peers[size-1].Session.PeerName
	return peers, tokens.Encode(pagetoken.Hash("peers"), pagetoken.AppendString(nil, last))
}

// FilesAfter decodes the page token of a ListFiles listing of one peer's
// files (or every peer's, peer ""): the peer and file name the page starts
// after; ok is false for the first page (token ""). A token of another
// listing, or malformed, is an error wrapping store.ErrInvalidArgument.
func FilesAfter(tokens pagetoken.Format, peer, token string) (lastPeer, lastName string, ok bool, err error) {
	if token == "" {
		return "", "", false, nil
	}
	payload, err := tokens.Decode(token, pagetoken.Hash("files", peer))
	if err != nil {
		return "", "", false, err
	}
	lastPeer, rest, err1 := pagetoken.ReadString(payload)
	lastName, rest, err2 := pagetoken.ReadString(rest)
	if err1 != nil || err2 != nil || len(rest) != 0 || (peer != "" && lastPeer != peer) {
		return "", "", false, fmt.Errorf("page token %q: %w", token, store.ErrInvalidArgument)
	}
	return lastPeer, lastName, true, nil
}

// FilesPage cuts files, read with a limit of size+1, to a page of size and
// returns the next page's token, "" on the last page.
func FilesPage(tokens pagetoken.Format, peer string, files []store.PeerFile, size int) ([]store.PeerFile, string) {
	if len(files) <= size {
		return files, ""
	}
	files = files[:size]
	last := files[size-1]
	pos := pagetoken.AppendString(pagetoken.AppendString(nil, last.Peer), last.File.Name)
	return files, tokens.Encode(pagetoken.Hash("files", peer), pos)
}
