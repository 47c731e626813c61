package browser_test

import (
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// contrastProbe lists the visible text whose colour contrast with its
// background is below WCAG AA: 4.5:1, or 3:1 for large text (24px, or
// 18.66px bold). The background is the element's ancestors' background
// colours composited over white; a gradient counts as its element's
// background-color (for the avatar card, the page behind it, which is within
// a few percent of the gradient's luminance). Disabled controls are exempt,
// as WCAG exempts inactive components.
const contrastProbe = `(() => {
  const parse = (c) => {
    const m = /rgba?\(([^)]+)\)/.exec(c);
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const over = (top, under) => ({
    r: top.r * top.a + under.r * (1 - top.a),
    g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a),
    a: 1,
  });
  const lum = (c) => {
    const ch = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * ch(c.r) + 0.7152 * ch(c.g) + 0.0722 * ch(c.b);
  };
  const background = (el) => {
    const chain = [];
    for (let e = el; e; e = e.parentElement) chain.unshift(e);
    let bg = { r: 255, g: 255, b: 255, a: 1 };
    for (const e of chain) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) bg = over(c, bg);
    }
    return bg;
  };
  const opaque = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.visibility === 'hidden' || Number(s.opacity) === 0) return false;
    }
    return true;
  };
  const bad = [];
  for (const el of document.querySelectorAll('body *')) {
    const text = [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join('').trim();
    if (!text || el.closest('[hidden], script, style') || el.closest(':disabled')) continue;
    const rect = el.getBoundingClientRect();
    if (rect.width === 0 || rect.height === 0 || !opaque(el)) continue;
    const s = getComputedStyle(el);
    const fg0 = parse(s.color);
    if (!fg0) { bad.push(el.tagName + ': unparsed colour ' + s.color); continue; }
    const bg = background(el);
    const fg = over(fg0, bg);
    const l1 = lum(fg), l2 = lum(bg);
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(s.fontSize), weight = Number(s.fontWeight) || 400;
    const large = size >= 24 || (size >= 18.66 && weight >= 700);
    const need = large ? 3 : 4.5;
    if (ratio < need) {
      bad.push(el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).split(' ').join('.') : '') +
        ' "' + text.slice(0, 40) + '" ' + ratio.toFixed(2) + ':1 < ' + need + ':1 (' + s.color + ' on rgb(' +
        [bg.r, bg.g, bg.b].map(Math.round).join(', ') + '))');
    }
  }
  return bad;
})()`

// checkContrast fails the test for text below WCAG AA contrast on the
// current page, in the light and in the dark colour scheme.
func (tb *tab) checkContrast(pageName string) {
	tb.t.Helper()
	for _, scheme := range []string{"light", "dark"} {
		tb.setColorScheme(scheme)
		for _, b := range eval[[]string](tb, contrastProbe) {
			tb.t.Errorf("%s (%s scheme): contrast: %s", pageName, scheme, b)
		}
	}
	tb.setColorScheme("light")
}

// setColorScheme emulates prefers-color-scheme, with reduced motion so that
// no colour transition is half-way when the probe reads the colours.
func (tb *tab) setColorScheme(scheme string) {
	tb.t.Helper()
	if _, err := chromedp.Call(tb.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{
			{Name: "prefers-color-scheme", Value: scheme},
			{Name: "prefers-reduced-motion", Value: "reduce"},
		},
	}); err != nil {
		tb.t.Fatalf("emulate prefers-color-scheme: %s: %v", scheme, err)
	}
}
