// Command library is a small orders service that protects its own
// http.ServeMux with Gatehouse's stages as a library — API keys, Cedar
// policies, OpenAPI validation, rate limits and the edge stages (request
// id, access log, security headers, header and path hygiene) — without
// the gateway binary or a config file. See docs/library.md.
//
//	go run ./examples/library -data /tmp/orders
//
// It listens on 127.0.0.1 (plain HTTP: put TLS in front, or use
// certs.ServerConfig) and prints one API key for tenant acme.
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse-dev/gatehouse/apikey"
	"github.com/gatehouse-dev/gatehouse/store/sqlite"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:8081", "address")
	data := flag.String("data", "", "data directory for the key database (default: a new temporary one)")
	doc := flag.String("openapi", filepath.Join("examples", "library", "openapi.yaml"), "the OpenAPI document")
	flag.Parse()
	if err := run(*addr, *data, *doc); err != nil {
		log.Fatal(err)
	}
}

func run(addr, data, doc string) error {
	ctx := context.Background()
	if data == "" {
		var err error
		if data, err = os.MkdirTemp("", "orders-"); err != nil {
			return err
		}
	}
	db, err := sqlite.Open(ctx, filepath.Join(data, "keys.db"), true)
	if err != nil {
		return err
	}
	defer db.Close()
	// The server secret keys are hashed under; a real service reads it
	// from a secret store, never from code.
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	keys, err := apikey.NewManager(apikey.Options{Store: db, ServerSecret: secret})
	if err != nil {
		return err
	}
	plain, _, err := keys.Create(ctx, apikey.CreateOptions{Name: "demo", Owner: "alice", Tenant: "acme", Scopes: []string{"orders:write"}})
	if err != nil {
		return err
	}
	h, err := newService(Options{Keys: keys, OpenAPI: doc, AccessLog: os.Stderr, PerKey: 60})
	if err != nil {
		return err
	}
	fmt.Printf("listening on http://%s\nAPI key (tenant acme): %s\ntry: curl -H 'Authorization: Bearer %s' http://%s/tenants/acme/orders/1\n", addr, plain, plain, addr)
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 32 << 10}
	return srv.ListenAndServe()
}
