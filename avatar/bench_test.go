package avatar_test

import (
	"testing"

	"soulbridge/avatar"
	"soulbridge/internal/testimage"
)

// BenchmarkProcess measures one upload's check, decode, scale and encode.
func BenchmarkProcess(b *testing.B) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"jpeg-1600x1200", testimage.JPEGWithGPS(1600, 1200)},
		{"jpeg-4096x4096", testimage.JPEGWithGPS(4096, 4096)},
		{"png-4096x4096", testimage.PNG(4096, 4096)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := avatar.Process(tc.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
