// Package cli is the gatehouse command line: serve, validate, demo, schema
// and version. main calls Main; every command returns an exit code instead
// of exiting, so tests can run them.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X .../internal/cli.Version=v1.2.3".
var Version = "dev"

// exitError carries an exit code out of a command.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// Main runs the command line with args (without the program name) and
// returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(ctx, stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
}

func newRoot(ctx context.Context, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "gatehouse",
		Short:         "Gatehouse: a secure API gateway",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetContext(ctx)
	root.AddCommand(serveCmd(stderr), validateCmd(stdout, stderr), demoCmd(stdout, stderr), versionCmd(stdout), schemaCmd(stdout), keysCmd(stdout, stderr), migrateCmd(stdout, stderr), policyCmd(stdout, stderr), tokensCmd(stdout, stderr), clientsCmd(stdout, stderr), signingKeysCmd(stdout, stderr), usersCmd(stdout, stderr), auditCmd(stdout, stderr))
	return root
}

func loadConfig(path string, stderr io.Writer) (*gatehouse.Config, error) {
	if path == "" {
		fmt.Fprintln(stderr, "error: --config is required")
		return nil, exitError{2}
	}
	cfg, err := gatehouse.LoadFile(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, exitError{1}
	}
	return cfg, nil
}

func serveCmd(stderr io.Writer) *cobra.Command {
	var path string
	var noMigrate bool
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway from a config file",
		Long: "Run the gateway. The config file is watched: routes, limits and trusted proxies\n" +
			"hot-reload on change and on SIGHUP, all or nothing. SIGTERM or SIGINT drain in-flight\n" +
			"requests (server.shutdown_timeout) and stop.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(path, stderr)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return server.Run(ctx, server.Options{Config: cfg, ConfigPath: path, Reload: sighup(ctx), LogOutput: stderr, Version: Version, NoMigrate: noMigrate})
		},
	}
	c.Flags().StringVarP(&path, "config", "c", "", "config file (YAML)")
	c.Flags().BoolVar(&noMigrate, "no-migrate", false, "do not apply database migrations at start")
	return c
}

// sighup turns SIGHUP into reload requests until ctx is done.
func sighup(ctx context.Context) <-chan struct{} {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP)
	out := make(chan struct{}, 1)
	go func() {
		defer signal.Stop(sig)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig:
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out
}

func validateCmd(stdout, stderr io.Writer) *cobra.Command {
	var path string
	c := &cobra.Command{
		Use:   "validate",
		Short: "Check a config file and print every error with its field path and line",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(path, stderr)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s: ok (%d routes)\n", path, len(cfg.Routes))
			return nil
		},
	}
	c.Flags().StringVarP(&path, "config", "c", "", "config file (YAML)")
	return c
}

func versionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print version, commit, Go version and modules",
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprint(stdout, server.VersionInfo(Version))
		},
	}
}

func schemaCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the config file (for editor completion)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := stdout.Write(gatehouse.ConfigSchema())
			return err
		},
	}
}
