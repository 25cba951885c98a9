package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/temporal"

	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/rebate"
)

// Settlement statuses, as stored and as the BoStatus search attribute.
const (
	SettlementStarted   = "started"
	SettlementComputing = "computing"
	SettlementReview    = "review"
	SettlementApproved  = "approved"
	SettlementPosting   = "posting"
	SettlementPublished = "published"
	SettlementFailed    = "failed"
	SettlementCancelled = "cancelled"
)

// SettlementLocation is the time zone periods are cut in: China Standard
// Time (UTC+8, no daylight saving), where the alliance trades.
var SettlementLocation = time.FixedZone("CST", 8*3600)

// Application error types of rebate activities the workflow passes on to the
// API (the same strings as the workflows' ErrType constants).
const (
	ErrTypeSettlementConflict = "Conflict"
	ErrTypeSettlementInvalid  = "Invalid"
)

// Rebates holds the rebate settlement activities. They are set-based: SQL
// sums every batch of agents' figures in a few statements, the pure
// calculation (internal/rebate) explains each agent's statement, and the
// statements of a batch are written with COPY in one transaction. Every
// activity is idempotent: a batch recomputed replaces its statements, a credit
// note is posted once per settlement, agent and program (a UNIQUE key).
type Rebates struct {
	Pool *pgxpool.Pool
}

// SettlementSpec is a settlement to run.
type SettlementSpec struct {
	ID     string `json:"id"`
	Period string `json:"period"`
	Kind   string `json:"kind"`
	// StartedBy is the finance user who started it; 0 for the schedule.
	StartedBy int64 `json:"started_by,omitempty"`
	// GraceDays after the period end during which returns still count.
	GraceDays int `json:"grace_days"`
}

// FreezeResult is what freezing a settlement found.
type FreezeResult struct {
	Agents   int `json:"agents"`
	Programs int `json:"programs"`
}

// SettlementKey is the key of a period's settlement: the period for the
// final, with "-interim-N" or "-correction-N" otherwise.
func SettlementKey(period, kind string, n int) string {
	if kind == string(rebate.Final) {
		return period
	}
	return fmt.Sprintf("%s-%s-%d", period, kind, n)
}

func refused(kind, format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), kind, nil)
}

// Freeze records the settlement (once), fixes its cut-offs — the period end
// (and end plus grace days for returns) for a final or correction, the moment
// of freezing for an interim — and counts the agents it settles.
func (a *Rebates) Freeze(ctx context.Context, in SettlementSpec) (FreezeResult, error) {
	p, err := rebate.ParsePeriod(in.Period)
	if err != nil {
		return FreezeResult{}, refused(ErrTypeSettlementInvalid, "%v", err)
	}
	var res FreezeResult
	err = pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := dbgen.New(tx)
		cutoff, returns := p.End(SettlementLocation), p.ReturnsCutoff(SettlementLocation, in.GraceDays)
		if in.Kind == string(rebate.Interim) {
			now := time.Now()
			cutoff, returns = minTime(now, cutoff), minTime(now, cutoff)
		}
		var startedBy *int64
		if in.StartedBy != 0 {
			startedBy = &in.StartedBy
		}
		// Starts of the period's settlements are serialised; the key is
		// unique: two starts of one settlement record it once.
		if err := q.LockSettlementPeriod(ctx, in.Period); err != nil {
			return fmt.Errorf("settlement %s: lock the period: %w", in.ID, err)
		}
		n, err := q.CountSettlements(ctx, dbgen.CountSettlementsParams{Kind: in.Kind, Period: in.Period})
		if err != nil {
			return fmt.Errorf("settlement %s: count: %w", in.ID, err)
		}
		st, err := q.InsertSettlement(ctx, dbgen.InsertSettlementParams{ID: in.ID, Period: in.Period, Kind: in.Kind,
			Cutoff: cutoff, ReturnsCutoff: returns, StartedBy: startedBy})
		fresh := err == nil
		if errors.Is(err, pgx.ErrNoRows) { // a retry, or a failed settlement run again
			if st, err = q.LockSettlement(ctx, in.ID); err != nil {
				return fmt.Errorf("settlement %s: %w", in.ID, err)
			}
		} else if err != nil {
			return fmt.Errorf("settlement %s: record: %w", in.ID, err)
		}
		if fresh || st.Status == SettlementFailed {
			switch {
			case in.Kind == string(rebate.Interim) && n.Finals > 0:
				return refused(ErrTypeSettlementConflict, "%s has a final settlement: run a correction instead of an interim", in.Period)
			case in.Kind == string(rebate.Correction) && n.FinalPublished == 0:
				return refused(ErrTypeSettlementConflict, "%s has no published final settlement to correct", in.Period)
			}
			// Another settlement of the period under way would pay without
			// this one knowing (or the other way round): one at a time.
			others, err := q.UnfinishedSettlements(ctx, dbgen.UnfinishedSettlementsParams{Period: in.Period, ID: in.ID})
			if err != nil {
				return fmt.Errorf("settlement %s: settlements under way: %w", in.ID, err)
			}
			if len(others) > 0 {
				return refused(ErrTypeSettlementConflict, "settlement %s of %s is %s: approve or cancel it before starting another",
					others[0].ID, in.Period, others[0].Status)
			}
		}
		programs, err := effectivePrograms(ctx, q, p)
		if err != nil {
			return err
		}
		total, err := countProgramAgents(ctx, q, in.ID, programs)
		if err != nil {
			return err
		}
		if st.Status == SettlementStarted || st.Status == SettlementComputing || st.Status == SettlementFailed {
			if err := q.StartComputing(ctx, dbgen.StartComputingParams{ID: in.ID, AgentsTotal: int32(total)}); err != nil {
				return fmt.Errorf("settlement %s: %w", in.ID, err)
			}
		}
		res = FreezeResult{Agents: int(total), Programs: len(programs)}
		return nil
	})
	return res, err
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// program is an effective rebate program and whom it applies to.
type program struct {
	rebate.Program
	grade, agent string
}

func (p program) appliesTo(agent, grade string) bool {
	return (p.agent != "" && p.agent == agent) || (p.grade != "" && p.grade == grade)
}

// effectivePrograms loads the latest version of every program in effect on
// the period's last day.
func effectivePrograms(ctx context.Context, q *dbgen.Queries, p rebate.Period) ([]program, error) {
	rows, err := q.EffectiveRebatePrograms(ctx, p.End(time.UTC).AddDate(0, 0, -1))
	if err != nil {
		return nil, fmt.Errorf("rebate programs of %s: %w", p.Key(), err)
	}
	out := make([]program, 0, len(rows))
	for _, r := range rows {
		var rp rebate.Program
		if err := json.Unmarshal(r.Rules, &rp); err != nil {
			return nil, refused(ErrTypeSettlementInvalid, "rebate program %s v%d: %v", r.Code, r.Version, err)
		}
		rp.Code, rp.Version = r.Code, int(r.Version)
		if err := rp.Validate(); err != nil {
			return nil, refused(ErrTypeSettlementInvalid, "rebate program %s v%d: %v", r.Code, r.Version, err)
		}
		pr := program{Program: rp}
		if r.Grade != nil {
			pr.grade = *r.Grade
		}
		if r.AgentCode != nil {
			pr.agent = *r.AgentCode
		}
		out = append(out, pr)
	}
	return out, nil
}

// countProgramAgents counts the agents some of the programs apply to.
func countProgramAgents(ctx context.Context, q *dbgen.Queries, id string, programs []program) (int64, error) {
	agents, grades := programTargets(programs)
	n, err := q.CountProgramAgents(ctx, dbgen.CountProgramAgentsParams{Agents: agents, Grades: grades})
	if err != nil {
		return 0, fmt.Errorf("settlement %s: count agents: %w", id, err)
	}
	return n, nil
}

func programTargets(ps []program) (agents, grades []string) {
	agents, grades = []string{}, []string{}
	for _, p := range ps {
		if p.agent != "" {
			agents = append(agents, p.agent)
		}
		if p.grade != "" {
			grades = append(grades, p.grade)
		}
	}
	return agents, grades
}

// BatchInput names a batch: the agents after After in code order, at most
// Limit of them.
type BatchInput struct {
	ID    string `json:"id"`
	After string `json:"after"`
	Limit int    `json:"limit"`
}

// BatchResult says what a batch did: the last agent it covered (empty when
// there was none left) and the settlement's progress.
type BatchResult struct {
	Last   string `json:"last"`
	Agents int    `json:"agents"`
	Done   int    `json:"done"`
	Posted int    `json:"posted"`
}

// ComputeBatch computes the statements of the next batch of agents, in one
// transaction: a run twice replaces them with the same.
func (a *Rebates) ComputeBatch(ctx context.Context, in BatchInput) (BatchResult, error) {
	var res BatchResult
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := dbgen.New(tx)
		st, programs, err := loadSettlement(ctx, q, in.ID)
		if err != nil {
			return err
		}
		agents, grades := programTargets(programs)
		rows, err := q.ProgramAgentsAfter(ctx, dbgen.ProgramAgentsAfterParams{After: in.After, Agents: agents, Grades: grades, Lim: int32(in.Limit)})
		if err != nil {
			return fmt.Errorf("settlement %s: agents: %w", in.ID, err)
		}
		if len(rows) == 0 {
			return nil
		}
		batch := make([]agentRow, len(rows))
		for i, r := range rows {
			batch[i] = agentRow{code: r.Code, grade: r.Grade}
		}
		if err := computeAgents(ctx, q, st, programs, batch); err != nil {
			return err
		}
		pr, err := q.UpdateSettlementProgress(ctx, in.ID)
		if err != nil {
			return fmt.Errorf("settlement %s: progress: %w", in.ID, err)
		}
		res = BatchResult{Last: batch[len(batch)-1].code, Agents: len(batch), Done: int(pr.AgentsDone), Posted: int(pr.Posted)}
		return nil
	})
	return res, err
}

func loadSettlement(ctx context.Context, q *dbgen.Queries, id string) (dbgen.RebateSettlement, []program, error) {
	st, err := q.GetSettlement(ctx, id)
	if err != nil {
		return st, nil, fmt.Errorf("settlement %s: %w", id, err)
	}
	p, err := rebate.ParsePeriod(st.Period)
	if err != nil {
		return st, nil, refused(ErrTypeSettlementInvalid, "%v", err)
	}
	programs, err := effectivePrograms(ctx, q, p)
	return st, programs, err
}

type agentRow struct{ code, grade string }

// computeAgents computes and stores the statements of the agents: a few
// set-based sums over the batch, the calculation per agent and program, then
// the batch's statements and lines replaced with COPY.
func computeAgents(ctx context.Context, q *dbgen.Queries, st dbgen.RebateSettlement, programs []program, batch []agentRow) error {
	p, err := rebate.ParsePeriod(st.Period)
	if err != nil {
		return refused(ErrTypeSettlementInvalid, "%v", err)
	}
	start := p.Start(SettlementLocation)
	codes := make([]string, len(batch))
	for i, b := range batch {
		codes[i] = b.code
	}
	wrap := func(what string, err error) error { return fmt.Errorf("settlement %s: %s: %w", st.ID, what, err) }

	type volume struct {
		delivered, returned decimal.Decimal
		orders, returns     int64
	}
	vols := map[string]*volume{}
	vol := func(agent string) *volume {
		if vols[agent] == nil {
			vols[agent] = &volume{}
		}
		return vols[agent]
	}
	dv, err := q.AgentVolumes(ctx, dbgen.AgentVolumesParams{Agents: codes, Start: start, Cutoff: st.Cutoff})
	if err != nil {
		return wrap("volumes", err)
	}
	for _, r := range dv {
		vol(r.AgentCode).delivered, vol(r.AgentCode).orders = r.Delivered, r.Orders
	}
	rv, err := q.AgentReturns(ctx, dbgen.AgentReturnsParams{Agents: codes, Start: start, Cutoff: st.Cutoff, ReturnsCutoff: st.ReturnsCutoff})
	if err != nil {
		return wrap("returns", err)
	}
	for _, r := range rv {
		vol(r.AgentCode).returned, vol(r.AgentCode).returns = r.Returned, r.Returns
	}
	// Net volume in new SKUs, per distinct "launched within N months": the
	// delivered lines' net value less the returned lines' amounts.
	newVol := map[int]map[string]decimal.Decimal{}
	for _, pr := range programs {
		if pr.NewProduct == nil || newVol[pr.NewProduct.WithinMonths] != nil {
			continue
		}
		m := pr.NewProduct.WithinMonths
		from := p.End(time.UTC).AddDate(0, -m, 0)
		rows, err := q.AgentNewProductVolumes(ctx, dbgen.AgentNewProductVolumesParams{Agents: codes, Start: start, Cutoff: st.Cutoff, LaunchedFrom: from})
		if err != nil {
			return wrap("new-product volumes", err)
		}
		newVol[m] = map[string]decimal.Decimal{}
		for _, r := range rows {
			newVol[m][r.AgentCode] = r.Amount
		}
		rets, err := q.AgentNewProductReturns(ctx, dbgen.AgentNewProductReturnsParams{Agents: codes, Start: start, Cutoff: st.Cutoff,
			ReturnsCutoff: st.ReturnsCutoff, LaunchedFrom: from})
		if err != nil {
			return wrap("new-product returns", err)
		}
		for _, r := range rets {
			newVol[m][r.AgentCode] = newVol[m][r.AgentCode].Sub(r.Amount)
		}
	}
	dataRows, err := q.AgentDataPoints(ctx, dbgen.AgentDataPointsParams{Period: st.Period, Agents: codes})
	if err != nil {
		return wrap("data points", err)
	}
	data := map[string]dbgen.AgentDataPointsRow{}
	for _, r := range dataRows {
		data[r.AgentCode] = r
	}
	camp, err := q.AgentCampaignExecution(ctx, dbgen.AgentCampaignExecutionParams{Agents: codes, Cutoff: st.Cutoff, Start: start})
	if err != nil {
		return wrap("campaign execution", err)
	}
	campaigns := map[string]dbgen.AgentCampaignExecutionRow{}
	for _, r := range camp {
		campaigns[r.AgentCode] = r
	}
	cov, err := q.AgentCertificationCoverage(ctx, dbgen.AgentCertificationCoverageParams{At: st.Cutoff, Agents: codes})
	if err != nil {
		return wrap("certification coverage", err)
	}
	coverage := map[string]dbgen.AgentCertificationCoverageRow{}
	for _, r := range cov {
		coverage[r.AgentCode] = r
	}
	paidRows, err := q.AgentPaidBefore(ctx, dbgen.AgentPaidBeforeParams{Period: st.Period, SettlementID: st.ID, Agents: codes})
	if err != nil {
		return wrap("paid before", err)
	}
	paid := map[string]decimal.Decimal{}
	for _, r := range paidRows {
		paid[r.AgentCode+"/"+r.ProgramCode] = r.Paid
	}
	adjRows, err := q.SettlementAdjustments(ctx, dbgen.SettlementAdjustmentsParams{SettlementID: st.ID, Agents: codes})
	if err != nil {
		return wrap("adjustments", err)
	}
	adjs := map[string][]rebate.Adjustment{}
	for _, r := range adjRows {
		k := r.AgentCode + "/" + r.ProgramCode
		adjs[k] = append(adjs[k], rebate.Adjustment{Amount: r.Amount, Reason: r.Reason, By: r.ByName})
	}

	var stmts []dbgen.CopyStatementsParams
	var lines []dbgen.CopyStatementLinesParams
	for _, ag := range batch {
		v := vol(ag.code)
		for _, pr := range programs {
			if !pr.appliesTo(ag.code, ag.grade) {
				continue
			}
			in := rebate.Inputs{
				Agent: ag.code, Period: st.Period, Kind: rebate.Kind(st.Kind),
				Delivered: v.delivered, Orders: v.orders, Returned: v.returned, Returns: v.returns,
				CampaignsTargeted: campaigns[ag.code].Targeted, CampaignsExecuted: campaigns[ag.code].Executed,
				Stores: coverage[ag.code].Stores, CertifiedStores: coverage[ag.code].Certified,
				DataPoints: data[ag.code].Points, DataStores: data[ag.code].Stores,
				PaidBefore: paid[ag.code+"/"+pr.Code], Adjustments: adjs[ag.code+"/"+pr.Code],
			}
			if pr.NewProduct != nil {
				in.NewProduct = decimal.Max(newVol[pr.NewProduct.WithinMonths][ag.code], decimal.Zero)
			}
			s, err := rebate.Compute(pr.Program, in)
			if err != nil {
				return refused(ErrTypeSettlementInvalid, "agent %s, program %s: %v", ag.code, pr.Code, err)
			}
			stmts = append(stmts, dbgen.CopyStatementsParams{SettlementID: st.ID, AgentCode: ag.code, ProgramCode: pr.Code,
				ProgramVersion: int32(pr.Version), Delivered: s.Delivered, OrdersCounted: s.Orders, Returned: s.Returned,
				ReturnsCounted: s.Returns, Volume: s.Volume, Tier: int32(s.Tier), Earned: s.Earned, Capped: s.Capped,
				Adjusted: s.Adjusted, Total: s.Total, PaidBefore: s.PaidBefore, Credit: s.Credit, Debit: s.Debit, Note: s.Note})
			for i, l := range s.Lines {
				lines = append(lines, dbgen.CopyStatementLinesParams{SettlementID: st.ID, AgentCode: ag.code, ProgramCode: pr.Code,
					LineNo: int32(i + 1), Rule: l.Rule, Basis: l.Basis, RatePct: l.RatePct, Amount: l.Amount, Note: l.Note})
			}
		}
	}
	if err := q.DeleteStatements(ctx, dbgen.DeleteStatementsParams{SettlementID: st.ID, Agents: codes}); err != nil {
		return wrap("replace statements", err)
	}
	if _, err := q.CopyStatements(ctx, stmts); err != nil {
		return wrap("write statements", err)
	}
	if _, err := q.CopyStatementLines(ctx, lines); err != nil {
		return wrap("write statement lines", err)
	}
	return nil
}

// ClearStatements prepares a recompute in review: in one transaction it
// deletes the settlement's statements (adjustment lines are kept: the
// recompute applies them again), recounts the agents the programs in effect
// apply to, and records the settlement as computing. It runs only in review
// (or computing: a retried recompute).
func (a *Rebates) ClearStatements(ctx context.Context, id string) (FreezeResult, error) {
	var res FreezeResult
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := dbgen.New(tx)
		st, err := q.LockSettlement(ctx, id)
		if err != nil {
			return fmt.Errorf("settlement %s: %w", id, err)
		}
		if st.Status != SettlementReview && st.Status != SettlementComputing {
			return refused(ErrTypeSettlementConflict, "settlement %s is %s: it is recomputed in review", id, st.Status)
		}
		_, programs, err := loadSettlement(ctx, q, id)
		if err != nil {
			return err
		}
		total, err := countProgramAgents(ctx, q, id, programs)
		if err != nil {
			return err
		}
		if err := q.DeleteSettlementStatements(ctx, id); err != nil {
			return fmt.Errorf("settlement %s: clear statements: %w", id, err)
		}
		if err := q.StartComputing(ctx, dbgen.StartComputingParams{ID: id, AgentsTotal: int32(total)}); err != nil {
			return fmt.Errorf("settlement %s: %w", id, err)
		}
		if _, err := q.UpdateSettlementProgress(ctx, id); err != nil {
			return fmt.Errorf("settlement %s: progress: %w", id, err)
		}
		res = FreezeResult{Agents: int(total), Programs: len(programs)}
		return nil
	})
	return res, err
}

// AdjustmentInput is an adjustment line finance adds in review.
type AdjustmentInput struct {
	ID      string          `json:"id"`
	Agent   string          `json:"agent"`
	Program string          `json:"program"`
	Amount  decimal.Decimal `json:"amount"`
	Reason  string          `json:"reason"`
	UserID  int64           `json:"user_id"`
	// Key makes a retry add the line once (the update's ID).
	Key string `json:"key"`
}

// StatementTotals are an agent's statement figures after a change.
type StatementTotals struct {
	Agent    string          `json:"agent"`
	Program  string          `json:"program"`
	Adjusted decimal.Decimal `json:"adjusted"`
	Total    decimal.Decimal `json:"total"`
	Credit   decimal.Decimal `json:"credit"`
	Debit    decimal.Decimal `json:"debit"`
}

// AddAdjustment records the adjustment line (once per key) and recomputes
// the agent's statements, in one transaction.
func (a *Rebates) AddAdjustment(ctx context.Context, in AdjustmentInput) (StatementTotals, error) {
	var out StatementTotals
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := dbgen.New(tx)
		st, err := q.LockSettlement(ctx, in.ID)
		if err != nil {
			return fmt.Errorf("settlement %s: %w", in.ID, err)
		}
		if st.Status != SettlementReview {
			return refused(ErrTypeSettlementConflict, "settlement %s is %s: adjustments are taken in review", in.ID, st.Status)
		}
		if _, err := q.GetAgentStatement(ctx, dbgen.GetAgentStatementParams{SettlementID: in.ID, AgentCode: in.Agent, ProgramCode: in.Program}); errors.Is(err, pgx.ErrNoRows) {
			return refused(ErrTypeSettlementInvalid, "settlement %s has no statement of agent %s under program %s", in.ID, in.Agent, in.Program)
		} else if err != nil {
			return fmt.Errorf("settlement %s: statement: %w", in.ID, err)
		}
		if err := q.InsertAdjustment(ctx, dbgen.InsertAdjustmentParams{SettlementID: in.ID, AgentCode: in.Agent, ProgramCode: in.Program,
			Amount: in.Amount, Reason: in.Reason, CreatedBy: in.UserID, DedupKey: in.Key}); err != nil {
			return fmt.Errorf("settlement %s: adjustment: %w", in.ID, err)
		}
		_, programs, err := loadSettlement(ctx, q, in.ID)
		if err != nil {
			return err
		}
		rows, err := q.AgentsByCode(ctx, []string{in.Agent})
		if err != nil || len(rows) != 1 {
			return fmt.Errorf("settlement %s: agent %s: %w", in.ID, in.Agent, errors.Join(err, pgx.ErrNoRows))
		}
		if err := computeAgents(ctx, q, st, programs, []agentRow{{code: rows[0].Code, grade: rows[0].Grade}}); err != nil {
			return err
		}
		s, err := q.GetAgentStatement(ctx, dbgen.GetAgentStatementParams{SettlementID: in.ID, AgentCode: in.Agent, ProgramCode: in.Program})
		if err != nil {
			return fmt.Errorf("settlement %s: statement: %w", in.ID, err)
		}
		out = StatementTotals{Agent: in.Agent, Program: in.Program, Adjusted: s.Adjusted, Total: s.Total, Credit: s.Credit, Debit: s.Debit}
		return nil
	})
	return out, err
}

// CancelSettlement cancels a settlement in review: nothing was posted, its
// statements stay for the record, and the period is free for another
// settlement. A repeat is harmless.
func (a *Rebates) CancelSettlement(ctx context.Context, id string) error {
	_, err := dbgen.New(a.Pool).CancelSettlement(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return refused(ErrTypeSettlementConflict, "settlement %s is not in review: only a settlement in review can be cancelled", id)
	}
	if err != nil {
		return fmt.Errorf("settlement %s: cancel: %w", id, err)
	}
	return nil
}

// SettlementStatusInput sets a settlement's status.
type SettlementStatusInput struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// SetSettlementStatus records the settlement's status.
func (a *Rebates) SetSettlementStatus(ctx context.Context, in SettlementStatusInput) error {
	if err := dbgen.New(a.Pool).SetSettlementStatus(ctx, dbgen.SetSettlementStatusParams{ID: in.ID, Status: in.Status}); err != nil {
		return fmt.Errorf("settlement %s: status %s: %w", in.ID, in.Status, err)
	}
	return nil
}

// ApproveInput approves a settlement.
type ApproveInput struct {
	ID     string `json:"id"`
	UserID int64  `json:"user_id"`
}

// Approve records the approval (the database refuses the user who started
// the settlement).
func (a *Rebates) Approve(ctx context.Context, in ApproveInput) error {
	err := dbgen.New(a.Pool).ApproveSettlement(ctx, dbgen.ApproveSettlementParams{ID: in.ID, ApprovedBy: &in.UserID})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23514" { // the starter approving: retrying cannot help
		return refused(ErrTypeSettlementConflict, "settlement %s needs approval by a finance user other than the one who started it", in.ID)
	}
	if err != nil {
		return fmt.Errorf("settlement %s: approve: %w", in.ID, err)
	}
	return nil
}

// PostBatch posts the credit and debit notes of the next batch of agents'
// statements, in one statement: a note already posted stays as it is, so a
// batch run twice (or after a crash) posts each note exactly once.
func (a *Rebates) PostBatch(ctx context.Context, in BatchInput) (BatchResult, error) {
	var res BatchResult
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := dbgen.New(tx)
		agents, err := q.StatementAgentsAfter(ctx, dbgen.StatementAgentsAfterParams{SettlementID: in.ID, After: in.After, Lim: int32(in.Limit)})
		if err != nil {
			return fmt.Errorf("settlement %s: agents to post: %w", in.ID, err)
		}
		if len(agents) == 0 {
			return nil
		}
		if _, err := q.PostCreditNotes(ctx, dbgen.PostCreditNotesParams{SettlementID: in.ID, Agents: agents}); err != nil {
			return fmt.Errorf("settlement %s: post credit notes: %w", in.ID, err)
		}
		pr, err := q.UpdateSettlementProgress(ctx, in.ID)
		if err != nil {
			return fmt.Errorf("settlement %s: progress: %w", in.ID, err)
		}
		res = BatchResult{Last: slices.Max(agents), Agents: len(agents), Done: int(pr.AgentsDone), Posted: int(pr.Posted)}
		return nil
	})
	return res, err
}

// SettlementTotals are a published settlement's totals.
type SettlementTotals struct {
	TotalCredit decimal.Decimal `json:"total_credit"`
	TotalDebit  decimal.Decimal `json:"total_debit"`
	Notes       int             `json:"notes"`
}

// Publish publishes the statements: the settlement's totals from its notes.
func (a *Rebates) Publish(ctx context.Context, id string) (SettlementTotals, error) {
	q := dbgen.New(a.Pool)
	st, err := q.PublishSettlement(ctx, id)
	if err != nil {
		return SettlementTotals{}, fmt.Errorf("settlement %s: publish: %w", id, err)
	}
	return SettlementTotals{TotalCredit: st.TotalCredit, TotalDebit: st.TotalDebit, Notes: int(st.Posted)}, nil
}
