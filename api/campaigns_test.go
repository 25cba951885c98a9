package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/alliance/backoffice/api"
	"github.com/alliance/backoffice/internal/seed"
	"github.com/alliance/backoffice/internal/testenv"
	"github.com/alliance/backoffice/worker"
	"github.com/alliance/backoffice/workflows"
)

// campaignDraft is a valid draft body targeting stores of region EAST, with
// the acknowledgement deadline, start and end the given delays from now.
func campaignDraft(id string, ack, start, end time.Duration) map[string]any {
	now := time.Now()
	return map[string]any{
		"id": id, "title": "Spring launch " + id,
		"rules": []map[string]any{{"id": "R1", "kind": "spend_off", "priority": 1,
			"tiers": []map[string]any{{"threshold": "1000.00", "off": "80.00"}}}},
		"target":         map[string]any{"buyer_kinds": []string{"store"}, "regions": []string{"EAST"}},
		"materials":      []map[string]any{{"title": "Brief", "link": "https://cdn.example/brief.pdf"}},
		"ack_deadline":   now.Add(ack).Format(time.RFC3339Nano),
		"starts_at":      now.Add(start).Format(time.RFC3339Nano),
		"ends_at":        now.Add(end).Format(time.RFC3339Nano),
		"reminder_every": "1m",
	}
}

// waitCampaign polls GET /v1/campaigns/{id} as hq_admin until done holds.
func (h *harness) waitCampaign(t *testing.T, id string, within time.Duration, done func(api.CampaignDetail) bool) api.CampaignDetail {
	t.Helper()
	var c api.CampaignDetail
	for deadline := time.Now().Add(within); ; time.Sleep(100 * time.Millisecond) {
		h.do("GET", "/v1/campaigns/"+id, hqAdmin, nil).expect(t, 200).json(t, &c)
		if done(c) {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("campaign %s never reached the expected state: %+v", id, c.Campaign)
		}
	}
}

func (h *harness) inbox(t *testing.T, user string) api.Inbox {
	t.Helper()
	var in api.Inbox
	h.do("GET", "/v1/inbox", user, nil).expect(t, 200).json(t, &in)
	return in
}

func problemFields(p api.Problem) []string {
	var fs []string
	for _, e := range p.Errors {
		fs = append(fs, e.Field)
	}
	return fs
}

func TestCampaignDraftValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	past := time.Now().Add(-time.Hour).Format(time.RFC3339)
	bad := map[string]any{
		"id": "bad id", "title": "",
		"rules": []any{
			map[string]any{"id": "R1", "kind": "nope"},
			map[string]any{"id": "R2", "kind": "spend_off", "bogus": 1},
			map[string]any{"id": "R3", "kind": "percent_off", "priority": -1},
		},
		"target":         map[string]any{"buyer_kinds": []string{"robot"}, "store_kinds": []string{"kiosk"}},
		"materials":      []any{map[string]any{"title": "x", "link": "ftp://example.com/x"}, map[string]any{"link": "https://ok.example"}},
		"ack_deadline":   past,
		"starts_at":      time.Now().Add(2 * time.Hour).Format(time.RFC3339),
		"ends_at":        time.Now().Add(time.Hour).Format(time.RFC3339),
		"reminder_every": "30s",
	}
	p := h.do("POST", "/v1/campaigns", hqAdmin, bad).expect(t, 422).problem(t)
	fields := problemFields(p)
	for _, want := range []string{"id", "title", "rules[0].kind", "rules[1].bogus", "rules[2].priority", "target.buyer_kinds[0]",
		"target.store_kinds[0]", "materials[0].link", "materials[1].title", "ack_deadline", "ends_at", "reminder_every"} {
		if !slices.Contains(fields, want) {
			t.Errorf("422 does not name %s: %v", want, p.Errors)
		}
	}
	// Missing pieces, duplicate rule ids, too many reminders, unknown references.
	body := campaignDraft("C-BAD", 200*time.Hour, 201*time.Hour, 300*time.Hour)
	body["rules"] = []any{body["rules"].([]map[string]any)[0], body["rules"].([]map[string]any)[0]}
	body["target"] = map[string]any{"buyer_kinds": []string{"store"}, "regions": []string{"WEST"}, "agents": []string{"AG-NOPE"}}
	p = h.do("POST", "/v1/campaigns", hqAdmin, body).expect(t, 422).problem(t)
	if f := problemFields(p); !slices.Contains(f, "rules[1].id") || !slices.Contains(f, "reminder_every") {
		t.Errorf("422 fields %v, want rules[1].id and reminder_every", p.Errors)
	}
	body = campaignDraft("C-BAD", time.Hour, 2*time.Hour, 3*time.Hour)
	body["target"] = map[string]any{"buyer_kinds": []string{"store"}, "regions": []string{"WEST"}, "agents": []string{"AG-NOPE"}}
	p = h.do("POST", "/v1/campaigns", hqAdmin, body).expect(t, 422).problem(t)
	if f := problemFields(p); !slices.Equal(f, []string{"target.agents[0]", "target.regions[0]"}) {
		t.Errorf("422 fields %v, want target.agents[0], target.regions[0]", p.Errors)
	}
	// Products the rules name must exist: a gift, scope SKUs and series.
	body = campaignDraft("C-BAD", time.Hour, 2*time.Hour, 3*time.Hour)
	body["rules"] = []map[string]any{{"id": "R1", "kind": "buy_get_free", "priority": 1, "scope": map[string]any{"skus": []string{"HY-01", "ZZ-99"},
		"series": []string{"Hydra Balance", "No Such Series"}}, "buy_qty": 10, "gift_sku": "GIFT-NOPE", "gift_qty": 1}}
	p = h.do("POST", "/v1/campaigns", hqAdmin, body).expect(t, 422).problem(t)
	if f := problemFields(p); !slices.Equal(f, []string{"rules[0].gift_sku", "rules[0].scope.skus[1]", "rules[0].scope.series[1]"}) {
		t.Errorf("422 fields %v, want the gift, the second SKU and the second series", p.Errors)
	}
	body = campaignDraft("C-BAD", time.Hour, 2*time.Hour, 3*time.Hour)
	delete(body, "target")
	delete(body, "rules")
	p = h.do("POST", "/v1/campaigns", hqAdmin, body).expect(t, 422).problem(t)
	if f := problemFields(p); !slices.Contains(f, "target") || !slices.Contains(f, "rules") {
		t.Errorf("422 fields %v, want target and rules", p.Errors)
	}
	body = campaignDraft("C-BAD", time.Hour, 2*time.Hour, 3*time.Hour)
	body["rules"] = []any{map[string]any{"id": "R1", "kind": "spend_off", "tiers": []any{map[string]any{"threshold": "abc", "off": "1"}}}}
	p = h.do("POST", "/v1/campaigns", hqAdmin, body).expect(t, 422).problem(t)
	if len(p.Errors) != 1 || p.Errors[0].Field != "rules[0]" || !strings.Contains(p.Errors[0].Detail, "cannot be read") {
		t.Errorf("422 for a bad decimal in a rule: %v", p.Errors)
	}
	h.do("POST", "/v1/campaigns", hqAdmin, `{"id":`).expect(t, 400).problem(t)
	for _, u := range []string{hqSales, finance, agentEast, storeUser, baUser, opsUser} {
		h.do("POST", "/v1/campaigns", u, campaignDraft("C-ROLE", time.Hour, 2*time.Hour, 3*time.Hour)).expect(t, 403)
	}
	if n := h.count("campaigns"); n != 0 {
		t.Fatalf("%d campaigns written by refused requests", n)
	}
	if n := h.count("audit_events WHERE entity = 'campaign'"); n != 0 {
		t.Fatalf("%d audit events written by refused requests", n)
	}
}

// TestCampaignLifecycle drives a campaign for the stores of region EAST
// through the API: draft, publish, inbox, acknowledgement (201 then 200),
// escalation of the silent stores to their agent at the deadline, live at
// the start, closed with a report at the end; then a cancel before the
// start, and the roles and scopes on the way.
func TestCampaignLifecycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var c api.Campaign
	r := h.do("POST", "/v1/campaigns", hqAdmin, campaignDraft("SPRING-1", 6*time.Second, 9*time.Second, 12*time.Second)).expect(t, 201)
	r.json(t, &c)
	if loc := r.header.Get("Location"); loc != "/v1/campaigns/SPRING-1" || c.Status != "draft" || c.ReminderEvery != "1m0s" {
		t.Fatalf("location %q, campaign %+v", loc, c)
	}
	var rules []map[string]any
	if err := json.Unmarshal(c.Rules, &rules); err != nil || rules[0]["campaign_id"] != "SPRING-1" {
		t.Fatalf("rules %s: the campaign id is not set on them", c.Rules)
	}
	h.do("POST", "/v1/campaigns", hqAdmin, campaignDraft("SPRING-1", time.Hour, 2*time.Hour, 3*time.Hour)).expect(t, 409)

	// Not published yet: no inbox, no acknowledgement, not visible to stores.
	h.do("POST", "/v1/campaigns/SPRING-1/acknowledgements", storeUser, nil).expect(t, 409)
	h.do("GET", "/v1/campaigns/SPRING-1", storeUser, nil).expect(t, 403)
	if in := h.inbox(t, storeUser); len(in.Campaigns) != 0 {
		t.Fatalf("inbox before publish: %+v", in)
	}
	h.do("POST", "/v1/campaigns/SPRING-1/publish", hqSales, nil).expect(t, 403)
	h.do("POST", "/v1/campaigns/NOPE/publish", hqAdmin, nil).expect(t, 404)
	r = h.do("POST", "/v1/campaigns/SPRING-1/publish", hqAdmin, nil).expect(t, 202)
	if r.header.Get("Location") != "/v1/campaigns/SPRING-1" {
		t.Fatalf("publish location %q", r.header.Get("Location"))
	}
	d := h.waitCampaign(t, "SPRING-1", 30*time.Second, func(c api.CampaignDetail) bool { return c.Status == "published" })
	if d.TargetCount != 4 || d.Measurement.Targets != 4 || d.Missing.Total != 4 || len(d.Missing.Items) != 4 {
		t.Fatalf("published to %d targets (measurement %+v, missing %+v), want the 4 EAST stores", d.TargetCount, d.Measurement, d.Missing)
	}
	h.do("POST", "/v1/campaigns/SPRING-1/publish", hqAdmin, nil).expect(t, 409)

	// The store's inbox shows it; the acknowledgement is idempotent.
	in := h.inbox(t, storeUser)
	if len(in.Campaigns) != 1 || in.Campaigns[0].ID != "SPRING-1" || in.Campaigns[0].NotifiedAt == nil || len(in.Campaigns[0].Materials) != 1 {
		t.Fatalf("store inbox %+v", in)
	}
	var a1, a2 api.Acknowledgement
	h.do("POST", "/v1/campaigns/SPRING-1/acknowledgements", storeUser, nil).expect(t, 201).json(t, &a1)
	h.do("POST", "/v1/campaigns/SPRING-1/acknowledgements", storeUser, nil).expect(t, 200).json(t, &a2)
	if a1.AcknowledgedAt == nil || a2.AcknowledgedAt == nil || !a1.AcknowledgedAt.Equal(*a2.AcknowledgedAt) || a1.Code != "ST-EAST-01" {
		t.Fatalf("acknowledgements %+v then %+v", a1, a2)
	}
	if in := h.inbox(t, storeUser); len(in.Campaigns) != 0 {
		t.Fatalf("inbox after acknowledging: %+v", in)
	}
	var tc api.TargetCampaign
	h.do("GET", "/v1/campaigns/SPRING-1", storeUser, nil).expect(t, 200).json(t, &tc)
	if tc.Acknowledgement.AcknowledgedAt == nil || tc.Title == "" || len(tc.Materials) != 1 {
		t.Fatalf("store's view %+v", tc)
	}
	// Not targets, or the wrong role.
	h.do("POST", "/v1/campaigns/SPRING-1/acknowledgements", agentEast, nil).expect(t, 403)
	h.do("POST", "/v1/campaigns/SPRING-1/acknowledgements", baUser, nil).expect(t, 403)
	h.do("POST", "/v1/campaigns/SPRING-1/acknowledgements", hqAdmin, nil).expect(t, 403)
	h.do("POST", "/v1/campaigns/NOPE/acknowledgements", storeUser, nil).expect(t, 404)
	h.do("GET", "/v1/campaigns/SPRING-1", agentSouth, nil).expect(t, 403)
	h.do("GET", "/v1/campaigns/SPRING-1", baUser, nil).expect(t, 403)
	h.do("GET", "/v1/inbox", hqAdmin, nil).expect(t, 403)
	h.do("GET", "/v1/campaigns", storeUser, nil).expect(t, 403)
	h.do("GET", "/v1/campaigns/SPRING-1", finance, nil).expect(t, 200)

	// At the deadline the 3 silent stores are escalated to AG-EAST.
	d = h.waitCampaign(t, "SPRING-1", 30*time.Second, func(c api.CampaignDetail) bool {
		return slices.ContainsFunc(c.Timeline, func(e api.CampaignEvent) bool { return e.Kind == "escalated" })
	})
	ag := h.inbox(t, agentEast)
	var stores []string
	for _, e := range ag.Escalations {
		if e.Campaign == "SPRING-1" {
			stores = append(stores, e.Store)
		}
	}
	if !slices.Equal(stores, []string{"ST-EAST-02", "ST-EAST-03", "ST-EAST-04"}) {
		t.Fatalf("agent's escalations %+v", ag.Escalations)
	}
	if in := h.inbox(t, agentSouth); len(in.Escalations) != 0 {
		t.Fatalf("another agent sees escalations %+v", in.Escalations)
	}
	// Live at the start, closed at the end with the final report.
	h.waitCampaign(t, "SPRING-1", 30*time.Second, func(c api.CampaignDetail) bool { return c.Status == "live" || c.Status == "closed" })
	d = h.waitCampaign(t, "SPRING-1", 30*time.Second, func(c api.CampaignDetail) bool { return c.Status == "closed" && c.Report != nil })
	m := d.Measurement
	if m.Targets != 4 || m.Acknowledged != 1 || m.AckRate.StringFixed(2) != "25.00" || len(m.ByRegion) != 1 || m.ByRegion[0].Key != "EAST" ||
		len(m.ByAgent) != 1 || m.ByAgent[0].Escalated != 3 || d.Missing.Total != 3 {
		t.Fatalf("measurement %+v, missing %+v", m, d.Missing)
	}
	var report struct {
		Targets      int `json:"targets"`
		Acknowledged int `json:"acknowledged"`
	}
	if err := json.Unmarshal(d.Report, &report); err != nil || report.Targets != 4 || report.Acknowledged != 1 {
		t.Fatalf("report %s", d.Report)
	}
	if err := h.tc.GetWorkflow(context.Background(), workflows.CampaignID("SPRING-1"), "").Get(context.Background(), nil); err != nil {
		t.Fatalf("campaign workflow: %v", err)
	}
	recordHistory(t, h.tc, workflows.CampaignID("SPRING-1"), "campaign_closed.json")
	h.do("POST", "/v1/campaigns/SPRING-1/acknowledgements", storeUser, nil).expect(t, 409)
	h.do("POST", "/v1/campaigns/SPRING-1/cancel", hqAdmin, map[string]any{"reason": "too late"}).expect(t, 409)
	if in := h.inbox(t, agentEast); len(in.Escalations) != 0 {
		t.Fatalf("escalations of a closed campaign %+v", in.Escalations)
	}

	// Cancel before the start: through the workflow once published.
	h.do("POST", "/v1/campaigns", hqAdmin, campaignDraft("SUMMER-1", time.Hour, 2*time.Hour, 3*time.Hour)).expect(t, 201)
	h.do("POST", "/v1/campaigns/SUMMER-1/publish", hqAdmin, nil).expect(t, 202)
	h.waitCampaign(t, "SUMMER-1", 30*time.Second, func(c api.CampaignDetail) bool { return c.Status == "published" })
	h.do("POST", "/v1/campaigns/SUMMER-1/cancel", hqSales, map[string]any{"reason": "budget"}).expect(t, 403)
	p := h.do("POST", "/v1/campaigns/SUMMER-1/cancel", hqAdmin, map[string]any{"reason": " "}).expect(t, 422).problem(t)
	if f := problemFields(p); !slices.Equal(f, []string{"reason"}) {
		t.Fatalf("422 fields %v", f)
	}
	h.do("POST", "/v1/campaigns/SUMMER-1/cancel", hqAdmin, map[string]any{"reason": "budget", "x": 1}).expect(t, 422)
	h.do("POST", "/v1/campaigns/SUMMER-1/cancel", hqAdmin, map[string]any{"reason": "budget cut"}).expect(t, 200).json(t, &c)
	if c.Status != "cancelled" {
		t.Fatalf("after cancel: %+v", c)
	}
	h.do("POST", "/v1/campaigns/SUMMER-1/cancel", hqAdmin, map[string]any{"reason": "again"}).expect(t, 409)
	if err := h.tc.GetWorkflow(context.Background(), workflows.CampaignID("SUMMER-1"), "").Get(context.Background(), nil); err != nil {
		t.Fatalf("campaign workflow: %v", err)
	}
	recordHistory(t, h.tc, workflows.CampaignID("SUMMER-1"), "campaign_cancelled.json")
	h.do("POST", "/v1/campaigns/SUMMER-1/acknowledgements", storeUser, nil).expect(t, 409)
	if in := h.inbox(t, storeUser); len(in.Campaigns) != 0 {
		t.Fatalf("inbox shows a cancelled campaign: %+v", in)
	}
	// A draft never published is cancelled directly, and is then not published.
	h.do("POST", "/v1/campaigns", hqAdmin, campaignDraft("AUTUMN-1", time.Hour, 2*time.Hour, 3*time.Hour)).expect(t, 201)
	h.do("POST", "/v1/campaigns/AUTUMN-1/cancel", hqAdmin, map[string]any{"reason": "dropped"}).expect(t, 200).json(t, &c)
	if c.Status != "cancelled" {
		t.Fatalf("draft after cancel: %+v", c)
	}
	h.do("POST", "/v1/campaigns/AUTUMN-1/publish", hqAdmin, nil).expect(t, 409)

	// Lists, filtered by status, paged.
	var l api.List[api.Campaign]
	h.do("GET", "/v1/campaigns?status=cancelled", opsUser, nil).expect(t, 200).json(t, &l)
	if len(l.Items) != 2 || l.Items[0].ID != "AUTUMN-1" || l.Items[1].ID != "SUMMER-1" {
		t.Fatalf("cancelled campaigns %+v", l.Items)
	}
	h.do("GET", "/v1/campaigns?limit=1", hqSales, nil).expect(t, 200).json(t, &l)
	if len(l.Items) != 1 || l.NextCursor == nil {
		t.Fatalf("first page %+v", l)
	}
	h.do("GET", "/v1/campaigns?status=nope", hqAdmin, nil).expect(t, 422)
	if n := h.count("audit_events WHERE entity = 'campaign'"); n < 7 {
		t.Fatalf("%d audit events for campaigns", n)
	}
}

// TestCampaignPublishAtScale is the scale check of issue #5: a campaign to
// more than 5,000 stores, published through HTTP, notifies every target
// exactly once (inbox row and webhook) and its workflow history stays short.
func TestCampaignPublishAtScale(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.DB(t)
	tc, _ := testenv.Temporal(t)
	ctx := context.Background()
	if err := seed.Seed(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO stores (code, name, agent_code, region, kind, grade)
		SELECT 'ST-SCALE-' || lpad(g::text, 5, '0'), 'Scale store ' || g,
		       (ARRAY['AG-EAST', 'AG-SOUTH', 'AG-NORTH'])[1 + g % 3], (ARRAY['EAST', 'SOUTH', 'NORTH'])[1 + g % 3],
		       CASE WHEN g % 2 = 0 THEN 'collection' ELSE 'single_brand' END, 'S'
		FROM generate_series(1, 5000) g`); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	received := map[string]int{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Campaign string `json:"campaign"`
			Targets  []struct {
				Kind string `json:"kind"`
				Code string `json:"code"`
			} `json:"targets"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Campaign != "MEGA-1" {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, t := range body.Targets {
			received[t.Kind+":"+t.Code]++
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)
	h := &harness{t: t, pool: pool, tc: tc, tokens: map[string]string{}}
	h.issueTokens()
	w := worker.New(tc, pool, sdkworker.Options{}, worker.WithCampaignWebhook(hook.URL))
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	h.serve(api.Deps{Pool: pool, Temporal: tc})

	body := campaignDraft("MEGA-1", time.Hour, 2*time.Hour, 3*time.Hour)
	body["target"] = map[string]any{"buyer_kinds": []string{"store"}}
	h.do("POST", "/v1/campaigns", hqAdmin, body).expect(t, 201)
	start := time.Now()
	h.do("POST", "/v1/campaigns/MEGA-1/publish", hqAdmin, nil).expect(t, 202)
	d := h.waitCampaign(t, "MEGA-1", 2*time.Minute, func(c api.CampaignDetail) bool { return c.Status == "published" })
	var targets, notified, sent int
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if err := pool.QueryRow(ctx, `SELECT count(*), count(notified_at), count(webhook_sent_at) FROM campaign_targets WHERE campaign_id = 'MEGA-1'`).
			Scan(&targets, &notified, &sent); err != nil {
			t.Fatal(err)
		}
		if sent == targets || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("published to %d targets, webhooks sent, in %s", targets, time.Since(start))
	if targets < 5012 || d.TargetCount != targets || notified != targets || sent != targets {
		t.Fatalf("%d targets (campaign says %d), %d notified, %d webhooks sent", targets, d.TargetCount, notified, sent)
	}
	mu.Lock()
	if len(received) != targets {
		t.Errorf("the webhook received %d distinct targets, want %d", len(received), targets)
	}
	for k, n := range received {
		if n != 1 {
			t.Errorf("target %s notified %d times", k, n)
		}
	}
	mu.Unlock()
	in := h.inbox(t, storeUser)
	if len(in.Campaigns) != 1 || in.Campaigns[0].ID != "MEGA-1" {
		t.Fatalf("store inbox %+v", in)
	}
	it := tc.GetWorkflowHistory(ctx, workflows.CampaignID("MEGA-1"), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	events := 0
	for it.HasNext() {
		if _, err := it.Next(); err != nil {
			t.Fatal(err)
		}
		events++
	}
	t.Logf("workflow history: %d events", events)
	if events == 0 || events >= 100 {
		t.Fatalf("the campaign's history has %d events, want a bounded few", events)
	}
}
