package main

import (
	"strings"
	"testing"
)

// TestConfigMetricsAddr: METRICS_ADDR is off when unset, taken as
// host:port, and refused when malformed or on PORT's port, whatever the
// host (the site listens on :PORT, every address).
func TestConfigMetricsAddr(t *testing.T) {
	cases := []struct {
		port, addr string
		want       string // the MetricsAddr, or "error: <words of the message>"
	}{
		{"8080", "", ""},
		{"8080", "[::]:9090", "[::]:9090"},
		{"8080", "127.0.0.1:9090", "127.0.0.1:9090"},
		{"8080", ":9090", ":9090"},
		{"8080", "metrics.railway.internal:9090", "metrics.railway.internal:9090"},
		{"8080", ":8080", "error: PORT's port"},
		{"8080", "[::]:8080", "error: PORT's port"},
		{"8080", "127.0.0.1:8080", "error: PORT's port"},
		{"8080", "10.0.0.5:08080", "error: PORT's port"},
		{"3000", "0.0.0.0:3000", "error: PORT's port"},
		{"8080", "9090", "error: host:port"},
		{"8080", "[::]:http", "error: host:port"},
		{"8080", "[::]:0", "error: host:port"},
		{"8080", "[::]:70000", "error: host:port"},
	}
	for _, c := range cases {
		env := map[string]string{"PORT": c.port, "METRICS_ADDR": c.addr, "DATA_DIR": t.TempDir()}
		cfg, err := loadConfig(cfgEnv(env))
		if words, ok := strings.CutPrefix(c.want, "error: "); ok {
			if err == nil || !strings.Contains(err.Error(), "METRICS_ADDR") || !strings.Contains(err.Error(), words) {
				t.Errorf("PORT=%s METRICS_ADDR=%q: err %v, want one naming METRICS_ADDR and %q", c.port, c.addr, err, words)
			}
			continue
		}
		if err != nil {
			t.Errorf("PORT=%s METRICS_ADDR=%q: %v", c.port, c.addr, err)
			continue
		}
		if cfg.MetricsAddr != c.want {
			t.Errorf("PORT=%s METRICS_ADDR=%q: MetricsAddr %q, want %q", c.port, c.addr, cfg.MetricsAddr, c.want)
		}
	}
}
