package avatar

import (
	"encoding/binary"
	"fmt"
)

// The prices of PNG, GIF and WebP images, from their headers.

// Work per pixel of the other decoders (bench/uploads measures them): a
// GIF's LZW stream, a lossy WebP frame (VP8) and a lossless one (VP8L).
const (
	workPerGIFPixel  = 15
	workPerVP8Pixel  = 20
	workPerVP8LPixel = 60
)

// pngCost prices a w×h PNG from its IHDR (bit depth, colour type,
// interlacing) and whether a tRNS chunk comes before the image data: they
// decide which image type image/png allocates (reader.go, readImagePass).
func pngCost(data []byte, w, h int) (Cost, string, error) {
	if len(data) < 33 || string(data[12:16]) != "IHDR" {
		return Cost{}, "", fmt.Errorf("%w: png: no IHDR", ErrUndecodable)
	}
	depth, colorType, interlaced := int64(data[24]), data[25], data[28] == 1
	channels := map[byte]int64{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colorType]
	if channels == 0 || depth != 1 && depth != 2 && depth != 4 && depth != 8 && depth != 16 {
		return Cost{}, "", fmt.Errorf("%w: png: colour type %d at depth %d", ErrUndecodable, colorType, depth)
	}
	// Bytes per decoded pixel: Gray or Paletted 1 (Gray16 2); with an
	// alpha channel or a tRNS chunk, or in colour, 4 bytes (NRGBA, RGBA),
	// 8 at 16 bits.
	bpp := int64(4)
	switch {
	case colorType == 3:
		bpp = 1
	case colorType == 0 && !pngHasTRNS(data):
		bpp = 1
	}
	if depth == 16 {
		bpp *= 2
	}
	pixels := int64(w) * int64(h)
	rowBytes := (int64(w)*channels*depth + 7) / 8
	c := Cost{
		Bytes: pixels*bpp + 2*(rowBytes+1),
		Work:  (rowBytes+1)*int64(h)*workPerPNGByte + pixels*bpp,
	}
	kind := "PNG"
	if depth == 16 {
		kind = "16-bit PNG"
	}
	if interlaced {
		// Each of the seven passes is decoded into an image of its own
		// and then copied into the whole one.
		c.Bytes += pixels * bpp
		c.Work += pixels * bpp
		kind = "interlaced " + kind
	}
	return c, kind, nil
}

// pngHasTRNS reports whether a tRNS chunk comes before the first IDAT.
func pngHasTRNS(data []byte) bool {
	for i := 8; i+8 <= len(data); {
		n := int64(binary.BigEndian.Uint32(data[i:]))
		switch string(data[i+4 : i+8]) {
		case "tRNS":
			return true
		case "IDAT":
			return false
		}
		if n > int64(len(data)) {
			return false
		}
		i += 12 + int(n)
	}
	return false
}

// gifCost prices a GIF of a w×h logical screen. image/gif's Decode stops
// after the first frame, which may not be larger than the screen, so the
// frames after it cost nothing and the screen bounds the one decoded
// (Paletted, a byte a pixel).
func gifCost(_ []byte, w, h int) (Cost, string, error) {
	pixels := int64(w) * int64(h)
	return Cost{Bytes: pixels + 64<<10, Work: pixels * workPerGIFPixel}, "GIF", nil
}

// webpCost prices a w×h WebP from its chunks: x/image/webp decodes a lossy
// frame (VP8) into 4:2:0 YCbCr padded to 16-pixel macroblocks, with a byte a
// pixel of alpha (ALPH, itself a lossless image when compressed), and a
// lossless one (VP8L) into NRGBA, with its transforms' working copy. An
// animation (VP8X's animation flag) is refused: the decoder does not read
// one, and a person should hear why.
func webpCost(data []byte, w, h int) (Cost, string, error) {
	lossless, alpha, animated := false, false, false
	for i := 12; i+8 <= len(data); {
		id, n := string(data[i:i+4]), int(binary.LittleEndian.Uint32(data[i+4:]))
		switch id {
		case "VP8X":
			animated = i+9 <= len(data) && data[i+8]&0x02 != 0
		case "ALPH":
			alpha = true
		case "VP8L":
			lossless = true
		case "ANIM", "ANMF":
			animated = true
		}
		if n < 0 || n > len(data) {
			break
		}
		i += 8 + n + n&1
	}
	if animated {
		return Cost{}, "", &CostError{"animated WebP images are not supported; upload a still image (PNG, JPEG, or a GIF, whose first frame is used)"}
	}
	pixels := int64(w) * int64(h)
	if lossless {
		return Cost{Bytes: pixels * 8, Work: pixels * workPerVP8LPixel}, "lossless WebP", nil
	}
	mbw, mbh := int64(w+15)/16, int64(h+15)/16
	c := Cost{Bytes: mbw * mbh * 256 * 3 / 2, Work: pixels * workPerVP8Pixel}
	if alpha {
		c.Bytes += pixels * 5
		c.Work += pixels * workPerVP8LPixel
	}
	return c, "WebP", nil
}
