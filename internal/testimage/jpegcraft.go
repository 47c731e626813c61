package testimage

import (
	"encoding/binary"
)

// Hand-made JPEGs: the structure of a real file (frame header, Huffman
// tables, scans) with no picture in it. Every coefficient is zero, so each
// block costs one or two bits and a progressive AC scan covers any number
// of blocks in a few bytes (end-of-band runs). That is what a hostile
// upload is made of, and also what lets a test build the structure of a
// 12-megapixel progressive phone photo in a few hundred kilobytes.

// JPEGScan is one scan of a crafted JPEG: the indexes of its components
// (into JPEGSpec.Sampling) and its spectral selection and successive
// approximation (ITU T.81 B.2.3).
type JPEGScan struct {
	Comps          []int
	Ss, Se, Ah, Al byte
}

// JPEGSpec describes a crafted JPEG.
type JPEGSpec struct {
	W, H        int
	Progressive bool
	// Sampling holds each component's sampling factors as the frame header
	// writes them (0x22 is 2×2): one entry per component.
	Sampling []byte
	// Adobe adds an APP14 "Adobe" segment with this transform (0 RGB or
	// CMYK, 1 YCbCr, 2 YCCK); -1 for none.
	Adobe int
	Scans []JPEGScan
}

// ProgressiveScript is libjpeg's default progressive script for a YCbCr
// image (jcparam.c, jpeg_simple_progression), as cjpeg -progressive and
// jpegtran -progressive write it: ten scans.
var ProgressiveScript = []JPEGScan{
	{Comps: []int{0, 1, 2}, Ss: 0, Se: 0, Ah: 0, Al: 1},
	{Comps: []int{0}, Ss: 1, Se: 5, Ah: 0, Al: 2},
	{Comps: []int{2}, Ss: 1, Se: 63, Ah: 0, Al: 1},
	{Comps: []int{1}, Ss: 1, Se: 63, Ah: 0, Al: 1},
	{Comps: []int{0}, Ss: 6, Se: 63, Ah: 0, Al: 2},
	{Comps: []int{0}, Ss: 1, Se: 63, Ah: 2, Al: 1},
	{Comps: []int{0, 1, 2}, Ss: 0, Se: 0, Ah: 1, Al: 0},
	{Comps: []int{2}, Ss: 1, Se: 63, Ah: 1, Al: 0},
	{Comps: []int{1}, Ss: 1, Se: 63, Ah: 1, Al: 0},
	{Comps: []int{0}, Ss: 1, Se: 63, Ah: 1, Al: 0},
}

// PhoneJPEG returns the structure of a w×h phone photo with 4:2:0
// sampling: baseline (one interleaved scan) or progressive (libjpeg's ten
// scans).
func PhoneJPEG(w, h int, progressive bool) []byte {
	spec := JPEGSpec{W: w, H: h, Progressive: progressive, Sampling: []byte{0x22, 0x11, 0x11}, Adobe: -1}
	if progressive {
		spec.Scans = ProgressiveScript
	} else {
		spec.Scans = []JPEGScan{{Comps: []int{0, 1, 2}, Se: 63}}
	}
	return CraftJPEG(spec)
}

// ScanBomb returns a progressive grayscale w×h JPEG of n scans, each an AC
// scan whose few bytes cover every block: Go's decoder walks every block of
// the image once per scan (27 bytes a scan at 4096×4096).
func ScanBomb(w, h, n int) []byte {
	spec := JPEGSpec{W: w, H: h, Progressive: true, Sampling: []byte{0x11}, Adobe: -1}
	for range n {
		spec.Scans = append(spec.Scans, JPEGScan{Comps: []int{0}, Ss: 1, Se: 63})
	}
	return CraftJPEG(spec)
}

// BaselineScanBomb returns a baseline grayscale w×h JPEG of n scans, each
// decoding every block again (two bits a block: 64 KiB a scan at
// 4096×4096).
func BaselineScanBomb(w, h, n int) []byte {
	spec := JPEGSpec{W: w, H: h, Sampling: []byte{0x11}, Adobe: -1}
	for range n {
		spec.Scans = append(spec.Scans, JPEGScan{Comps: []int{0}, Se: 63})
	}
	return CraftJPEG(spec)
}

// CMYKBomb returns a progressive 4-component (Adobe CMYK) w×h JPEG of a
// few hundred bytes: one AC scan per component makes Go's decoder allocate
// every component's coefficients (256 bytes a block) and the pixels.
func CMYKBomb(w, h int) []byte {
	spec := JPEGSpec{W: w, H: h, Progressive: true, Sampling: []byte{0x11, 0x11, 0x11, 0x11}, Adobe: 0}
	for c := range 4 {
		spec.Scans = append(spec.Scans, JPEGScan{Comps: []int{c}, Ss: 1, Se: 63})
	}
	return CraftJPEG(spec)
}

// CraftJPEG writes spec as a JPEG whose coefficients are all zero.
func CraftJPEG(spec JPEGSpec) []byte {
	out := []byte{0xff, 0xd8}
	if spec.Adobe >= 0 {
		out = appendSegment(out, 0xee, append([]byte("Adobe\x00\x64\x00\x00\x00\x00"), byte(spec.Adobe)))
	}
	dqt := []byte{0}
	for range 64 {
		dqt = append(dqt, 1)
	}
	out = appendSegment(out, 0xdb, dqt)
	sof := []byte{8, byte(spec.H >> 8), byte(spec.H), byte(spec.W >> 8), byte(spec.W), byte(len(spec.Sampling))}
	for i, hv := range spec.Sampling {
		sof = append(sof, byte(i+1), hv, 0)
	}
	marker := byte(0xc0)
	if spec.Progressive {
		marker = 0xc2
	}
	out = appendSegment(out, marker, sof)
	// One table of each class with a single one-bit code: DC category 0;
	// AC end-of-block (baseline) or an end-of-band run of 2^14 and 14
	// extra bits (progressive).
	ac := byte(0x00)
	if spec.Progressive {
		ac = 0xe0
	}
	dht := []byte{0x00, 1}
	dht = append(dht, make([]byte, 15)...)
	dht = append(dht, 0x00, 0x10, 1)
	dht = append(dht, make([]byte, 15)...)
	dht = append(dht, ac)
	out = appendSegment(out, 0xc4, dht)
	for _, sc := range spec.Scans {
		sos := []byte{byte(len(sc.Comps))}
		for _, c := range sc.Comps {
			sos = append(sos, byte(c+1), 0x00)
		}
		sos = append(sos, sc.Ss, sc.Se, sc.Ah<<4|sc.Al)
		out = appendSegment(out, 0xda, sos)
		out = append(out, scanData(spec, sc)...)
	}
	return append(out, 0xff, 0xd9)
}

// scanData returns the entropy-coded data of one all-zero scan.
func scanData(spec JPEGSpec, sc JPEGScan) []byte {
	blocks := scanBlocks(spec, sc)
	var w bitWriter
	switch {
	case sc.Ss == 0 && !spec.Progressive: // DC category 0, then end of block
		for range blocks {
			w.bits(0, 2)
		}
	case sc.Ss == 0: // DC first (category 0) or refinement (one bit)
		for range blocks {
			w.bits(0, 1)
		}
	default: // end-of-band runs of 32767 blocks
		for n := 0; n < blocks; n += 32767 {
			w.bits(0, 1)
			w.bits(1<<14-1, 14)
		}
	}
	return w.flush()
}

// scanBlocks returns how many blocks a scan codes: every block of every
// component of each MCU for an interleaved scan; for a scan of one
// component, its blocks that hold pixels.
func scanBlocks(spec JPEGSpec, sc JPEGScan) int {
	hmax, vmax := 1, 1
	for _, hv := range spec.Sampling {
		hmax, vmax = max(hmax, int(hv>>4)), max(vmax, int(hv&15))
	}
	if len(spec.Sampling) == 1 {
		hmax, vmax = 1, 1
	}
	if len(sc.Comps) == 1 {
		hv := spec.Sampling[sc.Comps[0]]
		h, v := int(hv>>4), int(hv&15)
		if len(spec.Sampling) == 1 {
			h, v = 1, 1
		}
		return ceilDiv(ceilDiv(spec.W*h, hmax), 8) * ceilDiv(ceilDiv(spec.H*v, vmax), 8)
	}
	mcus := ceilDiv(spec.W, 8*hmax) * ceilDiv(spec.H, 8*vmax)
	n := 0
	for _, c := range sc.Comps {
		hv := spec.Sampling[c]
		n += mcus * int(hv>>4) * int(hv&15)
	}
	return n
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func appendSegment(out []byte, marker byte, body []byte) []byte {
	out = append(out, 0xff, marker)
	out = binary.BigEndian.AppendUint16(out, uint16(len(body)+2))
	return append(out, body...)
}

// bitWriter packs bits most significant first, stuffing a zero byte after
// every 0xff as entropy-coded data must.
type bitWriter struct {
	out  []byte
	acc  uint32
	nacc uint
}

func (w *bitWriter) bits(v uint32, n uint) {
	w.acc = w.acc<<n | v&(1<<n-1)
	w.nacc += n
	for w.nacc >= 8 {
		w.nacc -= 8
		w.put(byte(w.acc >> w.nacc))
	}
}

func (w *bitWriter) put(b byte) {
	w.out = append(w.out, b)
	if b == 0xff {
		w.out = append(w.out, 0)
	}
}

// flush pads the last byte with one bits.
func (w *bitWriter) flush() []byte {
	if w.nacc > 0 {
		w.bits(1<<(8-w.nacc)-1, 8-w.nacc)
	}
	return w.out
}

// PNGHeaderOf is PNGHeader with the given bit depth and colour type (6 is
// RGBA, 2 RGB, 0 gray, 3 paletted) and interlacing (1 is Adam7).
func PNGHeaderOf(w, h int, depth, colorType, interlace byte) []byte {
	out := []byte("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	ihdr = append(ihdr, depth, colorType, 0, 0, interlace)
	out = appendChunk(out, "IHDR", ihdr)
	out = appendChunk(out, "IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	return appendChunk(out, "IEND", nil)
}

// AnimatedWebP returns the chunks of an animated w×h WebP (VP8X with the
// animation flag, ANIM, and one ANMF frame holding a tiny VP8L image):
// x/image/webp reads no animation.
func AnimatedWebP(w, h int) []byte {
	chunk := func(id string, data []byte) []byte {
		b := append([]byte(id), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
		b = append(b, data...)
		if len(data)%2 == 1 {
			b = append(b, 0)
		}
		return b
	}
	u24 := func(v int) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16)} }
	vp8x := append([]byte{0x02, 0, 0, 0}, u24(w-1)...)
	vp8x = append(vp8x, u24(h-1)...)
	frame := append(append(append(u24(0), u24(0)...), u24(w-1)...), u24(h-1)...)
	frame = append(frame, 0x64, 0, 0, 0)
	frame = append(frame, chunk("VP8L", []byte{0x2f, 0, 0, 0, 0})...)
	body := []byte("WEBP")
	body = append(body, chunk("VP8X", vp8x)...)
	body = append(body, chunk("ANIM", make([]byte, 6))...)
	body = append(body, chunk("ANMF", frame)...)
	return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
}
