// Package demo is the built-in upstream of `gatehouse demo`: a small JSON
// orders API (list, get, create, update, delete) with owner and tenant
// fields, kept in memory. It deliberately sends banner headers (Server,
// X-Powered-By) so the demo shows the gateway removing them.
package demo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Order is one order of the demo API.
type Order struct {
	ID        string    `json:"id"`
	Tenant    string    `json:"tenant"`
	Owner     string    `json:"owner"`
	Item      string    `json:"item"`
	Quantity  int       `json:"quantity"`
	Status    string    `json:"status"`
	Lines     []Line    `json:"lines,omitempty"`
	Shipping  *Address  `json:"shipping_address,omitempty"`
	Note      string    `json:"note,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Line is one article of an order.
type Line struct {
	SKU       string  `json:"sku"`
	Quantity  int     `json:"quantity"`
	UnitPrice float64 `json:"unit_price"`
	Currency  string  `json:"currency"`
}

// Address is where an order ships.
type Address struct {
	Name       string `json:"name"`
	Street     string `json:"street"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// Orders is the in-memory orders API. Safe for concurrent use.
type Orders struct {
	mu     sync.Mutex
	orders map[string]*Order
	next   int
	now    func() time.Time
}

// NewOrders returns the API seeded with orders of two tenants.
func NewOrders(now func() time.Time) *Orders {
	if now == nil {
		now = time.Now
	}
	o := &Orders{orders: map[string]*Order{}, now: now}
	for _, s := range []Order{
		{Tenant: "acme", Owner: "alice", Item: "anvil", Quantity: 1},
		{Tenant: "acme", Owner: "bob", Item: "rocket skates", Quantity: 2},
		{Tenant: "globex", Owner: "carol", Item: "hammock", Quantity: 5},
	} {
		o.add(s)
	}
	return o
}

func (o *Orders) add(in Order) *Order {
	o.next++
	in.ID = strconv.Itoa(o.next)
	in.Status = "open"
	in.CreatedAt = o.now().UTC().Truncate(time.Second)
	o.orders[in.ID] = &in
	return &in
}

// Handler returns the HTTP API.
func (o *Orders) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders", o.list)
	mux.HandleFunc("POST /orders", o.create)
	mux.HandleFunc("GET /orders/{id}", o.get)
	mux.HandleFunc("PUT /orders/{id}", o.update)
	mux.HandleFunc("PATCH /orders/{id}", o.update)
	mux.HandleFunc("DELETE /orders/{id}", o.delete)
	// The demo app's OAuth callback: shows the authorization code.
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		q := r.URL.Query()
		if e := q.Get("error"); e != "" {
			fmt.Fprintf(w, "The sign-in did not complete: %s\n", e)
			return
		}
		fmt.Fprintf(w, "Authorization code (valid 60 s, usable once):\n\n%s\n\nExchange it with the curl that gatehouse demo printed (CODE=...).\n", q.Get("code"))
	})
	// Tenant-scoped paths: the gateway's policies bind {tenant} to the caller.
	mux.HandleFunc("GET /tenants/{tenant}/orders", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		q.Set("tenant", r.PathValue("tenant"))
		r.URL.RawQuery = q.Encode()
		o.list(w, r)
	})
	mux.HandleFunc("POST /tenants/{tenant}/orders", o.createInTenant)
	for _, m := range []struct {
		method string
		h      http.HandlerFunc
	}{{"GET", o.get}, {"PUT", o.update}, {"PATCH", o.update}, {"DELETE", o.delete}} {
		mux.HandleFunc(m.method+" /tenants/{tenant}/orders/{id}", func(w http.ResponseWriter, r *http.Request) {
			o.mu.Lock()
			v, ok := o.orders[r.PathValue("id")]
			inTenant := ok && v.Tenant == r.PathValue("tenant")
			o.mu.Unlock()
			if !inTenant {
				fail(w, http.StatusNotFound, "no such order in this tenant")
				return
			}
			m.h(w, r)
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "demo-upstream/1.0")
		w.Header().Set("X-Powered-By", "demo")
		mux.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func (o *Orders) list(w http.ResponseWriter, r *http.Request) {
	tenant := r.URL.Query().Get("tenant")
	o.mu.Lock()
	out := make([]*Order, 0, len(o.orders))
	for _, v := range o.orders {
		if tenant == "" || v.Tenant == tenant {
			c := *v
			out = append(out, &c)
		}
	}
	o.mu.Unlock()
	slices.SortFunc(out, func(a, b *Order) int {
		ai, _ := strconv.Atoi(a.ID)
		bi, _ := strconv.Atoi(b.ID)
		return ai - bi
	})
	writeJSON(w, http.StatusOK, map[string]any{"orders": out})
}

func (o *Orders) get(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	v, ok := o.orders[r.PathValue("id")]
	var c Order
	if ok {
		c = *v
	}
	o.mu.Unlock()
	if !ok {
		fail(w, http.StatusNotFound, "no such order")
		return
	}
	writeJSON(w, http.StatusOK, c)
}

type orderInput struct {
	Tenant   *string  `json:"tenant"`
	Owner    *string  `json:"owner"`
	Item     *string  `json:"item"`
	Quantity *int     `json:"quantity"`
	Status   *string  `json:"status"`
	Lines    []Line   `json:"lines"`
	Shipping *Address `json:"shipping_address"`
	Note     *string  `json:"note"`
}

func decode(r *http.Request) (orderInput, error) {
	var in orderInput
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return in, errors.New("content type must be application/json")
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return in, fmt.Errorf("invalid JSON: %v", err)
	}
	if in.Quantity != nil && (*in.Quantity < 1 || *in.Quantity > 1000) {
		return in, errors.New("quantity must be between 1 and 1000")
	}
	return in, nil
}

func (o *Orders) create(w http.ResponseWriter, r *http.Request) {
	in, err := decode(r)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if in.Tenant == nil || in.Owner == nil || in.Item == nil || in.Quantity == nil {
		fail(w, http.StatusBadRequest, "tenant, owner, item and quantity are required")
		return
	}
	o.mu.Lock()
	ord := Order{Tenant: *in.Tenant, Owner: *in.Owner, Item: *in.Item, Quantity: *in.Quantity, Lines: in.Lines, Shipping: in.Shipping}
	if in.Note != nil {
		ord.Note = *in.Note
	}
	v := *o.add(ord)
	o.mu.Unlock()
	w.Header().Set("Location", "/orders/"+v.ID)
	writeJSON(w, http.StatusCreated, v)
}

// createInTenant creates an order in the path's tenant, owned by the
// caller the gateway authenticated (its X-Gatehouse-Subject): neither comes
// from the body, so a caller cannot create orders in another's name.
func (o *Orders) createInTenant(w http.ResponseWriter, r *http.Request) {
	in, err := decode(r)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	owner := r.Header.Get("X-Gatehouse-Subject")
	switch {
	case in.Tenant != nil || in.Owner != nil:
		fail(w, http.StatusBadRequest, "tenant and owner are not taken from the body")
		return
	case owner == "":
		fail(w, http.StatusBadRequest, "no authenticated caller")
		return
	case in.Item == nil || in.Quantity == nil:
		fail(w, http.StatusBadRequest, "item and quantity are required")
		return
	}
	tenant := r.PathValue("tenant")
	in.Tenant, in.Owner = &tenant, &owner
	o.mu.Lock()
	ord := Order{Tenant: tenant, Owner: owner, Item: *in.Item, Quantity: *in.Quantity, Lines: in.Lines, Shipping: in.Shipping}
	if in.Note != nil {
		ord.Note = *in.Note
	}
	v := *o.add(ord)
	o.mu.Unlock()
	w.Header().Set("Location", "/tenants/"+tenant+"/orders/"+v.ID)
	writeJSON(w, http.StatusCreated, v)
}

func (o *Orders) update(w http.ResponseWriter, r *http.Request) {
	in, err := decode(r)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	v, ok := o.orders[r.PathValue("id")]
	if !ok {
		fail(w, http.StatusNotFound, "no such order")
		return
	}
	if in.Item != nil {
		v.Item = *in.Item
	}
	if in.Quantity != nil {
		v.Quantity = *in.Quantity
	}
	if in.Status != nil {
		v.Status = *in.Status
	}
	if in.Shipping != nil {
		v.Shipping = in.Shipping
	}
	if in.Note != nil {
		v.Note = *in.Note
	}
	writeJSON(w, http.StatusOK, *v)
}

func (o *Orders) delete(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	_, ok := o.orders[r.PathValue("id")]
	delete(o.orders, r.PathValue("id"))
	o.mu.Unlock()
	if !ok {
		fail(w, http.StatusNotFound, "no such order")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
