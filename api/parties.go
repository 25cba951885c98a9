package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/auth"
	"github.com/alliance/backoffice/internal/money"
)

// ---- agents ----

// Agent is a regional distributor (代理商).
type Agent struct {
	Code        string       `json:"code"`
	Name        string       `json:"name"`
	Grade       string       `json:"grade"`
	Region      string       `json:"region"`
	Territory   string       `json:"territory"`
	CreditLimit money.Amount `json:"credit_limit"`
	Active      bool         `json:"active"`
	CreatedAt   time.Time    `json:"created_at"`
	UpdatedAt   time.Time    `json:"updated_at"`
}

func agentOf(r dbgen.Agent) Agent {
	return Agent{
		Code: r.Code, Name: r.Name, Grade: r.Grade, Region: r.Region, Territory: r.Territory,
		CreditLimit: money.A(r.CreditLimit), Active: r.Active, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

type agentInput struct {
	Code        *string `json:"code"`
	Name        *string `json:"name"`
	Grade       *string `json:"grade"`
	Region      *string `json:"region"`
	Territory   *string `json:"territory"`
	CreditLimit *string `json:"credit_limit"`
	Active      *bool   `json:"active"`
}

// agentReaders may read agents; stores and BAs see agents only through their
// own store record.
var agentReaders = []auth.Role{auth.RoleHQAdmin, auth.RoleHQSales, auth.RoleFinance, auth.RoleOps, auth.RoleAgent}

func (s *server) listAgents(c echo.Context) error {
	p, err := allow(c, agentReaders...)
	if err != nil {
		return err
	}
	v := &validator{}
	limit, after := page(c, v)
	active := queryBool(c, v, "active")
	if err := v.err(); err != nil {
		return err
	}
	rows, err := s.q.ListAgents(c.Request().Context(), dbgen.ListAgentsParams{
		After: after, Grade: queryOpt(c, "grade"), Region: queryOpt(c, "region"), Active: active,
		ScopeAgent: p.ScopeAgent(), Lim: limit,
	})
	if err != nil {
		return err
	}
	out := make([]Agent, len(rows))
	for i, r := range rows {
		out[i] = agentOf(r)
	}
	return c.JSON(http.StatusOK, newList(out, limit, func(x Agent) string { return x.Code }))
}

func (s *server) getAgent(c echo.Context) error {
	p, err := allow(c, agentReaders...)
	if err != nil {
		return err
	}
	code := c.Param("code")
	if !p.SeesAgent(code) {
		return errForbidden("an agent sees only its own record")
	}
	r, err := s.q.GetAgent(c.Request().Context(), code)
	if err != nil {
		return notFound(err, "agent", code)
	}
	return c.JSON(http.StatusOK, agentOf(r))
}

func (s *server) createAgent(c echo.Context) error {
	_, in, err := readInput[agentInput](c, salesWriters...)
	if err != nil {
		return err
	}
	v := &validator{}
	code := v.code("code", in.Code, true)
	name := v.text("name", in.Name, true, 200)
	grade := v.code("grade", in.Grade, true)
	region := v.code("region", in.Region, true)
	territory := v.text("territory", in.Territory, false, 200)
	credit := v.amount("credit_limit", in.CreditLimit, false, false)
	if in.Active != nil {
		v.add("active", "cannot be set on creation; a new agent is active")
	}
	if err := v.err(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	var r dbgen.Agent
	err = s.write(c, "create", "agent", code, in, func(q *dbgen.Queries) error {
		limit := credit.Decimal
		if !credit.Valid { // default: the grade's default credit limit
			gp, err := q.GetGradePolicy(ctx, grade)
			if err != nil {
				return errInvalid(FieldError{Field: "grade", Detail: "refers to something that does not exist"})
			}
			limit = gp.CreditLimitDefault
		}
		var err error
		r, err = q.CreateAgent(ctx, dbgen.CreateAgentParams{
			Code: code, Name: name, Grade: grade, Region: region, Territory: territory, CreditLimit: limit,
		})
		return err
	})
	if err != nil {
		return err
	}
	return created(c, "/v1/agents/"+r.Code, agentOf(r))
}

func (s *server) updateAgent(c echo.Context) error {
	_, in, err := readInput[agentInput](c, salesWriters...)
	if err != nil {
		return err
	}
	v := &validator{}
	v.immutable("code", in.Code != nil)
	v.text("name", in.Name, false, 200)
	v.code("grade", in.Grade, false)
	v.code("region", in.Region, false)
	if in.Territory != nil {
		v.text("territory", in.Territory, false, 200)
	}
	credit := v.amount("credit_limit", in.CreditLimit, false, false)
	if err := v.err(); err != nil {
		return err
	}
	code := c.Param("code")
	var r dbgen.Agent
	err = s.write(c, "update", "agent", code, in, func(q *dbgen.Queries) (err error) {
		r, err = q.UpdateAgent(c.Request().Context(), dbgen.UpdateAgentParams{
			Code: code, Name: trimmed(in.Name), Grade: in.Grade, Region: in.Region,
			Territory: trimmed(in.Territory), CreditLimit: credit, Active: in.Active,
		})
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, agentOf(r))
}

// ---- stores ----

// Store is a retail outlet (门店) served by one agent.
type Store struct {
	Code      string    `json:"code"`
	Name      string    `json:"name"`
	AgentCode string    `json:"agent_code"`
	Region    string    `json:"region"`
	Kind      string    `json:"kind"`
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func storeOf(r dbgen.Store) Store {
	return Store{
		Code: r.Code, Name: r.Name, AgentCode: r.AgentCode, Region: r.Region, Kind: r.Kind,
		Active: r.Active, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

type storeInput struct {
	Code      *string `json:"code"`
	Name      *string `json:"name"`
	AgentCode *string `json:"agent_code"`
	Region    *string `json:"region"`
	Kind      *string `json:"kind"`
	Active    *bool   `json:"active"`
}

var storeKinds = []string{"collection", "single_brand"}

// storeWriters may create and change stores: HQ sales for any agent, an
// agent for its own stores.
var storeWriters = []auth.Role{auth.RoleHQAdmin, auth.RoleHQSales, auth.RoleAgent}

func (s *server) listStores(c echo.Context) error {
	p := principal(c)
	v := &validator{}
	limit, after := page(c, v)
	active := queryBool(c, v, "active")
	kind := queryEnum(c, v, "kind", storeKinds...)
	if err := v.err(); err != nil {
		return err
	}
	rows, err := s.q.ListStores(c.Request().Context(), dbgen.ListStoresParams{
		After: after, AgentCode: queryOpt(c, "agent"), Region: queryOpt(c, "region"), Kind: kind,
		Active: active, ScopeAgent: p.ScopeAgent(), ScopeStore: p.ScopeStore(), Lim: limit,
	})
	if err != nil {
		return err
	}
	out := make([]Store, len(rows))
	for i, r := range rows {
		out[i] = storeOf(r)
	}
	return c.JSON(http.StatusOK, newList(out, limit, func(x Store) string { return x.Code }))
}

// seesStore reports whether p may see store r.
func seesStore(p auth.Principal, r dbgen.Store) bool {
	if p.Is(auth.RoleStore, auth.RoleBA) {
		return p.Store == r.Code
	}
	return p.SeesAgent(r.AgentCode)
}

func (s *server) getStore(c echo.Context) error {
	code := c.Param("code")
	r, err := s.q.GetStore(c.Request().Context(), code)
	if err != nil {
		return notFound(err, "store", code)
	}
	if !seesStore(principal(c), r) {
		return errForbidden("this store is outside your scope")
	}
	return c.JSON(http.StatusOK, storeOf(r))
}

func (s *server) createStore(c echo.Context) error {
	p, in, err := readInput[storeInput](c, storeWriters...)
	if err != nil {
		return err
	}
	v := &validator{}
	code := v.code("code", in.Code, true)
	name := v.text("name", in.Name, true, 200)
	agent := v.code("agent_code", in.AgentCode, !p.Is(auth.RoleAgent))
	region := v.code("region", in.Region, true)
	kind := v.enum("kind", in.Kind, true, storeKinds...)
	if in.Active != nil {
		v.add("active", "cannot be set on creation; a new store is active")
	}
	if p.Is(auth.RoleAgent) {
		if agent == "" {
			agent = p.Agent
		} else if agent != p.Agent {
			return errForbidden("an agent creates stores only under itself")
		}
	}
	if err := v.err(); err != nil {
		return err
	}
	var r dbgen.Store
	err = s.write(c, "create", "store", code, in, func(q *dbgen.Queries) (err error) {
		r, err = q.CreateStore(c.Request().Context(), dbgen.CreateStoreParams{
			Code: code, Name: name, AgentCode: agent, Region: region, Kind: kind,
		})
		return err
	})
	if err != nil {
		return err
	}
	return created(c, "/v1/stores/"+r.Code, storeOf(r))
}

func (s *server) updateStore(c echo.Context) error {
	p, in, err := readInput[storeInput](c, storeWriters...)
	if err != nil {
		return err
	}
	v := &validator{}
	v.immutable("code", in.Code != nil)
	v.text("name", in.Name, false, 200)
	v.code("agent_code", in.AgentCode, false)
	v.code("region", in.Region, false)
	v.enum("kind", in.Kind, false, storeKinds...)
	if err := v.err(); err != nil {
		return err
	}
	code := c.Param("code")
	ctx := c.Request().Context()
	var r dbgen.Store
	err = s.write(c, "update", "store", code, in, func(q *dbgen.Queries) error {
		cur, err := q.GetStore(ctx, code)
		if err != nil {
			return err
		}
		if !p.SeesAgent(cur.AgentCode) {
			return errForbidden("this store belongs to another agent")
		}
		if p.Is(auth.RoleAgent) && in.AgentCode != nil && *in.AgentCode != p.Agent {
			return errForbidden("only HQ moves a store to another agent")
		}
		r, err = q.UpdateStore(ctx, dbgen.UpdateStoreParams{
			Code: code, Name: trimmed(in.Name), AgentCode: in.AgentCode, Region: in.Region, Kind: in.Kind, Active: in.Active,
		})
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, storeOf(r))
}

// ---- BAs ----

// BA is a beauty advisor (美容顾问) working in one store.
type BA struct {
	Code      string    `json:"code"`
	Name      string    `json:"name"`
	StoreCode string    `json:"store_code"`
	HiredOn   *string   `json:"hired_on"`
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func baOf(r dbgen.Ba) BA {
	return BA{
		Code: r.Code, Name: r.Name, StoreCode: r.StoreCode, HiredOn: date(r.HiredOn),
		Active: r.Active, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

type baInput struct {
	Code      *string `json:"code"`
	Name      *string `json:"name"`
	StoreCode *string `json:"store_code"`
	HiredOn   *string `json:"hired_on"`
	Active    *bool   `json:"active"`
}

// baWriters may create and change BAs, each within its scope.
var baWriters = []auth.Role{auth.RoleHQAdmin, auth.RoleHQSales, auth.RoleAgent, auth.RoleStore}

func (s *server) listBAs(c echo.Context) error {
	p := principal(c)
	v := &validator{}
	limit, after := page(c, v)
	active := queryBool(c, v, "active")
	if err := v.err(); err != nil {
		return err
	}
	rows, err := s.q.ListBAs(c.Request().Context(), dbgen.ListBAsParams{
		After: after, StoreCode: queryOpt(c, "store"), AgentCode: queryOpt(c, "agent"), Active: active,
		ScopeAgent: p.ScopeAgent(), ScopeStore: p.ScopeStore(), ScopeBa: p.ScopeBA(), Lim: limit,
	})
	if err != nil {
		return err
	}
	out := make([]BA, len(rows))
	for i, r := range rows {
		out[i] = baOf(r)
	}
	return c.JSON(http.StatusOK, newList(out, limit, func(x BA) string { return x.Code }))
}

// seesBA reports whether p may see a BA of the given store and agent.
func seesBA(p auth.Principal, code, store, agent string) bool {
	switch p.Role {
	case auth.RoleBA:
		return p.BA == code
	case auth.RoleStore:
		return p.Store == store
	}
	return p.SeesAgent(agent)
}

func (s *server) getBA(c echo.Context) error {
	code := c.Param("code")
	r, err := s.q.GetBA(c.Request().Context(), code)
	if err != nil {
		return notFound(err, "BA", code)
	}
	if !seesBA(principal(c), r.Code, r.StoreCode, r.AgentCode) {
		return errForbidden("this BA is outside your scope")
	}
	return c.JSON(http.StatusOK, baOf(dbgen.Ba{
		Code: r.Code, Name: r.Name, StoreCode: r.StoreCode, HiredOn: r.HiredOn,
		Active: r.Active, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}))
}

// checkStoreScope answers 403 unless p may manage BAs of the store, and 422
// when the store does not exist.
func checkStoreScope(c echo.Context, q *dbgen.Queries, p auth.Principal, store string) error {
	st, err := q.GetStore(c.Request().Context(), store)
	if errors.Is(err, pgx.ErrNoRows) {
		return errInvalid(FieldError{Field: "store_code", Detail: "refers to something that does not exist"})
	}
	if err != nil {
		return err
	}
	if p.Is(auth.RoleStore) && p.Store != store || !p.SeesAgent(st.AgentCode) {
		return errForbidden("store " + store + " is outside your scope")
	}
	return nil
}

func (s *server) createBA(c echo.Context) error {
	p, in, err := readInput[baInput](c, baWriters...)
	if err != nil {
		return err
	}
	v := &validator{}
	code := v.code("code", in.Code, true)
	name := v.text("name", in.Name, true, 200)
	store := v.code("store_code", in.StoreCode, !p.Is(auth.RoleStore))
	hired := v.date("hired_on", in.HiredOn, false)
	if in.Active != nil {
		v.add("active", "cannot be set on creation; a new BA is active")
	}
	if store == "" && p.Is(auth.RoleStore) {
		store = p.Store
	}
	if err := v.err(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	var r dbgen.Ba
	err = s.write(c, "create", "ba", code, in, func(q *dbgen.Queries) error {
		if err := checkStoreScope(c, q, p, store); err != nil {
			return err
		}
		var err error
		r, err = q.CreateBA(ctx, dbgen.CreateBAParams{Code: code, Name: name, StoreCode: store, HiredOn: hired})
		return err
	})
	if err != nil {
		return err
	}
	return created(c, "/v1/bas/"+r.Code, baOf(r))
}

func (s *server) updateBA(c echo.Context) error {
	p, in, err := readInput[baInput](c, baWriters...)
	if err != nil {
		return err
	}
	v := &validator{}
	v.immutable("code", in.Code != nil)
	v.text("name", in.Name, false, 200)
	v.code("store_code", in.StoreCode, false)
	hired := v.date("hired_on", in.HiredOn, false)
	if err := v.err(); err != nil {
		return err
	}
	code := c.Param("code")
	ctx := c.Request().Context()
	var r dbgen.Ba
	err = s.write(c, "update", "ba", code, in, func(q *dbgen.Queries) error {
		cur, err := q.GetBA(ctx, code)
		if err != nil {
			return err
		}
		if !seesBA(p, cur.Code, cur.StoreCode, cur.AgentCode) {
			return errForbidden("this BA is outside your scope")
		}
		if in.StoreCode != nil {
			if err := checkStoreScope(c, q, p, *in.StoreCode); err != nil {
				return err
			}
		}
		r, err = q.UpdateBA(ctx, dbgen.UpdateBAParams{
			Code: code, Name: trimmed(in.Name), StoreCode: in.StoreCode, HiredOn: hired, Active: in.Active,
		})
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, baOf(r))
}
