// Command devstack runs the whole back office on one machine for
// development (`make dev`): an embedded Temporal server with its Web UI,
// persisted to SQLite under .data/; PostgreSQL (DATABASE_URL, or a
// project-local cluster under .data/); migrations and the demo seed; the
// worker and the API. It prints the URLs and one demo token per role, and
// Ctrl-C stops everything cleanly. A second run finds the data and workflow
// histories of the first.
//
// It links the Temporal server, so it is for development and tests only: the
// production binary is cmd/backoffice, which does not.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alliance/backoffice/db"
	"github.com/alliance/backoffice/internal/app"
	"github.com/alliance/backoffice/internal/config"
	"github.com/alliance/backoffice/internal/devstack"
	"github.com/alliance/backoffice/internal/seed"
	"github.com/alliance/backoffice/internal/temporalx"
	"github.com/alliance/backoffice/workflows"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && (os.Args[1] == "-h" || os.Args[1] == "--help") {
		fmt.Print(help)
		return
	}
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "\ndevstack:", err)
		os.Exit(1)
	}
}

const help = `devstack: the whole Alliance Back Office on this machine (make dev)

Environment (besides those of backoffice --help):
  DEV_DATA_DIR        where PostgreSQL and Temporal keep their data (default .data)
  DATABASE_URL        use this PostgreSQL instead of a project-local cluster
  DEV_PG_PORT         port of the project-local PostgreSQL (default 54329)
  DEV_TEMPORAL_PORT   Temporal frontend gRPC port (default 7233)
  DEV_UI_PORT         Temporal Web UI port (default 8233)
  HTTP_ADDR           API address (default :8080)
`

func envInt(name string, def int) (int, error) {
	s := os.Getenv(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || n > 65535 {
		return 0, fmt.Errorf("%s: %q is not a port", name, s)
	}
	return n, nil
}

func run(ctx context.Context) error {
	dataDir := os.Getenv("DEV_DATA_DIR")
	if dataDir == "" {
		dataDir = ".data"
	}
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	pgPort, err := envInt("DEV_PG_PORT", 54329)
	if err != nil {
		return err
	}
	tPort, err := envInt("DEV_TEMPORAL_PORT", 7233)
	if err != nil {
		return err
	}
	uiPort, err := envInt("DEV_UI_PORT", 8233)
	if err != nil {
		return err
	}
	if os.Getenv("LOG_FORMAT") == "" {
		os.Setenv("LOG_FORMAT", "text") // readable in a terminal
	}
	externalDB := os.Getenv("DATABASE_URL") != ""
	cfg, err := config.FromEnv(nil)
	if err != nil {
		return err
	}
	cfg.WorkerHTTPAddr = "" // the API's /metrics carries the worker's metrics in dev
	logger := cfg.Logger()
	slog.SetDefault(logger)
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}

	// Stop what was started, in reverse order, whatever happens.
	var stops []func()
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
		logger.Info("dev stack stopped")
	}()

	startCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()

	// 1. Temporal, with its UI.
	tsrv, err := devstack.StartTemporal(startCtx, devstack.TemporalOptions{
		DBFile: filepath.Join(dataDir, "temporal.db"), FrontendPort: tPort, UIPort: uiPort,
		Namespaces: []string{cfg.TemporalNamespace}, SearchAttributes: workflows.SearchAttributes(),
		Logger: logger.With("component", "temporal-server"),
	})
	if err != nil {
		return fmt.Errorf("temporal: %w", err)
	}
	stops = append(stops, tsrv.Stop)
	cfg.TemporalAddress = tsrv.Address()

	// 2. PostgreSQL.
	if !externalDB {
		pg, err := devstack.StartPostgres(startCtx, devstack.PostgresOptions{
			DataDir: filepath.Join(dataDir, "postgres"), Port: pgPort, Logger: logger.With("component", "postgres"),
		})
		if errors.Is(err, devstack.ErrNoPostgres) {
			return fmt.Errorf("%w\n(with the compose file: DATABASE_URL=postgres://backoffice:backoffice@127.0.0.1:5432/backoffice?sslmode=disable make dev)", err)
		}
		if err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		stops = append(stops, func() {
			if err := pg.Stop(); err != nil {
				logger.Error("postgres stop", "error", err)
			}
		})
		if err := pg.EnsureDatabase(startCtx, "backoffice"); err != nil {
			return err
		}
		cfg.DatabaseURL = pg.DSN("backoffice")
	}

	// 3. Schema, demo data, demo tokens.
	if err := db.Migrate(startCtx, cfg.DatabaseURL, logger.With("component", "migrate")); err != nil {
		return err
	}
	pool, err := db.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	stops = append(stops, pool.Close)
	if err := seed.Seed(startCtx, pool); err != nil {
		return err
	}
	tokens, err := seed.DemoTokens(startCtx, pool, filepath.Join(dataDir, "demo-tokens.json"))
	if err != nil {
		return err
	}

	// 4. Worker and API, sharing one Temporal client and one metrics registry.
	reg := app.NewRegistry()
	tc, closer, err := temporalx.Dial(startCtx, temporalx.Options{
		Address: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace, Logger: logger, Registry: reg,
	})
	if err != nil {
		return err
	}
	stops = append(stops, func() { tc.Close(); _ = closer.Close() })

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Go(func() { errs <- app.RunWorker(runCtx, cfg, pool, tc, reg, logger.With("component", "worker")) })
	wg.Go(func() { errs <- app.ServeAPI(runCtx, cfg, pool, tc, reg, logger.With("component", "api")) })
	stops = append(stops, func() { stopRun(); wg.Wait() })

	printBanner(cfg, tsrv, tokens, externalDB)

	select {
	case <-ctx.Done():
		logger.Info("shutting down (Ctrl-C)")
		return nil
	case err := <-errs:
		stopRun()
		return err
	}
}

func printBanner(cfg config.Config, t *devstack.Temporal, tokens map[string]string, externalDB bool) {
	api := "http://localhost" + cfg.HTTPAddr
	if !strings.HasPrefix(cfg.HTTPAddr, ":") {
		api = "http://" + cfg.HTTPAddr
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n================ Alliance Back Office: dev stack ready ================\n")
	fmt.Fprintf(&b, "  API               %s   (try %s/readyz)\n", api, api)
	fmt.Fprintf(&b, "  OpenAPI           %s/openapi.yaml\n", api)
	fmt.Fprintf(&b, "  Metrics           %s/metrics\n", api)
	fmt.Fprintf(&b, "  Temporal Web UI   %s\n", t.UIURL())
	fmt.Fprintf(&b, "  Temporal gRPC     %s   namespace %s\n", t.Address(), cfg.TemporalNamespace)
	if externalDB {
		fmt.Fprintf(&b, "  PostgreSQL        DATABASE_URL (as given)\n")
	} else {
		fmt.Fprintf(&b, "  PostgreSQL        %s\n", cfg.DatabaseURL)
	}
	fmt.Fprintf(&b, "\n  Demo API tokens (one per role; kept in .data/demo-tokens.json):\n")
	for _, u := range seed.DemoUsers() {
		scope := u.Agent + u.Store + u.BA
		if scope != "" {
			scope = " (" + scope + ")"
		}
		fmt.Fprintf(&b, "    %-9s %-22s %s\n", u.Role, u.Name+scope, tokens[u.Name])
	}
	fmt.Fprintf(&b, "\n  e.g. curl -H 'Authorization: Bearer %s' '%s/v1/inventory?sku=HY-01'\n", tokens["demo-hq-admin"], api)
	fmt.Fprintf(&b, "  Ctrl-C stops everything; data and workflow histories stay in .data/\n")
	fmt.Fprintf(&b, "=======================================================================\n\n")
	fmt.Print(b.String())
}
