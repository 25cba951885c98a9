package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/alliance/backoffice/internal/auth"
	"github.com/alliance/backoffice/workflows"
)

const (
	// campaignStores is how many stores the benchmark's campaign reaches
	// (besides the 12 demo stores).
	campaignStores = 10_000
	// ackClients is how many stores acknowledge at once.
	ackClients = 32
)

// campaignResult is what one run of the campaign scenario measured.
type campaignResult struct {
	targets       int
	publish       time.Duration
	acks          int
	ackRate       float64
	historyEvents int
}

var (
	campaignOnce sync.Once
	campaignRun  campaignResult
)

// BenchmarkCampaign publishes a campaign to 10,012 stores through the API
// and measures the time from the publish request until the campaign is
// published with every target notified (inbox rows); then every one of the
// 10,000 added stores acknowledges it through the API, 32 at a time, each
// with its own token (acks/s); then counts the events of the campaign's
// workflow history. The scenario is fixed work: it runs once whatever b.N,
// and each call reports its numbers.
func BenchmarkCampaign(b *testing.B) {
	campaignOnce.Do(func() { campaignRun = runCampaign(b) })
	r := campaignRun
	if r.targets == 0 {
		b.Fatal("the campaign scenario failed")
	}
	b.ReportMetric(r.publish.Seconds(), "publish_s")
	b.ReportMetric(float64(r.targets), "targets")
	b.ReportMetric(r.ackRate, "acks/s")
	b.ReportMetric(float64(r.historyEvents), "history_events")
	b.ReportMetric(0, "ns/op")
}

func runCampaign(b *testing.B) campaignResult {
	s := Start(b)
	defer s.Close()
	ctx := context.Background()
	var res campaignResult

	// 10,000 stores, each with a store user and a token.
	if _, err := s.Pool.Exec(ctx, `
		INSERT INTO stores (code, name, agent_code, region, kind, grade)
		SELECT 'ST-BENCH-' || lpad(g::text, 5, '0'), 'Bench store ' || g,
		       (ARRAY['AG-EAST', 'AG-SOUTH', 'AG-NORTH'])[1 + g % 3], (ARRAY['EAST', 'SOUTH', 'NORTH'])[1 + g % 3],
		       CASE WHEN g % 2 = 0 THEN 'collection' ELSE 'single_brand' END, 'S'
		FROM generate_series(1, $1::int) g;
		`, campaignStores); err != nil {
		b.Fatal(err)
	}
	rows, err := s.Pool.Query(ctx, `
		INSERT INTO users (name, role, store_code)
		SELECT 'bench-' || code, 'store', code FROM stores WHERE code LIKE 'ST-BENCH-%'
		RETURNING id`)
	if err != nil {
		b.Fatal(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	tokens := make([]string, len(ids))
	hashes := make([][]byte, len(ids))
	for i := range ids {
		if tokens[i], err = auth.NewToken(); err != nil {
			b.Fatal(err)
		}
		hashes[i] = auth.HashToken(tokens[i])
	}
	if _, err := s.Pool.Exec(ctx, `
		INSERT INTO api_tokens (token_hash, user_id, label)
		SELECT h, u, 'bench' FROM unnest($1::bytea[], $2::bigint[]) AS t(h, u)`, hashes, ids); err != nil {
		b.Fatal(err)
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 2 * ackClients, MaxIdleConnsPerHost: 2 * ackClients}}
	call := func(method, path, token string, body any) (int, error) {
		var buf []byte
		if body != nil {
			buf, _ = json.Marshal(body)
		}
		req, err := http.NewRequest(method, s.API.URL+path, bytes.NewReader(buf))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		r, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer r.Body.Close()
		var sink bytes.Buffer
		_, _ = sink.ReadFrom(r.Body)
		return r.StatusCode, nil
	}

	// Draft, then publish and wait until every target is notified.
	const id = "BENCH-1"
	now := time.Now()
	draft := map[string]any{
		"id": id, "title": "Bench campaign",
		"rules": []map[string]any{{"id": "R1", "kind": "spend_off", "priority": 1,
			"tiers": []map[string]any{{"threshold": "1000.00", "off": "80.00"}}}},
		"target":       map[string]any{"buyer_kinds": []string{"store"}},
		"ack_deadline": now.Add(time.Hour).Format(time.RFC3339), "starts_at": now.Add(2 * time.Hour).Format(time.RFC3339),
		"ends_at": now.Add(3 * time.Hour).Format(time.RFC3339), "reminder_every": "1h",
	}
	admin := s.Tokens["demo-hq-admin"]
	if st, err := call("POST", "/v1/campaigns", admin, draft); err != nil || st != http.StatusCreated {
		b.Fatalf("draft: %d %v", st, err)
	}
	start := time.Now()
	if st, err := call("POST", "/v1/campaigns/"+id+"/publish", admin, nil); err != nil || st != http.StatusAccepted {
		b.Fatalf("publish: %d %v", st, err)
	}
	for deadline := start.Add(2 * time.Minute); ; time.Sleep(10 * time.Millisecond) {
		var status string
		var targets, notified int
		if err := s.Pool.QueryRow(ctx, `
			SELECT c.status, c.target_count, (SELECT count(*) FROM campaign_targets t WHERE t.campaign_id = c.id AND t.notified_at IS NOT NULL)
			FROM campaigns c WHERE c.id = $1`, id).Scan(&status, &targets, &notified); err != nil {
			b.Fatal(err)
		}
		if status == "published" && targets > 0 && notified == targets {
			res.publish, res.targets = time.Since(start), targets
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("not published after 2 minutes: %s, %d of %d notified", status, notified, targets)
		}
	}

	// Every added store acknowledges through the API.
	var next, failures, acked atomic.Int64
	var wg sync.WaitGroup
	start = time.Now()
	for range ackClients {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(tokens)) {
					return
				}
				st, err := call("POST", "/v1/campaigns/"+id+"/acknowledgements", tokens[i], nil)
				if err != nil || st != http.StatusCreated {
					failures.Add(1)
					continue
				}
				acked.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if failures.Load() > 0 {
		b.Fatalf("%d acknowledgements failed", failures.Load())
	}
	var stored int
	if err := s.Pool.QueryRow(ctx, `SELECT count(acknowledged_at) FROM campaign_targets WHERE campaign_id = $1`, id).Scan(&stored); err != nil {
		b.Fatal(err)
	}
	if stored != int(acked.Load()) || stored != len(tokens) {
		b.Fatalf("%d acknowledgements stored, %d answered 201, want %d", stored, acked.Load(), len(tokens))
	}
	res.acks, res.ackRate = stored, float64(stored)/elapsed.Seconds()

	it := s.Temporal.GetWorkflowHistory(ctx, workflows.CampaignID(id), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		if _, err := it.Next(); err != nil {
			b.Fatal(err)
		}
		res.historyEvents++
	}
	fmt.Printf("campaign: %d targets published in %s; %d acknowledgements at %.0f/s; %d history events\n",
		res.targets, res.publish.Round(time.Millisecond), res.acks, res.ackRate, res.historyEvents)
	return res
}
