package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"soulbridge/passkey"
)

// The passkey relying party (README "Passkeys"): its ID and origin come
// from PUBLIC_URL (else https://$RAILWAY_PUBLIC_DOMAIN, else
// http://localhost:$PORT), never from a request. Every passkey is bound to
// the RP ID it was made under, so the data dir remembers the last one
// (like the key fingerprint, keyprint.go) and a start under another warns:
// every existing passkey stops working.

// rpPrintName is the file in the data dir that names the last RP ID.
const rpPrintName = "soulbridge-passkeys.json"

type rpPrint struct {
	RPID   string `json:"rp_id"`
	Origin string `json:"origin"`
}

// newRelyingParty returns the site's relying party, logging its ID, or nil
// (passkeys off, with a warning) when the address cannot carry passkeys
// (plain http other than localhost).
func newRelyingParty(cfg Config, log *slog.Logger) *passkey.RP {
	rp, err := passkey.NewRP(passkey.Origin(cfg.PublicURL, cfg.Port))
	if err != nil {
		log.Warn("passkeys are off: set PUBLIC_URL to the site's https:// address (or use http://localhost)", "err", err)
		return nil
	}
	log.Info("passkeys relying party", "rp_id", rp.ID, "origin", rp.Origin)
	checkRPPrint(cfg.DataDir, rp, log)
	return rp
}

// checkRPPrint warns when dir's last RP ID differs from rp's, then
// records rp's. Failures are logged, never fatal.
func checkRPPrint(dir string, rp *passkey.RP, log *slog.Logger) {
	var last rpPrint
	b, err := os.ReadFile(filepath.Join(dir, rpPrintName))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil || json.Unmarshal(b, &last) != nil:
		log.Warn("reading the last passkey relying party failed; recording the current one", "file", rpPrintName, "err", err)
	case last.RPID == rp.ID:
		return
	default:
		log.Warn("the passkey relying party changed: every passkey made under the previous RP ID stops working "+
			"(members log in with a password or a recovery code and add a new passkey). If that is not intended, set PUBLIC_URL back",
			"previous_rp_id", last.RPID, "rp_id", rp.ID)
	}
	nb, _ := json.Marshal(rpPrint{RPID: rp.ID, Origin: rp.Origin})
	if err := writeDataFile(dir, rpPrintName, append(nb, '\n')); err != nil {
		log.Warn("recording the passkey relying party failed", "file", rpPrintName, "err", err)
	}
}
