package directory

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/peerhub/peerhub/internal/testutil"
	"github.com/peerhub/peerhub/server/store"
	"github.com/peerhub/peerhub/server/store/postgres"
	"github.com/peerhub/peerhub/server/store/postgres/pgtest"
	"github.com/peerhub/peerhub/server/store/sqlite"
)

// Sizes of BenchmarkWatchRound.
const (
	benchWatchFiles   = 20_000 // files in the index, over benchWatchPeers peers
	benchWatchPeers   = 4
	benchWatchQueries = 50 // distinct watched queries
	benchWatchersEach = 20 // watches of each query
)

// BenchmarkWatchRound measures what live searches cost the directory: one
// poll round (every watched query searched once) with benchWatchQueries
// distinct queries watched benchWatchersEach times each, against the
// baseline of the same queries searched once each by Search, in the same
// run. The ratio shows that a round costs one search per distinct query,
// whatever the number of watches; ms/round divided by the poll interval
// (1 s) is the share of one core (and of the database) that polling takes.
//
//	go test -run '^$' -bench BenchmarkWatchRound -benchtime 50x ./server/directory/
//	PEERHUB_TEST_POSTGRES=postgres://… (see pgtest) adds the PostgreSQL store.
func BenchmarkWatchRound(b *testing.B) {
	stores := map[string]func(b *testing.B) store.Store{
		"sqlite": func(b *testing.B) store.Store {
			st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "d.db"))
			if err != nil {
				b.Fatal(err)
			}
			return st
		},
	}
	if os.Getenv(pgtest.EnvURL) != "" {
		stores["postgres"] = func(b *testing.B) store.Store {
			st, err := postgres.Open(b.Context(), pgtest.NewDatabase(b))
			if err != nil {
				b.Fatal(err)
			}
			return st
		}
	}
	for name, open := range stores {
		b.Run(name, func(b *testing.B) {
			st := open(b)
			defer st.Close()
			d, queries := benchWatchDirectory(b, st)
			ctx := b.Context()

			// Baseline: each query searched once, as Search does.
			start := time.Now()
			const baselineRounds = 20
			for range baselineRounds {
				for _, q := range queries {
					if _, _, err := d.Search(ctx, q); err != nil {
						b.Fatal(err)
					}
				}
			}
			baseline := time.Since(start) / baselineRounds

			d.watches.maxPerAccount = benchWatchQueries * benchWatchersEach
			for _, q := range queries {
				for range benchWatchersEach {
					if _, _, _, err := d.watches.subscribe("bench", q); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ResetTimer()
			for b.Loop() {
				d.watches.searchAll(ctx)
			}
			round := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64(round.Microseconds())/1000, "ms/round")
			b.ReportMetric(float64(baseline.Microseconds())/1000, "ms/baseline")
			b.ReportMetric(float64(round)/float64(baseline), "round/baseline")
			watches, _ := d.watches.open()
			b.ReportMetric(float64(watches), "watches")
		})
	}
}

// benchWatchDirectory fills st with benchWatchFiles files and returns a
// directory on it with the queries to watch, each matching a few dozen
// files.
func benchWatchDirectory(b *testing.B, st store.Store) (*Directory, []store.SearchQuery) {
	b.Helper()
	clock := testutil.NewClock()
	d, err := New(b.Context(), st, Config{Now: clock.Now, PasswordCost: bcrypt.MinCost, MaxPublishEntries: benchWatchFiles})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for p := range benchWatchPeers {
		user := fmt.Sprintf("peer%d", p)
		if err := d.AddUser(ctx, user, "pw"); err != nil {
			b.Fatal(err)
		}
		g, err := d.Login(ctx, Credentials{Username: user, Password: "pw", AdvertiseAddress: fmt.Sprintf("http://10.0.0.%d:8001", p+1)})
		if err != nil {
			b.Fatal(err)
		}
		c, err := d.Authenticate(ctx, g.Token)
		if err != nil {
			b.Fatal(err)
		}
		files := make([]store.File, 0, benchWatchFiles/benchWatchPeers)
		for i := range benchWatchFiles / benchWatchPeers {
			n := p*benchWatchFiles/benchWatchPeers + i
			name := fmt.Sprintf("album-%03d/track-%05d.ogg", n%500, n)
			files = append(files, store.File{Name: name, Size: int64(n), SHA256: testutil.SHA256Hex([]byte(name)), PieceSize: 1 << 20, PieceRoot: testutil.SHA256Hex([]byte("p" + name))})
		}
		if _, err := d.Publish(ctx, c, Change{Snapshot: true, Added: files}); err != nil {
			b.Fatal(err)
		}
	}
	queries := make([]store.SearchQuery, benchWatchQueries)
	for i := range queries {
		// 40 files each (album-NNN/ holds benchWatchFiles/500).
		queries[i] = store.SearchQuery{Query: fmt.Sprintf("album-%03d/", i*7), PageSize: MaxWatchResults}
	}
	return d, queries
}
