package qr

import (
	"bytes"
	"errors"
	"testing"
)

func FuzzEncode(f *testing.F) {
	f.Add([]byte(""), "QR")
	f.Add([]byte("HELLO WORLD"), "label")
	f.Add([]byte("otpauth://totp/Hush:alice%40clinic.example?secret=JBSWY3DPEHPK3PXP&issuer=Hush"), `<"&'>`)
	f.Add(bytes.Repeat([]byte{0xEC, 0x11}, 107), "\x00\xff")
	f.Add(make([]byte, 2331), "max")
	f.Add(make([]byte, 2332), "too long")
	f.Fuzz(func(t *testing.T, data []byte, label string) {
		c, err := Encode(data)
		if len(data) > byteCapacityM[maxVersion] {
			if !errors.Is(err, ErrTooLong) {
				t.Fatalf("Encode(%d bytes) error = %v, want ErrTooLong", len(data), err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Encode(%d bytes): %v", len(data), err)
		}
		if c.version < minVersion || c.version > maxVersion || c.Size != 17+4*c.version {
			t.Fatalf("version %d, size %d", c.version, c.Size)
		}
		if len(data) > byteCapacityM[c.version] || c.version > 1 && len(data) <= byteCapacityM[c.version-1] {
			t.Fatalf("%d bytes in version %d is not the smallest fit", len(data), c.version)
		}
		got, err := readBack(c)
		if err != nil {
			t.Fatalf("readBack: %v", err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("readBack = %q, want %q", got, data)
		}
		p, err := checkSVG(c.SVG(label, 3))
		if err != nil {
			t.Fatalf("SVG: %v", err)
		}
		if len(p.paths) != 1 {
			t.Fatalf("%d paths, want 1", len(p.paths))
		}
	})
}
