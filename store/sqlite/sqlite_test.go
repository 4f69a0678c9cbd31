package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "gatehouse.db"), true)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestMigrationStatusAndReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s, err := Open(ctx, path, false)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := s.MigrationStatus(ctx)
	if len(st) == 0 || !strings.Contains(st[0], "pending") {
		t.Fatalf("status before migrate: %v", st)
	}
	if v, err := s.Migrate(ctx); err != nil || len(v) == 0 {
		t.Fatalf("migrate: %v %v", v, err)
	}
	if v, _ := s.Migrate(ctx); len(v) != 0 {
		t.Errorf("second migrate applied %v", v)
	}
	s.Close()
	s, err = Open(ctx, path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, _ = s.MigrationStatus(ctx)
	if !strings.Contains(st[0], "applied") {
		t.Errorf("status after reopen: %v", st)
	}
}

// crashChild rotates a chain of keys as fast as it can, one transaction per
// rotation, printing each committed step, until it is killed.
func crashChild(path string) {
	ctx := context.Background()
	s, err := Open(ctx, path, true)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	k := &store.APIKey{ID: "k0", Hash: []byte("h"), Hint: "h", CreatedAt: time.Now()}
	if err := s.CreateAPIKey(ctx, k); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for i := 1; ; i++ {
		next := &store.APIKey{ID: "k" + strconv.Itoa(i), Hash: []byte("h"), Hint: "h", CreatedAt: time.Now()}
		if err := s.RotateAPIKey(ctx, "k"+strconv.Itoa(i-1), next, time.Now().Add(time.Hour)); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("committed", i)
	}
}

// A process killed in the middle of its writes leaves a consistent
// database: every rotation is whole (old key rotated to a successor that
// exists) or absent, and exactly one key of the chain is active.
func TestCrashMidBatchLeavesConsistentDatabase(t *testing.T) {
	if p := os.Getenv("GATEHOUSE_CRASH_CHILD"); p != "" {
		crashChild(p)
		return
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run", "^TestCrashMidBatchLeavesConsistentDatabase$")
	cmd.Env = append(os.Environ(), "GATEHOUSE_CRASH_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	committed := 0
	for sc.Scan() {
		var n int
		if _, err := fmt.Sscanf(sc.Text(), "committed %d", &n); err != nil {
			cmd.Process.Kill()
			t.Fatalf("child: %s", sc.Text())
		}
		if committed = n; committed == 200 {
			break
		}
	}
	_ = cmd.Process.Kill() // SIGKILL, mid-transaction most likely
	_ = cmd.Wait()

	ctx := context.Background()
	s, err := Open(ctx, path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var check string
	if err := s.DB().QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q %v", check, err)
	}
	keys, err := s.ListAPIKeys(ctx, store.KeyFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*store.APIKey{}
	active := 0
	for _, k := range keys {
		byID[k.ID] = k
	}
	for _, k := range keys {
		switch k.Status {
		case store.StatusActive:
			active++
		case store.StatusRotated:
			if byID[k.RotatedTo] == nil {
				t.Errorf("%s rotated to missing %s", k.ID, k.RotatedTo)
			}
		}
	}
	if active != 1 || len(keys) < committed+1 {
		t.Errorf("after the kill: %d keys, %d active; %d rotations were reported committed", len(keys), active, committed)
	}
	t.Logf("killed after %d committed rotations; found %d keys, 1 active, database consistent", committed, len(keys))
}

// CFG-05: the database, its -wal and -shm files are 0600 and their
// directory 0700, also when they existed with wider modes.
func TestCFG05PrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, "gatehouse.db")
	os.WriteFile(path+"-shm", nil, 0o644)
	for range 2 { // create, then reopen existing files
		s, err := Open(context.Background(), path, true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetAPIKey(context.Background(), "x"); err == nil {
			t.Fatal("found a key in a new store")
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) < 2 {
			t.Fatalf("files: %v", entries)
		}
		for _, e := range entries {
			fi, _ := e.Info()
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s is %v", e.Name(), fi.Mode().Perm())
			}
		}
		s.Close()
		os.Chmod(path, 0o644)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("directory is %v", fi.Mode().Perm())
	}
}
