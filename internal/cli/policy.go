package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/spf13/cobra"
)

func policyCmd(stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{Use: "policy", Short: "Validate Cedar policies and run policy test tables"}
	var path, schemaFile string
	validate := &cobra.Command{Use: "validate [FILE.cedar...]", Short: "Check the syntax of policy files (those of --config, or the files given), and their types with --schema",
		RunE: func(cmd *cobra.Command, args []string) error {
			files := args
			if path != "" {
				cfg, err := loadConfig(path, stderr)
				if err != nil {
					return err
				}
				files = append(files, cfg.Policies...)
			}
			if len(files) == 0 {
				fmt.Fprintln(stderr, "error: give policy files or --config")
				return exitError{2}
			}
			var pf []policy.File
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					fmt.Fprintln(stderr, "error:", err)
					return exitError{1}
				}
				pf = append(pf, policy.File{Name: f, Data: b})
			}
			e, err := policy.Compile(pf)
			if err != nil {
				fmt.Fprintln(stderr, err)
				return exitError{1}
			}
			if schemaFile != "" {
				b, err := os.ReadFile(schemaFile)
				if err != nil {
					fmt.Fprintln(stderr, "error:", err)
					return exitError{1}
				}
				if err := e.TypeCheck(schemaFile, b); err != nil {
					fmt.Fprintln(stderr, err)
					return exitError{1}
				}
			}
			fmt.Fprintf(stdout, "ok: %d policies in %d file(s)\n", e.Len(), len(pf))
			return nil
		}}
	validate.Flags().StringVarP(&path, "config", "c", "", "config file whose policies to check")
	validate.Flags().StringVar(&schemaFile, "schema", "", "Cedar schema file: also type-check the policies")
	test := &cobra.Command{Use: "test FILE.yaml...", Short: "Run table-driven policy cases (principal, action, resource, context -> allow/deny)", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			failed, total := 0, 0
			for _, f := range args {
				results, err := policy.RunTestFile(f)
				if err != nil {
					fmt.Fprintln(stderr, "error:", err)
					return exitError{1}
				}
				for _, r := range results {
					total++
					switch {
					case r.Problem != "":
						failed++
						fmt.Fprintf(stdout, "FAIL %s: %s\n", r.Name, r.Problem)
					case !r.Pass:
						failed++
						got := map[bool]string{true: "allow", false: "deny"}[r.Got.Allowed]
						fmt.Fprintf(stdout, "FAIL %s: expected %s, got %s (policies %s)\n", r.Name, r.Expected, got, strings.Join(r.Got.Policies, ", "))
						for _, e := range r.Got.Errors {
							fmt.Fprintf(stdout, "     evaluation error: %s\n", e)
						}
					default:
						fmt.Fprintf(stdout, "ok   %s\n", r.Name)
					}
				}
			}
			fmt.Fprintf(stdout, "%d passed, %d failed\n", total-failed, failed)
			if failed > 0 {
				return exitError{1}
			}
			return nil
		}}
	c.AddCommand(validate, test)
	return c
}
