package config

import (
	"log/slog"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsAndOverrides(t *testing.T) {
	c, err := FromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":8080" || c.TemporalAddress != "127.0.0.1:7233" || c.TemporalNamespace != "default" || c.ShutdownTimeout != 20*time.Second || c.WorkerHTTPAddr != ":9464" {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = FromEnv(env(map[string]string{"HTTP_ADDR": "127.0.0.1:9000", "LOG_LEVEL": "debug", "WORKER_HTTP_ADDR": "off", "DATABASE_URL": "postgres://x/y"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:9000" || c.LogLevel != slog.LevelDebug || c.WorkerHTTPAddr != "" || c.DatabaseURL != "postgres://x/y" {
		t.Fatalf("overrides: %+v", c)
	}
	for k, v := range map[string]string{"LOG_LEVEL": "loud", "LOG_FORMAT": "xml", "SHUTDOWN_TIMEOUT": "soon", "REQUEST_TIMEOUT": "5"} {
		if _, err := FromEnv(env(map[string]string{k: v})); err == nil {
			t.Errorf("%s=%q accepted", k, v)
		}
	}
}
