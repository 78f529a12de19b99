package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	directoryv1 "github.com/peerhub/peerhub/gen/peerhub/directory/v1"
	"github.com/peerhub/peerhub/internal/rpcclient"
)

// TestBadInput refuses malformed requests with InvalidArgument, over both
// protocols, and leaves the index as it was.
func TestBadInput(t *testing.T) {
	t.Parallel()
	e := start(t)
	peer := e.login(alice, alicePW, "http://127.0.0.1:9001", "").GetToken()
	e.publish(peer, snapshot(entry("keep/me.txt", "keep")))
	before := e.index(peer)

	withName := func(name string) *directoryv1.PublishRequest {
		f := entry("x", "x")
		f.Name = name
		return snapshot(f)
	}
	withHash := func(h string) *directoryv1.PublishRequest {
		f := entry("x", "x")
		f.Sha256 = h
		return snapshot(f)
	}
	login := func(user, pw, addr, name string) *directoryv1.LoginRequest {
		return &directoryv1.LoginRequest{Username: user, Password: pw, AdvertiseAddress: addr, PeerName: name}
	}
	long := strings.Repeat("a", 65)
	cases := []struct {
		name   string
		method string
		req    proto.Message
		res    proto.Message
	}{
		{"empty username", "Login", login("", "pw", "", ""), &directoryv1.LoginResponse{}},
		{"oversized username", "Login", login(long, "pw", "", ""), &directoryv1.LoginResponse{}},
		{"username with a slash", "Login", login("a/b", "pw", "", ""), &directoryv1.LoginResponse{}},
		{"empty password", "Login", login(alice, "", "", ""), &directoryv1.LoginResponse{}},
		{"oversized password", "Login", login(alice, strings.Repeat("p", 1025), "", ""), &directoryv1.LoginResponse{}},
		{"address not http", "Login", login(alice, alicePW, "ftp://host/", ""), &directoryv1.LoginResponse{}},
		{"oversized peer name", "Login", login(alice, alicePW, "http://h:1", long), &directoryv1.LoginResponse{}},
		{"name ../x", "Publish", withName("../x"), &directoryv1.PublishResponse{}},
		{"name /etc/passwd", "Publish", withName("/etc/passwd"), &directoryv1.PublishResponse{}},
		{"name a//b", "Publish", withName("a//b"), &directoryv1.PublishResponse{}},
		{"name with NUL", "Publish", withName("a\x00b"), &directoryv1.PublishResponse{}},
		{"name trailing slash", "Publish", withName("a/"), &directoryv1.PublishResponse{}},
		{"name device", "Publish", withName("dir/nul.txt"), &directoryv1.PublishResponse{}},
		{"oversized name", "Publish", withName(strings.Repeat("n", 1025)), &directoryv1.PublishResponse{}},
		{"uppercase sha256", "Publish", withHash(strings.ToUpper(hexOf("x"))), &directoryv1.PublishResponse{}},
		{"short sha256", "Publish", withHash("abc"), &directoryv1.PublishResponse{}},
		{"duplicate names", "Publish", snapshot(entry("d", "1"), entry("d", "2")), &directoryv1.PublishResponse{}},
		{"no change", "Publish", &directoryv1.PublishRequest{}, &directoryv1.PublishResponse{}},
		{"removed ../x", "Publish", delta(nil, "../x"), &directoryv1.PublishResponse{}},
		{"search page_size 100000", "Search", &directoryv1.SearchRequest{Query: "keep", PageSize: 100000}, &directoryv1.SearchResponse{}},
		{"search without query", "Search", &directoryv1.SearchRequest{}, &directoryv1.SearchResponse{}},
		{"search query too short", "Search", &directoryv1.SearchRequest{Query: "ke"}, &directoryv1.SearchResponse{}},
		{"search query too long", "Search", &directoryv1.SearchRequest{Query: strings.Repeat("q", 257)}, &directoryv1.SearchResponse{}},
		{"search bad sha256", "Search", &directoryv1.SearchRequest{Sha256: "XYZ"}, &directoryv1.SearchResponse{}},
		{"search forged page token", "Search", &directoryv1.SearchRequest{Query: "keep", PageToken: "made-up"}, &directoryv1.SearchResponse{}},
		{"list peers page_size 100000", "ListPeers", &directoryv1.ListPeersRequest{PageSize: 100000}, &directoryv1.ListPeersResponse{}},
		{"list files page_size 100000", "ListFiles", &directoryv1.ListFilesRequest{PageSize: 100000}, &directoryv1.ListFilesResponse{}},
		{"list files bad peer", "ListFiles", &directoryv1.ListFilesRequest{Peer: "../x"}, &directoryv1.ListFilesResponse{}},
		{"list files oversized page token", "ListFiles", &directoryv1.ListFilesRequest{PageToken: strings.Repeat("t", 513)}, &directoryv1.ListFilesResponse{}},
	}
	for _, p := range protocols {
		for _, c := range cases {
			t.Run(p.name+"/"+c.name, func(t *testing.T) {
				expectCode(t, e, p, peer, c.method, c.req, c.res, connect.CodeInvalidArgument)
			})
		}
	}

	// Invalid UTF-8 cannot be built with the generated types' marshalers,
	// so these go as hand-made binary protobuf through Connect.
	str := func(field protowire.Number, s string) []byte {
		return protowire.AppendString(protowire.AppendTag(nil, field, protowire.BytesType), s)
	}
	msg := func(field protowire.Number, body []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, field, protowire.BytesType), body)
	}
	raw := []struct {
		name, method string
		body         []byte
	}{
		{"login username", "Login", append(str(1, "al\xffce"), str(2, "pw")...)},
		{"publish file name", "Publish", msg(1, msg(1, str(1, "bad\xff.txt")))},
		{"search query", "Search", str(1, "so\xffng")},
	}
	for _, r := range raw {
		t.Run("binary invalid UTF-8/"+r.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.url+"/peerhub.directory.v1.DirectoryService/"+r.method, bytes.NewReader(r.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/proto")
			req.Header.Set("Connect-Protocol-Version", "1")
			req.Header.Set("Authorization", "Bearer "+peer)
			res, err := rpcclient.NewHTTPClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			var ce struct{ Code string }
			_ = json.Unmarshal(body, &ce)
			if res.StatusCode != http.StatusBadRequest || ce.Code != "invalid_argument" {
				t.Errorf("HTTP %d %s, want 400 invalid_argument", res.StatusCode, body)
			}
		})
	}

	if after := e.index(peer); !equalFiles(before, after) {
		t.Errorf("index changed:\nbefore %v\nafter  %v", before, after)
	}
}
