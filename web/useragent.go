package web

import "strings"

// deviceName turns a User-Agent into what the account page shows, such as
// "Firefox on Linux" or "Safari on iPhone": a browser and a platform from
// the usual tokens, in the order that tells look-alikes apart (Edge and
// Opera also say "Chrome", Chrome also says "Safari", Android also says
// "Linux"). Unknown parts fall back to the product name or "Unknown
// browser"; an empty agent is "Unknown device".
func deviceName(ua string) string {
	if strings.TrimSpace(ua) == "" {
		return "Unknown device"
	}
	browser, platform := uaBrowser(ua), uaPlatform(ua)
	switch {
	case platform == "":
		return browser
	case browser == "":
		return "Unknown browser on " + platform
	}
	return browser + " on " + platform
}

// has reports whether ua contains any of the tokens.
func has(ua string, tokens ...string) bool {
	for _, t := range tokens {
		if strings.Contains(ua, t) {
			return true
		}
	}
	return false
}

func uaBrowser(ua string) string {
	switch {
	case has(ua, "Edg/", "EdgA/", "EdgiOS/", "Edge/"):
		return "Edge"
	case has(ua, "OPR/", "Opera"):
		return "Opera"
	case has(ua, "SamsungBrowser/"):
		return "Samsung Internet"
	case has(ua, "Firefox/", "FxiOS/"):
		return "Firefox"
	case has(ua, "Chrome/", "CriOS/", "Chromium/"):
		return "Chrome"
	case has(ua, "Safari/") && has(ua, "Version/", "iPhone", "iPad", "Macintosh"):
		return "Safari"
	case strings.HasPrefix(ua, "curl/"):
		return "curl"
	case strings.HasPrefix(ua, "Wget/"):
		return "Wget"
	case strings.HasPrefix(ua, "Go-http-client/"):
		return "Go HTTP client"
	case strings.HasPrefix(ua, "python-requests/"):
		return "Python requests"
	case !strings.HasPrefix(ua, "Mozilla/"):
		// A tool that names itself first: "name/version ...".
		name, _, _ := strings.Cut(ua, "/")
		name, _, _ = strings.Cut(name, " ")
		if len(name) > 40 {
			name = name[:40]
		}
		return name
	}
	return ""
}

func uaPlatform(ua string) string {
	switch {
	case has(ua, "iPhone"):
		return "iPhone"
	case has(ua, "iPad"):
		return "iPad"
	case has(ua, "Android"):
		return "Android"
	case has(ua, "CrOS"):
		return "ChromeOS"
	case has(ua, "Windows"):
		return "Windows"
	case has(ua, "Macintosh", "Mac OS X"):
		return "macOS"
	case has(ua, "Linux", "X11"):
		return "Linux"
	}
	return ""
}
