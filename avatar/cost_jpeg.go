package avatar

import (
	"bytes"
	"errors"
	"fmt"
)

// The price of a JPEG, from its markers: the frame header (components,
// their sampling factors, progressive or not), the Adobe and JFIF segments
// (whether the pixels are converted to RGBA after decoding) and every
// scan's components. The walk follows image/jpeg's own (reader.go): fill
// bytes and stray data between markers are skipped, and a scan's entropy
// coded data runs to the next marker that is not a stuffed 0xff or a
// restart.

// jpegComp is one component of the frame: its id and sampling factors.
type jpegComp struct{ id, h, v int }

// jpegFrame is what a JPEG's price depends on.
type jpegFrame struct {
	progressive bool
	comps       []jpegComp
	jfif        bool
	adobe       bool // an Adobe APP14 segment with its transform
	transform   byte
	scans       [][]int // each scan's component indexes
}

var errJPEGStructure = errors.New("malformed JPEG markers")

// jpegCost prices a w×h JPEG (the dimensions image/jpeg's DecodeConfig
// read).
func jpegCost(data []byte, w, h int) (Cost, string, error) {
	fr, err := readJPEG(data)
	if err != nil {
		return Cost{}, "", fmt.Errorf("%w: jpeg: %v", ErrUndecodable, err)
	}
	if len(fr.comps) == 0 {
		return Cost{}, "", fmt.Errorf("%w: jpeg: no frame header", ErrUndecodable)
	}
	kind := "JPEG"
	switch {
	case len(fr.comps) == 4:
		kind = "CMYK JPEG"
	case fr.progressive:
		kind = "progressive JPEG"
	}
	if len(fr.scans) > MaxScans {
		return Cost{}, "", &CostError{fmt.Sprintf("this %s is stored in %d passes (scans), more than the %d a photo needs; save it again as a standard JPEG",
			kind, len(fr.scans), MaxScans)}
	}
	g := fr.geometry(w, h)
	c := Cost{Bytes: g.pixelBytes()}
	var perBlock int64 = workPerBlock
	if fr.progressive {
		// 64 int32 coefficients per block of every component, kept
		// between scans; each block transformed once at the end.
		c.Bytes += g.allBlocks() * 64 * 4
		c.Work += g.allBlocks() * workPerBlock
		perBlock = workPerScanBlock
	}
	for _, sc := range fr.scans {
		for _, ci := range sc {
			c.Work += g.blocks(ci) * perBlock
		}
	}
	// A 0xff 0xda pair the walk did not take for a scan (in a segment, or
	// where the walk and the decoder part ways) is charged as a full
	// baseline scan of every component: the decoder can run no more scans
	// than there are such pairs.
	if extra := int64(bytes.Count(data, []byte{0xff, 0xda}) - len(fr.scans)); extra > 0 {
		c.Work += extra * g.allBlocks() * workPerBlock
	}
	if g.converted {
		c.Bytes += int64(w) * int64(h) * 4
		c.Work += int64(w) * int64(h) * workPerScalePixel
	}
	return c, kind, nil
}

// jpegGeometry is the layout image/jpeg gives a frame: MCUs of comp 0's
// sampling factors, every component padded to whole MCUs (scan.go,
// makeImg).
type jpegGeometry struct {
	comps      []jpegComp
	mxx, myy   int64
	converted  bool // to RGBA or CMYK after decoding (4 components, or RGB)
	hmax, vmax int64
}

func (fr jpegFrame) geometry(w, h int) jpegGeometry {
	comps := fr.comps
	if len(comps) == 1 {
		comps = []jpegComp{{id: comps[0].id, h: 1, v: 1}} // one component is never subsampled
	}
	h0, v0 := int64(comps[0].h), int64(comps[0].v)
	return jpegGeometry{
		comps:     comps,
		mxx:       (int64(w) + 8*h0 - 1) / (8 * h0),
		myy:       (int64(h) + 8*v0 - 1) / (8 * v0),
		converted: len(comps) == 4 || len(comps) == 3 && fr.isRGB(),
		hmax:      h0,
		vmax:      v0,
	}
}

func (g jpegGeometry) blocks(ci int) int64 {
	return g.mxx * g.myy * int64(g.comps[ci].h) * int64(g.comps[ci].v)
}

func (g jpegGeometry) allBlocks() int64 {
	var n int64
	for i := range g.comps {
		n += g.blocks(i)
	}
	return n
}

// pixelBytes is the decoder's image: one byte a sample of every component
// at its own resolution, padded to whole MCUs (image/jpeg keeps a fourth
// component beside the YCbCr image).
func (g jpegGeometry) pixelBytes() int64 {
	return g.allBlocks() * 64
}

// isRGB mirrors image/jpeg: a 3-component image is RGB (and converted to
// RGBA after decoding) without a JFIF segment when an Adobe segment says
// so, or when its component ids are 'R', 'G', 'B'. Counted without the JFIF
// exception, which only lowers the price.
func (fr jpegFrame) isRGB() bool {
	if fr.adobe && fr.transform == 0 {
		return true
	}
	return fr.comps[0].id == 'R' && fr.comps[1].id == 'G' && fr.comps[2].id == 'B'
}

// readJPEG walks data's markers from the start-of-image to the end (an
// end-of-image marker, or the end of the bytes: the decoder runs every
// scan before it finds a file truncated).
func readJPEG(data []byte) (jpegFrame, error) {
	var fr jpegFrame
	i := 2 // past the start-of-image marker sniff checked
	for {
		for i < len(data) && data[i] != 0xff {
			i++ // stray bytes between segments: image/jpeg skips them too
		}
		for i < len(data) && data[i] == 0xff {
			i++ // fill bytes
		}
		if i >= len(data) {
			return fr, nil
		}
		marker := data[i]
		i++
		switch {
		case marker == 0x00 || 0xd0 <= marker && marker <= 0xd7:
			continue // a stuffed 0xff or a stray restart
		case marker == 0xd9:
			return fr, nil
		}
		if i+2 > len(data) {
			return fr, nil
		}
		n := int(data[i])<<8 | int(data[i+1])
		if n < 2 {
			return fr, errJPEGStructure
		}
		seg := data[i+2 : min(i+n, len(data))]
		i = min(i+n, len(data))
		var err error
		switch marker {
		case 0xc0, 0xc1, 0xc2:
			err = fr.readSOF(marker == 0xc2, seg)
		case 0xda:
			err = fr.readSOS(seg)
			i = skipEntropyData(data, i)
		case 0xe0:
			fr.jfif = fr.jfif || bytes.HasPrefix(seg, []byte("JFIF\x00"))
		case 0xee:
			if len(seg) >= 12 && bytes.HasPrefix(seg, []byte("Adobe")) {
				fr.adobe, fr.transform = true, seg[11]
			}
		}
		if err != nil {
			return fr, err
		}
	}
}

// readSOF reads a frame header's components and sampling factors (the
// decoder checks their values further; this needs only their size).
func (fr *jpegFrame) readSOF(progressive bool, seg []byte) error {
	if fr.comps != nil {
		return fmt.Errorf("%w: two frame headers", errJPEGStructure)
	}
	if len(seg) < 6 {
		return errJPEGStructure
	}
	n := int(seg[5])
	if n != 1 && n != 3 && n != 4 || len(seg) < 6+3*n {
		return fmt.Errorf("%w: %d components", errJPEGStructure, n)
	}
	fr.progressive = progressive
	for k := range n {
		c := seg[6+3*k:]
		h, v := int(c[1]>>4), int(c[1]&15)
		if h < 1 || h > 4 || v < 1 || v > 4 {
			return fmt.Errorf("%w: sampling factors %d×%d", errJPEGStructure, h, v)
		}
		fr.comps = append(fr.comps, jpegComp{id: int(c[0]), h: h, v: v})
	}
	// The decoder sizes every component by comp 0's factors; a component
	// with larger ones would not fit that layout, and the decoder refuses
	// such a frame. Refuse it here so the price stays a bound.
	for _, c := range fr.comps[1:] {
		if c.h > fr.comps[0].h || c.v > fr.comps[0].v {
			return fmt.Errorf("%w: a component sampled finer than the first", errJPEGStructure)
		}
	}
	return nil
}

// readSOS records which components a scan codes.
func (fr *jpegFrame) readSOS(seg []byte) error {
	if fr.comps == nil || len(seg) < 1 || len(seg) < 1+2*int(seg[0]) {
		return fmt.Errorf("%w: a scan before the frame header, or cut short", errJPEGStructure)
	}
	var scan []int
	for k := range int(seg[0]) {
		id := int(seg[1+2*k])
		ci := -1
		for j, c := range fr.comps {
			if c.id == id {
				ci = j
			}
		}
		if ci < 0 {
			return fmt.Errorf("%w: a scan names an unknown component", errJPEGStructure)
		}
		scan = append(scan, ci)
	}
	fr.scans = append(fr.scans, scan)
	return nil
}

// skipEntropyData returns the index of the 0xff that starts the marker
// after a scan's entropy-coded data at data[i:] (or len(data)).
func skipEntropyData(data []byte, i int) int {
	for {
		j := bytes.IndexByte(data[i:], 0xff)
		if j < 0 || i+j+1 >= len(data) {
			return len(data)
		}
		i += j
		if m := data[i+1]; m != 0x00 && (m < 0xd0 || m > 0xd7) {
			return i
		}
		i += 2
	}
}
