package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The systemd unit in deploy/ is valid as systemd reads it, with the
// hardening options it names (systemd-analyze verify also checks that
// ExecStart's binary exists: it points at the one the tests built).
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (apt-get install systemd): the unit is not checked")
	}
	b, err := os.ReadFile("../deploy/thinkstream.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, opt := range []string{"DynamicUser=yes", "ProtectSystem=strict", "StateDirectory=thinkstream", "NoNewPrivileges=yes", "--access token"} {
		if !strings.Contains(unit, opt) {
			t.Errorf("the unit lacks %s", opt)
		}
	}
	unit = strings.ReplaceAll(unit, "/usr/local/bin/thinkstream ", binary+" ")
	path := filepath.Join(t.TempDir(), "thinkstream.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
