// Package worker runs the Temporal worker of the back office: every workflow
// and activity, on the one task queue.
package worker

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/alliance/backoffice/activities"
	"github.com/alliance/backoffice/workflows"
)

// Option configures the activities a worker registers.
type Option func(*options)

type options struct {
	campaignWebhook string
}

// WithCampaignWebhook sends campaign notifications to url as well as to the
// targets' inboxes.
func WithCampaignWebhook(url string) Option {
	return func(o *options) { o.campaignWebhook = url }
}

// Register adds every workflow and activity of the back office to r. Tests
// use it to build workers the same way production does.
func Register(r sdkworker.Registry, pool *pgxpool.Pool, opts ...Option) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	for _, d := range workflows.Definitions() {
		r.RegisterWorkflowWithOptions(d.Fn, workflow.RegisterOptions{Name: d.Name})
	}
	r.RegisterActivity(&activities.Inventory{Pool: pool})
	r.RegisterActivity(&activities.Transfers{Pool: pool})
	r.RegisterActivity(&activities.Orders{Pool: pool})
	r.RegisterActivity(&activities.Certifications{Pool: pool})
	r.RegisterActivity(&activities.Rebates{Pool: pool})
	r.RegisterActivity(&activities.Campaigns{Pool: pool, WebhookURL: o.campaignWebhook})
}

// New builds a worker on the project's task queue with everything registered.
func New(c client.Client, pool *pgxpool.Pool, opts sdkworker.Options, more ...Option) sdkworker.Worker {
	w := sdkworker.New(c, workflows.TaskQueue, opts)
	Register(w, pool, more...)
	return w
}

// Run runs a worker until ctx is done, then stops it gracefully (in-flight
// activities get worker.Options.WorkerStopTimeout to finish).
func Run(ctx context.Context, c client.Client, pool *pgxpool.Pool, opts sdkworker.Options, more ...Option) error {
	w := New(c, pool, opts, more...)
	if err := w.Start(); err != nil {
		return fmt.Errorf("worker: start: %w", err)
	}
	<-ctx.Done()
	w.Stop()
	return nil
}
