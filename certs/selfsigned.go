package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Lifetimes of generated certificates (TLS-04: at most 90 days). A leaf is
// renewed when less than a third of its life is left; the CA when it would
// expire before a new leaf does.
const (
	GeneratedLifetime = 90 * 24 * time.Hour
	renewBefore       = 30 * 24 * time.Hour
)

// SelfSigned names the files of a generated development CA and leaf.
type SelfSigned struct {
	CAFile   string // the CA certificate: give it to clients (curl --cacert)
	CertFile string // leaf chain: leaf then CA
	KeyFile  string
}

// EnsureSelfSigned creates, or reuses when still valid for the same names, a
// self-signed ECDSA P-256 CA and a leaf for hosts (plus localhost,
// 127.0.0.1 and ::1) under dir/tls. Private keys are written 0600.
func EnsureSelfSigned(dir string, hosts []string, now time.Time) (SelfSigned, error) {
	tdir := filepath.Join(dir, "tls")
	s := SelfSigned{
		CAFile:   filepath.Join(tdir, "ca.pem"),
		CertFile: filepath.Join(tdir, "cert.pem"),
		KeyFile:  filepath.Join(tdir, "key.pem"),
	}
	caKeyFile := filepath.Join(tdir, "ca-key.pem")
	if err := os.MkdirAll(tdir, 0o700); err != nil {
		return s, fmt.Errorf("certs: data dir: %w", err)
	}
	names := append([]string{"localhost", "127.0.0.1", "::1"}, hosts...)
	slices.Sort(names)
	names = slices.Compact(names)

	caCert, caKey, err := loadPair(s.CAFile, caKeyFile)
	if err != nil || caCert.NotAfter.Before(now.Add(renewBefore+time.Hour)) {
		caCert, caKey, err = newCA(now)
		if err != nil {
			return s, err
		}
		if err := writePair(s.CAFile, caKeyFile, [][]byte{caCert.Raw}, caKey); err != nil {
			return s, err
		}
	}
	leaf, _, err := loadPair(s.CertFile, s.KeyFile)
	if err == nil && leaf.NotAfter.After(now.Add(renewBefore)) && coversNames(leaf, names) && leaf.CheckSignatureFrom(caCert) == nil {
		return s, nil
	}
	der, key, err := newLeaf(caCert, caKey, names, now)
	if err != nil {
		return s, err
	}
	return s, writePair(s.CertFile, s.KeyFile, [][]byte{der, caCert.Raw}, key)
}

func coversNames(c *x509.Certificate, names []string) bool {
	for _, n := range names {
		if c.VerifyHostname(n) != nil {
			return false
		}
	}
	return true
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

// issue creates a P-256 key and a certificate for it from tmpl (given a
// fresh serial), signed by parent, or self-signed when parent is nil.
func issue(tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) ([]byte, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	if tmpl.SerialNumber, err = serial(); err != nil {
		return nil, nil, err
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	return der, key, err
}

func newCA(now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	der, key, err := issue(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "Gatehouse development CA", Organization: []string{"Gatehouse (generated, not trusted anywhere)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(GeneratedLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}, nil, nil)
	if err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	return c, key, err
}

func newLeaf(ca *x509.Certificate, caKey *ecdsa.PrivateKey, names []string, now time.Time) ([]byte, *ecdsa.PrivateKey, error) {
	notAfter := now.Add(GeneratedLifetime)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: names[0]},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	return issue(tmpl, ca, caKey)
}

func loadPair(certFile, keyFile string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, err
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("certs: generated key is not ECDSA")
	}
	return pair.Leaf, key, nil
}

func writePair(certFile, keyFile string, chain [][]byte, key *ecdsa.PrivateKey) error {
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	var out []byte
	for _, der := range chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return writeAtomic(certFile, out, 0o644)
}

// writeAtomic writes data to a temporary file and renames it into place, so
// a reader never sees half a certificate.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("certs: %w", err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// IssueClient issues a client-authentication certificate for commonName
// from the development CA generated in dir (see EnsureSelfSigned), valid
// for 24 hours. It is for trying out and testing mTLS, not for production
// client identities.
func IssueClient(dir, commonName string, now time.Time) (tls.Certificate, error) {
	tdir := filepath.Join(dir, "tls")
	ca, caKey, err := loadPair(filepath.Join(tdir, "ca.pem"), filepath.Join(tdir, "ca-key.pem"))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certs: development CA: %w", err)
	}
	der, key, err := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.Raw}, PrivateKey: key}, nil
}
