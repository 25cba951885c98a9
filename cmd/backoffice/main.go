// Command backoffice runs the Alliance Back Office: the HTTP API, the
// Temporal worker, database migrations and the demo seed. Configuration
// comes from environment variables; run `backoffice --help` for the list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/alliance/backoffice/db"
	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/app"
	"github.com/alliance/backoffice/internal/auth"
	"github.com/alliance/backoffice/internal/config"
	"github.com/alliance/backoffice/internal/seed"
	"github.com/alliance/backoffice/internal/temporalx"
)

const usage = `Alliance Back Office

Usage:
  backoffice api       serve the HTTP API (HTTP_ADDR)
  backoffice worker    run the Temporal worker (all workflows and activities)
  backoffice migrate   apply database migrations and exit
  backoffice seed      load the demo data set (idempotent) and exit
  backoffice user NAME ROLE [SCOPE]
                       create or update a user and print a new API token;
                       ROLE is hq_admin, hq_sales, finance, agent, store, ba or ops;
                       SCOPE is the agent, store or BA code for those roles

api and worker apply pending migrations at start.

Environment:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "backoffice:", err)
		os.Exit(1)
	}
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, usage)
	for _, v := range config.Vars() {
		fmt.Fprintf(w, "  %-20s %s (default %q)\n", v.Name, v.Help, v.Default)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stdout)
		if len(args) == 0 {
			return errors.New("a command is required")
		}
		return flag.ErrHelp
	}
	cfg, err := config.FromEnv(nil)
	if err != nil {
		return err
	}
	logger := cfg.Logger().With("process", args[0])
	slog.SetDefault(logger)

	switch args[0] {
	case "migrate":
		if err := db.Migrate(ctx, cfg.DatabaseURL, logger); err != nil {
			return err
		}
		logger.Info("migrations applied")
		return nil
	case "seed":
		pool, err := openDB(ctx, cfg, logger)
		if err != nil {
			return err
		}
		defer pool.Close()
		if err := seed.Seed(ctx, pool); err != nil {
			return err
		}
		logger.Info("demo data seeded")
		return nil
	case "user":
		return addUser(ctx, cfg, logger, args[1:], stdout)
	case "api", "worker":
		pool, err := openDB(ctx, cfg, logger)
		if err != nil {
			return err
		}
		defer pool.Close()
		reg := app.NewRegistry()
		tc, closer, err := temporalx.Dial(ctx, temporalx.Options{
			Address: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace, Logger: logger, Registry: reg,
		})
		if err != nil {
			return err
		}
		defer closer.Close()
		defer tc.Close()
		if args[0] == "api" {
			return app.ServeAPI(ctx, cfg, pool, tc, reg, logger)
		}
		return app.RunWorker(ctx, cfg, pool, tc, reg, logger)
	}
	printUsage(os.Stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

// openDB migrates the database, then opens the pool.
func openDB(ctx context.Context, cfg config.Config, logger *slog.Logger) (*pgxpool.Pool, error) {
	if err := db.Migrate(ctx, cfg.DatabaseURL, logger); err != nil {
		return nil, err
	}
	return db.Open(ctx, cfg.DatabaseURL)
}

func addUser(ctx context.Context, cfg config.Config, logger *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) < 2 || len(args) > 3 {
		return errors.New("usage: backoffice user NAME ROLE [SCOPE]")
	}
	name, role := args[0], auth.Role(args[1])
	params := dbgen.UpsertUserParams{Name: name, Role: string(role)}
	scope := ""
	if len(args) == 3 {
		scope = args[2]
	}
	switch role {
	case auth.RoleAgent:
		params.AgentCode = &scope
	case auth.RoleStore:
		params.StoreCode = &scope
	case auth.RoleBA:
		params.BaCode = &scope
	case auth.RoleHQAdmin, auth.RoleHQSales, auth.RoleFinance, auth.RoleOps:
		if scope != "" {
			return fmt.Errorf("role %s takes no scope", role)
		}
	default:
		return fmt.Errorf("unknown role %q", role)
	}
	if (role == auth.RoleAgent || role == auth.RoleStore || role == auth.RoleBA) && scope == "" {
		return fmt.Errorf("role %s needs a scope (its %s code)", role, role)
	}
	pool, err := openDB(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer pool.Close()
	q := dbgen.New(pool)
	u, err := q.UpsertUser(ctx, params)
	if err != nil {
		return fmt.Errorf("user %s: %w", name, err)
	}
	tok, err := auth.IssueToken(ctx, q, u.ID, "cli")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "user %s (%s) token: %s\n", name, role, tok)
	return nil
}
