package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/alliance/backoffice/activities"
	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/auth"
	"github.com/alliance/backoffice/internal/promo"
	"github.com/alliance/backoffice/workflows"
)

// Campaign launch with mandatory acknowledgement (强制确认). hq_admin drafts a
// campaign (rules, audience, materials, dates) and publishes it; a Campaign
// workflow then computes the targets, notifies them (inbox rows, webhook),
// reminds, escalates silent stores to their agents, and opens and closes the
// campaign's terms. Acknowledgements are rows in PostgreSQL: an ack is one
// UPDATE and never a workflow round trip, so the workflow's history stays
// bounded whatever the number of targets.
func (s *server) campaignRoutes(g *echo.Group) {
	g.POST("/campaigns", s.draftCampaign)
	g.GET("/campaigns", s.listCampaigns)
	g.GET("/campaigns/:id", s.getCampaign)
	g.POST("/campaigns/:id/publish", s.publishCampaign)
	g.POST("/campaigns/:id/cancel", s.cancelCampaign)
	g.POST("/campaigns/:id/acknowledgements", s.acknowledgeCampaign)
	g.GET("/inbox", s.inbox)
}

// hqRoles are the HQ-side roles, which read every campaign.
var hqRoles = []auth.Role{auth.RoleHQAdmin, auth.RoleHQSales, auth.RoleFinance, auth.RoleOps}

var campaignStatuses = []string{
	activities.CampaignDraft, activities.CampaignPublished, activities.CampaignLive,
	activities.CampaignClosed, activities.CampaignCancelled, activities.CampaignWithdrawn,
}

const (
	maxCampaignRules     = 50
	maxCampaignMaterials = 50
	maxTargetValues      = 1000
	// campaignMissingShown bounds the list of silent targets a GET returns
	// (the total is always given).
	campaignMissingShown = 100
)

// CampaignMaterial is a campaign's material: a title and a link.
type CampaignMaterial struct {
	Title string `json:"title"`
	Link  string `json:"link"`
}

// Campaign is a campaign as HQ sees it in lists and on its own.
type Campaign struct {
	ID          string                    `json:"id"`
	WorkflowID  string                    `json:"workflow_id"`
	Title       string                    `json:"title"`
	Status      string                    `json:"status"`
	Rules       json.RawMessage           `json:"rules"`
	Target      activities.CampaignTarget `json:"target"`
	Materials   []CampaignMaterial        `json:"materials"`
	AckDeadline time.Time                 `json:"ack_deadline"`
	StartsAt    time.Time                 `json:"starts_at"`
	EndsAt      time.Time                 `json:"ends_at"`
	// ReminderEvery is a Go duration ("24h0m0s").
	ReminderEvery string     `json:"reminder_every"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	PublishedAt   *time.Time `json:"published_at"`
	TargetCount   int        `json:"target_count"`
	// Report is the final report, stored when the campaign ended.
	Report json.RawMessage `json:"report,omitempty"`
}

// CampaignDetail is a campaign with its timeline, its measurement and who
// is still missing, as HQ roles get it.
type CampaignDetail struct {
	Campaign
	Timeline    []CampaignEvent    `json:"timeline"`
	Measurement activities.Report  `json:"measurement"`
	Missing     CampaignMissingSet `json:"missing"`
}

// CampaignEvent is one step of a campaign's timeline.
type CampaignEvent struct {
	At     time.Time       `json:"at"`
	Kind   string          `json:"kind"`
	Actor  string          `json:"actor"`
	Detail json.RawMessage `json:"detail"`
}

// CampaignMissingSet is who has not acknowledged: the first targets (by
// kind and code) and how many there are in all.
type CampaignMissingSet struct {
	Total int                     `json:"total"`
	Items []CampaignMissingTarget `json:"items"`
}

// CampaignMissingTarget is a target that has not acknowledged.
type CampaignMissingTarget struct {
	Kind        string     `json:"kind"`
	Code        string     `json:"code"`
	Agent       string     `json:"agent"`
	Region      string     `json:"region"`
	Reminders   int        `json:"reminders"`
	EscalatedAt *time.Time `json:"escalated_at"`
}

// TargetCampaign is a campaign as one of its targets (an agent or a store)
// sees it, with its own acknowledgement.
type TargetCampaign struct {
	ID              string             `json:"id"`
	Title           string             `json:"title"`
	Status          string             `json:"status"`
	Rules           json.RawMessage    `json:"rules"`
	Materials       []CampaignMaterial `json:"materials"`
	AckDeadline     time.Time          `json:"ack_deadline"`
	StartsAt        time.Time          `json:"starts_at"`
	EndsAt          time.Time          `json:"ends_at"`
	Acknowledgement Acknowledgement    `json:"acknowledgement"`
}

// Acknowledgement is one target's acknowledgement state.
type Acknowledgement struct {
	Campaign       string     `json:"campaign"`
	Kind           string     `json:"kind"`
	Code           string     `json:"code"`
	NotifiedAt     *time.Time `json:"notified_at"`
	AcknowledgedAt *time.Time `json:"acknowledged_at"`
	Reminders      int        `json:"reminders"`
	EscalatedAt    *time.Time `json:"escalated_at"`
}

// Inbox is what a caller must still acknowledge and, for an agent, its
// stores escalated for not acknowledging.
type Inbox struct {
	Campaigns   []InboxCampaign   `json:"campaigns"`
	Escalations []InboxEscalation `json:"escalations"`
}

// InboxCampaign is a campaign the caller must acknowledge.
type InboxCampaign struct {
	ID          string             `json:"id"`
	Title       string             `json:"title"`
	Status      string             `json:"status"`
	AckDeadline time.Time          `json:"ack_deadline"`
	StartsAt    time.Time          `json:"starts_at"`
	EndsAt      time.Time          `json:"ends_at"`
	Materials   []CampaignMaterial `json:"materials"`
	NotifiedAt  *time.Time         `json:"notified_at"`
	Reminders   int                `json:"reminders"`
}

// InboxEscalation is a store of the agent still silent past a campaign's
// acknowledgement deadline.
type InboxEscalation struct {
	Campaign    string     `json:"campaign"`
	Title       string     `json:"title"`
	Store       string     `json:"store"`
	EscalatedAt *time.Time `json:"escalated_at"`
}

func materialsOf(b []byte) []CampaignMaterial {
	var m []CampaignMaterial
	_ = json.Unmarshal(b, &m)
	if m == nil {
		m = []CampaignMaterial{}
	}
	return m
}

func campaignOf(c dbgen.Campaign) Campaign {
	var t activities.CampaignTarget
	_ = json.Unmarshal(c.Target, &t)
	return Campaign{
		ID: c.ID, WorkflowID: workflows.CampaignID(c.ID), Title: c.Title, Status: c.Status,
		Rules: json.RawMessage(c.Rules), Target: t, Materials: materialsOf(c.Materials),
		AckDeadline: c.AckDeadline, StartsAt: c.StartsAt, EndsAt: c.EndsAt,
		ReminderEvery: (time.Duration(c.ReminderEveryS) * time.Second).String(),
		CreatedAt:     c.CreatedAt, UpdatedAt: c.UpdatedAt, PublishedAt: c.PublishedAt,
		TargetCount: int(c.TargetCount), Report: json.RawMessage(c.Report),
	}
}

// targetKey is the campaign_targets key of the caller: ("agent", its agent)
// or ("store", its store); ok is false for other roles.
func targetKey(p auth.Principal) (kind, code string, ok bool) {
	switch {
	case p.Is(auth.RoleAgent) && p.Agent != "":
		return "agent", p.Agent, true
	case p.Is(auth.RoleStore) && p.Store != "":
		return "store", p.Store, true
	}
	return "", "", false
}

// ---- draft ----

type campaignTargetInput struct {
	BuyerKinds []string `json:"buyer_kinds"`
	Grades     []string `json:"grades"`
	Agents     []string `json:"agents"`
	StoreKinds []string `json:"store_kinds"`
	Regions    []string `json:"regions"`
}

type campaignMaterialInput struct {
	Title *string `json:"title"`
	Link  *string `json:"link"`
}

type campaignInput struct {
	ID            *string              `json:"id"`
	Title         *string              `json:"title"`
	Rules         []json.RawMessage    `json:"rules"`
	Target        *campaignTargetInput `json:"target"`
	Materials     []json.RawMessage    `json:"materials"`
	AckDeadline   *string              `json:"ack_deadline"`
	StartsAt      *string              `json:"starts_at"`
	EndsAt        *string              `json:"ends_at"`
	ReminderEvery *string              `json:"reminder_every"`
}

// timestamp checks an RFC 3339 date and time.
func (v *validator) timestamp(field string, s *string, required bool) *time.Time {
	if s == nil || *s == "" {
		if required {
			v.add(field, "is required")
		}
		return nil
	}
	t, err := time.Parse(time.RFC3339, *s)
	if err != nil {
		v.add(field, "must be an RFC 3339 date and time, e.g. 2026-11-01T00:00:00+08:00")
		return nil
	}
	return &t
}

// codes checks a list of business keys, none repeated.
func (v *validator) codes(field string, list []string) {
	if len(list) > maxTargetValues {
		v.add(field, fmt.Sprintf("at most %d values", maxTargetValues))
		return
	}
	for i := range list {
		v.code(fmt.Sprintf("%s[%d]", field, i), &list[i], true)
		if slices.Contains(list[:i], list[i]) {
			v.add(fmt.Sprintf("%s[%d]", field, i), "appears twice")
		}
	}
}

// enums checks a list of values, each one of allowed, none repeated.
func (v *validator) enums(field string, list []string, allowed ...string) {
	for i := range list {
		v.enum(fmt.Sprintf("%s[%d]", field, i), &list[i], true, allowed...)
		if slices.Contains(list[:i], list[i]) {
			v.add(fmt.Sprintf("%s[%d]", field, i), "appears twice")
		}
	}
}

// draftCampaign records a campaign draft: rules (validated by the promotion
// engine), audience, materials and schedule. Nothing is sent until publish.
func (s *server) draftCampaign(c echo.Context) error {
	p, in, err := readInput[campaignInput](c, auth.RoleHQAdmin)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	v := &validator{}
	id := v.code("id", in.ID, true)
	title := v.text("title", in.Title, true, 200)

	// Rules: each validated by the engine, named rules[i].<field>.
	switch {
	case len(in.Rules) == 0:
		v.add("rules", "at least one rule is required")
	case len(in.Rules) > maxCampaignRules:
		v.add("rules", fmt.Sprintf("at most %d rules", maxCampaignRules))
	}
	rules := decodeEach[promo.Rule](v, "rules", in.Rules)
	for i := range rules {
		f := fmt.Sprintf("rules[%d]", i)
		if transferElementFailed(v, f) {
			ruleDecodeDetail(v, f, in.Rules[i])
			continue
		}
		r := &rules[i]
		if r.CampaignID != "" && r.CampaignID != id {
			v.add(f+".campaign_id", "must be the campaign's id, or omitted")
		}
		r.CampaignID = id
		if err := r.Validate(); err != nil {
			var fe *promo.FieldError
			if errors.As(err, &fe) {
				v.add(f+"."+fe.Field, fe.Problem)
			} else {
				v.add(f, err.Error())
			}
			continue
		}
		if slices.ContainsFunc(rules[:i], func(x promo.Rule) bool { return x.ID == r.ID }) {
			v.add(f+".id", "appears twice; rule ids are unique within a campaign")
		}
	}

	// Audience.
	var target activities.CampaignTarget
	if in.Target == nil {
		v.add("target", "is required")
	} else {
		t := in.Target
		if len(t.BuyerKinds) == 0 {
			v.add("target.buyer_kinds", "is required: agent, store or both")
		}
		v.enums("target.buyer_kinds", t.BuyerKinds, "agent", "store")
		v.codes("target.grades", t.Grades)
		v.codes("target.agents", t.Agents)
		v.codes("target.regions", t.Regions)
		v.enums("target.store_kinds", t.StoreKinds, "collection", "single_brand")
		if len(t.StoreKinds) > 0 && slices.Contains(t.BuyerKinds, "agent") {
			v.add("target.store_kinds", "selects stores only: with buyer_kinds including agent no agent would match")
		}
		target = activities.CampaignTarget{BuyerKinds: t.BuyerKinds, Grades: t.Grades, Agents: t.Agents, StoreKinds: t.StoreKinds, Regions: t.Regions}
	}

	// Materials.
	if len(in.Materials) > maxCampaignMaterials {
		v.add("materials", fmt.Sprintf("at most %d materials", maxCampaignMaterials))
	}
	materials := []CampaignMaterial{}
	for i, m := range decodeEach[campaignMaterialInput](v, "materials", in.Materials) {
		f := fmt.Sprintf("materials[%d]", i)
		if transferElementFailed(v, f) {
			continue
		}
		mt := v.text(f+".title", m.Title, true, 200)
		link := ""
		switch {
		case m.Link == nil || strings.TrimSpace(*m.Link) == "":
			v.add(f+".link", "is required")
		case len(*m.Link) > 2000:
			v.add(f+".link", "is too long: at most 2000 characters")
		default:
			u, err := url.Parse(*m.Link)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				v.add(f+".link", "must be an absolute http or https URL")
			} else {
				link = u.String()
			}
		}
		materials = append(materials, CampaignMaterial{Title: mt, Link: link})
	}

	// Schedule.
	now := time.Now()
	ack := v.timestamp("ack_deadline", in.AckDeadline, true)
	starts := v.timestamp("starts_at", in.StartsAt, true)
	ends := v.timestamp("ends_at", in.EndsAt, true)
	if ack != nil && !ack.After(now) {
		v.add("ack_deadline", "must be in the future")
	}
	if ack != nil && starts != nil && ack.After(*starts) {
		v.add("ack_deadline", "must not be after starts_at")
	}
	if starts != nil && ends != nil && !ends.After(*starts) {
		v.add("ends_at", "must be after starts_at")
	}
	var every time.Duration
	if in.ReminderEvery == nil || *in.ReminderEvery == "" {
		v.add("reminder_every", `is required: a duration such as "24h"`)
	} else if d, err := time.ParseDuration(*in.ReminderEvery); err != nil {
		v.add("reminder_every", `must be a duration such as "24h" or "90m"`)
	} else if d < time.Minute {
		v.add("reminder_every", "must be at least 1m")
	} else if d%time.Second != 0 || d > 365*24*time.Hour {
		v.add("reminder_every", "must be whole seconds and at most 8760h")
	} else if ack != nil && ack.After(now) && int64((ack.Sub(now)-1)/d) > workflows.MaxCampaignReminders {
		v.add("reminder_every", fmt.Sprintf("gives %d reminders before ack_deadline: at most %d", int64((ack.Sub(now)-1)/d), workflows.MaxCampaignReminders))
	} else {
		every = d
	}
	if err := v.err(); err != nil {
		return err
	}

	// References: grades, agents and regions must exist, and the SKUs and
	// series the rules name.
	if err := s.checkTargetRefs(ctx, v, target); err != nil {
		return err
	}
	if err := s.checkRuleRefs(ctx, v, rules); err != nil {
		return err
	}
	if err := v.err(); err != nil {
		return err
	}
	rulesJSON, err := json.Marshal(rules)
	if err != nil {
		return err
	}
	targetJSON, err := json.Marshal(target)
	if err != nil {
		return err
	}
	materialsJSON, err := json.Marshal(materials)
	if err != nil {
		return err
	}
	var row dbgen.Campaign
	payload := map[string]any{"title": title, "rules": json.RawMessage(rulesJSON), "target": target, "materials": materials,
		"ack_deadline": ack, "starts_at": starts, "ends_at": ends, "reminder_every": every.String()}
	if err := s.write(c, "draft", "campaign", id, payload, func(q *dbgen.Queries) error {
		var err error
		row, err = q.CreateCampaign(ctx, dbgen.CreateCampaignParams{
			ID: id, Title: title, Rules: rulesJSON, Target: targetJSON, Materials: materialsJSON,
			AckDeadline: *ack, StartsAt: *starts, EndsAt: *ends, ReminderEveryS: int32(every / time.Second), CreatedBy: p.UserID,
		})
		if err != nil {
			return err
		}
		return q.InsertCampaignEvent(ctx, dbgen.InsertCampaignEventParams{
			CampaignID: id, Kind: "drafted", Actor: fmt.Sprintf("user:%d", p.UserID), Detail: []byte(`{}`), DedupKey: "drafted",
		})
	}); err != nil {
		return err
	}
	return created(c, "/v1/campaigns/"+id, campaignOf(row))
}

// ruleDecodeDetail replaces the generic "must be an object" that decodeEach
// gives a rule it could not decode (e.g. an amount that is not a decimal)
// with the decoder's own explanation.
func ruleDecodeDetail(v *validator, field string, raw json.RawMessage) {
	for i, e := range v.errs {
		if e.Field != field {
			continue
		}
		var r promo.Rule
		if err := json.Unmarshal(raw, &r); err != nil && bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
			v.errs[i].Detail = "cannot be read: " + err.Error()
		}
	}
}

// checkTargetRefs adds a field error for each grade, agent or region of the
// audience that does not exist.
func (s *server) checkTargetRefs(ctx context.Context, v *validator, t activities.CampaignTarget) error {
	check := func(field string, list []string, get func(string) error) error {
		for i, code := range list {
			err := get(code)
			if errors.Is(err, pgx.ErrNoRows) {
				v.add(fmt.Sprintf("%s[%d]", field, i), "refers to something that does not exist")
			} else if err != nil {
				return err
			}
		}
		return nil
	}
	if err := check("target.grades", t.Grades, func(c string) error { _, err := s.q.GetGradePolicy(ctx, c); return err }); err != nil {
		return err
	}
	if err := check("target.agents", t.Agents, func(c string) error { _, err := s.q.GetAgent(ctx, c); return err }); err != nil {
		return err
	}
	return check("target.regions", t.Regions, func(c string) error { _, err := s.q.GetRegion(ctx, c); return err })
}

// checkRuleRefs checks that the products the rules name exist: the gift
// SKU (an order earning a gift of an unknown product could not be stored)
// and the SKUs and series of the scope. A rule that failed validation is
// skipped (it was named already).
func (s *server) checkRuleRefs(ctx context.Context, v *validator, rules []promo.Rule) error {
	series := map[string]bool{}
	seriesExists := func(name string) (bool, error) {
		if known, ok := series[name]; ok {
			return known, nil
		}
		rows, err := s.q.ListProducts(ctx, dbgen.ListProductsParams{Series: &name, Lim: 1})
		if err != nil {
			return false, err
		}
		series[name] = len(rows) > 0
		return series[name], nil
	}
	skuExists := func(field, sku string) error {
		if _, err := s.q.GetProduct(ctx, sku); errors.Is(err, pgx.ErrNoRows) {
			v.add(field, fmt.Sprintf("product %s does not exist", sku))
		} else if err != nil {
			return err
		}
		return nil
	}
	for i, r := range rules {
		f := fmt.Sprintf("rules[%d]", i)
		if r.Validate() != nil {
			continue
		}
		if r.GiftSKU != "" {
			if err := skuExists(f+".gift_sku", r.GiftSKU); err != nil {
				return err
			}
		}
		for j, sku := range r.Scope.SKUs {
			if err := skuExists(fmt.Sprintf("%s.scope.skus[%d]", f, j), sku); err != nil {
				return err
			}
		}
		for j, name := range r.Scope.Series {
			ok, err := seriesExists(name)
			if err != nil {
				return err
			}
			if !ok {
				v.add(fmt.Sprintf("%s.scope.series[%d]", f, j), fmt.Sprintf("no product is in series %q", name))
			}
		}
	}
	return nil
}

// ---- read ----

// listCampaigns lists campaigns by id, optionally of one status (HQ roles).
func (s *server) listCampaigns(c echo.Context) error {
	if _, err := allow(c, hqRoles...); err != nil {
		return err
	}
	v := &validator{}
	limit, after := page(c, v)
	status := queryEnum(c, v, "status", campaignStatuses...)
	if err := v.err(); err != nil {
		return err
	}
	rows, err := s.q.ListCampaigns(c.Request().Context(), dbgen.ListCampaignsParams{Status: status, After: after, Lim: limit})
	if err != nil {
		return err
	}
	out := make([]Campaign, len(rows))
	for i, r := range rows {
		out[i] = campaignOf(r)
	}
	return c.JSON(http.StatusOK, newList(out, limit, func(x Campaign) string { return x.ID }))
}

// getCampaign answers HQ roles with the campaign, its timeline, its
// measurement and who is still missing; a targeted agent or store with the
// campaign and its own acknowledgement; anyone else 403.
func (s *server) getCampaign(c echo.Context) error {
	p, err := allow(c, append(slices.Clone(hqRoles), auth.RoleAgent, auth.RoleStore)...)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	id := c.Param("id")
	row, err := s.q.GetCampaign(ctx, id)
	if err != nil {
		return notFound(err, "campaign", id)
	}
	if !p.HQ() {
		kind, code, _ := targetKey(p)
		t, err := s.q.GetCampaignTarget(ctx, dbgen.GetCampaignTargetParams{CampaignID: id, TargetKind: kind, TargetCode: code})
		if errors.Is(err, pgx.ErrNoRows) {
			return errForbidden(fmt.Sprintf("campaign %s does not target %s %s", id, kind, code))
		} else if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, TargetCampaign{
			ID: row.ID, Title: row.Title, Status: row.Status, Rules: json.RawMessage(row.Rules), Materials: materialsOf(row.Materials),
			AckDeadline: row.AckDeadline, StartsAt: row.StartsAt, EndsAt: row.EndsAt,
			Acknowledgement: Acknowledgement{Campaign: id, Kind: kind, Code: code, NotifiedAt: t.NotifiedAt,
				AcknowledgedAt: t.AcknowledgedAt, Reminders: int(t.Reminders), EscalatedAt: t.EscalatedAt},
		})
	}
	out := CampaignDetail{Campaign: campaignOf(row)}
	events, err := s.q.ListCampaignEvents(ctx, id)
	if err != nil {
		return err
	}
	out.Timeline = make([]CampaignEvent, len(events))
	for i, e := range events {
		out.Timeline[i] = CampaignEvent{At: e.At, Kind: e.Kind, Actor: e.Actor, Detail: json.RawMessage(e.Detail)}
	}
	if out.Measurement, err = activities.MeasureCampaign(ctx, s.q, id); err != nil {
		return err
	}
	missing, err := s.q.CampaignMissing(ctx, dbgen.CampaignMissingParams{CampaignID: id, Lim: campaignMissingShown})
	if err != nil {
		return err
	}
	out.Missing = CampaignMissingSet{Total: out.Measurement.Targets - out.Measurement.Acknowledged, Items: make([]CampaignMissingTarget, len(missing))}
	for i, m := range missing {
		out.Missing.Items[i] = CampaignMissingTarget{Kind: m.TargetKind, Code: m.TargetCode, Agent: m.AgentCode,
			Region: m.Region, Reminders: int(m.Reminders), EscalatedAt: m.EscalatedAt}
	}
	return c.JSON(http.StatusOK, out)
}

// inbox answers an agent or a store with the campaigns it must still
// acknowledge and, for an agent, its stores escalated for not acknowledging.
func (s *server) inbox(c echo.Context) error {
	p, err := allow(c, auth.RoleAgent, auth.RoleStore)
	if err != nil {
		return err
	}
	kind, code, ok := targetKey(p)
	if !ok {
		return errForbidden("the caller has no agent or store scope")
	}
	ctx := c.Request().Context()
	rows, err := s.q.InboxCampaigns(ctx, dbgen.InboxCampaignsParams{TargetKind: kind, TargetCode: code})
	if err != nil {
		return err
	}
	out := Inbox{Campaigns: make([]InboxCampaign, len(rows)), Escalations: []InboxEscalation{}}
	for i, r := range rows {
		out.Campaigns[i] = InboxCampaign{ID: r.ID, Title: r.Title, Status: r.Status, AckDeadline: r.AckDeadline,
			StartsAt: r.StartsAt, EndsAt: r.EndsAt, Materials: materialsOf(r.Materials), NotifiedAt: r.NotifiedAt, Reminders: int(r.Reminders)}
	}
	if kind == "agent" {
		esc, err := s.q.InboxEscalations(ctx, p.Agent)
		if err != nil {
			return err
		}
		for _, e := range esc {
			out.Escalations = append(out.Escalations, InboxEscalation{Campaign: e.CampaignID, Title: e.Title, Store: e.StoreCode, EscalatedAt: e.EscalatedAt})
		}
	}
	return c.JSON(http.StatusOK, out)
}

// ---- publish, cancel ----

// publishCampaign starts the campaign's workflow, which computes the
// targets and notifies them. Only a draft is published (409 otherwise). The
// row is locked while the workflow starts, so a concurrent cancel of the
// draft either comes first or finds the workflow.
func (s *server) publishCampaign(c echo.Context) error {
	if _, err := allow(c, auth.RoleHQAdmin); err != nil {
		return err
	}
	ctx := c.Request().Context()
	id := c.Param("id")
	var row dbgen.Campaign
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := dbgen.New(tx)
		var err error
		if row, err = q.LockCampaign(ctx, id); err != nil {
			return notFound(err, "campaign", id)
		}
		if row.Status != activities.CampaignDraft {
			return errConflict(fmt.Sprintf("campaign %s is %s: only a draft is published", id, row.Status))
		}
		if !row.AckDeadline.After(time.Now()) {
			return errConflict(fmt.Sprintf("campaign %s: its acknowledgement deadline %s has passed; draft it again with new dates", id, row.AckDeadline.Format(time.RFC3339)))
		}
		_, err = s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: workflows.CampaignID(id), TaskQueue: workflows.TaskQueue,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
			WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			StaticSummary:            fmt.Sprintf("Campaign %s: %s", id, row.Title),
			TypedSearchAttributes: temporal.NewSearchAttributes(
				workflows.SAEntity.ValueSet(workflows.EntityCampaign), workflows.SAKey.ValueSet(id),
				workflows.SAStatus.ValueSet(activities.CampaignDraft),
			),
		}, workflows.Campaign, workflows.CampaignInput{
			ID: id, AckDeadline: row.AckDeadline, StartsAt: row.StartsAt, EndsAt: row.EndsAt,
			ReminderEvery: time.Duration(row.ReminderEveryS) * time.Second,
		})
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if err != nil && !errors.As(err, &started) {
			s.logger.ErrorContext(ctx, "start campaign workflow", "campaign", id, "error", err)
			return errUnavailable("the campaign's workflow could not be started; retry the publish")
		}
		return audit(ctx, q, c, "publish", "campaign", id, map[string]string{"workflow_id": workflows.CampaignID(id)})
	})
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/campaigns/"+id)
	return c.JSON(http.StatusAccepted, campaignOf(row))
}

type campaignCancelInput struct {
	Reason *string `json:"reason"`
}

// cancelCampaign cancels a campaign before its start, or withdraws it after
// (its terms end for new orders). A draft never published is cancelled in
// the database; otherwise the workflow's validated update does it.
func (s *server) cancelCampaign(c echo.Context) error {
	p, in, err := readInput[campaignCancelInput](c, auth.RoleHQAdmin)
	if err != nil {
		return err
	}
	v := &validator{}
	reason := v.text("reason", in.Reason, true, 500)
	if err := v.err(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	id := c.Param("id")
	actor := fmt.Sprintf("user:%d", p.UserID)
	viaWorkflow := false
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := dbgen.New(tx)
		row, err := q.LockCampaign(ctx, id)
		if err != nil {
			return notFound(err, "campaign", id)
		}
		if row.Status != activities.CampaignDraft {
			viaWorkflow = true
			return nil
		}
		_, err = s.temporal.DescribeWorkflowExecution(ctx, workflows.CampaignID(id), "")
		var nf *serviceerror.NotFound
		if err == nil {
			viaWorkflow = true // published a moment ago: its workflow decides
			return nil
		} else if !errors.As(err, &nf) {
			return err
		}
		if err := q.SetCampaignStatus(ctx, dbgen.SetCampaignStatusParams{ID: id, Status: activities.CampaignCancelled}); err != nil {
			return err
		}
		detail, _ := json.Marshal(map[string]string{"status": activities.CampaignCancelled, "reason": reason})
		if err := q.InsertCampaignEvent(ctx, dbgen.InsertCampaignEventParams{
			CampaignID: id, Kind: "status", Actor: actor, Detail: detail, DedupKey: "status:" + activities.CampaignCancelled,
		}); err != nil {
			return err
		}
		return audit(ctx, q, c, "cancel", "campaign", id, map[string]string{"reason": reason})
	})
	if err != nil {
		return err
	}
	if viaWorkflow {
		h, err := s.temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: workflows.CampaignID(id), UpdateName: workflows.CampaignCancelUpdate,
			Args:         []any{workflows.CampaignCancel{UserID: p.UserID, Reason: reason}},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		var st workflows.CampaignState
		if err == nil {
			err = h.Get(ctx, &st)
		}
		if err != nil {
			return campaignUpdateError(err, id)
		}
		if err := s.write(c, "cancel", "campaign", id, map[string]string{"reason": reason, "status": st.Status},
			func(*dbgen.Queries) error { return nil }); err != nil {
			return err
		}
	}
	row, err := s.q.GetCampaign(ctx, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, campaignOf(row))
}

// campaignUpdateError maps a refused or failed campaign update to a problem:
// the validator's rejections to 409 / 422, a closed workflow to 409.
func campaignUpdateError(err error, id string) error {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		switch appErr.Type() {
		case workflows.ErrTypeInvalid:
			return errInvalid(FieldError{Field: "reason", Detail: appErr.Message()})
		case workflows.ErrTypeConflict:
			return errConflict(fmt.Sprintf("campaign %s: %s", id, appErr.Message()))
		}
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return errConflict(fmt.Sprintf("campaign %s has ended: it can no longer be cancelled", id))
	}
	return err
}

// ---- acknowledge ----

// acknowledgeCampaign records the caller's acknowledgement: one UPDATE of
// its target row (and an audit row), never a workflow round trip. The
// first answers 201, a repeat 200 with the same acknowledged_at.
func (s *server) acknowledgeCampaign(c echo.Context) error {
	p, err := allow(c, auth.RoleAgent, auth.RoleStore)
	if err != nil {
		return err
	}
	kind, code, ok := targetKey(p)
	if !ok {
		return errForbidden("the caller has no agent or store scope")
	}
	ctx := c.Request().Context()
	id := c.Param("id")
	var row dbgen.AcknowledgeLiveCampaignRow
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := dbgen.New(tx)
		var err error
		row, err = q.AcknowledgeLiveCampaign(ctx, dbgen.AcknowledgeLiveCampaignParams{UserID: p.UserID, CampaignID: id, TargetKind: kind, TargetCode: code})
		if err != nil || !row.First {
			return err
		}
		return audit(ctx, q, c, "acknowledge", "campaign", id, map[string]string{"kind": kind, "code": code})
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return s.whyNoAck(ctx, id, kind, code)
	}
	if err != nil {
		return err
	}
	out := Acknowledgement{Campaign: id, Kind: kind, Code: code, AcknowledgedAt: row.AcknowledgedAt}
	if t, err := s.q.GetCampaignTarget(ctx, dbgen.GetCampaignTargetParams{CampaignID: id, TargetKind: kind, TargetCode: code}); err == nil {
		out.NotifiedAt, out.Reminders, out.EscalatedAt = t.NotifiedAt, int(t.Reminders), t.EscalatedAt
	}
	if row.First {
		return created(c, "/v1/campaigns/"+id, out)
	}
	return c.JSON(http.StatusOK, out)
}

// whyNoAck explains an acknowledgement that matched no row: no such
// campaign (404), not a target (403), or not open for acknowledgement (409).
func (s *server) whyNoAck(ctx context.Context, id, kind, code string) error {
	camp, err := s.q.GetCampaign(ctx, id)
	if err != nil {
		return notFound(err, "campaign", id)
	}
	if camp.Status == activities.CampaignDraft {
		return errConflict(fmt.Sprintf("campaign %s is not published yet: it takes no acknowledgements", id))
	}
	_, err = s.q.GetCampaignTarget(ctx, dbgen.GetCampaignTargetParams{CampaignID: id, TargetKind: kind, TargetCode: code})
	if errors.Is(err, pgx.ErrNoRows) {
		return errForbidden(fmt.Sprintf("campaign %s does not target %s %s", id, kind, code))
	} else if err != nil {
		return err
	}
	return errConflict(fmt.Sprintf("campaign %s is %s: it takes no acknowledgements", id, camp.Status))
}
