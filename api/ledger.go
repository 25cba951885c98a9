package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/auth"
	"github.com/alliance/backoffice/internal/money"
	"github.com/alliance/backoffice/internal/rebate"
)

// ledgerRoutes are an agent's credit-note ledger and the stores'
// data-contribution points the rebate's data bonus reads.
func (s *server) ledgerRoutes(g *echo.Group) {
	g.GET("/agents/:code/credit-notes", s.agentCreditNotes)
	g.POST("/store-data-points", s.recordDataPoints)
	g.GET("/store-data-points", s.listDataPoints)
}

// ---- credit notes ----

// CreditNote is a credit note (money the agent has with HQ, spent by its
// orders) or a debit note (money the agent owes, carried forward and
// recovered from its credit notes).
type CreditNote struct {
	No         string       `json:"no"`
	Kind       string       `json:"kind"`
	Settlement string       `json:"settlement"`
	Period     string       `json:"period"`
	Program    string       `json:"program"`
	Amount     money.Amount `json:"amount"`
	// Remaining is a credit note's unspent balance, or what a debit note
	// still owes.
	Remaining money.Amount `json:"remaining"`
	IssuedAt  time.Time    `json:"issued_at"`
}

// CreditNoteEntry is one movement of a credit note: a use by an order, its
// release when the order closed unfulfilled, or a recovery of a debit note.
type CreditNoteEntry struct {
	At         time.Time    `json:"at"`
	Kind       string       `json:"kind"`
	CreditNote string       `json:"credit_note"`
	Amount     money.Amount `json:"amount"`
	Order      string       `json:"order,omitempty"`
	DebitNote  string       `json:"debit_note,omitempty"`
}

// CreditNoteLedger is an agent's credit and debit notes and their movements.
type CreditNoteLedger struct {
	Agent string `json:"agent"`
	// Balance is the unspent credit the agent's next orders offset (抵扣货款);
	// Owed what its debit notes still owe. At most one of them is non-zero:
	// a debit is recovered from credit as soon as both exist.
	Balance money.Amount      `json:"balance"`
	Owed    money.Amount      `json:"owed"`
	Notes   []CreditNote      `json:"notes"`
	Entries []CreditNoteEntry `json:"entries"`
}

// agentCreditNotes answers the agent's ledger: HQ roles any agent's, an
// agent its own.
func (s *server) agentCreditNotes(c echo.Context) error {
	p := principal(c)
	code := c.Param("code")
	if !p.HQ() && !(p.Is(auth.RoleAgent) && p.Agent == code) {
		return errForbidden("credit notes are visible to HQ roles and to the agent itself")
	}
	ctx := c.Request().Context()
	out := CreditNoteLedger{Agent: code, Notes: []CreditNote{}, Entries: []CreditNoteEntry{}}
	// One snapshot: the balance, the notes and the entries agree.
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		q := dbgen.New(tx)
		if _, err := q.GetAgent(ctx, code); err != nil {
			return notFound(err, "agent", code)
		}
		bal, err := q.AgentCreditBalance(ctx, code)
		if err != nil {
			return err
		}
		owed, err := q.AgentDebitBalance(ctx, code)
		if err != nil {
			return err
		}
		out.Balance, out.Owed = money.A(bal), money.A(owed)
		notes, err := q.ListAgentCreditNotes(ctx, code)
		if err != nil {
			return err
		}
		for _, n := range notes {
			out.Notes = append(out.Notes, CreditNote{No: n.No, Kind: n.Kind, Settlement: n.SettlementID, Period: n.Period, Program: n.ProgramCode,
				Amount: money.A(n.Amount), Remaining: money.A(n.Remaining), IssuedAt: n.IssuedAt})
		}
		uses, err := q.ListAgentNoteUses(ctx, code)
		if err != nil {
			return err
		}
		for _, u := range uses {
			out.Entries = append(out.Entries, CreditNoteEntry{At: u.UsedAt, Kind: u.Kind, CreditNote: u.CreditNoteNo, Amount: money.A(u.Amount),
				Order: u.OrderID, DebitNote: u.DebitNoteNo})
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// ---- data contribution ----

// DataPoints is a store's data-contribution points under one metric in a
// period.
type DataPoints struct {
	Period     string       `json:"period"`
	Store      string       `json:"store"`
	Agent      string       `json:"agent"`
	Metric     string       `json:"metric"`
	Points     money.Amount `json:"points"`
	Note       string       `json:"note"`
	RecordedBy string       `json:"recorded_by"`
	RecordedAt time.Time    `json:"recorded_at"`
	// Previous is the value this recording replaced (absent for a first).
	Previous *money.Amount `json:"previous,omitempty"`
}

// DataPointsList is a period's data points and each agent's score.
type DataPointsList struct {
	Period string       `json:"period"`
	Items  []DataPoints `json:"items"`
	// Agents maps each agent to its score: the sum of its stores' points,
	// which the data bonus of a rebate program pays a rate per point on.
	Agents map[string]money.Amount `json:"agents"`
}

type dataPointsInput struct {
	Period  *string           `json:"period"`
	Entries []json.RawMessage `json:"entries"`
}

type dataPointsEntry struct {
	Store  *string `json:"store"`
	Metric *string `json:"metric"`
	Points *string `json:"points"`
	Note   *string `json:"note"`
}

var metricRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// maxDataEntries bounds one recording.
const maxDataEntries = 5000

// recordDataPoints records stores' points for a period (hq_admin, finance):
// all entries or none. A store's points under a metric replace what was
// recorded before for the same period (the audit log keeps every value).
func (s *server) recordDataPoints(c echo.Context) error {
	p, in, err := readInput[dataPointsInput](c, auth.RoleHQAdmin, auth.RoleFinance)
	if err != nil {
		return err
	}
	v := &validator{}
	period := ""
	if in.Period == nil || *in.Period == "" {
		v.add("period", "is required")
	} else if pp, err := rebate.ParsePeriod(*in.Period); err != nil {
		v.add("period", "must be a quarter like 2026-Q3")
	} else {
		period = pp.Key()
	}
	switch {
	case in.Entries == nil:
		v.add("entries", "is required")
	case len(in.Entries) == 0:
		v.add("entries", "must hold at least one entry")
	case len(in.Entries) > maxDataEntries:
		v.add("entries", fmt.Sprintf("holds %d entries, at most %d", len(in.Entries), maxDataEntries))
	}
	type entry struct {
		store, metric, note string
		points              decimal.Decimal
	}
	var entries []entry
	if len(in.Entries) <= maxDataEntries {
		seen := map[string]int{}
		for i, e := range decodeEach[dataPointsEntry](v, "entries", in.Entries) {
			at := fmt.Sprintf("entries[%d].", i)
			store := v.code(at+"store", e.Store, true)
			metric := ""
			if e.Metric == nil || *e.Metric == "" {
				v.add(at+"metric", "is required")
			} else if !metricRE.MatchString(*e.Metric) {
				v.add(at+"metric", "must be 1-40 lower-case letters, digits or '_', starting with a letter")
			} else {
				metric = *e.Metric
			}
			points := v.decimal(at+"points", e.Points, true, false, 10, 2, decimal.Decimal{})
			note := ""
			if e.Note != nil {
				note = v.text(at+"note", e.Note, false, 500)
			}
			if store != "" && metric != "" {
				k := store + "/" + metric
				if j, dup := seen[k]; dup {
					v.add(at+"store", fmt.Sprintf("store %s, metric %s is already entries[%d]", store, metric, j))
				}
				seen[k] = i
			}
			entries = append(entries, entry{store: store, metric: metric, note: note, points: points.Decimal})
		}
	}
	if err := v.err(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	out := DataPointsList{Period: period, Items: []DataPoints{}, Agents: map[string]money.Amount{}}
	var missing []FieldError
	err = s.write(c, "record", "store_data_points", period, in, func(q *dbgen.Queries) error {
		for i, e := range entries {
			st, err := q.GetStore(ctx, e.store)
			if errors.Is(err, pgx.ErrNoRows) {
				missing = append(missing, FieldError{Field: fmt.Sprintf("entries[%d].store", i), Detail: "store " + e.store + " does not exist"})
				continue
			} else if err != nil {
				return err
			}
			var prev *money.Amount
			if old, err := q.GetStoreDataPointsForUpdate(ctx, dbgen.GetStoreDataPointsForUpdateParams{Period: period, StoreCode: e.store, Metric: e.metric}); err == nil {
				a := money.A(old.Points)
				prev = &a
			} else if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			r, err := q.UpsertStoreDataPoints(ctx, dbgen.UpsertStoreDataPointsParams{Period: period, StoreCode: e.store, Metric: e.metric,
				Points: e.points, Note: e.note, RecordedBy: p.UserID})
			if err != nil {
				return err
			}
			out.Items = append(out.Items, DataPoints{Period: period, Store: r.StoreCode, Agent: st.AgentCode, Metric: r.Metric,
				Points: money.A(r.Points), Note: r.Note, RecordedBy: p.Name, RecordedAt: r.RecordedAt, Previous: prev})
		}
		if len(missing) > 0 {
			return errInvalid(missing...)
		}
		// The scores of the agents whose stores were recorded, as they stand:
		// the sums the settlement reads.
		agents := make([]string, 0, len(out.Items))
		for _, it := range out.Items {
			agents = append(agents, it.Agent)
		}
		scores, err := q.AgentDataPoints(ctx, dbgen.AgentDataPointsParams{Period: period, Agents: agents})
		if err != nil {
			return err
		}
		for _, r := range scores {
			out.Agents[r.AgentCode] = money.A(r.Points)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// listDataPoints answers a period's data points (?period=, required;
// ?agent=, ?store= filter): HQ roles any, an agent its stores', a store its
// own.
func (s *server) listDataPoints(c echo.Context) error {
	p := principal(c)
	v := &validator{}
	period := ""
	if q := c.QueryParam("period"); q == "" {
		v.add("period", "is required")
	} else if pp, err := rebate.ParsePeriod(q); err != nil {
		v.add("period", "must be a quarter like 2026-Q3")
	} else {
		period = pp.Key()
	}
	agent, store := c.QueryParam("agent"), c.QueryParam("store")
	if err := v.err(); err != nil {
		return err
	}
	switch {
	case p.HQ():
	case p.Is(auth.RoleAgent):
		if agent != "" && agent != p.Agent {
			return errForbidden("an agent sees its own stores' data points")
		}
		agent = p.Agent
	case p.Is(auth.RoleStore):
		if store != "" && store != p.Store {
			return errForbidden("a store sees its own data points")
		}
		store = p.Store
	default:
		return errForbidden("the " + string(p.Role) + " role may not do this")
	}
	rows, err := s.q.ListStoreDataPoints(c.Request().Context(), dbgen.ListStoreDataPointsParams{Period: period, Agent: agent, Store: store})
	if err != nil {
		return err
	}
	out := DataPointsList{Period: period, Items: []DataPoints{}, Agents: map[string]money.Amount{}}
	for _, r := range rows {
		out.Items = append(out.Items, DataPoints{Period: r.Period, Store: r.StoreCode, Agent: r.AgentCode, Metric: r.Metric,
			Points: money.A(r.Points), Note: r.Note, RecordedBy: r.RecordedBy, RecordedAt: r.RecordedAt})
		out.Agents[r.AgentCode] = money.A(out.Agents[r.AgentCode].Add(r.Points))
	}
	return c.JSON(http.StatusOK, out)
}
