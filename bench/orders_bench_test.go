package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// concurrency is how many clients submit at once.
const concurrency = 4

// noop is the activity of the ceiling workflow.
func noop(context.Context) error { return nil }

// oneActivity is the bare one-activity workflow that measures the engine's
// ceiling on this stack.
func oneActivity(ctx workflow.Context) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	return workflow.ExecuteActivity(ctx, noop).Get(ctx, nil)
}

// ceiling runs n bare one-activity workflows the way the orders are run —
// concurrency clients start them, completions are awaited as they come — and
// returns workflows per second.
func ceiling(b *testing.B, s *Stack, round, n int) float64 {
	var next atomic.Int64
	var starters, waiters sync.WaitGroup
	start := time.Now()
	for range concurrency {
		starters.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				run, err := s.Temporal.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
					ID: fmt.Sprintf("bench-ceiling-%d-%d", round, i), TaskQueue: "bench-ceiling",
				}, oneActivity)
				if err != nil {
					b.Error(err)
					return
				}
				waiters.Go(func() {
					if err := run.Get(context.Background(), nil); err != nil {
						b.Error(err)
					}
				})
			}
		})
	}
	starters.Wait()
	waiters.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkOrderThroughput measures auto-approved orders end to end —
// POST /v1/orders until the order is approved with its stock reserved — and
// the latency of the POST itself, then, in the same run and on the same
// stack, the rate of a bare one-activity workflow: the engine's ceiling.
// Orders are agents' small orders from HQ's central warehouse (inside policy
// and under the grade's auto-approval limit); the set-up raises credit limits,
// quotas and stock so that every order in the run stays auto-approved.
func BenchmarkOrderThroughput(b *testing.B) {
	s := Start(b)
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Pool.Exec(ctx, `
		UPDATE agents SET credit_limit = 999999999999.00;
		UPDATE grade_policies SET monthly_order_quota = 999999999999.00;`); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Pool.Exec(ctx, `
		INSERT INTO inventory_postings (key, kind, reference, actor) VALUES ('bench:stock', 'receive', 'bench', 'bench');
		INSERT INTO inventory_movements (posting_key, warehouse_code, sku, reason, on_hand_delta, reserved_delta, in_transit_delta, reference, actor)
		SELECT 'bench:stock', 'WH-CENTRAL', sku, 'receipt', 1000000, 0, 0, 'bench', 'bench' FROM products;`); err != nil {
		b.Fatal(err)
	}
	cw := sdkworker.New(s.Temporal, "bench-ceiling", sdkworker.Options{})
	cw.RegisterWorkflow(oneActivity)
	cw.RegisterActivity(noop)
	if err := cw.Start(); err != nil {
		b.Fatal(err)
	}
	defer cw.Stop()
	agents := []string{"demo-agent-east", "demo-agent-south", "demo-agent-north"}
	skus := []string{"HY-01", "HY-02", "RD-01", "RD-02", "YR-01", "YR-02", "AB-01", "AB-02"}
	n := max(b.N, 50)

	// Warm up both paths (connections, caches), outside the measurement.
	ceiling(b, s, -1, 20)
	round := int(time.Now().UnixNano())

	b.ResetTimer()
	var (
		mu       sync.Mutex
		submit   []time.Duration
		pending  = map[string]bool{}
		failures atomic.Int64
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range concurrency {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				body, _ := json.Marshal(map[string]any{"lines": []map[string]any{{"sku": skus[int(i)%len(skus)], "qty": 1}}})
				req, _ := http.NewRequest("POST", s.API.URL+"/v1/orders", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+s.Tokens[agents[int(i)%len(agents)]])
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", fmt.Sprintf("bench-%d-%d", round, i))
				t0 := time.Now()
				res, err := http.DefaultClient.Do(req)
				d := time.Since(t0)
				if err != nil {
					failures.Add(1)
					continue
				}
				var o struct {
					ID string `json:"id"`
				}
				_ = json.NewDecoder(res.Body).Decode(&o)
				res.Body.Close()
				if res.StatusCode != http.StatusAccepted {
					failures.Add(1)
					continue
				}
				mu.Lock()
				submit = append(submit, d)
				pending[o.ID] = true
				mu.Unlock()
			}
		})
	}
	// One poller follows every submitted order until it is approved.
	approved := 0
	deadline := time.Now().Add(10 * time.Minute)
	submittedAll := make(chan struct{})
	go func() { wg.Wait(); close(submittedAll) }()
	for done := false; !done; {
		select {
		case <-submittedAll:
			done = true
		case <-time.After(20 * time.Millisecond):
		}
		for {
			mu.Lock()
			ids := make([]string, 0, len(pending))
			for id := range pending {
				ids = append(ids, id)
			}
			mu.Unlock()
			rows, err := s.Pool.Query(ctx, `SELECT id FROM orders WHERE id = ANY($1) AND status = 'approved' AND reserved`, ids)
			if err != nil {
				b.Fatal(err)
			}
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					b.Fatal(err)
				}
				mu.Lock()
				delete(pending, id)
				mu.Unlock()
				approved++
			}
			rows.Close()
			mu.Lock()
			left := len(pending)
			mu.Unlock()
			if !done || left == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if failures.Load() > 0 || approved != n-int(failures.Load()) {
		b.Fatalf("%d submissions failed, %d of %d approved", failures.Load(), approved, n)
	}
	rate := float64(approved) / elapsed.Seconds()
	ceil := ceiling(b, s, round, n)
	slices.Sort(submit)
	pct := func(p float64) float64 { return float64(submit[int(p*float64(len(submit)-1))].Microseconds()) / 1000 }
	b.ReportMetric(rate, "orders/s")
	b.ReportMetric(ceil, "ceiling_wf/s")
	b.ReportMetric(100*rate/ceil, "%_of_ceiling")
	b.ReportMetric(pct(0.50), "submit_p50_ms")
	b.ReportMetric(pct(0.99), "submit_p99_ms")
	b.ReportMetric(0, "ns/op")
}
