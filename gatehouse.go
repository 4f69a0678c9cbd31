// Package gatehouse is a secure API gateway: a fixed pipeline of security
// stages in front of HTTP upstreams, compiled from one YAML config into an
// immutable snapshot that is swapped atomically on reload.
//
// Load a config with LoadFile (strict: unknown fields, wrong types and bad
// values are reported together, each with its field path and line), build
// a Gateway with New, serve it as an http.Handler, and call Reload or
// ReloadFile to apply a new config all or nothing. The stage order is in
// pipeline.go. Listeners, certificates and signals are run by
// internal/server; every stage is a plain func(http.Handler) http.Handler.
package gatehouse
