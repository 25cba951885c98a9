// Package app wires the back office's processes — API server and Temporal
// worker — from a configuration, for cmd/backoffice and the dev stack.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/alliance/backoffice/api"
	"github.com/alliance/backoffice/internal/config"
	"github.com/alliance/backoffice/worker"
	"github.com/alliance/backoffice/workflows"
)

// NewRegistry returns a Prometheus registry with the Go and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// ServeAPI serves the HTTP API on cfg.HTTPAddr until ctx is done, then shuts
// down gracefully within cfg.ShutdownTimeout.
func ServeAPI(ctx context.Context, cfg config.Config, pool *pgxpool.Pool, tc client.Client, reg *prometheus.Registry, logger *slog.Logger) error {
	e, err := api.New(api.Deps{
		Pool: pool, Temporal: tc, Logger: logger, Registry: reg, RequestTimeout: cfg.RequestTimeout,
		TransferTimeouts: workflows.TransferTimeouts{
			RemindAfter: cfg.TransferRemindAfter, EscalateAfter: cfg.TransferEscalateAfter, ExpireAfter: cfg.TransferExpireAfter,
			ReceiptRemindAfter: cfg.TransferReceiptRemindAfter, ReceiptEscalateAfter: cfg.TransferReceiptEscalateAfter,
		},
	})
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	e.Server.Addr = cfg.HTTPAddr
	return serve(ctx, e.Server, e, cfg, logger, "api")
}

// RunWorker runs the Temporal worker until ctx is done. When
// cfg.WorkerHTTPAddr is set it also serves /metrics and /healthz there.
func RunWorker(ctx context.Context, cfg config.Config, pool *pgxpool.Pool, tc client.Client, reg *prometheus.Registry, logger *slog.Logger) error {
	errc := make(chan error, 1)
	if cfg.WorkerHTTPAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
		})
		srv := &http.Server{Addr: cfg.WorkerHTTPAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- serve(ctx, srv, mux, cfg, logger, "worker-http") }()
	}
	if err := worker.EnsureSettlementSchedule(ctx, tc); err != nil {
		// The worker still runs: finance can start settlements through the API.
		logger.Warn("quarterly settlement schedule not created", "error", err)
	}
	logger.Info("worker started", "task_queue", "backoffice", "namespace", cfg.TemporalNamespace)
	err := worker.Run(ctx, tc, pool, sdkworker.Options{WorkerStopTimeout: cfg.ShutdownTimeout}, worker.WithCampaignWebhook(cfg.CampaignWebhookURL))
	logger.Info("worker stopped")
	if cfg.WorkerHTTPAddr != "" {
		if herr := <-errc; err == nil {
			err = herr
		}
	}
	return err
}

func serve(ctx context.Context, srv *http.Server, h http.Handler, cfg config.Config, logger *slog.Logger, name string) error {
	srv.Handler = h
	errc := make(chan error, 1)
	go func() {
		logger.Info("listening", "server", name, "addr", srv.Addr)
		errc <- srv.ListenAndServe()
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("%s: %w", name, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("%s: shutdown: %w", name, err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: %w", name, err)
	}
	logger.Info("stopped", "server", name)
	return nil
}
