// Package audit carries security and admin events: who did what to which
// object, with what outcome. Components record events through the small
// Sink interface; persistence as a tamper-evident log comes later, and
// SlogSink writes them as structured log lines meanwhile. Events never
// hold secrets.
package audit

import (
	"context"
	"log/slog"
	"time"
)

// Event is one security or admin event.
type Event struct {
	Time    time.Time
	Type    string // e.g. "api_key.created", "api_key.used_in_grace"
	Actor   string // who acted ("cli", an admin key id, a subject)
	Object  string // what it concerns (a key id)
	Outcome string // "ok", "denied", ...
	Attrs   map[string]string
}

// Sink records events. Implementations are safe for concurrent use.
type Sink interface {
	Record(ctx context.Context, e Event)
}

// SlogSink writes events as log lines with msg "audit".
type SlogSink struct{ Log *slog.Logger }

// Record implements Sink.
func (s SlogSink) Record(ctx context.Context, e Event) {
	attrs := []slog.Attr{slog.String("event", e.Type), slog.Time("at", e.Time.UTC()), slog.String("actor", e.Actor), slog.String("object", e.Object), slog.String("outcome", e.Outcome)}
	for k, v := range e.Attrs {
		attrs = append(attrs, slog.String(k, v))
	}
	s.Log.LogAttrs(ctx, slog.LevelInfo, "audit", attrs...)
}

// Discard drops events.
type Discard struct{}

// Record implements Sink.
func (Discard) Record(context.Context, Event) {}
