// Package bench measures the back office end to end on the same stack as
// `make dev`: the embedded Temporal server persisted to a SQLite file (WAL,
// as make dev runs it), a PostgreSQL cluster from the machine's binaries
// (durable settings, as make dev), migrations and the demo seed, the worker
// with its default options and the HTTP API, all in one process on this
// machine. Run with `make bench`.
package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/alliance/backoffice/api"
	"github.com/alliance/backoffice/db"
	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/auth"
	"github.com/alliance/backoffice/internal/devstack"
	"github.com/alliance/backoffice/internal/seed"
	"github.com/alliance/backoffice/worker"
	"github.com/alliance/backoffice/workflows"
)

// Stack is a running dev stack.
type Stack struct {
	Pool     *pgxpool.Pool
	Temporal client.Client
	API      *httptest.Server
	// Tokens are the demo users' tokens by name.
	Tokens map[string]string
	stop   []func()
}

// Start builds the stack in a temporary directory. Close stops it.
func Start(tb testing.TB) *Stack {
	tb.Helper()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "backoffice-bench-")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // the postgres user must reach it when we run as root
		tb.Fatal(err)
	}
	s := &Stack{Tokens: map[string]string{}}
	s.stop = append(s.stop, func() { _ = os.RemoveAll(dir) })
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

	tsrv, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{
		DBFile: filepath.Join(dir, "temporal.db"), SearchAttributes: workflows.SearchAttributes(), Logger: quiet,
	})
	if err != nil {
		s.Close()
		tb.Fatal(err)
	}
	s.stop = append(s.stop, tsrv.Stop)
	pg, err := devstack.StartPostgres(ctx, devstack.PostgresOptions{DataDir: filepath.Join(dir, "postgres")})
	if err != nil {
		s.Close()
		tb.Fatal(err)
	}
	s.stop = append(s.stop, func() { _ = pg.Stop() })
	if err := pg.EnsureDatabase(ctx, "backoffice"); err != nil {
		s.Close()
		tb.Fatal(err)
	}
	dsn := pg.DSN("backoffice")
	if err := db.Migrate(ctx, dsn, nil); err != nil {
		s.Close()
		tb.Fatal(err)
	}
	if s.Pool, err = db.Open(ctx, dsn); err != nil {
		s.Close()
		tb.Fatal(err)
	}
	s.stop = append(s.stop, s.Pool.Close)
	if err := seed.Seed(ctx, s.Pool); err != nil {
		s.Close()
		tb.Fatal(err)
	}
	q := dbgen.New(s.Pool)
	for _, u := range seed.DemoUsers() {
		user, err := q.GetUserByName(ctx, u.Name)
		if err != nil {
			s.Close()
			tb.Fatal(err)
		}
		if s.Tokens[u.Name], err = auth.IssueToken(ctx, q, user.ID, "bench"); err != nil {
			s.Close()
			tb.Fatal(err)
		}
	}
	if s.Temporal, err = client.Dial(client.Options{HostPort: tsrv.Address(), Namespace: "default", Logger: quietSDK{}}); err != nil {
		s.Close()
		tb.Fatal(err)
	}
	s.stop = append(s.stop, s.Temporal.Close)
	w := worker.New(s.Temporal, s.Pool, sdkworker.Options{})
	if err := w.Start(); err != nil {
		s.Close()
		tb.Fatal(err)
	}
	s.stop = append(s.stop, w.Stop)
	e, err := api.New(api.Deps{Pool: s.Pool, Temporal: s.Temporal, Logger: quiet})
	if err != nil {
		s.Close()
		tb.Fatal(err)
	}
	s.API = httptest.NewServer(e)
	s.stop = append(s.stop, s.API.Close)
	return s
}

// Close stops everything Start started, in reverse order.
func (s *Stack) Close() {
	for i := len(s.stop) - 1; i >= 0; i-- {
		s.stop[i]()
	}
	s.stop = nil
}

// quietSDK drops the SDK's logs, which would drown the benchmark's output.
type quietSDK struct{}

func (quietSDK) Debug(string, ...any) {}
func (quietSDK) Info(string, ...any)  {}
func (quietSDK) Warn(string, ...any)  {}
func (quietSDK) Error(msg string, kv ...any) {
	fmt.Fprintln(os.Stderr, append([]any{"temporal sdk:", msg}, kv...)...)
}
