package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/auth"
)

const (
	settlementAgents     = 5000
	settlementOrders     = 200_000 // × 5 lines = 1,000,000 order lines
	settlementLinesEach  = 5
	settlementReturnsPct = 2
)

var (
	settlementOnce sync.Once
	settlementRun  settlementResult
)

type settlementResult struct {
	compute, post, floor time.Duration
	statements, notes    int
	peakRSSMB            float64
}

// BenchmarkSettlement seeds 5,000 agents and 1,000,000 delivered order lines
// (200,000 orders of 5 lines) in 2026-Q3 with 2% of orders partly returned,
// one rebate program per grade (tiers and a new-product bonus), then runs the
// final settlement through the API on the dev stack: compute (start until
// every statement is written and the settlement is in review) and post
// (approval until every credit note is posted and the settlement published).
// In the same run it times the floor: one plain SQL aggregate of the same
// lines by agent. It reports both, and the process's peak RSS (the worker
// shares the process with the embedded Temporal server and the API here, so
// that figure is an upper bound of the worker's).
func BenchmarkSettlement(b *testing.B) {
	settlementOnce.Do(func() { settlementRun = runSettlement(b) })
	r := settlementRun
	if r.statements == 0 {
		b.Fatal("the settlement scenario failed")
	}
	b.ReportMetric(r.compute.Seconds(), "compute_s")
	b.ReportMetric(r.post.Seconds(), "post_s")
	b.ReportMetric((r.compute + r.post).Seconds(), "settle_s")
	b.ReportMetric(r.floor.Seconds(), "floor_sql_s")
	b.ReportMetric((r.compute+r.post).Seconds()/r.floor.Seconds(), "x_floor")
	b.ReportMetric(float64(r.statements), "statements")
	b.ReportMetric(float64(r.notes), "credit_notes")
	b.ReportMetric(r.peakRSSMB, "peak_rss_MB")
	b.ReportMetric(0, "ns/op")
}

func runSettlement(b *testing.B) settlementResult {
	s := Start(b)
	defer s.Close()
	ctx := context.Background()
	var res settlementResult
	exec := func(sql string, args ...any) {
		b.Helper()
		if _, err := s.Pool.Exec(ctx, sql, args...); err != nil {
			b.Fatalf("%s: %v", strings.SplitN(strings.TrimSpace(sql), "\n", 2)[0], err)
		}
	}
	exec(`INSERT INTO agents (code, name, grade, region, credit_limit)
		SELECT 'AG-B' || lpad(g::text, 5, '0'), 'Bench agent ' || g, (ARRAY['A', 'B', 'C'])[1 + g % 3],
		       (ARRAY['EAST', 'SOUTH', 'NORTH'])[1 + g % 3], 100000
		FROM generate_series(1, $1::int) g`, settlementAgents)
	exec(`INSERT INTO orders (id, buyer_kind, buyer_code, agent_code, region, warehouse_code, status, list_total, discount_total,
		                    net_total, credit_offset, payable, pricing, idempotency_key, created_by, delivered_at)
		SELECT 'PO-B-' || g, 'agent', a, a, (ARRAY['EAST', 'SOUTH', 'NORTH'])[1 + (g % $2::int + 1) % 3], 'WH-CENTRAL', 'delivered',
		       1000.00, 500.00, 500.00 + (g % 7), 0, 500.00 + (g % 7), '{}', 'bench-' || g, (SELECT min(id) FROM users),
		       timestamptz '2026-07-01 00:00+08' + (g % 91) * interval '1 day' + (g % 86400) * interval '1 second'
		FROM (SELECT g, 'AG-B' || lpad((g % $2::int + 1)::text, 5, '0') AS a FROM generate_series(1, $1::int) g) x`,
		settlementOrders, settlementAgents)
	// The lines add up to the order's net total, so each line's net value
	// (its share of the net total) is its net amount.
	exec(`INSERT INTO order_lines (order_id, line_no, sku, qty, list_price, net_amount, net_value)
		SELECT 'PO-B-' || g, n, skus[1 + (g + n) % array_length(skus, 1)], 1, 200.00,
		       100.00 + CASE WHEN n = 1 THEN g % 7 ELSE 0 END, 100.00 + CASE WHEN n = 1 THEN g % 7 ELSE 0 END
		FROM generate_series(1, $1::int) g, generate_series(1, $2::int) n, (SELECT array_agg(sku ORDER BY sku) AS skus FROM products) p`,
		settlementOrders, settlementLinesEach)
	exec(`INSERT INTO order_returns (order_id, amount, recorded_at)
		SELECT 'PO-B-' || g, 50.00, timestamptz '2026-10-03 10:00+08' FROM generate_series(1, $1::int, 100 / $2::int) g`,
		settlementOrders, settlementReturnsPct)
	exec(`ANALYZE orders; ANALYZE order_lines; ANALYZE order_returns; ANALYZE agents`)

	// The floor: one plain SQL aggregate of the same lines by agent.
	t0 := time.Now()
	exec(`SELECT o.agent_code, sum(l.net_amount) FROM order_lines l JOIN orders o ON o.id = l.order_id
		WHERE o.buyer_kind = 'agent' AND o.delivered_at >= '2026-07-01 00:00+08' AND o.delivered_at < '2026-10-01 00:00+08'
		GROUP BY o.agent_code`)
	res.floor = time.Since(t0)

	// A second finance user approves.
	q := dbgen.New(s.Pool)
	u, err := q.UpsertUser(ctx, dbgen.UpsertUserParams{Name: "bench-finance-2", Role: "finance"})
	if err != nil {
		b.Fatal(err)
	}
	fin2, err := auth.IssueToken(ctx, q, u.ID, "bench")
	if err != nil {
		b.Fatal(err)
	}
	fin := s.Tokens["demo-finance"]
	call := func(method, path, token string, body any) (int, []byte) {
		b.Helper()
		var rd *bytes.Reader
		if body != nil {
			buf, _ := json.Marshal(body)
			rd = bytes.NewReader(buf)
		} else {
			rd = bytes.NewReader(nil)
		}
		req, _ := http.NewRequest(method, s.API.URL+path, rd)
		req.Header.Set("Authorization", "Bearer "+token)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer r.Body.Close()
		var out bytes.Buffer
		_, _ = out.ReadFrom(r.Body)
		return r.StatusCode, out.Bytes()
	}
	for _, g := range []string{"A", "B", "C"} {
		if st, body := call("POST", "/v1/rebate-programs", fin, map[string]any{"code": "VOL-" + g, "name": "Volume " + g, "grade": g,
			"effective_from": "2026-01-01", "mode": "marginal", "cap": "5000.00",
			"tiers":       []map[string]any{{"from": "0", "rate_pct": "1"}, {"from": "15000.00", "rate_pct": "2"}, {"from": "25000.00", "rate_pct": "3"}},
			"new_product": map[string]any{"within_months": 12, "min_share_pct": "20", "bonus_pct": "0.5"}}); st != 201 {
			b.Fatalf("program: %d %s", st, body)
		}
	}
	wait := func(status string) map[string]any {
		b.Helper()
		deadline := time.Now().Add(10 * time.Minute)
		for {
			st, body := call("GET", "/v1/settlements/2026-Q3", fin, nil)
			var v map[string]any
			if st == 200 && json.Unmarshal(body, &v) == nil && v["status"] == status {
				return v
			}
			if time.Now().After(deadline) {
				b.Fatalf("settlement stuck: %d %s", st, body)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t0 = time.Now()
	if st, body := call("POST", "/v1/settlements", fin, map[string]any{"period": "2026-Q3", "kind": "final"}); st != 202 {
		b.Fatalf("start: %d %s", st, body)
	}
	v := wait("review")
	res.compute = time.Since(t0)
	res.statements = int(v["agents_done"].(float64))
	t0 = time.Now()
	if st, body := call("POST", "/v1/settlements/2026-Q3/approval", fin2, nil); st != 200 {
		b.Fatalf("approve: %d %s", st, body)
	}
	v = wait("published")
	res.post = time.Since(t0)
	res.notes = int(v["posted"].(float64))
	res.peakRSSMB = peakRSSMB()
	return res
}

// peakRSSMB is this process's peak resident set (VmHWM), in MB.
func peakRSSMB() float64 {
	buf, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(buf), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
