// Package config reads the back office's settings from environment
// variables, with defaults that work on a developer's machine.
package config

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"
)

// Config is every setting of the api, worker, migrate and seed commands.
type Config struct {
	DatabaseURL       string
	TemporalAddress   string
	TemporalNamespace string
	HTTPAddr          string
	WorkerHTTPAddr    string
	LogLevel          slog.Level
	LogFormat         string
	ShutdownTimeout   time.Duration
	RequestTimeout    time.Duration
	// Stock transfer approval deadlines, counted from the reservation.
	CampaignWebhookURL    string
	TransferRemindAfter   time.Duration
	TransferEscalateAfter time.Duration
	TransferExpireAfter   time.Duration
	// Stock transfer receipt deadlines, counted from the dispatch.
	TransferReceiptRemindAfter   time.Duration
	TransferReceiptEscalateAfter time.Duration
}

// Var documents one environment variable.
type Var struct {
	Name, Default, Help string
}

// Vars lists the environment variables the commands read, for --help.
func Vars() []Var {
	return []Var{
		{"DATABASE_URL", "postgres://postgres@127.0.0.1:54329/backoffice?sslmode=disable", "PostgreSQL connection URL"},
		{"TEMPORAL_ADDRESS", "127.0.0.1:7233", "Temporal frontend host:port"},
		{"TEMPORAL_NAMESPACE", "default", "Temporal namespace"},
		{"HTTP_ADDR", ":8080", "API listen address (api)"},
		{"WORKER_HTTP_ADDR", ":9464", "worker's /metrics and /healthz listen address (worker; off disables)"},
		{"CAMPAIGN_WEBHOOK_URL", "", "where campaign notifications are also POSTed as JSON (worker; empty: inbox only)"},
		{"LOG_LEVEL", "info", "debug, info, warn or error"},
		{"LOG_FORMAT", "json", "json or text"},
		{"SHUTDOWN_TIMEOUT", "20s", "how long a graceful shutdown may take"},
		{"REQUEST_TIMEOUT", "30s", "upper bound of one API request"},
		{"TRANSFER_REMIND_AFTER", "12h", "a stock transfer's approver is reminded after this long (api)"},
		{"TRANSFER_ESCALATE_AFTER", "24h", "an undecided stock transfer is escalated to hq_sales after this long (api)"},
		{"TRANSFER_EXPIRE_AFTER", "48h", "an undecided stock transfer expires after this long (api)"},
		{"TRANSFER_RECEIPT_REMIND_AFTER", "48h", "a dispatched stock transfer's destination is reminded to confirm the receipt after this long (api)"},
		{"TRANSFER_RECEIPT_ESCALATE_AFTER", "96h", "an unconfirmed receipt is escalated to HQ after this long in transit (api)"},
	}
}

// FromEnv reads the configuration, using getenv (os.Getenv when nil).
func FromEnv(getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	get := func(name string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		for _, v := range Vars() {
			if v.Name == name {
				return v.Default
			}
		}
		return ""
	}
	c := Config{
		DatabaseURL:        get("DATABASE_URL"),
		TemporalAddress:    get("TEMPORAL_ADDRESS"),
		TemporalNamespace:  get("TEMPORAL_NAMESPACE"),
		HTTPAddr:           get("HTTP_ADDR"),
		WorkerHTTPAddr:     get("WORKER_HTTP_ADDR"),
		CampaignWebhookURL: get("CAMPAIGN_WEBHOOK_URL"),
		LogFormat:          get("LOG_FORMAT"),
	}
	if c.WorkerHTTPAddr == "off" {
		c.WorkerHTTPAddr = ""
	}
	if err := c.LogLevel.UnmarshalText([]byte(get("LOG_LEVEL"))); err != nil {
		return c, fmt.Errorf("LOG_LEVEL: %w", err)
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return c, fmt.Errorf("LOG_FORMAT: %q is neither json nor text", c.LogFormat)
	}
	var err error
	if c.ShutdownTimeout, err = time.ParseDuration(get("SHUTDOWN_TIMEOUT")); err != nil {
		return c, fmt.Errorf("SHUTDOWN_TIMEOUT: %w", err)
	}
	if c.RequestTimeout, err = time.ParseDuration(get("REQUEST_TIMEOUT")); err != nil {
		return c, fmt.Errorf("REQUEST_TIMEOUT: %w", err)
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"TRANSFER_REMIND_AFTER", &c.TransferRemindAfter}, {"TRANSFER_ESCALATE_AFTER", &c.TransferEscalateAfter}, {"TRANSFER_EXPIRE_AFTER", &c.TransferExpireAfter},
		{"TRANSFER_RECEIPT_REMIND_AFTER", &c.TransferReceiptRemindAfter}, {"TRANSFER_RECEIPT_ESCALATE_AFTER", &c.TransferReceiptEscalateAfter}} {
		if *d.dst, err = time.ParseDuration(get(d.name)); err != nil {
			return c, fmt.Errorf("%s: %w", d.name, err)
		}
	}
	if !(0 < c.TransferRemindAfter && c.TransferRemindAfter < c.TransferEscalateAfter && c.TransferEscalateAfter < c.TransferExpireAfter) {
		return c, fmt.Errorf("TRANSFER_REMIND_AFTER (%s) < TRANSFER_ESCALATE_AFTER (%s) < TRANSFER_EXPIRE_AFTER (%s) must hold, all positive",
			c.TransferRemindAfter, c.TransferEscalateAfter, c.TransferExpireAfter)
	}
	if !(0 < c.TransferReceiptRemindAfter && c.TransferReceiptRemindAfter < c.TransferReceiptEscalateAfter) {
		return c, fmt.Errorf("TRANSFER_RECEIPT_REMIND_AFTER (%s) < TRANSFER_RECEIPT_ESCALATE_AFTER (%s) must hold, both positive",
			c.TransferReceiptRemindAfter, c.TransferReceiptEscalateAfter)
	}
	return c, nil
}

// Logger builds the structured logger the configuration asks for.
func (c Config) Logger() *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}
