package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// FileSource serves a certificate from a PEM cert and key file, reloaded
// when either file changes (TLS-04). A reload that fails keeps the current
// certificate. Safe for concurrent use.
type FileSource struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
	log               *slog.Logger
}

// NewFileSource loads the pair once; an unreadable or invalid pair is an error.
func NewFileSource(certFile, keyFile string, log *slog.Logger) (*FileSource, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fs := &FileSource{certFile: certFile, keyFile: keyFile, log: log}
	if err := fs.Reload(); err != nil {
		return nil, err
	}
	return fs, nil
}

// CheckKey refuses keys weaker than TLS-04 allows: RSA below 2048 bits and
// ECDSA curves other than P-256 and P-384.
func CheckKey(c *tls.Certificate) error {
	switch k := c.PrivateKey.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("certs: RSA key of %d bits; at least 2048 are required", k.N.BitLen())
		}
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return errors.New("certs: ECDSA key must be on P-256 or P-384")
		}
	}
	return nil
}

// Reload reads the files again; on error the current certificate stays.
func (fs *FileSource) Reload() error {
	pair, err := tls.LoadX509KeyPair(fs.certFile, fs.keyFile)
	if err != nil {
		return fmt.Errorf("certs: load %s: %w", fs.certFile, err)
	}
	if err := CheckKey(&pair); err != nil {
		return err
	}
	fs.cur.Store(&pair)
	return nil
}

// Certificate returns the current certificate.
func (fs *FileSource) Certificate() *tls.Certificate { return fs.cur.Load() }

// GetCertificate is a tls.Config.GetCertificate.
func (fs *FileSource) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return fs.cur.Load(), nil
}

// Watch reloads the pair when the files (or their directories, for
// symlink-swapping deployments) change, until ctx is done. Events are
// debounced by 200ms so a cert and key written one after the other reload
// once. onReload, when not nil, is told of every reload attempt.
func (fs *FileSource) Watch(ctx context.Context, onReload func(error)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	dirs := map[string]bool{filepath.Dir(fs.certFile): true, filepath.Dir(fs.keyFile): true}
	for d := range dirs {
		if err := w.Add(d); err != nil {
			return fmt.Errorf("certs: watch %s: %w", d, err)
		}
	}
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-w.Events:
			if ev.Has(fsnotify.Chmod) {
				continue
			}
			debounce = time.After(200 * time.Millisecond)
		case err := <-w.Errors:
			fs.log.Warn("certificate watch error", "err", err)
		case <-debounce:
			before := fs.cur.Load()
			err := fs.Reload()
			if onReload != nil {
				onReload(err)
			}
			if err != nil {
				fs.log.Error("certificate reload failed; the current certificate stays", "file", fs.certFile, "err", err)
				continue
			}
			if cur := fs.cur.Load(); before == nil || string(before.Certificate[0]) != string(cur.Certificate[0]) {
				fs.log.Info("certificate reloaded", "file", fs.certFile, "not_after", cur.Leaf.NotAfter.UTC())
			}
		}
	}
}
