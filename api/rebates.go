package api

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/alliance/backoffice/activities"
	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/auth"
	"github.com/alliance/backoffice/internal/money"
	"github.com/alliance/backoffice/internal/rebate"
	"github.com/alliance/backoffice/workflows"
)

func (s *server) rebateRoutes(g *echo.Group) {
	g.GET("/rebate-programs", s.listRebatePrograms)
	g.POST("/rebate-programs", s.createRebateProgram)
	g.POST("/settlements", s.startSettlement)
	g.GET("/settlements", s.listSettlements)
	g.GET("/settlements/:id", s.getSettlement)
	g.GET("/settlements/:id/statements", s.listStatements)
	g.POST("/settlements/:id/adjustments", s.adjustSettlement)
	g.POST("/settlements/:id/approval", s.approveSettlement)
	g.POST("/settlements/:id/recompute", s.recomputeSettlement)
	g.POST("/settlements/:id/cancel", s.cancelSettlement)
	g.GET("/settlements/:id/statements/:agent", s.getStatements)
	g.GET("/settlements/:id/export", s.exportSettlement)
}

// ---- programs ----

// RebateProgram is a version of a rebate program (finance writes, HQ roles
// read).
type RebateProgram struct {
	Code          string         `json:"code"`
	Version       int32          `json:"version"`
	Name          string         `json:"name"`
	Grade         *string        `json:"grade"`
	Agent         *string        `json:"agent"`
	EffectiveFrom string         `json:"effective_from"`
	EffectiveTo   *string        `json:"effective_to"`
	Rules         rebate.Program `json:"rules"`
	CreatedAt     time.Time      `json:"created_at"`
}

func rebateProgramOf(r dbgen.RebateProgram) (RebateProgram, error) {
	out := RebateProgram{Code: r.Code, Version: r.Version, Name: r.Name, Grade: r.Grade, Agent: r.AgentCode,
		EffectiveFrom: r.EffectiveFrom.Format(time.DateOnly), CreatedAt: r.CreatedAt}
	if r.EffectiveTo != nil {
		s := r.EffectiveTo.Format(time.DateOnly)
		out.EffectiveTo = &s
	}
	if err := json.Unmarshal(r.Rules, &out.Rules); err != nil {
		return out, fmt.Errorf("rebate program %s v%d: %w", r.Code, r.Version, err)
	}
	out.Rules.Code, out.Rules.Version = r.Code, int(r.Version)
	return out, nil
}

type rebateTierInput struct {
	From    *string `json:"from"`
	RatePct *string `json:"rate_pct"`
}

type rebateProgramInput struct {
	Code          *string           `json:"code"`
	Name          *string           `json:"name"`
	Grade         *string           `json:"grade"`
	Agent         *string           `json:"agent"`
	EffectiveFrom *string           `json:"effective_from"`
	EffectiveTo   *string           `json:"effective_to"`
	Mode          *string           `json:"mode"`
	Tiers         []rebateTierInput `json:"tiers"`
	NewProduct    *struct {
		WithinMonths *int64  `json:"within_months"`
		MinSharePct  *string `json:"min_share_pct"`
		BonusPct     *string `json:"bonus_pct"`
	} `json:"new_product"`
	Campaign *struct {
		MinExecutedPct *string `json:"min_executed_pct"`
		BonusPct       *string `json:"bonus_pct"`
	} `json:"campaign"`
	Certification *struct {
		MinCoveragePct *string `json:"min_coverage_pct"`
		BonusPct       *string `json:"bonus_pct"`
	} `json:"certification"`
	Data *struct {
		RatePctPerPoint *string `json:"rate_pct_per_point"`
		MaxPoints       *string `json:"max_points"`
	} `json:"data"`
	Cap *string `json:"cap"`
}

var hundredPct = decimal.NewFromInt(100)

// rate checks a percentage 0..100 with at most 4 decimals.
func (v *validator) rate(field string, s *string) decimal.Decimal {
	return v.decimal(field, s, true, false, 3, 4, hundredPct).Decimal
}

func (s *server) listRebatePrograms(c echo.Context) error {
	if _, err := allow(c, auth.RoleHQAdmin, auth.RoleHQSales, auth.RoleFinance, auth.RoleOps); err != nil {
		return err
	}
	rows, err := s.q.ListRebatePrograms(c.Request().Context())
	if err != nil {
		return err
	}
	out := List[RebateProgram]{Items: []RebateProgram{}}
	for _, r := range rows {
		p, err := rebateProgramOf(r)
		if err != nil {
			return err
		}
		out.Items = append(out.Items, p)
	}
	return c.JSON(http.StatusOK, out)
}

// createRebateProgram records a new version of a rebate program: version 1
// for a new code, the next version otherwise.
func (s *server) createRebateProgram(c echo.Context) error {
	p, in, err := readInput[rebateProgramInput](c, auth.RoleFinance)
	if err != nil {
		return err
	}
	v := &validator{}
	code := v.code("code", in.Code, true)
	name := v.text("name", in.Name, true, 200)
	var grade, agent *string
	if in.Grade != nil {
		g := v.code("grade", in.Grade, false)
		grade = &g
	}
	if in.Agent != nil {
		a := v.code("agent", in.Agent, false)
		agent = &a
	}
	if (grade == nil) == (agent == nil) {
		v.add("grade", "give exactly one of grade or agent")
	}
	from := v.date("effective_from", in.EffectiveFrom, true)
	to := v.date("effective_to", in.EffectiveTo, false)
	if from != nil && to != nil && !to.After(*from) {
		v.add("effective_to", "must be after effective_from")
	}
	rp := rebate.Program{Code: code, Mode: rebate.Mode(v.enum("mode", in.Mode, true, string(rebate.Retroactive), string(rebate.Marginal)))}
	if len(in.Tiers) == 0 {
		v.add("tiers", "at least one tier is required")
	}
	for i, t := range in.Tiers {
		f := fmt.Sprintf("tiers[%d]", i)
		rp.Tiers = append(rp.Tiers, rebate.Tier{From: v.amount(f+".from", t.From, true, false).Decimal, RatePct: v.rate(f+".rate_pct", t.RatePct)})
	}
	if b := in.NewProduct; b != nil {
		rp.NewProduct = &rebate.NewProductBonus{WithinMonths: int(v.positiveInt("new_product.within_months", b.WithinMonths, true, 120)),
			MinSharePct: v.rate("new_product.min_share_pct", b.MinSharePct), BonusPct: v.rate("new_product.bonus_pct", b.BonusPct)}
	}
	if b := in.Campaign; b != nil {
		rp.Campaign = &rebate.CampaignBonus{MinExecutedPct: v.rate("campaign.min_executed_pct", b.MinExecutedPct), BonusPct: v.rate("campaign.bonus_pct", b.BonusPct)}
	}
	if b := in.Certification; b != nil {
		rp.Certification = &rebate.CertificationBonus{MinCoveragePct: v.rate("certification.min_coverage_pct", b.MinCoveragePct), BonusPct: v.rate("certification.bonus_pct", b.BonusPct)}
	}
	if b := in.Data; b != nil {
		rp.Data = &rebate.DataBonus{RatePctPerPoint: v.rate("data.rate_pct_per_point", b.RatePctPerPoint),
			MaxPoints: v.decimal("data.max_points", b.MaxPoints, false, false, 6, 2, decimal.Decimal{}).Decimal}
	}
	rp.Cap = v.amount("cap", in.Cap, false, false).Decimal
	if err := v.err(); err != nil {
		return err
	}
	if err := rp.Validate(); err != nil {
		return errInvalid(FieldError{Field: "tiers", Detail: err.Error()})
	}
	rules, err := json.Marshal(rp)
	if err != nil {
		return err
	}
	var row dbgen.RebateProgram
	if err := s.write(c, "create", "rebate_program", code, json.RawMessage(rules), func(q *dbgen.Queries) error {
		row, err = q.InsertRebateProgram(c.Request().Context(), dbgen.InsertRebateProgramParams{Code: code, Name: name, Grade: grade, AgentCode: agent,
			Rules: rules, EffectiveFrom: *from, EffectiveTo: to, CreatedBy: &p.UserID})
		return err
	}); err != nil {
		return err
	}
	out, err := rebateProgramOf(row)
	if err != nil {
		return err
	}
	return created(c, fmt.Sprintf("/v1/rebate-programs?code=%s", code), out)
}

// ---- settlements ----

// Settlement is a rebate settlement: status, progress and totals.
type Settlement struct {
	ID            string       `json:"id"`
	Period        string       `json:"period"`
	Kind          string       `json:"kind"`
	Status        string       `json:"status"`
	Cutoff        *time.Time   `json:"cutoff"`
	ReturnsCutoff *time.Time   `json:"returns_cutoff"`
	StartedBy     *int64       `json:"started_by"`
	ApprovedBy    *int64       `json:"approved_by"`
	AgentsTotal   int32        `json:"agents_total"`
	AgentsDone    int32        `json:"agents_done"`
	Posted        int32        `json:"posted"`
	TotalCredit   money.Amount `json:"total_credit"`
	TotalDebit    money.Amount `json:"total_debit"`
	StartedAt     *time.Time   `json:"started_at"`
	ApprovedAt    *time.Time   `json:"approved_at"`
	PublishedAt   *time.Time   `json:"published_at"`
	WorkflowID    string       `json:"workflow_id"`
}

func settlementOf(r dbgen.RebateSettlement) Settlement {
	return Settlement{ID: r.ID, Period: r.Period, Kind: r.Kind, Status: r.Status, Cutoff: &r.Cutoff, ReturnsCutoff: &r.ReturnsCutoff,
		StartedBy: r.StartedBy, ApprovedBy: r.ApprovedBy, AgentsTotal: r.AgentsTotal, AgentsDone: r.AgentsDone, Posted: r.Posted,
		TotalCredit: money.A(r.TotalCredit), TotalDebit: money.A(r.TotalDebit), StartedAt: &r.StartedAt, ApprovedAt: r.ApprovedAt,
		PublishedAt: r.PublishedAt, WorkflowID: workflows.SettlementID(r.ID)}
}

type startSettlementInput struct {
	Period    *string `json:"period"`
	Kind      *string `json:"kind"`
	GraceDays *int64  `json:"grace_days"`
}

// startSettlement starts a period's settlement (finance): the final once per
// period, after the period's end; interims before the final; corrections
// after it is published. Two starts of the same settlement run it once: the
// second is a 409.
func (s *server) startSettlement(c echo.Context) error {
	p, in, err := readInput[startSettlementInput](c, auth.RoleFinance)
	if err != nil {
		return err
	}
	v := &validator{}
	var period rebate.Period
	if in.Period == nil || *in.Period == "" {
		v.add("period", "is required")
	} else if period, err = rebate.ParsePeriod(*in.Period); err != nil {
		v.add("period", "must be a quarter like 2026-Q3")
	}
	kind := v.enum("kind", in.Kind, true, string(rebate.Interim), string(rebate.Final), string(rebate.Correction))
	grace := rebate.DefaultGraceDays
	if in.GraceDays != nil {
		if *in.GraceDays < 0 || *in.GraceDays > 60 {
			v.add("grace_days", "must be 0..60")
		} else {
			grace = int(*in.GraceDays)
		}
	}
	if err := v.err(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	now := time.Now()
	if kind != string(rebate.Interim) && now.Before(period.End(activities.SettlementLocation)) {
		return errConflict(fmt.Sprintf("%s has not ended: only an interim settlement can run within it", period.Key()))
	}
	if now.Before(period.Start(activities.SettlementLocation)) {
		return errConflict(fmt.Sprintf("%s has not started", period.Key()))
	}
	n, err := s.q.CountSettlements(ctx, dbgen.CountSettlementsParams{Kind: kind, Period: period.Key()})
	if err != nil {
		return err
	}
	switch {
	case kind == string(rebate.Interim) && n.Finals > 0:
		return errConflict(period.Key() + " has a final settlement: run a correction instead of an interim")
	case kind == string(rebate.Correction) && n.FinalPublished == 0:
		return errConflict(period.Key() + " has no published final settlement to correct")
	}
	id := activities.SettlementKey(period.Key(), kind, int(n.OfKind)+1)
	// One settlement of a period at a time (the workflow checks it again).
	others, err := s.q.UnfinishedSettlements(ctx, dbgen.UnfinishedSettlementsParams{Period: period.Key(), ID: id})
	if err != nil {
		return err
	}
	if len(others) > 0 {
		return errConflict(fmt.Sprintf("settlement %s of %s is %s: approve or cancel it before starting another", others[0].ID, period.Key(), others[0].Status))
	}
	in2 := workflows.SettlementInput{SettlementSpec: activities.SettlementSpec{ID: id, Period: period.Key(), Kind: kind, StartedBy: p.UserID, GraceDays: grace}}
	_, err = s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.SettlementID(id), TaskQueue: workflows.TaskQueue,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		StaticSummary:                            fmt.Sprintf("Rebate settlement %s (%s)", id, kind),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SAEntity.ValueSet(workflows.EntitySettlement), workflows.SAKey.ValueSet(id),
			workflows.SAStatus.ValueSet(activities.SettlementStarted),
		),
	}, workflows.Settlement, in2)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return errConflict(fmt.Sprintf("settlement %s has already been started", id))
	}
	if err != nil {
		s.logger.ErrorContext(ctx, "start settlement workflow", "settlement", id, "error", err)
		return errUnavailable("the settlement could not be started; retry")
	}
	if err := audit(ctx, s.q, c, "start", "settlement", id, in2); err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/settlements/"+id)
	return c.JSON(http.StatusAccepted, Settlement{ID: id, Period: period.Key(), Kind: kind, Status: activities.SettlementStarted,
		StartedBy: &p.UserID, TotalCredit: money.A(decimal.Zero), TotalDebit: money.A(decimal.Zero), WorkflowID: workflows.SettlementID(id)})
}

// getSettlement answers the settlement's status, progress and totals (HQ
// roles).
func (s *server) getSettlement(c echo.Context) error {
	if _, err := allow(c, auth.RoleHQAdmin, auth.RoleHQSales, auth.RoleFinance, auth.RoleOps); err != nil {
		return err
	}
	ctx := c.Request().Context()
	id := c.Param("id")
	row, err := s.q.GetSettlement(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) && s.temporal != nil {
		// Started, not frozen yet: the workflow answers.
		if v, qerr := s.temporal.QueryWorkflow(ctx, workflows.SettlementID(id), "", workflows.SettlementStatusQuery); qerr == nil {
			var st workflows.SettlementState
			if v.Get(&st) == nil {
				return c.JSON(http.StatusOK, Settlement{ID: st.ID, Period: st.Period, Kind: st.Kind, Status: st.Status,
					TotalCredit: money.A(decimal.Zero), TotalDebit: money.A(decimal.Zero), WorkflowID: workflows.SettlementID(id)})
			}
		}
	}
	if err != nil {
		return notFound(err, "settlement", id)
	}
	return c.JSON(http.StatusOK, settlementOf(row))
}

// settlementStatuses are the statuses a settlement can have.
var settlementStatuses = []string{activities.SettlementStarted, activities.SettlementComputing, activities.SettlementReview,
	activities.SettlementApproved, activities.SettlementPosting, activities.SettlementPublished, activities.SettlementFailed,
	activities.SettlementCancelled}

// listSettlements lists settlements, newest key first (HQ roles), filtered by
// ?period=, ?kind=, ?status=.
func (s *server) listSettlements(c echo.Context) error {
	if _, err := allow(c, auth.RoleHQAdmin, auth.RoleHQSales, auth.RoleFinance, auth.RoleOps); err != nil {
		return err
	}
	v := &validator{}
	limit, after := page(c, v)
	var period *string
	if q := c.QueryParam("period"); q != "" {
		if p, err := rebate.ParsePeriod(q); err != nil {
			v.add("period", "must be a quarter like 2026-Q3")
		} else {
			k := p.Key()
			period = &k
		}
	}
	kind := queryEnum(c, v, "kind", string(rebate.Interim), string(rebate.Final), string(rebate.Correction))
	status := queryEnum(c, v, "status", settlementStatuses...)
	if err := v.err(); err != nil {
		return err
	}
	rows, err := s.q.ListSettlements(c.Request().Context(), dbgen.ListSettlementsParams{Period: period, Kind: kind, Status: status, After: after, Lim: limit})
	if err != nil {
		return err
	}
	out := make([]Settlement, len(rows))
	for i, r := range rows {
		out[i] = settlementOf(r)
	}
	return c.JSON(http.StatusOK, newList(out, limit, func(x Settlement) string { return x.ID }))
}

// StatementSummary is one agent's statement under one program, without its
// lines (GET .../statements/{agent} has them).
type StatementSummary struct {
	Agent          string       `json:"agent"`
	Program        string       `json:"program"`
	ProgramVersion int32        `json:"program_version"`
	Volume         money.Amount `json:"volume"`
	Tier           int32        `json:"tier"`
	Earned         money.Amount `json:"earned"`
	Capped         money.Amount `json:"capped"`
	Adjusted       money.Amount `json:"adjusted"`
	Total          money.Amount `json:"total"`
	PaidBefore     money.Amount `json:"paid_before"`
	Credit         money.Amount `json:"credit"`
	Debit          money.Amount `json:"debit"`
	NoteNo         string       `json:"note_no"`
}

// listStatements pages through a settlement's statements, agent then
// program (HQ roles): the review screen. The cursor is "AGENT PROGRAM".
func (s *server) listStatements(c echo.Context) error {
	if _, err := allow(c, auth.RoleHQAdmin, auth.RoleHQSales, auth.RoleFinance, auth.RoleOps); err != nil {
		return err
	}
	v := &validator{}
	limit, after := page(c, v)
	afterAgent, afterProgram := "", ""
	if after != "" {
		var ok bool
		if afterAgent, afterProgram, ok = strings.Cut(after, " "); !ok {
			v.add("cursor", "is not a cursor this list returned")
		}
	}
	if err := v.err(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	id := c.Param("id")
	if _, err := s.q.GetSettlement(ctx, id); err != nil {
		return notFound(err, "settlement", id)
	}
	rows, err := s.q.PageSettlementStatements(ctx, dbgen.PageSettlementStatementsParams{SettlementID: id, AfterAgent: afterAgent,
		AfterProgram: afterProgram, Lim: limit})
	if err != nil {
		return err
	}
	out := make([]StatementSummary, len(rows))
	for i, r := range rows {
		out[i] = StatementSummary{Agent: r.AgentCode, Program: r.ProgramCode, ProgramVersion: r.ProgramVersion, Volume: money.A(r.Volume),
			Tier: r.Tier, Earned: money.A(r.Earned), Capped: money.A(r.Capped), Adjusted: money.A(r.Adjusted), Total: money.A(r.Total),
			PaidBefore: money.A(r.PaidBefore), Credit: money.A(r.Credit), Debit: money.A(r.Debit), NoteNo: r.NoteNo}
	}
	return c.JSON(http.StatusOK, newList(out, limit, func(x StatementSummary) string { return x.Agent + " " + x.Program }))
}

type adjustmentInput struct {
	Agent   *string `json:"agent"`
	Program *string `json:"program"`
	Amount  *string `json:"amount"`
	Reason  *string `json:"reason"`
}

// adjustSettlement adds an adjustment line in review (finance): the
// workflow's "adjust" update records it and recomputes the statement. The
// Idempotency-Key header, when given, makes a retry add it once.
func (s *server) adjustSettlement(c echo.Context) error {
	p, in, err := readInput[adjustmentInput](c, auth.RoleFinance)
	if err != nil {
		return err
	}
	v := &validator{}
	agent := v.code("agent", in.Agent, true)
	program := v.code("program", in.Program, true)
	var amount decimal.Decimal
	if in.Amount == nil {
		v.add("amount", "is required")
	} else if d, err := money.Parse(*in.Amount, 12, money.Scale); err != nil {
		v.add("amount", err.Error())
	} else if d.IsZero() {
		v.add("amount", "must not be zero")
	} else {
		amount = d
	}
	reason := v.text("reason", in.Reason, true, 500)
	if err := v.err(); err != nil {
		return err
	}
	st, err := s.settlementUpdate(c, workflows.SettlementAdjustUpdate,
		workflows.SettlementAdjustment{Actor: actorOf(p), Agent: agent, Program: program, Amount: amount, Reason: reason})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

// approveSettlement approves the settlement for posting (finance, a user
// other than the one who started it).
func (s *server) approveSettlement(c echo.Context) error {
	p, err := allow(c, auth.RoleFinance)
	if err != nil {
		return err
	}
	st, err := s.settlementUpdate(c, workflows.SettlementApproveUpdate, workflows.SettlementApproval{Actor: actorOf(p)})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

// recomputeSettlement computes every statement of a settlement in review
// again, with the same cut-offs (finance): returns, data points, program
// versions and campaign figures recorded since are taken in, adjustment
// lines kept. It answers once the settlement is back in review.
func (s *server) recomputeSettlement(c echo.Context) error {
	p, err := allow(c, auth.RoleFinance)
	if err != nil {
		return err
	}
	st, err := s.settlementUpdate(c, workflows.SettlementRecomputeUpdate, workflows.SettlementRecompute{Actor: actorOf(p)})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

type cancelSettlementInput struct {
	Reason *string `json:"reason"`
}

// cancelSettlement cancels an interim or correction in review (finance):
// nothing was posted, and the period is free for another settlement. A final
// is recomputed, adjusted or corrected instead (409).
func (s *server) cancelSettlement(c echo.Context) error {
	p, in, err := readInput[cancelSettlementInput](c, auth.RoleFinance)
	if err != nil {
		return err
	}
	v := &validator{}
	reason := v.text("reason", in.Reason, true, 500)
	if err := v.err(); err != nil {
		return err
	}
	st, err := s.settlementUpdate(c, workflows.SettlementCancelUpdate, workflows.SettlementCancel{Actor: actorOf(p), Reason: reason})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

func (s *server) settlementUpdate(c echo.Context, name string, arg any) (workflows.SettlementState, error) {
	ctx := c.Request().Context()
	id := c.Param("id")
	var st workflows.SettlementState
	h, err := s.temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflows.SettlementID(id), UpdateName: name, UpdateID: c.Request().Header.Get("Idempotency-Key"),
		Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, &st)
	}
	if err != nil {
		if p := updateRejection(err); p != nil {
			return st, p
		}
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			if _, gerr := s.q.GetSettlement(ctx, id); gerr != nil {
				return st, notFound(gerr, "settlement", id)
			}
			return st, errConflict(fmt.Sprintf("settlement %s has ended", id))
		}
		return st, err
	}
	if err := audit(ctx, s.q, c, name, "settlement", id, arg); err != nil {
		return st, err
	}
	return st, nil
}

// StatementLine is one explained amount of a statement.
type StatementLine struct {
	Rule    string       `json:"rule"`
	Basis   money.Amount `json:"basis"`
	RatePct string       `json:"rate_pct"`
	Amount  money.Amount `json:"amount"`
	Note    string       `json:"note"`
}

// Statement is an agent's statement under one program in a settlement.
type Statement struct {
	Program        string          `json:"program"`
	ProgramVersion int32           `json:"program_version"`
	Delivered      money.Amount    `json:"delivered"`
	Orders         int64           `json:"orders"`
	Returned       money.Amount    `json:"returned"`
	Returns        int64           `json:"returns"`
	Volume         money.Amount    `json:"volume"`
	Tier           int32           `json:"tier"`
	Earned         money.Amount    `json:"earned"`
	Capped         money.Amount    `json:"capped"`
	Adjusted       money.Amount    `json:"adjusted"`
	Total          money.Amount    `json:"total"`
	PaidBefore     money.Amount    `json:"paid_before"`
	Credit         money.Amount    `json:"credit"`
	Debit          money.Amount    `json:"debit"`
	Note           string          `json:"note"`
	Lines          []StatementLine `json:"lines"`
	// NoteNo is the credit or debit note posted for the statement (empty
	// before posting, or when nothing was due); Recovered what of a credit
	// note went to recover debit notes carried forward, or what of a debit
	// note has been recovered so far.
	NoteNo    string       `json:"note_no"`
	Recovered money.Amount `json:"recovered"`
}

// AgentStatements are an agent's statements in a settlement.
type AgentStatements struct {
	Settlement string      `json:"settlement"`
	Agent      string      `json:"agent"`
	Status     string      `json:"status"`
	Statements []Statement `json:"statements"`
}

// getStatements answers an agent's statements with their lines: HQ roles
// any agent's at any time, an agent its own once published.
func (s *server) getStatements(c echo.Context) error {
	p := principal(c)
	id, agent := c.Param("id"), c.Param("agent")
	if !p.HQ() && !(p.Is(auth.RoleAgent) && p.Agent == agent) {
		return errForbidden("statements are visible to HQ roles and to the agent itself")
	}
	ctx := c.Request().Context()
	st, err := s.q.GetSettlement(ctx, id)
	if err != nil {
		return notFound(err, "settlement", id)
	}
	if !p.HQ() && st.Status != activities.SettlementPublished {
		return errNotFound(fmt.Sprintf("settlement %s is not published yet", id))
	}
	rows, err := s.q.GetStatements(ctx, dbgen.GetStatementsParams{SettlementID: id, AgentCode: agent})
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return errNotFound(fmt.Sprintf("settlement %s has no statement of agent %s", id, agent))
	}
	lines, err := s.q.GetStatementLines(ctx, dbgen.GetStatementLinesParams{SettlementID: id, AgentCode: agent})
	if err != nil {
		return err
	}
	notes, err := s.q.SettlementAgentNotes(ctx, dbgen.SettlementAgentNotesParams{SettlementID: id, AgentCode: agent})
	if err != nil {
		return err
	}
	out := AgentStatements{Settlement: id, Agent: agent, Status: st.Status, Statements: []Statement{}}
	for _, r := range rows {
		stmt := Statement{Program: r.ProgramCode, ProgramVersion: r.ProgramVersion, Delivered: money.A(r.Delivered), Orders: r.OrdersCounted,
			Returned: money.A(r.Returned), Returns: r.ReturnsCounted, Volume: money.A(r.Volume), Tier: r.Tier, Earned: money.A(r.Earned),
			Capped: money.A(r.Capped), Adjusted: money.A(r.Adjusted), Total: money.A(r.Total), PaidBefore: money.A(r.PaidBefore),
			Credit: money.A(r.Credit), Debit: money.A(r.Debit), Note: r.Note, Lines: []StatementLine{}, Recovered: money.A(decimal.Zero)}
		for _, n := range notes {
			if n.ProgramCode == r.ProgramCode {
				stmt.NoteNo, stmt.Recovered = n.No, money.A(n.Recovered)
			}
		}
		for _, l := range lines {
			if l.ProgramCode == r.ProgramCode {
				stmt.Lines = append(stmt.Lines, StatementLine{Rule: l.Rule, Basis: money.A(l.Basis), RatePct: l.RatePct.String(),
					Amount: money.A(l.Amount), Note: l.Note})
			}
		}
		out.Statements = append(out.Statements, stmt)
	}
	return c.JSON(http.StatusOK, out)
}

// exportSettlement answers every statement of the settlement as CSV, one row
// per agent and program, with the credit or debit note posted (finance and
// the other HQ roles).
func (s *server) exportSettlement(c echo.Context) error {
	if _, err := allow(c, auth.RoleHQAdmin, auth.RoleHQSales, auth.RoleFinance, auth.RoleOps); err != nil {
		return err
	}
	ctx := c.Request().Context()
	id := c.Param("id")
	if _, err := s.q.GetSettlement(ctx, id); err != nil {
		return notFound(err, "settlement", id)
	}
	rows, err := s.q.ListSettlementStatements(ctx, id)
	if err != nil {
		return err
	}
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	res.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="settlement-%s.csv"`, id))
	res.WriteHeader(http.StatusOK)
	w := csv.NewWriter(res)
	_ = w.Write([]string{"settlement", "agent", "program", "program_version", "delivered", "orders", "returned", "returns", "volume", "tier",
		"earned", "capped", "adjusted", "total", "paid_before", "credit", "debit", "note_no", "explanation", "recovered"})
	f := func(d decimal.Decimal) string { return d.StringFixed(money.Scale) }
	for _, r := range rows {
		_ = w.Write([]string{r.SettlementID, r.AgentCode, r.ProgramCode, strconv.Itoa(int(r.ProgramVersion)), f(r.Delivered),
			strconv.FormatInt(r.OrdersCounted, 10), f(r.Returned), strconv.FormatInt(r.ReturnsCounted, 10), f(r.Volume),
			strconv.Itoa(int(r.Tier)), f(r.Earned), f(r.Capped), f(r.Adjusted), f(r.Total), f(r.PaidBefore), f(r.Credit), f(r.Debit),
			r.NoteNo, r.Note, f(r.Recovered)})
	}
	w.Flush()
	return w.Error()
}
