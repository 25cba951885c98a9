package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/money"
)

// Product is a SKU of the brand's catalogue.
type Product struct {
	SKU        string       `json:"sku"`
	Name       string       `json:"name"`
	Series     string       `json:"series"`
	ListPrice  money.Amount `json:"list_price"`
	CaseSize   int32        `json:"case_size"`
	LaunchDate string       `json:"launch_date"`
	WholeCases bool         `json:"whole_cases"`
	Active     bool         `json:"active"`
	CreatedAt  time.Time    `json:"created_at"`
	UpdatedAt  time.Time    `json:"updated_at"`
}

func productOf(r dbgen.Product) Product {
	return Product{
		SKU: r.Sku, Name: r.Name, Series: r.Series, ListPrice: money.A(r.ListPrice), CaseSize: r.CaseSize,
		LaunchDate: r.LaunchDate.Format(time.DateOnly), WholeCases: r.WholeCases, Active: r.Active, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

type productInput struct {
	SKU        *string `json:"sku"`
	Name       *string `json:"name"`
	Series     *string `json:"series"`
	ListPrice  *string `json:"list_price"`
	CaseSize   *int64  `json:"case_size"`
	LaunchDate *string `json:"launch_date"`
	WholeCases *bool   `json:"whole_cases"`
	Active     *bool   `json:"active"`
}

func (s *server) listProducts(c echo.Context) error {
	v := &validator{}
	limit, after := page(c, v)
	active := queryBool(c, v, "active")
	from := v.date("launched_from", queryOpt(c, "launched_from"), false)
	if err := v.err(); err != nil {
		return err
	}
	rows, err := s.q.ListProducts(c.Request().Context(), dbgen.ListProductsParams{
		After: after, Series: queryOpt(c, "series"), Active: active, Q: queryOpt(c, "q"),
		LaunchedFrom: from, Lim: limit,
	})
	if err != nil {
		return err
	}
	out := make([]Product, len(rows))
	for i, r := range rows {
		out[i] = productOf(r)
	}
	return c.JSON(http.StatusOK, newList(out, limit, func(x Product) string { return x.SKU }))
}

func (s *server) getProduct(c echo.Context) error {
	r, err := s.q.GetProduct(c.Request().Context(), c.Param("sku"))
	if err != nil {
		return notFound(err, "product", c.Param("sku"))
	}
	return c.JSON(http.StatusOK, productOf(r))
}

func (s *server) createProduct(c echo.Context) error {
	_, in, err := readInput[productInput](c, hqWriters...)
	if err != nil {
		return err
	}
	v := &validator{}
	sku := v.code("sku", in.SKU, true)
	name := v.text("name", in.Name, true, 200)
	series := v.text("series", in.Series, true, 100)
	price := v.amount("list_price", in.ListPrice, true, true)
	caseSize := v.positiveInt("case_size", in.CaseSize, true, 100000)
	launch := v.date("launch_date", in.LaunchDate, true)
	if in.Active != nil {
		v.add("active", "cannot be set on creation; a new product is active")
	}
	if err := v.err(); err != nil {
		return err
	}
	var r dbgen.Product
	err = s.write(c, "create", "product", sku, in, func(q *dbgen.Queries) (err error) {
		r, err = q.CreateProduct(c.Request().Context(), dbgen.CreateProductParams{
			Sku: sku, Name: name, Series: series, ListPrice: price.Decimal, CaseSize: int32(caseSize), LaunchDate: *launch,
			WholeCases: in.WholeCases != nil && *in.WholeCases,
		})
		return err
	})
	if err != nil {
		return err
	}
	return created(c, "/v1/products/"+r.Sku, productOf(r))
}

func (s *server) updateProduct(c echo.Context) error {
	_, in, err := readInput[productInput](c, hqWriters...)
	if err != nil {
		return err
	}
	v := &validator{}
	v.immutable("sku", in.SKU != nil)
	v.text("name", in.Name, false, 200)
	v.text("series", in.Series, false, 100)
	price := v.amount("list_price", in.ListPrice, false, true)
	caseSize := v.positiveInt("case_size", in.CaseSize, false, 100000)
	launch := v.date("launch_date", in.LaunchDate, false)
	if err := v.err(); err != nil {
		return err
	}
	var cs *int32
	if in.CaseSize != nil {
		n := int32(caseSize)
		cs = &n
	}
	sku := c.Param("sku")
	var r dbgen.Product
	err = s.write(c, "update", "product", sku, in, func(q *dbgen.Queries) (err error) {
		r, err = q.UpdateProduct(c.Request().Context(), dbgen.UpdateProductParams{
			Sku: sku, Name: trimmed(in.Name), Series: trimmed(in.Series), ListPrice: price,
			CaseSize: cs, LaunchDate: launch, WholeCases: in.WholeCases, Active: in.Active,
		})
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, productOf(r))
}
