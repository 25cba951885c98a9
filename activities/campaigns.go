package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/activity"

	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/money"
)

// Campaign statuses, as stored and as the BoStatus search attribute.
const (
	CampaignDraft     = "draft"
	CampaignPublished = "published"
	CampaignLive      = "live"
	CampaignClosed    = "closed"
	CampaignCancelled = "cancelled"
	CampaignWithdrawn = "withdrawn"
)

// Campaigns holds the campaign activities. Every one is set-based (one SQL
// statement over all targets, whatever their number) and idempotent.
type Campaigns struct {
	Pool *pgxpool.Pool
	// WebhookURL, when set, receives every notification as JSON POSTs in
	// batches; empty sends none (the inbox rows are the notification).
	WebhookURL string
	// HTTP sends the webhooks (http.DefaultClient when nil).
	HTTP *http.Client
}

// PublishResult is what publishing did.
type PublishResult struct {
	Targets  int `json:"targets"`
	Notified int `json:"notified"`
}

// CampaignStatusInput sets a campaign's status.
type CampaignStatusInput struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Actor  string `json:"actor"`
	Reason string `json:"reason,omitempty"`
}

// CampaignTarget is a campaign's audience as drafted: empty lists match all.
type CampaignTarget struct {
	BuyerKinds []string `json:"buyer_kinds"`
	Grades     []string `json:"grades,omitempty"`
	Agents     []string `json:"agents,omitempty"`
	StoreKinds []string `json:"store_kinds,omitempty"`
	Regions    []string `json:"regions,omitempty"`
}

func campaignEvent(ctx context.Context, q *dbgen.Queries, id, kind, actor, key string, detail any) error {
	b, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	if err := q.InsertCampaignEvent(ctx, dbgen.InsertCampaignEventParams{CampaignID: id, Kind: kind, Actor: actor, Detail: b, DedupKey: key}); err != nil {
		return fmt.Errorf("campaign %s: record %s: %w", id, kind, err)
	}
	return nil
}

func nz(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// PublishCampaign computes the target list (every active agent and store
// the target matches), puts the campaign in each target's inbox, and marks
// it published — in one transaction, once.
func (a *Campaigns) PublishCampaign(ctx context.Context, id string) (PublishResult, error) {
	var res PublishResult
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := dbgen.New(tx)
		c, err := q.LockCampaign(ctx, id)
		if err != nil {
			return fmt.Errorf("campaign %s: %w", id, err)
		}
		if c.Status != CampaignDraft { // published before: report what is there
			res.Targets = int(c.TargetCount)
			res.Notified = res.Targets
			return nil
		}
		var t CampaignTarget
		if err := json.Unmarshal(c.Target, &t); err != nil {
			return fmt.Errorf("campaign %s target: %w", id, err)
		}
		if _, err := q.InsertCampaignTargets(ctx, dbgen.InsertCampaignTargetsParams{
			CampaignID: id, BuyerKinds: nz(t.BuyerKinds), Grades: nz(t.Grades), Agents: nz(t.Agents),
			Regions: nz(t.Regions), StoreKinds: nz(t.StoreKinds),
		}); err != nil {
			return fmt.Errorf("campaign %s targets: %w", id, err)
		}
		n, err := q.CountCampaignTargets(ctx, id)
		if err != nil {
			return err
		}
		notified, err := q.NotifyCampaignTargets(ctx, id)
		if err != nil {
			return err
		}
		res.Targets, res.Notified = int(n), int(notified)
		if err := q.MarkCampaignPublished(ctx, dbgen.MarkCampaignPublishedParams{ID: id, TargetCount: n}); err != nil {
			return err
		}
		return campaignEvent(ctx, q, id, "published", "system", "published", res)
	})
	return res, err
}

// webhookBatch is how many notifications one webhook POST carries.
const webhookBatch = 500

// SendCampaignWebhooks posts the notifications to the configured webhook in
// batches, marking each batch sent after the receiver accepted it (2xx). A
// retry resends only what was not marked; receivers deduplicate on the
// Idempotency-Key header (campaign and first target of the batch).
func (a *Campaigns) SendCampaignWebhooks(ctx context.Context, id string) (int, error) {
	if a.WebhookURL == "" {
		return 0, nil
	}
	client := a.HTTP
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	q := dbgen.New(a.Pool)
	sent := 0
	for {
		batch, err := q.NextWebhookBatch(ctx, dbgen.NextWebhookBatchParams{CampaignID: id, Lim: webhookBatch})
		if err != nil {
			return sent, err
		}
		if len(batch) == 0 {
			return sent, nil
		}
		kinds, codes := make([]string, len(batch)), make([]string, len(batch))
		type target struct {
			Kind   string `json:"kind"`
			Code   string `json:"code"`
			Agent  string `json:"agent"`
			Region string `json:"region"`
		}
		body := struct {
			Campaign string   `json:"campaign"`
			Event    string   `json:"event"`
			Targets  []target `json:"targets"`
		}{Campaign: id, Event: "campaign.published"}
		for i, t := range batch {
			kinds[i], codes[i] = t.TargetKind, t.TargetCode
			body.Targets = append(body.Targets, target{t.TargetKind, t.TargetCode, t.AgentCode, t.Region})
		}
		b, _ := json.Marshal(body)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.WebhookURL, bytes.NewReader(b))
		if err != nil {
			return sent, fmt.Errorf("webhook: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", fmt.Sprintf("campaign:%s:%s:%s", id, kinds[0], codes[0]))
		res, err := client.Do(req)
		if err != nil {
			return sent, fmt.Errorf("webhook: %w", err)
		}
		res.Body.Close()
		if res.StatusCode/100 != 2 {
			return sent, fmt.Errorf("webhook: %s answered %s", a.WebhookURL, res.Status)
		}
		if err := q.MarkWebhookSent(ctx, dbgen.MarkWebhookSentParams{CampaignID: id, Kinds: kinds, Codes: codes}); err != nil {
			return sent, err
		}
		sent += len(batch)
		activity.RecordHeartbeat(ctx, sent)
	}
}

// RemindCampaign sends reminder n to every target still silent (once each).
func (a *Campaigns) RemindCampaign(ctx context.Context, id string, n int) (int, error) {
	var sent int64
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := dbgen.New(tx)
		var err error
		if sent, err = q.RemindCampaignTargets(ctx, dbgen.RemindCampaignTargetsParams{CampaignID: id, N: int32(n)}); err != nil {
			return err
		}
		return campaignEvent(ctx, q, id, "reminder", "system", fmt.Sprintf("reminder:%d", n), map[string]int64{"n": int64(n), "targets": sent})
	})
	return int(sent), err
}

// EscalateCampaign escalates every store still silent to its agent.
func (a *Campaigns) EscalateCampaign(ctx context.Context, id string) (int, error) {
	var n int64
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := dbgen.New(tx)
		var err error
		if n, err = q.EscalateCampaignStores(ctx, id); err != nil {
			return err
		}
		return campaignEvent(ctx, q, id, "escalated", "system", "escalated", map[string]int64{"stores": n})
	})
	return int(n), err
}

// SetCampaignStatus records a status change of the campaign.
func (a *Campaigns) SetCampaignStatus(ctx context.Context, in CampaignStatusInput) error {
	return pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := dbgen.New(tx)
		if err := q.SetCampaignStatus(ctx, dbgen.SetCampaignStatusParams{ID: in.ID, Status: in.Status}); err != nil {
			return err
		}
		return campaignEvent(ctx, q, in.ID, "status", in.Actor, "status:"+in.Status, map[string]string{"status": in.Status, "reason": in.Reason})
	})
}

// Report is a campaign's measurement: acknowledgement by region and agent,
// participation and sales under it.
type Report struct {
	Targets      int          `json:"targets"`
	Acknowledged int          `json:"acknowledged"`
	AckRate      money.Amount `json:"ack_rate_pct"`
	ByRegion     []AckGroup   `json:"by_region"`
	ByAgent      []AckGroup   `json:"by_agent"`
	Orders       int          `json:"orders"`
	Buyers       int          `json:"buyers"`
	Discount     money.Amount `json:"discount"`
	Sales        money.Amount `json:"sales"`
}

// AckGroup is the acknowledgement of one region or agent's targets.
type AckGroup struct {
	Key          string       `json:"key"`
	Targets      int          `json:"targets"`
	Acknowledged int          `json:"acknowledged"`
	Escalated    int          `json:"escalated"`
	Rate         money.Amount `json:"rate_pct"`
}

// MeasureCampaign computes the campaign's report from its rows.
func MeasureCampaign(ctx context.Context, q *dbgen.Queries, id string) (Report, error) {
	var r Report
	rows, err := q.CampaignAckStats(ctx, id)
	if err != nil {
		return r, err
	}
	regions, agents := []AckGroup{}, []AckGroup{}
	add := func(gs []AckGroup, key string, row dbgen.CampaignAckStatsRow) []AckGroup {
		for i := range gs {
			if gs[i].Key == key {
				gs[i].Targets += int(row.Targets)
				gs[i].Acknowledged += int(row.Acknowledged)
				gs[i].Escalated += int(row.Escalated)
				return gs
			}
		}
		return append(gs, AckGroup{Key: key, Targets: int(row.Targets), Acknowledged: int(row.Acknowledged), Escalated: int(row.Escalated)})
	}
	for _, row := range rows {
		r.Targets += int(row.Targets)
		r.Acknowledged += int(row.Acknowledged)
		regions = add(regions, row.Region, row)
		agents = add(agents, row.AgentCode, row)
	}
	// Rates are percentages rounded half away from zero to 2 decimals.
	rate := func(ack, n int) money.Amount {
		if n == 0 {
			return money.A(decimal.Zero)
		}
		return money.A(decimal.NewFromInt(int64(ack)*100).DivRound(decimal.NewFromInt(int64(n)), 2))
	}
	for i := range regions {
		regions[i].Rate = rate(regions[i].Acknowledged, regions[i].Targets)
	}
	for i := range agents {
		agents[i].Rate = rate(agents[i].Acknowledged, agents[i].Targets)
	}
	r.ByRegion, r.ByAgent, r.AckRate = regions, agents, rate(r.Acknowledged, r.Targets)
	p, err := q.CampaignParticipation(ctx, id)
	if err != nil {
		return r, err
	}
	sales, err := q.CampaignSales(ctx, id)
	if err != nil {
		return r, err
	}
	r.Orders, r.Buyers, r.Discount, r.Sales = int(p.Orders), int(p.Buyers), money.A(p.Discount), money.A(sales)
	return r, nil
}

// CampaignReport stores the campaign's final report.
func (a *Campaigns) CampaignReport(ctx context.Context, id string) error {
	q := dbgen.New(a.Pool)
	r, err := MeasureCampaign(ctx, q, id)
	if err != nil {
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return q.SetCampaignReport(ctx, dbgen.SetCampaignReportParams{ID: id, Report: b})
}
