package transfer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/peer/transfer"
)

// TestStatus checks that Status lists a download and an upload while they
// run, with caller and progress, forgets them once over, keeps the last
// RecentUploads uploads newest first, reports the limits, and that each
// transfer served is logged with its account, file, bytes and duration.
func TestStatus(t *testing.T) {
	t.Parallel()
	data := testutil.RandBytes(64<<10, 7)
	sh := newShare(t, map[string][]byte{"a.bin": data})
	var logs testutil.SyncBuffer
	svc := sh.service(t, transfer.Options{
		ChunkSize: transfer.MinChunkSize, MaxTransfers: 3, MaxQueue: 5, MaxPerAccount: 2, MaxPerAddress: -1,
		MaxRate: 1 << 20, AcceptUploads: true, MaxUploadSize: 1 << 20, MaxUploadTotal: 1 << 30,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	st := svc.Status()
	want := transfer.Limits{MaxTransfers: 3, MaxQueue: 5, MaxPerAccount: 2, MaxPerAddress: 0, MaxRate: 1 << 20,
		AcceptUploads: true, MaxUploadSize: 1 << 20, MaxUploadTotal: 1 << 30}
	if st.Limits != want || len(st.Transfers) != 0 || st.Waiting != 0 || len(st.Uploads) != 0 {
		t.Fatalf("idle status %+v, want limits %+v and nothing running", st, want)
	}

	// A download paused after its third chunk.
	ctx := transfer.WithCaller(t.Context(), transfer.Caller{Account: "bob", Address: "192.0.2.7"})
	third, resume := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		n := 0
		errc <- svc.Download(ctx, transfer.Range{Target: transfer.Target{Name: "a.bin"}, Offset: 1000}, func(int64, []byte) error {
			if n++; n == 4 {
				close(third)
				<-resume
			}
			return nil
		})
	}()
	<-third
	st = svc.Status()
	if len(st.Transfers) != 1 {
		t.Fatalf("status lists %d transfers during a download, want 1", len(st.Transfers))
	}
	p := st.Transfers[0]
	if p.Direction != transfer.Sending || p.Name != "a.bin" || p.SHA256 != testutil.SHA256Hex(data) ||
		p.Caller.Account != "bob" || p.Caller.Address != "192.0.2.7" || p.Size != int64(len(data))-1000 ||
		p.Done != 3*transfer.MinChunkSize || p.Started.IsZero() {
		t.Errorf("running download %+v", p)
	}
	close(resume)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if st := svc.Status(); len(st.Transfers) != 0 {
		t.Errorf("status lists %+v after the download ended", st.Transfers)
	}

	// A download the caller hangs up on is logged as such.
	if err := svc.Download(ctx, transfer.Range{Target: transfer.Target{Name: "a.bin"}}, func(int64, []byte) error { return context.Canceled }); !errors.Is(err, context.Canceled) {
		t.Fatalf("download cut by its caller: %v", err)
	}

	// An upload paused mid-way shows as receiving; stored, it is listed.
	up := testutil.RandBytes(10_000, 8)
	half, go2 := make(chan struct{}), make(chan struct{})
	uctx := transfer.WithCaller(t.Context(), transfer.Caller{Account: "carol"})
	go func() {
		sent := 0
		_, err := svc.Upload(uctx, transfer.UploadHeader{Name: "up/0.bin", Size: int64(len(up)), SHA256: testutil.SHA256Hex(up)}, func() ([]byte, error) {
			switch sent {
			case 0:
				sent++
				return up[:4000], nil
			case 1:
				close(half)
				<-go2
				sent++
				return up[4000:], nil
			}
			return nil, io.EOF
		})
		errc <- err
	}()
	<-half
	if st := svc.Status(); len(st.Transfers) != 1 || st.Transfers[0].Direction != transfer.Receiving ||
		st.Transfers[0].Done != 4000 || st.Transfers[0].Size != int64(len(up)) || st.Transfers[0].Caller.Account != "carol" {
		t.Errorf("running upload: %+v", st.Transfers)
	}
	close(go2)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}

	// More uploads than the ring holds: the last RecentUploads, newest
	// first.
	for i := 1; i <= transfer.RecentUploads+2; i++ {
		b := []byte(fmt.Sprint(i))
		if _, err := svc.Upload(uctx, transfer.UploadHeader{Name: fmt.Sprintf("up/%d.bin", i), Size: int64(len(b)), SHA256: testutil.SHA256Hex(b)}, chunks(b)); err != nil {
			t.Fatal(err)
		}
	}
	st = svc.Status()
	if len(st.Uploads) != transfer.RecentUploads {
		t.Fatalf("%d recent uploads, want %d", len(st.Uploads), transfer.RecentUploads)
	}
	for i, u := range st.Uploads {
		if want := fmt.Sprintf("up/%d.bin", transfer.RecentUploads+2-i); u.Name != want || u.Account != "carol" || u.At.IsZero() {
			t.Fatalf("recent upload %d = %+v, want %s from carol", i, u, want)
		}
	}
	if wantTotal := int64(len(up)); st.UploadTotal <= wantTotal {
		t.Errorf("upload total %d, want more than %d", st.UploadTotal, wantTotal)
	}

	out := logs.String()
	for _, want := range []string{
		`msg="download served" direction=download account=bob address=192.0.2.7 file=a.bin`,
		`msg="upload received" direction=upload account=carol address="" file=up/0.bin`,
		`msg="transfer ended early" direction=download account=bob`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "outcome=cancelled") {
		t.Errorf("log lacks the cut download's outcome:\n%s", out)
	}
	if !strings.Contains(out, "bytes=64536 size=64536 duration=") {
		t.Errorf("download log line lacks its bytes, size and duration:\n%s", out)
	}
}
