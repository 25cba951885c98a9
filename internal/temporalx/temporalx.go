// Package temporalx connects the back office to Temporal: client options
// from the configuration, SDK logs through slog and SDK metrics into the
// Prometheus registry served at /metrics.
package temporalx

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
	sdklog "go.temporal.io/sdk/log"
)

// Options says how to reach Temporal.
type Options struct {
	Address   string
	Namespace string
	Logger    *slog.Logger
	// Registry, when set, receives the SDK's metrics.
	Registry prometheus.Registerer
}

// Dial connects a client and checks the server answers. The returned closer
// stops the metrics scope; call it after closing the client.
func Dial(ctx context.Context, o Options) (client.Client, io.Closer, error) {
	opts := client.Options{HostPort: o.Address, Namespace: o.Namespace}
	if o.Logger != nil {
		opts.Logger = sdklog.NewStructuredLogger(o.Logger.With("component", "temporal-sdk"))
	}
	var closer io.Closer = io.NopCloser(nil)
	if o.Registry != nil {
		rep := tallyprom.NewReporter(tallyprom.Options{
			Registerer:      o.Registry,
			OnRegisterError: func(err error) { o.Logger.Warn("temporal metric not registered", "error", err) },
		})
		scope, c := tally.NewRootScope(tally.ScopeOptions{
			CachedReporter: rep, Separator: tallyprom.DefaultSeparator,
			SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
		}, time.Second)
		opts.MetricsHandler = sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope))
		closer = c
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cl, err := client.DialContext(dctx, opts)
	if err != nil {
		_ = closer.Close()
		return nil, nil, fmt.Errorf("temporal: dial %s (namespace %s): %w", o.Address, o.Namespace, err)
	}
	return cl, closer, nil
}
