package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alliance/backoffice/db/dbgen"
)

// transferConcurrency is how many transfers are driven at once.
const transferConcurrency = 8

// BenchmarkTransferThroughput measures cross-channel stock transfers end to
// end through the HTTP API on the make dev stack (Start: the embedded
// Temporal server on a SQLite file in WAL mode, a PostgreSQL cluster with
// durable settings, the worker with its default options, the API — as
// `make dev` runs them, in one process). Each transfer is driven by one
// client, the approval automated: POST /v1/transfers (the workflow reserves
// at the source), POST .../decision approving it as hq_sales (the answer
// comes once the units are dispatched), POST .../receipt receiving it all
// as hq_admin (the answer comes once booked): four ledger postings, four
// activities and two updates per transfer, from request to completion.
// Transfers go from HQ's central warehouse to the e-commerce one, one unit
// of a rotating SKU each, transferConcurrency at a time. It reports
// transfers/s and the p50 / p99 of one transfer's request-to-received time,
// and checks every balance still equals its ledger.
func BenchmarkTransferThroughput(b *testing.B) {
	s := Start(b)
	defer s.Close()
	ctx := context.Background()
	skus := []string{"HY-01", "HY-02", "RD-01", "RD-02", "YR-01", "YR-02", "AB-01", "AB-02"}
	n := max(b.N, 100) // enough for one run to outlast -benchtime 3s: one stack start
	round := time.Now().UnixNano()
	post := func(path, user, ikey string, body any) (int, []byte, error) {
		buf, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		req, err := http.NewRequest("POST", s.API.URL+path, bytes.NewReader(buf))
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Authorization", "Bearer "+s.Tokens[user])
		req.Header.Set("Content-Type", "application/json")
		if ikey != "" {
			req.Header.Set("Idempotency-Key", ikey)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer res.Body.Close()
		out, err := io.ReadAll(res.Body)
		return res.StatusCode, out, err
	}
	// one drives transfer i from request to receipt.
	one := func(i int64) error {
		key := fmt.Sprintf("BENCH-%d-%d", round, i)
		sku := skus[(int(i)%len(skus)+len(skus))%len(skus)] // warm-up transfers have negative numbers
		steps := []struct {
			path, user, ikey string
			body             any
			want             int
		}{
			{"/v1/transfers", "demo-hq-sales", key, map[string]any{
				"source": "WH-CENTRAL", "destination": "WH-ECOM", "reason": "bench",
				"wanted_by": time.Now().AddDate(0, 0, 7).Format(time.DateOnly),
				"lines":     []map[string]any{{"sku": sku, "qty": 1}},
			}, http.StatusAccepted},
			{"/v1/transfers/" + key + "/decision", "demo-hq-sales", "", map[string]any{"decision": "approve"}, http.StatusOK},
			{"/v1/transfers/" + key + "/receipt", "demo-hq-admin", "", map[string]any{"lines": []map[string]any{{"sku": sku, "received_qty": 1}}}, http.StatusOK},
		}
		for _, st := range steps {
			status, body, err := post(st.path, st.user, st.ikey, st.body)
			if err != nil {
				return fmt.Errorf("%s: %w", st.path, err)
			}
			if status != st.want {
				return fmt.Errorf("%s: %d %s", st.path, status, body)
			}
		}
		return nil
	}

	// Warm up (connections, caches, the workflow code paths) outside the
	// measurement.
	for i := range int64(transferConcurrency) {
		if err := one(-1 - i); err != nil {
			b.Fatal(err)
		}
	}

	b.ResetTimer()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		firstErr  error
		next      atomic.Int64
		wg        sync.WaitGroup
	)
	start := time.Now()
	for range transferConcurrency {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				t0 := time.Now()
				err := one(i)
				d := time.Since(t0)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				latencies = append(latencies, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	var received int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM transfers WHERE key LIKE $1 AND status = 'received'`, fmt.Sprintf("BENCH-%d-%%", round)).Scan(&received); err != nil {
		b.Fatal(err)
	}
	if received != n+transferConcurrency {
		b.Fatalf("%d transfers received, want %d", received, n+transferConcurrency)
	}
	if bad, err := dbgen.New(s.Pool).LedgerMismatches(ctx); err != nil || len(bad) > 0 {
		b.Fatalf("balances differ from the ledger: %+v (%v)", bad, err)
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(n)/elapsed.Seconds(), "transfers/s")
	b.ReportMetric(pct(0.50), "transfer_p50_ms")
	b.ReportMetric(pct(0.99), "transfer_p99_ms")
	b.ReportMetric(0, "ns/op")
}
