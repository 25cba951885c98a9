package api

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/auth"
	"github.com/alliance/backoffice/internal/money"
)

// Roles allowed to change each kind of master data. Reads are open to every
// role, limited to the caller's scope.
var (
	hqWriters    = []auth.Role{auth.RoleHQAdmin}
	salesWriters = []auth.Role{auth.RoleHQAdmin, auth.RoleHQSales}
)

func (s *server) masterDataRoutes(g *echo.Group) {
	g.GET("/regions", s.listRegions)
	g.PUT("/regions/:code", s.putRegion)

	g.GET("/channels", s.listChannels)
	g.POST("/channels", s.createChannel)
	g.GET("/channels/:code", s.getChannel)
	g.PATCH("/channels/:code", s.updateChannel)

	g.GET("/grade-policies", s.listGradePolicies)
	g.GET("/grade-policies/:grade", s.getGradePolicy)
	g.PUT("/grade-policies/:grade", s.putGradePolicy)

	g.GET("/products", s.listProducts)
	g.POST("/products", s.createProduct)
	g.GET("/products/:sku", s.getProduct)
	g.PATCH("/products/:sku", s.updateProduct)

	g.GET("/agents", s.listAgents)
	g.POST("/agents", s.createAgent)
	g.GET("/agents/:code", s.getAgent)
	g.PATCH("/agents/:code", s.updateAgent)

	g.GET("/stores", s.listStores)
	g.POST("/stores", s.createStore)
	g.GET("/stores/:code", s.getStore)
	g.PATCH("/stores/:code", s.updateStore)

	g.GET("/bas", s.listBAs)
	g.POST("/bas", s.createBA)
	g.GET("/bas/:code", s.getBA)
	g.PATCH("/bas/:code", s.updateBA)

	g.GET("/warehouses", s.listWarehouses)
	g.POST("/warehouses", s.createWarehouse)
	g.GET("/warehouses/:code", s.getWarehouse)
	g.PATCH("/warehouses/:code", s.updateWarehouse)
}

// notFound maps a missing row to a 404 naming the entity.
func notFound(err error, entity, key string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return errNotFound(fmt.Sprintf("%s %q does not exist", entity, key))
	}
	return err
}

func date(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.Format(time.DateOnly)
	return &s
}

// ---- regions ----

// Region is a sales region.
type Region struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

type regionInput struct {
	Name *string `json:"name"`
}

func (s *server) listRegions(c echo.Context) error {
	rows, err := s.q.ListRegions(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]Region, len(rows))
	for i, r := range rows {
		out[i] = Region{Code: r.Code, Name: r.Name}
	}
	return c.JSON(http.StatusOK, List[Region]{Items: out})
}

func (s *server) putRegion(c echo.Context) error {
	_, in, err := readInput[regionInput](c, hqWriters...)
	if err != nil {
		return err
	}
	v := &validator{}
	code := c.Param("code")
	v.code("code", &code, true)
	name := v.text("name", in.Name, true, 200)
	if err := v.err(); err != nil {
		return err
	}
	var r dbgen.Region
	err = s.write(c, "upsert", "region", code, in, func(q *dbgen.Queries) (err error) {
		r, err = q.UpsertRegion(c.Request().Context(), dbgen.UpsertRegionParams{Code: code, Name: name})
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, Region{Code: r.Code, Name: r.Name})
}

// ---- channels ----

// Channel is a sales channel (CS, e-commerce, duty free, ...).
type Channel struct {
	Code      string    `json:"code"`
	Name      string    `json:"name"`
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func channelOf(r dbgen.Channel) Channel {
	return Channel{Code: r.Code, Name: r.Name, Active: r.Active, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

type channelInput struct {
	Code   *string `json:"code"`
	Name   *string `json:"name"`
	Active *bool   `json:"active"`
}

func (s *server) listChannels(c echo.Context) error {
	v := &validator{}
	limit, after := page(c, v)
	active := queryBool(c, v, "active")
	if err := v.err(); err != nil {
		return err
	}
	rows, err := s.q.ListChannels(c.Request().Context(), dbgen.ListChannelsParams{After: after, Active: active, Lim: limit})
	if err != nil {
		return err
	}
	out := make([]Channel, len(rows))
	for i, r := range rows {
		out[i] = channelOf(r)
	}
	return c.JSON(http.StatusOK, newList(out, limit, func(x Channel) string { return x.Code }))
}

func (s *server) getChannel(c echo.Context) error {
	r, err := s.q.GetChannel(c.Request().Context(), c.Param("code"))
	if err != nil {
		return notFound(err, "channel", c.Param("code"))
	}
	return c.JSON(http.StatusOK, channelOf(r))
}

func (s *server) createChannel(c echo.Context) error {
	_, in, err := readInput[channelInput](c, hqWriters...)
	if err != nil {
		return err
	}
	v := &validator{}
	code := v.code("code", in.Code, true)
	name := v.text("name", in.Name, true, 200)
	if in.Active != nil {
		v.add("active", "cannot be set on creation; a new channel is active")
	}
	if err := v.err(); err != nil {
		return err
	}
	var r dbgen.Channel
	err = s.write(c, "create", "channel", code, in, func(q *dbgen.Queries) (err error) {
		r, err = q.CreateChannel(c.Request().Context(), dbgen.CreateChannelParams{Code: code, Name: name})
		return err
	})
	if err != nil {
		return err
	}
	return created(c, "/v1/channels/"+r.Code, channelOf(r))
}

func (s *server) updateChannel(c echo.Context) error {
	_, in, err := readInput[channelInput](c, hqWriters...)
	if err != nil {
		return err
	}
	v := &validator{}
	v.immutable("code", in.Code != nil)
	v.text("name", in.Name, false, 200)
	if err := v.err(); err != nil {
		return err
	}
	code := c.Param("code")
	var r dbgen.Channel
	err = s.write(c, "update", "channel", code, in, func(q *dbgen.Queries) (err error) {
		r, err = q.UpdateChannel(c.Request().Context(), dbgen.UpdateChannelParams{Code: code, Name: trimmed(in.Name), Active: in.Active})
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, channelOf(r))
}

// ---- grade policies ----

// GradePolicy is the terms a distributor grade buys on.
type GradePolicy struct {
	Grade              string       `json:"grade"`
	DiscountPct        money.Amount `json:"discount_pct"`
	MonthlyOrderQuota  money.Amount `json:"monthly_order_quota"`
	CreditLimitDefault money.Amount `json:"credit_limit_default"`
	AutoApprovalLimit  money.Amount `json:"auto_approval_limit"`
	ReturnRatioCapPct  money.Amount `json:"return_ratio_cap_pct"`
	UpdatedAt          time.Time    `json:"updated_at"`
}

func gradePolicyOf(r dbgen.GradePolicy) GradePolicy {
	return GradePolicy{
		Grade: r.Grade, DiscountPct: money.A(r.DiscountPct), MonthlyOrderQuota: money.A(r.MonthlyOrderQuota),
		CreditLimitDefault: money.A(r.CreditLimitDefault), AutoApprovalLimit: money.A(r.AutoApprovalLimit),
		ReturnRatioCapPct: money.A(r.ReturnRatioCapPct), UpdatedAt: r.UpdatedAt,
	}
}

type gradePolicyInput struct {
	DiscountPct        *string `json:"discount_pct"`
	MonthlyOrderQuota  *string `json:"monthly_order_quota"`
	CreditLimitDefault *string `json:"credit_limit_default"`
	AutoApprovalLimit  *string `json:"auto_approval_limit"`
	ReturnRatioCapPct  *string `json:"return_ratio_cap_pct"`
}

// gradeScope limits what grade policies a caller reads: HQ sees all, an
// agent its own grade, stores and BAs none.
func (s *server) gradeScope(c echo.Context) (*string, error) {
	p := principal(c)
	switch {
	case p.HQ():
		return nil, nil
	case p.Is(auth.RoleAgent):
		a, err := s.q.GetAgent(c.Request().Context(), p.Agent)
		if err != nil {
			return nil, err
		}
		return &a.Grade, nil
	}
	return nil, errForbidden("grade policies are visible to HQ, finance, ops and agents")
}

func (s *server) listGradePolicies(c echo.Context) error {
	scope, err := s.gradeScope(c)
	if err != nil {
		return err
	}
	rows, err := s.q.ListGradePolicies(c.Request().Context(), scope)
	if err != nil {
		return err
	}
	out := make([]GradePolicy, len(rows))
	for i, r := range rows {
		out[i] = gradePolicyOf(r)
	}
	return c.JSON(http.StatusOK, List[GradePolicy]{Items: out})
}

func (s *server) getGradePolicy(c echo.Context) error {
	scope, err := s.gradeScope(c)
	if err != nil {
		return err
	}
	grade := c.Param("grade")
	if scope != nil && *scope != grade {
		return errForbidden("an agent sees only its own grade's policy")
	}
	r, err := s.q.GetGradePolicy(c.Request().Context(), grade)
	if err != nil {
		return notFound(err, "grade policy", grade)
	}
	return c.JSON(http.StatusOK, gradePolicyOf(r))
}

var gradeRE = regexp.MustCompile(`^[A-Z][A-Z0-9]{0,7}$`)

func (s *server) putGradePolicy(c echo.Context) error {
	_, in, err := readInput[gradePolicyInput](c, salesWriters...)
	if err != nil {
		return err
	}
	v := &validator{}
	grade := c.Param("grade")
	if !gradeRE.MatchString(grade) {
		v.add("grade", "must be 1-8 upper-case letters or digits, starting with a letter")
	}
	disc := v.percent("discount_pct", in.DiscountPct, true)
	quota := v.amount("monthly_order_quota", in.MonthlyOrderQuota, true, false)
	credit := v.amount("credit_limit_default", in.CreditLimitDefault, true, false)
	auto := v.amount("auto_approval_limit", in.AutoApprovalLimit, true, false)
	ret := v.percent("return_ratio_cap_pct", in.ReturnRatioCapPct, true)
	if err := v.err(); err != nil {
		return err
	}
	var r dbgen.GradePolicy
	err = s.write(c, "upsert", "grade_policy", grade, in, func(q *dbgen.Queries) (err error) {
		r, err = q.UpsertGradePolicy(c.Request().Context(), dbgen.UpsertGradePolicyParams{
			Grade: grade, DiscountPct: disc.Decimal, MonthlyOrderQuota: quota.Decimal,
			CreditLimitDefault: credit.Decimal, AutoApprovalLimit: auto.Decimal, ReturnRatioCapPct: ret.Decimal,
		})
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, gradePolicyOf(r))
}
