package avatar_test

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"runtime"
	"strings"
	"testing"

	"soulbridge/avatar"
	"soulbridge/internal/testimage"
)

// TestProcessRoundTrips: every accepted type comes out as a clean 256×256
// PNG with no metadata, whatever its shape.
func TestProcessRoundTrips(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"png landscape", testimage.PNG(640, 400)},
		{"png portrait", testimage.PNG(300, 900)},
		{"png small (upscaled)", testimage.PNG(40, 40)},
		{"jpeg with exif gps", testimage.JPEGWithGPS(800, 600)},
		{"gif animated", testimage.GIF(200, 120)},
		{"webp lossy with exif", testimage.WebP("photo-exif.webp")},
		{"webp lossless", testimage.WebP("lossless.webp")},
		{"jpeg/zip polyglot", testimage.Polyglot(320, 320)},
		{"png at the limit", testimage.PNG(avatar.MaxSide, 64)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := avatar.Process(tc.data)
			if err != nil {
				t.Fatalf("Process: %v", err)
			}
			if err := testimage.Check(out, avatar.Size); err != nil {
				t.Fatalf("stored image %v", err)
			}
			if len(out) > avatar.MaxStoredBytes {
				t.Errorf("stored image is %d bytes, over %d", len(out), avatar.MaxStoredBytes)
			}
		})
	}
}

// TestProcessKeepsTheCentre: the crop is the centred square and the scale
// keeps colours: the middle is the picture's disc, not the gradient.
func TestProcessKeepsTheCentre(t *testing.T) {
	out, err := avatar.Process(testimage.PNG(900, 300))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	r, g, b, _ := img.At(128, 128).RGBA()
	if r>>8 < 240 || g>>8 < 190 || g>>8 > 210 || b>>8 > 40 {
		t.Errorf("centre pixel is %d,%d,%d; want the disc's 250,200,20", r>>8, g>>8, b>>8)
	}
	// The crop of a 900×300 picture is x 300..600: its left edge has a red
	// of about 300/900*255 = 85, not the full picture's 0.
	r, _, _, _ = img.At(0, 128).RGBA()
	if got := int(r >> 8); got < 70 || got > 100 {
		t.Errorf("left edge red %d, want about 85 (the centred crop)", got)
	}
}

// TestProcessIsDeterministic: identical uploads give identical bytes (so
// they share one hash).
func TestProcessIsDeterministic(t *testing.T) {
	a, err := avatar.Process(testimage.JPEGWithGPS(500, 500))
	if err != nil {
		t.Fatal(err)
	}
	b, err := avatar.Process(testimage.JPEGWithGPS(500, 500))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two identical uploads were encoded differently")
	}
}

func TestProcessRefusals(t *testing.T) {
	truncate := func(b []byte) []byte { return b[:len(b)*2/3] }
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"svg with a script", []byte(testimage.SVG), avatar.ErrUnsupportedType},
		{"svg without the xml prolog", []byte(testimage.SVG[strings.Index(testimage.SVG, "<svg"):]), avatar.ErrUnsupportedType},
		{"html", []byte("<!doctype html><script>alert(1)</script>"), avatar.ErrUnsupportedType},
		{"zip", testimage.Polyglot(10, 10)[len(testimage.JPEGWithGPS(10, 10)):], avatar.ErrUnsupportedType},
		{"bmp", append([]byte("BM"), make([]byte, 60)...), avatar.ErrUnsupportedType},
		{"empty", nil, avatar.ErrUnsupportedType},
		{"png 100000×100000", testimage.PNGHeader(100000, 100000), avatar.ErrDimensions},
		{"png one side over", testimage.PNGHeader(avatar.MaxSide+1, 16), avatar.ErrDimensions},
		{"png area over", testimage.PNGHeader(avatar.MaxSide, avatar.MaxSide+1), avatar.ErrDimensions},
		{"png 0×0", testimage.PNGHeader(0, 0), avatar.ErrUndecodable},
		{"png header only", testimage.PNGHeader(64, 64), avatar.ErrUndecodable},
		{"png truncated", truncate(testimage.PNG(300, 300)), avatar.ErrUndecodable},
		{"jpeg truncated", truncate(testimage.JPEGWithGPS(300, 300)), avatar.ErrUndecodable},
		{"gif truncated", truncate(testimage.GIF(100, 100)), avatar.ErrUndecodable},
		{"webp truncated", truncate(testimage.WebP("photo-exif.webp")), avatar.ErrUndecodable},
		{"webp lossless truncated", truncate(testimage.WebP("lossless.webp")), avatar.ErrUndecodable},
		{"png signature only", []byte("\x89PNG\r\n\x1a\n"), avatar.ErrUndecodable},
		{"jpeg marker only", []byte{0xff, 0xd8, 0xff}, avatar.ErrUndecodable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := avatar.Process(tc.data)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Process = %d bytes, %v; want %v", len(out), err, tc.want)
			}
		})
	}
}

// TestBombAllocatesNothing: a PNG header claiming 100000×100000 pixels
// (40 GB of RGBA) is refused from its header: the whole call allocates
// less than 64 KiB. A check after decoding would allocate gigabytes first.
func TestBombAllocatesNothing(t *testing.T) {
	bomb := testimage.PNGHeader(100000, 100000)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := avatar.Process(bomb)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, avatar.ErrDimensions) {
		t.Fatalf("Process = %v, want ErrDimensions", err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 64<<10 {
		t.Fatalf("refusing the bomb allocated %d bytes, want < 64 KiB", d)
	}
	allocs := testing.AllocsPerRun(20, func() { _, _ = avatar.Process(bomb) })
	if allocs > 50 {
		t.Errorf("refusing the bomb takes %.0f allocations, want a handful", allocs)
	}
}

// TestProcessOversizedTransparentNoise: an image whose pixels do not
// compress, with transparency, still fits MaxStoredBytes.
func TestProcessOversizedTransparentNoise(t *testing.T) {
	img := testimage.Picture(256, 256)
	seed := uint32(1)
	for i := range img.Pix {
		seed = seed*1664525 + 1013904223
		img.Pix[i] = uint8(seed >> 24)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	out, err := avatar.Process(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := testimage.Check(out, avatar.Size); err != nil {
		t.Fatal(err)
	}
	if len(out) > avatar.MaxStoredBytes {
		t.Fatalf("%d bytes, over %d", len(out), avatar.MaxStoredBytes)
	}
}

// FuzzProcess runs the upload decoder path on arbitrary bytes: it must
// never panic, whatever it accepts is a clean stored image, and its cost is
// bounded by the price Estimate sets from the headers (checkCost: the bytes
// allocated, counted by runtime/metrics, never time). The seed corpus
// (testdata/fuzz/FuzzProcess) holds small files of every type, truncated
// ones and bombs' headers; the seeds below add crafted JPEG structures
// (scan bombs, four components, progressive 4:2:0).
func FuzzProcess(f *testing.F) {
	f.Add(testimage.PNG(8, 5))
	f.Add(testimage.GIF(6, 6))
	f.Add(testimage.JPEGWithGPS(9, 7))
	f.Add(testimage.WebP("lossless.webp"))
	f.Add(testimage.PNGHeader(100000, 100000))
	f.Add(testimage.JPEGWithExif(testimage.Picture(9, 6), testimage.ExifOrientation(6)))
	f.Add(testimage.ScanBomb(64, 64, 70))
	f.Add(testimage.BaselineScanBomb(40, 24, 3))
	f.Add(testimage.CMYKBomb(48, 32))
	f.Add(testimage.PhoneJPEG(40, 30, true))
	f.Add(testimage.PNGHeaderOf(300, 200, 16, 6, 1))
	f.Add(testimage.AnimatedWebP(30, 20))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCost(t, data)
		out, err := avatar.Process(data)
		if err != nil {
			if !errors.Is(err, avatar.ErrUnsupportedType) && !errors.Is(err, avatar.ErrDimensions) &&
				!errors.Is(err, avatar.ErrUndecodable) && !errors.Is(err, avatar.ErrTooCostly) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if err := testimage.Check(out, avatar.Size); err != nil {
			t.Fatalf("accepted input gave a stored image that %v", err)
		}
	})
}

// TestProcessTurnsJPEGsUpright: a phone stores a portrait photo sideways
// and says so in the EXIF orientation; the stored avatar is upright. The
// picture is a quadrant pattern (red top-left, green top-right, blue
// bottom-left, white bottom-right) stored as each orientation would store
// it; every one must come out as the upright pattern.
func TestProcessTurnsJPEGsUpright(t *testing.T) {
	const n = 64
	upright := image.NewRGBA(image.Rect(0, 0, n, n))
	quad := func(x, y int) color.RGBA {
		switch {
		case x < n/2 && y < n/2:
			return color.RGBA{255, 0, 0, 255}
		case y < n/2:
			return color.RGBA{0, 255, 0, 255}
		case x < n/2:
			return color.RGBA{0, 0, 255, 255}
		}
		return color.RGBA{255, 255, 255, 255}
	}
	for y := range n {
		for x := range n {
			upright.Set(x, y, quad(x, y))
		}
	}
	// stored(o) is the pixel grid a camera writes for orientation o: the
	// inverse of the turn the tag asks for.
	stored := func(o int) image.Image {
		img := image.NewRGBA(upright.Bounds())
		for y := range n {
			for x := range n {
				var dx, dy int // where stored pixel (x, y) is shown
				switch o {
				case 1:
					dx, dy = x, y
				case 2:
					dx, dy = n-1-x, y
				case 3:
					dx, dy = n-1-x, n-1-y
				case 4:
					dx, dy = x, n-1-y
				case 5:
					dx, dy = y, x
				case 6:
					dx, dy = n-1-y, x
				case 7:
					dx, dy = n-1-y, n-1-x
				case 8:
					dx, dy = y, n-1-x
				}
				img.Set(x, y, upright.At(dx, dy))
			}
		}
		return img
	}
	for o := 1; o <= 8; o++ {
		out, err := avatar.Process(testimage.JPEGWithExif(stored(o), testimage.ExifOrientation(o)))
		if err != nil {
			t.Fatalf("orientation %d: %v", o, err)
		}
		if err := testimage.Check(out, avatar.Size); err != nil {
			t.Fatalf("orientation %d: %v", o, err)
		}
		img, _ := png.Decode(bytes.NewReader(out))
		for _, p := range []image.Point{{64, 64}, {192, 64}, {64, 192}, {192, 192}} {
			want := quad(p.X*n/avatar.Size, p.Y*n/avatar.Size)
			r, g, b, _ := img.At(p.X, p.Y).RGBA()
			if absDiff(r>>8, uint32(want.R)) > 40 || absDiff(g>>8, uint32(want.G)) > 40 || absDiff(b>>8, uint32(want.B)) > 40 {
				t.Errorf("orientation %d: pixel %v is %d,%d,%d, want %v", o, p, r>>8, g>>8, b>>8, want)
			}
		}
	}
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}
