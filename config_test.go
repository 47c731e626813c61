package main

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// cfgEnv is a map-backed getenv.
func cfgEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

var (
	cfgHexKey   = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	cfgHexBytes = cfgMustHex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	cfgHex128   = strings.Repeat("f0e1d2c3b4a59687", 8)
	cfgRawKey   = "raw-secret-Qx7!-not-hex-but-long-enough-42"
	cfgRawKey2  = "another-raw-secret-Zp9?-also-long-enough-17"
	cfgShortKey = "tiny-Qv3-secret"
	cfgFallback = "fallback-secret-Wk2#-long-enough-for-hmac-99"
)

func cfgMustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// cfgSecrets are the key values that must never show up in an error.
var cfgSecrets = []string{cfgHexKey, cfgHex128, cfgRawKey, cfgRawKey2, cfgShortKey, cfgFallback}

func cfgCheckNoSecret(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range cfgSecrets {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error message contains a key: %v", err)
		}
	}
}

// cfgLoadAndResolve runs loadConfig and, if it succeeds, resolveKeys.
func cfgLoadAndResolve(t *testing.T, env map[string]string) (Config, resolvedKeys, error) {
	t.Helper()
	cfg, err := loadConfig(cfgEnv(env))
	cfgCheckNoSecret(t, err)
	if err != nil {
		return cfg, resolvedKeys{}, err
	}
	rk, err := cfg.resolveKeys()
	cfgCheckNoSecret(t, err)
	return cfg, rk, err
}

func TestConfigSecretKeyRules(t *testing.T) {
	type env = map[string]string
	tests := []struct {
		name string
		// env builds the environment from a fresh temp dir.
		env     func(dir string) env
		wantErr []string // substrings of the error; nil means success
		check   func(t *testing.T, dir string, c Config, rk resolvedKeys)
	}{
		{
			name: "SECRET_KEY 64 hex is decoded",
			env:  func(dir string) env { return env{"DATA_DIR": dir, "SECRET_KEY": cfgHexKey} },
			check: func(t *testing.T, dir string, c Config, rk resolvedKeys) {
				cfgWantKeys(t, rk, cfgHexBytes)
				cfgWantSource(t, rk, "SECRET_KEY")
				cfgWantNoKeyFile(t, dir)
			},
		},
		{
			name: "SECRET_KEY 128 hex is decoded to 64 bytes",
			env:  func(dir string) env { return env{"DATA_DIR": dir, "SECRET_KEY": cfgHex128} },
			check: func(t *testing.T, dir string, c Config, rk resolvedKeys) {
				cfgWantKeys(t, rk, cfgMustHex(cfgHex128))
			},
		},
		{
			name: "SECRET_KEY surrounding spaces ignored",
			env:  func(dir string) env { return env{"DATA_DIR": dir, "SECRET_KEY": "  " + cfgHexKey + "\n"} },
			check: func(t *testing.T, dir string, c Config, rk resolvedKeys) {
				cfgWantKeys(t, rk, cfgHexBytes)
			},
		},
		{
			name: "SECRET_KEY raw string used as bytes",
			env:  func(dir string) env { return env{"DATA_DIR": dir, "SECRET_KEY": cfgRawKey} },
			check: func(t *testing.T, dir string, c Config, rk resolvedKeys) {
				cfgWantKeys(t, rk, []byte(cfgRawKey))
				cfgWantSource(t, rk, "SECRET_KEY")
			},
		},
		{
			name: "63 hex characters are raw bytes",
			env:  func(dir string) env { return env{"DATA_DIR": dir, "SECRET_KEY": cfgHexKey[:63]} },
			check: func(t *testing.T, dir string, c Config, rk resolvedKeys) {
				cfgWantKeys(t, rk, []byte(cfgHexKey[:63]))
			},
		},
		{
			name: "FLASK_SECRET_KEY alone",
			env:  func(dir string) env { return env{"DATA_DIR": dir, "FLASK_SECRET_KEY": cfgRawKey} },
			check: func(t *testing.T, dir string, c Config, rk resolvedKeys) {
				cfgWantKeys(t, rk, []byte(cfgRawKey))
				cfgWantSource(t, rk, "FLASK_SECRET_KEY")
				cfgWantNoKeyFile(t, dir)
			},
		},
		{
			name: "FLASK_SECRET_KEY alone in production",
			env: func(dir string) env {
				return env{"DATA_DIR": dir, "FLASK_SECRET_KEY": cfgHexKey, "RAILWAY_ENVIRONMENT_NAME": "production"}
			},
			check: func(t *testing.T, dir string, c Config, rk resolvedKeys) {
				cfgWantKeys(t, rk, cfgHexBytes)
				cfgWantSource(t, rk, "FLASK_SECRET_KEY")
			},
		},
		{
			name: "both set and equal",
			env: func(dir string) env {
				return env{"DATA_DIR": dir, "SECRET_KEY": cfgRawKey, "FLASK_SECRET_KEY": cfgRawKey}
			},
			check: func(t *testing.T, dir string, c Config, rk resolvedKeys) {
				cfgWantKeys(t, rk, []byte(cfgRawKey))
			},
		},
		{
			name: "both set and differ",
			env: func(dir string) env {
				return env{"DATA_DIR": dir, "SECRET_KEY": cfgRawKey, "FLASK_SECRET_KEY": cfgRawKey2}
			},
			wantErr: []string{"SECRET_KEY", "FLASK_SECRET_KEY", "differ"},
		},
		{
			name:    "short SECRET_KEY",
			env:     func(dir string) env { return env{"DATA_DIR": dir, "SECRET_KEY": cfgShortKey} },
			wantErr: []string{"SECRET_KEY", "soulbridge keygen"},
		},
		{
			name:    "short FLASK_SECRET_KEY",
			env:     func(dir string) env { return env{"DATA_DIR": dir, "FLASK_SECRET_KEY": cfgShortKey} },
			wantErr: []string{"FLASK_SECRET_KEY", "soulbridge keygen"},
		},
		{
			name: "31-byte key",
			env: func(dir string) env {
				return env{"DATA_DIR": dir, "SECRET_KEY": cfgRawKey[:31]}
			},
			wantErr: []string{"soulbridge keygen"},
		},
		{
			name: "short fallback",
			env: func(dir string) env {
				return env{"DATA_DIR": dir, "SECRET_KEY": cfgHexKey, "SECRET_KEY_FALLBACKS": cfgFallback + "," + cfgShortKey}
			},
			wantErr: []string{"SECRET_KEY_FALLBACKS", "soulbridge keygen"},
		},
		{
			name:    "all-zero hex SECRET_KEY has no entropy",
			env:     func(dir string) env { return env{"DATA_DIR": dir, "SECRET_KEY": strings.Repeat("0", 64)} },
			wantErr: []string{"SECRET_KEY", "one byte value", "soulbridge keygen"},
		},
		{
			name:    "one repeated character as raw SECRET_KEY",
			env:     func(dir string) env { return env{"DATA_DIR": dir, "SECRET_KEY": strings.Repeat("a", 40)} },
			wantErr: []string{"SECRET_KEY", "one byte value", "soulbridge keygen"},
		},
		{
			name: "all-zero fallback",
			env: func(dir string) env {
				return env{"DATA_DIR": dir, "SECRET_KEY": cfgHexKey, "SECRET_KEY_FALLBACKS": strings.Repeat("00", 32)}
			},
			wantErr: []string{"SECRET_KEY_FALLBACKS", "one byte value"},
		},
		{
			name: "all-zero key file",
			env: func(dir string) env {
				if err := os.WriteFile(filepath.Join(dir, "secret.key"), []byte(strings.Repeat("0", 64)+"\n"), 0o600); err != nil {
					panic(err)
				}
				return env{"DATA_DIR": dir}
			},
			wantErr: []string{"secret.key", "one byte value"},
		},
		{
			name: "fallbacks in order after the current key",
			env: func(dir string) env {
				return env{"DATA_DIR": dir, "SECRET_KEY": cfgRawKey, "SECRET_KEY_FALLBACKS": " " + cfgFallback + " ,, " + cfgHex128 + ","}
			},
			check: func(t *testing.T, dir string, c Config, rk resolvedKeys) {
				cfgWantKeys(t, rk, []byte(cfgRawKey), []byte(cfgFallback), cfgMustHex(cfgHex128))
			},
		},
		{
			name: "fallbacks after a key file",
			env: func(dir string) env {
				return env{"DATA_DIR": dir, "SECRET_KEY_FALLBACKS": cfgFallback}
			},
			check: func(t *testing.T, dir string, c Config, rk resolvedKeys) {
				fileKey := cfgWantKeyFile(t, dir)
				cfgWantKeys(t, rk, fileKey, []byte(cfgFallback))
			},
		},
		{
			name: "no key, not production: key file generated",
			env:  func(dir string) env { return env{"DATA_DIR": filepath.Join(dir, "not", "yet")} },
			check: func(t *testing.T, dir string, c Config, rk resolvedKeys) {
				dataDir := filepath.Join(dir, "not", "yet")
				fileKey := cfgWantKeyFile(t, dataDir)
				cfgWantKeys(t, rk, fileKey)
				cfgWantSource(t, rk, "key file")
				if !rk.generated || rk.path != filepath.Join(dataDir, "secret.key") {
					t.Fatalf("generated=%v path=%q", rk.generated, rk.path)
				}
				// A later boot reuses it.
				again, err := c.resolveKeys()
				if err != nil {
					t.Fatal(err)
				}
				if again.generated || !bytes.Equal(again.keys[0], fileKey) {
					t.Fatalf("second resolveKeys: generated=%v, same key=%v", again.generated, bytes.Equal(again.keys[0], fileKey))
				}
			},
		},
		{
			name: "no key, APP_ENV=production off Railway: key file generated",
			env:  func(dir string) env { return env{"DATA_DIR": dir, "APP_ENV": "production"} },
			check: func(t *testing.T, dir string, c Config, rk resolvedKeys) {
				if !c.Production || !c.Persistent || c.OnRailway {
					t.Fatalf("production=%v persistent=%v railway=%v", c.Production, c.Persistent, c.OnRailway)
				}
				cfgWantKeys(t, rk, cfgWantKeyFile(t, dir))
				if !rk.generated {
					t.Fatal("key file not reported as generated")
				}
			},
		},
		{
			name: "no key, on Railway with a volume: key file on the volume",
			env: func(dir string) env {
				return env{"RAILWAY_ENVIRONMENT_NAME": "production", "RAILWAY_VOLUME_MOUNT_PATH": dir}
			},
			check: func(t *testing.T, dir string, c Config, rk resolvedKeys) {
				if c.DataDir != dir || !c.Persistent {
					t.Fatalf("DataDir=%q persistent=%v", c.DataDir, c.Persistent)
				}
				cfgWantKeys(t, rk, cfgWantKeyFile(t, dir))
			},
		},
		{
			name: "no key, on Railway without a volume",
			env: func(dir string) env {
				return env{"DATA_DIR": dir, "RAILWAY_ENVIRONMENT_NAME": "production"}
			},
			wantErr: []string{"SECRET_KEY", "persistent volume", "soulbridge keygen"},
		},
		{
			name: "no key, RAILWAY_ENVIRONMENT (old name) without a volume",
			env: func(dir string) env {
				return env{"DATA_DIR": dir, "RAILWAY_ENVIRONMENT": "staging"}
			},
			wantErr: []string{"persistent volume"},
		},
		{
			name: "no key, production with REDIS_URL",
			env: func(dir string) env {
				return env{"DATA_DIR": dir, "APP_ENV": "production", "REDIS_URL": "redis://cache:6379/0"}
			},
			wantErr: []string{"SECRET_KEY", "REDIS_URL"},
		},
		{
			name: "no key, Railway volume and REDIS_URL",
			env: func(dir string) env {
				return env{"RAILWAY_ENVIRONMENT_NAME": "production", "RAILWAY_VOLUME_MOUNT_PATH": dir, "REDIS_URL": "rediss://cache:6380"}
			},
			wantErr: []string{"REDIS_URL"},
		},
		{
			name: "no key, not production, REDIS_URL",
			env: func(dir string) env {
				return env{"DATA_DIR": dir, "REDIS_URL": "redis://127.0.0.1:6379/0"}
			},
			wantErr: []string{"REDIS_URL", "SECRET_KEY", "soulbridge keygen", "every instance"},
		},
		{
			name: "key file only, not production, REDIS_URL",
			env: func(dir string) env {
				if err := os.WriteFile(filepath.Join(dir, "secret.key"), []byte(cfgHex128+"\n"), 0o600); err != nil {
					panic(err)
				}
				return env{"DATA_DIR": dir, "REDIS_URL": "redis://127.0.0.1:6379/0"}
			},
			// The message names the key file, whose contents keep its sessions.
			wantErr: []string{"REDIS_URL", "SECRET_KEY", "secret.key"},
		},
		{
			name: "key set, production with REDIS_URL",
			env: func(dir string) env {
				return env{"DATA_DIR": dir, "APP_ENV": "production", "REDIS_URL": "redis://cache:6379", "SECRET_KEY": cfgHexKey}
			},
			check: func(t *testing.T, dir string, c Config, rk resolvedKeys) {
				cfgWantKeys(t, rk, cfgHexBytes)
				cfgWantNoKeyFile(t, dir)
			},
		},
		{
			name: "short key file",
			env: func(dir string) env {
				if err := os.WriteFile(filepath.Join(dir, "secret.key"), []byte(cfgShortKey+"\n"), 0o600); err != nil {
					panic(err)
				}
				return env{"DATA_DIR": dir}
			},
			wantErr: []string{"secret.key", "soulbridge keygen"},
		},
		{
			name: "existing key file is used",
			env: func(dir string) env {
				if err := os.WriteFile(filepath.Join(dir, "secret.key"), []byte(cfgHex128+"\n"), 0o600); err != nil {
					panic(err)
				}
				return env{"DATA_DIR": dir, "APP_ENV": "production"}
			},
			check: func(t *testing.T, dir string, c Config, rk resolvedKeys) {
				cfgWantKeys(t, rk, cfgMustHex(cfgHex128))
				if rk.generated {
					t.Fatal("existing key file reported as generated")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg, rk, err := cfgLoadAndResolve(t, tt.env(dir))
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("no error; want one mentioning %q", tt.wantErr)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			tt.check(t, dir, cfg, rk)
		})
	}
}

func cfgWantKeys(t *testing.T, rk resolvedKeys, want ...[]byte) {
	t.Helper()
	if !slices.EqualFunc(rk.keys, want, bytes.Equal) {
		t.Fatalf("keys = %x, want %x", rk.keys, want)
	}
	for i, k := range rk.keys {
		if len(k) < 32 {
			t.Fatalf("key %d is %d bytes", i, len(k))
		}
	}
}

func cfgWantSource(t *testing.T, rk resolvedKeys, want string) {
	t.Helper()
	if rk.source != want {
		t.Fatalf("source = %q, want %q", rk.source, want)
	}
}

func cfgWantNoKeyFile(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "secret.key")); !os.IsNotExist(err) {
		t.Fatalf("a key file was written although a key was set (stat err %v)", err)
	}
}

// cfgWantKeyFile checks dir/secret.key: mode 0600, 64 hex characters; it
// returns the decoded key.
func cfgWantKeyFile(t *testing.T, dir string) []byte {
	t.Helper()
	path := filepath.Join(dir, "secret.key")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("key file: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("key file mode = %o, want 600", perm)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSpace(string(b))
	if len(s) != 64 {
		t.Fatalf("key file holds %d characters, want 64 hex", len(s))
	}
	k, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("key file is not hex: %v", err)
	}
	return k
}

// TestCommandConfigWithRedisAndNoKey: backup and restore do not serve, so
// REDIS_URL without SECRET_KEY does not stop them (loadCommandConfig), in
// production or not, while serve refuses the same environment.
func TestCommandConfigWithRedisAndNoKey(t *testing.T) {
	for _, e := range []map[string]string{
		{"REDIS_URL": "redis://127.0.0.1:6379/0"},
		{"REDIS_URL": "redis://127.0.0.1:6379/0", "APP_ENV": "production"},
	} {
		e["DATA_DIR"] = t.TempDir()
		if _, err := loadCommandConfig(cfgEnv(e)); err != nil {
			t.Errorf("loadCommandConfig(%v): %v, want no error", e, err)
		}
		if _, err := loadConfig(cfgEnv(e)); err == nil {
			t.Errorf("loadConfig(%v): no error, want serve to refuse REDIS_URL without SECRET_KEY", e)
		}
	}
}

func TestConfigGeneratedKeysDiffer(t *testing.T) {
	var keys [][]byte
	for range 2 {
		dir := t.TempDir()
		_, rk, err := cfgLoadAndResolve(t, map[string]string{"DATA_DIR": dir})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, rk.keys[0])
	}
	if bytes.Equal(keys[0], keys[1]) {
		t.Fatal("two data dirs got the same generated key")
	}
}

func TestConfigDataDir(t *testing.T) {
	vol := t.TempDir()
	outside := t.TempDir()
	tests := []struct {
		name           string
		env            map[string]string
		wantDir        string
		wantPersistent bool
		wantErr        []string
	}{
		{
			name:           "Railway volume, DATA_DIR unset",
			env:            map[string]string{"RAILWAY_ENVIRONMENT_NAME": "production", "RAILWAY_VOLUME_MOUNT_PATH": vol, "SECRET_KEY": cfgHexKey},
			wantDir:        vol,
			wantPersistent: true,
		},
		{
			name:           "Railway volume, DATA_DIR is the volume",
			env:            map[string]string{"RAILWAY_ENVIRONMENT_NAME": "production", "RAILWAY_VOLUME_MOUNT_PATH": vol, "DATA_DIR": vol + "/", "SECRET_KEY": cfgHexKey},
			wantDir:        vol,
			wantPersistent: true,
		},
		{
			name:           "Railway volume, DATA_DIR inside it",
			env:            map[string]string{"RAILWAY_ENVIRONMENT_NAME": "production", "RAILWAY_VOLUME_MOUNT_PATH": vol, "DATA_DIR": filepath.Join(vol, "badger"), "SECRET_KEY": cfgHexKey},
			wantDir:        filepath.Join(vol, "badger"),
			wantPersistent: true,
		},
		{
			name:    "Railway volume, DATA_DIR outside it",
			env:     map[string]string{"RAILWAY_ENVIRONMENT_NAME": "production", "RAILWAY_VOLUME_MOUNT_PATH": vol, "DATA_DIR": outside, "SECRET_KEY": cfgHexKey},
			wantErr: []string{vol, outside},
		},
		{
			name:    "Railway volume, DATA_DIR a sibling with the volume's name as prefix",
			env:     map[string]string{"RAILWAY_ENVIRONMENT_NAME": "production", "RAILWAY_VOLUME_MOUNT_PATH": vol, "DATA_DIR": vol + "-old", "SECRET_KEY": cfgHexKey},
			wantErr: []string{vol, vol + "-old"},
		},
		{
			name:    "Railway volume, DATA_DIR escapes with ..",
			env:     map[string]string{"RAILWAY_ENVIRONMENT_NAME": "production", "RAILWAY_VOLUME_MOUNT_PATH": vol, "DATA_DIR": filepath.Join(vol, "..", "elsewhere") + "/", "SECRET_KEY": cfgHexKey},
			wantErr: []string{vol, filepath.Join(filepath.Dir(vol), "elsewhere")},
		},
		{
			name:           "Railway without volume, key set",
			env:            map[string]string{"RAILWAY_ENVIRONMENT_NAME": "production", "DATA_DIR": outside, "SECRET_KEY": cfgHexKey},
			wantDir:        outside,
			wantPersistent: false,
		},
		{
			name:           "off Railway, DATA_DIR set",
			env:            map[string]string{"DATA_DIR": outside},
			wantDir:        outside,
			wantPersistent: true,
		},
		{
			name:           "off Railway, volume variable alone is the default dir",
			env:            map[string]string{"RAILWAY_VOLUME_MOUNT_PATH": vol},
			wantDir:        vol,
			wantPersistent: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(cfgEnv(tt.env))
			cfgCheckNoSecret(t, err)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("no error, DataDir=%q", cfg.DataDir)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not name %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.DataDir != tt.wantDir || cfg.Persistent != tt.wantPersistent {
				t.Fatalf("DataDir=%q persistent=%v, want %q %v", cfg.DataDir, cfg.Persistent, tt.wantDir, tt.wantPersistent)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	vol := t.TempDir()
	tests := []struct {
		name       string
		env        map[string]string
		production bool
		railway    bool
		trustProxy bool
		logFormat  string
		dataDir    string
	}{
		{"local", map[string]string{}, false, false, false, "text", filepath.Join(wd, "data")},
		{"APP_ENV=production", map[string]string{"APP_ENV": "Production", "DATA_DIR": vol}, true, false, false, "json", vol},
		{"APP_ENV=staging", map[string]string{"APP_ENV": "staging"}, false, false, false, "text", filepath.Join(wd, "data")},
		{"Railway", map[string]string{"RAILWAY_ENVIRONMENT_NAME": "production", "RAILWAY_VOLUME_MOUNT_PATH": vol}, true, true, true, "json", vol},
		{"Railway (RAILWAY_ENVIRONMENT)", map[string]string{"RAILWAY_ENVIRONMENT": "production", "RAILWAY_VOLUME_MOUNT_PATH": vol}, true, true, true, "json", vol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(cfgEnv(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.Port != "8080" || c.KeyPrefix != "soulbridge:" || c.RedisURL != "" {
				t.Errorf("Port=%q KeyPrefix=%q RedisURL=%q", c.Port, c.KeyPrefix, c.RedisURL)
			}
			if c.SessionLifetime != 720*time.Hour || c.SessionMaxLifetime != 2160*time.Hour ||
				c.LockTimeout != 60*time.Second || c.ShutdownTimeout != 10*time.Second {
				t.Errorf("durations = %v %v %v %v", c.SessionLifetime, c.SessionMaxLifetime, c.LockTimeout, c.ShutdownTimeout)
			}
			if c.Production != tt.production || c.OnRailway != tt.railway {
				t.Errorf("production=%v railway=%v, want %v %v", c.Production, c.OnRailway, tt.production, tt.railway)
			}
			if c.TrustProxyHeaders != tt.trustProxy {
				t.Errorf("TrustProxyHeaders = %v, want %v", c.TrustProxyHeaders, tt.trustProxy)
			}
			if c.LogFormat != tt.logFormat {
				t.Errorf("LogFormat = %q, want %q", c.LogFormat, tt.logFormat)
			}
			if c.DataDir != tt.dataDir {
				t.Errorf("DataDir = %q, want %q", c.DataDir, tt.dataDir)
			}
		})
	}
}

func TestConfigOverrides(t *testing.T) {
	c, err := loadConfig(cfgEnv(map[string]string{
		"RAILWAY_ENVIRONMENT_NAME":  "production",
		"RAILWAY_VOLUME_MOUNT_PATH": t.TempDir(),
		"SECRET_KEY":                cfgHexKey,
		"PORT":                      "3000",
		"REDIS_URL":                 "rediss://default:pw@redis.internal:6379",
		"SESSION_KEY_PREFIX":        "app2:",
		"SESSION_LIFETIME":          "24h",
		"SESSION_MAX_LIFETIME":      "24h",
		"DATA_LOCK_TIMEOUT":         "0s",
		"SHUTDOWN_TIMEOUT":          "30s",
		"TRUST_PROXY_HEADERS":       "false",
		"LOG_FORMAT":                "text",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != "3000" || c.KeyPrefix != "app2:" || c.RedisURL != "rediss://default:pw@redis.internal:6379" ||
		c.SessionLifetime != 24*time.Hour || c.SessionMaxLifetime != 24*time.Hour || c.LockTimeout != 0 ||
		c.ShutdownTimeout != 30*time.Second || c.TrustProxyHeaders || c.LogFormat != "text" {
		t.Fatalf("overrides not applied: %+v", c)
	}
	c, err = loadConfig(cfgEnv(map[string]string{"TRUST_PROXY_HEADERS": "1", "LOG_FORMAT": "json"}))
	if err != nil || !c.TrustProxyHeaders || c.LogFormat != "json" {
		t.Fatalf("local overrides: %v %+v", err, c)
	}
}

func TestConfigInvalidValues(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"PORT not a number", map[string]string{"PORT": "http"}, "PORT"},
		{"PORT zero", map[string]string{"PORT": "0"}, "PORT"},
		{"PORT negative", map[string]string{"PORT": "-80"}, "PORT"},
		{"PORT too big", map[string]string{"PORT": "65536"}, "PORT"},
		{"PORT with colon", map[string]string{"PORT": ":8080"}, "PORT"},
		{"SESSION_LIFETIME garbage", map[string]string{"SESSION_LIFETIME": "30 days"}, "SESSION_LIFETIME"},
		{"SESSION_LIFETIME no unit", map[string]string{"SESSION_LIFETIME": "720"}, "SESSION_LIFETIME"},
		{"SESSION_LIFETIME zero", map[string]string{"SESSION_LIFETIME": "0s"}, "SESSION_LIFETIME"},
		{"SESSION_LIFETIME negative", map[string]string{"SESSION_LIFETIME": "-1h"}, "SESSION_LIFETIME"},
		{"SESSION_MAX_LIFETIME garbage", map[string]string{"SESSION_MAX_LIFETIME": "forever"}, "SESSION_MAX_LIFETIME"},
		{"SESSION_MAX_LIFETIME zero", map[string]string{"SESSION_MAX_LIFETIME": "0"}, "SESSION_MAX_LIFETIME"},
		{"DATA_LOCK_TIMEOUT garbage", map[string]string{"DATA_LOCK_TIMEOUT": "1 minute"}, "DATA_LOCK_TIMEOUT"},
		{"DATA_LOCK_TIMEOUT negative", map[string]string{"DATA_LOCK_TIMEOUT": "-5s"}, "DATA_LOCK_TIMEOUT"},
		{"SHUTDOWN_TIMEOUT garbage", map[string]string{"SHUTDOWN_TIMEOUT": "ten"}, "SHUTDOWN_TIMEOUT"},
		{"lifetime over max", map[string]string{"SESSION_LIFETIME": "100h", "SESSION_MAX_LIFETIME": "99h"}, "SESSION_LIFETIME must not exceed SESSION_MAX_LIFETIME"},
		{"lifetime over default max", map[string]string{"SESSION_LIFETIME": "2161h"}, "SESSION_MAX_LIFETIME"},
		{"LOG_FORMAT", map[string]string{"LOG_FORMAT": "xml"}, "LOG_FORMAT"},
		{"LOG_FORMAT case", map[string]string{"LOG_FORMAT": "JSON-lines"}, "LOG_FORMAT"},
		{"REDIS_URL http", map[string]string{"REDIS_URL": "http://cache:6379"}, "REDIS_URL"},
		{"REDIS_URL host only", map[string]string{"REDIS_URL": "cache:6379"}, "REDIS_URL"},
		{"REDIS_URL sentinels, unknown option", map[string]string{"REDIS_URL": "redis://:s3cret@s1:26379/0?master_name=m&passwd=s3cret"}, "REDIS_URL"},
		{"REDIS_URL sentinels, bad addr", map[string]string{"REDIS_URL": "redis://s1:26379/0?master_name=m&addr=s3cret"}, "REDIS_URL"},
		{"TRUST_PROXY_HEADERS", map[string]string{"TRUST_PROXY_HEADERS": "maybe"}, "TRUST_PROXY_HEADERS"},
		{"SESSION_KEY_PREFIX spaces", map[string]string{"SESSION_KEY_PREFIX": "my app:"}, "SESSION_KEY_PREFIX"},
		{"SESSION_KEY_PREFIX long", map[string]string{"SESSION_KEY_PREFIX": strings.Repeat("p", 65)}, "SESSION_KEY_PREFIX"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"DATA_DIR": t.TempDir(), "SECRET_KEY": cfgRawKey}
			for k, v := range tt.env {
				env[k] = v
			}
			_, err := loadConfig(cfgEnv(env))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q does not mention %q", err, tt.wantErr)
			}
			cfgCheckNoSecret(t, err)
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error quotes a password of REDIS_URL: %v", err)
			}
		})
	}
}

// TestConfigRedisSentinelURL: REDIS_URL may name Sentinels in go-redis'
// failover URL form.
func TestConfigRedisSentinelURL(t *testing.T) {
	u := "redis://:sentinel-pw@10.0.0.1:26379/0?master_name=mymaster&addr=10.0.0.2:26379&addr=10.0.0.3:26379&password=primary-pw"
	c, err := loadConfig(cfgEnv(map[string]string{"DATA_DIR": t.TempDir(), "SECRET_KEY": cfgRawKey, "REDIS_URL": u}))
	if err != nil || c.RedisURL != u {
		t.Fatalf("a Sentinel REDIS_URL: %v %q", err, c.RedisURL)
	}
}

func TestConfigReportsEveryProblem(t *testing.T) {
	_, err := loadConfig(cfgEnv(map[string]string{
		"PORT":       "x",
		"LOG_FORMAT": "xml",
		"SECRET_KEY": cfgShortKey,
		"DATA_DIR":   t.TempDir(),
	}))
	cfgCheckNoSecret(t, err)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, s := range []string{"PORT", "LOG_FORMAT", "SECRET_KEY"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %s", err, s)
		}
	}
}

func TestKeyHexGeneration(t *testing.T) {
	a, err := newKeyHex()
	if err != nil {
		t.Fatal(err)
	}
	b, err := newKeyHex()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 64 || a == b {
		t.Fatalf("newKeyHex = %q, %q", a, b)
	}
	k, err := parseKey(a)
	if err != nil || len(k) != 32 {
		t.Fatalf("parseKey(newKeyHex()) = %d bytes, %v", len(k), err)
	}
}

func TestConfigVersion(t *testing.T) {
	dir := t.TempDir()
	sha := "0123456789abcdef0123456789abcdef01234567"
	c, err := loadConfig(cfgEnv(map[string]string{"DATA_DIR": dir, "RAILWAY_GIT_COMMIT_SHA": sha}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Version != sha[:12] {
		t.Errorf("Version with RAILWAY_GIT_COMMIT_SHA = %q, want %q", c.Version, sha[:12])
	}
	c, err = loadConfig(cfgEnv(map[string]string{"DATA_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Version == "" || c.Version != buildInfoVersion() {
		t.Errorf("Version without RAILWAY_GIT_COMMIT_SHA = %q, want the build's %q", c.Version, buildInfoVersion())
	}
	if got := portFrom(cfgEnv(nil)); got != "8080" {
		t.Errorf("portFrom(no PORT) = %q, want 8080", got)
	}
}
