// Package secaudit is Gatehouse's security audit: a lint of a config file,
// an active, bounded probe of a running gateway and a check of the modules
// compiled into a binary against the Go vulnerability database (Deps). All
// report finding.Findings of stable rules.
package secaudit
