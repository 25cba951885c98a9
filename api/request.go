package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/alliance/backoffice/internal/auth"
	"github.com/alliance/backoffice/internal/money"
)

// maxBody bounds a request body (also enforced by middleware).
const maxBody = 1 << 20

// decodeJSON reads the request body into dst strictly: JSON only, one value,
// no unknown fields. Malformed JSON is a 400; a field of the wrong type or
// an unknown field is a 422 naming the field.
func decodeJSON(c echo.Context, dst any) error {
	req := c.Request()
	if ct := req.Header.Get(echo.HeaderContentType); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return problem(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type", "send the body as application/json")
		}
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxBody+1))
	if err != nil {
		return errBadRequest("could not read the request body")
	}
	if len(body) > maxBody {
		return problem(http.StatusRequestEntityTooLarge, "too-large", "Request body too large", "the body is limited to 1 MiB")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return errBadRequest("the request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return errBadRequest("the body holds more than one JSON value")
	}
	return nil
}

var unknownField = regexp.MustCompile(`^json: unknown field "(.*)"$`)

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return errBadRequest(fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, syn))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errBadRequest("malformed JSON: the body ends too early")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return errBadRequest("the body must be a JSON object")
		}
		return errInvalid(FieldError{Field: field, Detail: typeDetail(typ)})
	}
	if m := unknownField.FindStringSubmatch(err.Error()); m != nil {
		return errInvalid(FieldError{Field: m[1], Detail: "unknown field"})
	}
	return errBadRequest("malformed JSON: " + err.Error())
}

func typeDetail(e *json.UnmarshalTypeError) string {
	k := e.Type.Kind()
	if e.Type.Kind() == reflect.Pointer {
		k = e.Type.Elem().Kind()
	}
	switch k {
	case reflect.String:
		return `must be a string (amounts and percentages are decimal strings, e.g. "1234.50")`
	case reflect.Int, reflect.Int32, reflect.Int64:
		return "must be a whole number"
	case reflect.Bool:
		return "must be true or false"
	case reflect.Slice:
		return "must be an array"
	case reflect.Struct, reflect.Map:
		return "must be an object"
	}
	return "has the wrong type (got " + e.Value + ")"
}

// validator collects field errors of one request.
type validator struct {
	errs []FieldError
}

func (v *validator) add(field, detail string) {
	v.errs = append(v.errs, FieldError{Field: field, Detail: detail})
}

// err returns the 422 problem for the collected errors, or nil.
func (v *validator) err() error {
	if len(v.errs) == 0 {
		return nil
	}
	return errInvalid(v.errs...)
}

var codeRE = regexp.MustCompile(`^[A-Z0-9][A-Z0-9_-]{0,31}$`)

// code checks a business key (codes, SKUs): upper-case letters, digits, - and _.
func (v *validator) code(field string, s *string, required bool) string {
	if s == nil || *s == "" {
		if required {
			v.add(field, "is required")
		} else if s != nil {
			v.add(field, "must not be empty")
		}
		return ""
	}
	if !codeRE.MatchString(*s) {
		v.add(field, "must be 1-32 upper-case letters, digits, '-' or '_', starting with a letter or digit")
	}
	return *s
}

// text checks a free text of at most max characters.
func (v *validator) text(field string, s *string, required bool, max int) string {
	if s == nil || strings.TrimSpace(*s) == "" {
		if required {
			v.add(field, "is required")
		} else if s != nil {
			v.add(field, "must not be blank")
		}
		return ""
	}
	if n := len([]rune(*s)); n > max {
		v.add(field, fmt.Sprintf("is too long: %d characters, at most %d", n, max))
	}
	return strings.TrimSpace(*s)
}

// enum checks s is one of allowed.
func (v *validator) enum(field string, s *string, required bool, allowed ...string) string {
	if s == nil || *s == "" {
		if required {
			v.add(field, "is required")
		} else if s != nil {
			v.add(field, "must be one of: "+strings.Join(allowed, ", "))
		}
		return ""
	}
	for _, a := range allowed {
		if *s == a {
			return *s
		}
	}
	v.add(field, "must be one of: "+strings.Join(allowed, ", "))
	return ""
}

// amount checks a money amount: a decimal string, >= 0 (> 0 when positive),
// at most 2 decimals and 12 integer digits.
func (v *validator) amount(field string, s *string, required, positive bool) decimal.NullDecimal {
	return v.decimal(field, s, required, positive, 12, money.Scale, decimal.Decimal{})
}

// percent checks a percentage 0..100 with at most 2 decimals.
func (v *validator) percent(field string, s *string, required bool) decimal.NullDecimal {
	return v.decimal(field, s, required, false, 3, 2, decimal.NewFromInt(100))
}

func (v *validator) decimal(field string, s *string, required, positive bool, intDigits, scale int, max decimal.Decimal) decimal.NullDecimal {
	if s == nil {
		if required {
			v.add(field, "is required")
		}
		return decimal.NullDecimal{}
	}
	d, err := money.Parse(*s, intDigits, scale)
	if err != nil {
		v.add(field, err.Error())
		return decimal.NullDecimal{}
	}
	switch {
	case d.IsNegative():
		v.add(field, "must not be negative")
	case positive && d.IsZero():
		v.add(field, "must be greater than zero")
	case !max.IsZero() && d.GreaterThan(max):
		v.add(field, "must be at most "+max.String())
	default:
		return decimal.NullDecimal{Decimal: d, Valid: true}
	}
	return decimal.NullDecimal{}
}

// positiveInt checks a whole number in [1, max].
func (v *validator) positiveInt(field string, n *int64, required bool, max int64) int64 {
	if n == nil {
		if required {
			v.add(field, "is required")
		}
		return 0
	}
	if *n < 1 {
		v.add(field, "must be a whole number of at least 1")
		return 0
	}
	if *n > max {
		v.add(field, fmt.Sprintf("must be at most %d", max))
		return 0
	}
	return *n
}

// date checks a calendar date written YYYY-MM-DD.
func (v *validator) date(field string, s *string, required bool) *time.Time {
	if s == nil || *s == "" {
		if required {
			v.add(field, "is required")
		}
		return nil
	}
	t, err := time.Parse(time.DateOnly, *s)
	if err != nil {
		v.add(field, "must be a date written YYYY-MM-DD")
		return nil
	}
	return &t
}

// page reads the list paging parameters: limit (1..500, default 50) and
// cursor (the last key of the previous page).
func page(c echo.Context, v *validator) (limit int32, after string) {
	limit = 50
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			v.add("limit", "must be a whole number from 1 to 500")
		} else {
			limit = int32(n)
		}
	}
	return limit, c.QueryParam("cursor")
}

// queryOpt returns the query parameter as a pointer, nil when absent.
func queryOpt(c echo.Context, name string) *string {
	if s := c.QueryParam(name); s != "" {
		return &s
	}
	return nil
}

// queryBool reads an optional true/false query parameter.
func queryBool(c echo.Context, v *validator, name string) *bool {
	s := c.QueryParam(name)
	if s == "" {
		return nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		v.add(name, "must be true or false")
		return nil
	}
	return &b
}

// queryEnum reads an optional query parameter restricted to allowed values.
func queryEnum(c echo.Context, v *validator, name string, allowed ...string) *string {
	s := queryOpt(c, name)
	if s == nil {
		return nil
	}
	if r := v.enum(name, s, false, allowed...); r == "" {
		return nil
	}
	return s
}

// List is one page of a list endpoint.
type List[T any] struct {
	Items []T `json:"items"`
	// NextCursor, when set, fetches the next page (?cursor=...).
	NextCursor *string `json:"next_cursor"`
}

// newList builds a page; a full page gets a cursor from its last item's key.
func newList[T any](items []T, limit int32, key func(T) string) List[T] {
	l := List[T]{Items: items}
	if l.Items == nil {
		l.Items = []T{}
	}
	if int32(len(items)) == limit && len(items) > 0 {
		k := key(items[len(items)-1])
		l.NextCursor = &k
	}
	return l
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// trimmed returns s without surrounding blanks, nil staying nil.
func trimmed(s *string) *string {
	if s == nil {
		return nil
	}
	t := strings.TrimSpace(*s)
	return &t
}

// decodeEach strictly decodes each element of a JSON array field, so a bad
// element is named with its index ("lines[2].qty"). Elements that fail are
// left zero and reported on v.
func decodeEach[T any](v *validator, field string, raws []json.RawMessage) []T {
	out := make([]T, len(raws))
	for i, raw := range raws {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		err := dec.Decode(&out[i])
		if err == nil {
			continue
		}
		at := fmt.Sprintf("%s[%d]", field, i)
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typ) && typ.Field != "":
			v.add(at+"."+typ.Field, typeDetail(typ))
		case unknownField.MatchString(err.Error()):
			v.add(at+"."+unknownField.FindStringSubmatch(err.Error())[1], "unknown field")
		default:
			v.add(at, "must be an object")
		}
	}
	return out
}

// readInput checks the caller has one of roles, then decodes the JSON body
// into a T: the opening of every write handler.
func readInput[T any](c echo.Context, roles ...auth.Role) (auth.Principal, T, error) {
	var in T
	p, err := allow(c, roles...)
	if err != nil {
		return p, in, err
	}
	return p, in, decodeJSON(c, &in)
}

// requiredIdempotencyKey reads the Idempotency-Key header a request that
// creates something must carry: 1-100 letters, digits, '-', '_', '.' or ':'.
func requiredIdempotencyKey(c echo.Context) (string, error) {
	key := c.Request().Header.Get("Idempotency-Key")
	if key == "" || len(key) > 100 || !codeLike(key) {
		return "", errInvalid(FieldError{Field: "Idempotency-Key", Detail: "header is required: 1-100 letters, digits, '-', '_', '.' or ':'"})
	}
	return key, nil
}

// created answers 201 with the new resource and its Location.
func created(c echo.Context, location string, v any) error {
	c.Response().Header().Set(echo.HeaderLocation, location)
	return c.JSON(http.StatusCreated, v)
}

// immutable reports a field that a PATCH may not change.
func (v *validator) immutable(field string, present bool) {
	if present {
		v.add(field, "cannot be changed")
	}
}
