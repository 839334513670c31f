package qr

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
)

// parsedSVG is what checkSVG extracts from the markup.
type parsedSVG struct {
	attrs map[string]string // of the root <svg>
	paths []string          // d attributes
	rects int
}

// checkSVG parses s strictly as XML and checks the structure SVG promises:
// a single <svg> root in the SVG namespace with only <rect> and <path>
// children, no scripts, no style attributes, no processing instructions.
func checkSVG(s string) (*parsedSVG, error) {
	if strings.Contains(s, "<script") || strings.Contains(s, "style=") || strings.HasPrefix(s, "<?xml") {
		return nil, fmt.Errorf("forbidden markup (<script, style= or an XML prolog)")
	}
	dec := xml.NewDecoder(strings.NewReader(s))
	dec.Strict = true
	p := &parsedSVG{attrs: map[string]string{}}
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			depth++
			if tok.Name.Space != "http://www.w3.org/2000/svg" {
				return nil, fmt.Errorf("element %v not in the SVG namespace", tok.Name)
			}
			switch {
			case depth == 1 && tok.Name.Local == "svg":
				if len(p.attrs) > 0 {
					return nil, fmt.Errorf("more than one root element")
				}
				for _, a := range tok.Attr {
					p.attrs[a.Name.Local] = a.Value
				}
			case depth == 2 && tok.Name.Local == "path":
				for _, a := range tok.Attr {
					if a.Name.Local == "d" {
						p.paths = append(p.paths, a.Value)
					}
				}
			case depth == 2 && tok.Name.Local == "rect":
				p.rects++
			default:
				return nil, fmt.Errorf("unexpected element <%s> at depth %d", tok.Name.Local, depth)
			}
			for _, a := range tok.Attr {
				if a.Name.Local == "style" || strings.HasPrefix(a.Name.Local, "on") {
					return nil, fmt.Errorf("attribute %s on <%s>", a.Name.Local, tok.Name.Local)
				}
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if strings.TrimSpace(string(tok)) != "" {
				return nil, fmt.Errorf("unexpected text %q", tok)
			}
		case xml.ProcInst, xml.Directive:
			return nil, fmt.Errorf("unexpected %T", tok)
		}
	}
	if len(p.attrs) == 0 {
		return nil, fmt.Errorf("no <svg> root")
	}
	return p, nil
}

// rasterize draws the runs of a path made of "Mx yhNv1h-Nz" commands on a
// dim×dim grid.
func rasterize(d string, dim int) ([]bool, error) {
	grid := make([]bool, dim*dim)
	for _, cmd := range strings.Split(d, "z") {
		if cmd == "" {
			continue
		}
		var x, y, n, n2 int
		if _, err := fmt.Sscanf(cmd, "M%d %dh%dv1h-%d", &x, &y, &n, &n2); err != nil || n != n2 || n < 1 {
			return nil, fmt.Errorf("bad path command %q", cmd)
		}
		for i := range n {
			if x+i >= dim || y >= dim || x < 0 || y < 0 {
				return nil, fmt.Errorf("path command %q outside the view box", cmd)
			}
			if grid[y*dim+x+i] {
				return nil, fmt.Errorf("path command %q overlaps another", cmd)
			}
			grid[y*dim+x+i] = true
		}
	}
	return grid, nil
}

func TestSVG(t *testing.T) {
	c, err := Encode([]byte("otpauth://totp/Hush:alice?secret=JBSWY3DPEHPK3PXP&issuer=Hush"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		label     string
		scale     int
		wantScale int
	}{
		{"Authenticator QR code", 4, 4},
		{`<script>alert("x")</script> & 'quotes' style="a"`, 1, 1},
		{"näppäin\tQR\nkoodi", 8, 8},
		{"", 0, 1},
		{"negative scale", -3, 1},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			s := c.SVG(tt.label, tt.scale)
			p, err := checkSVG(s)
			if err != nil {
				t.Fatalf("SVG: %v", err)
			}
			dim := c.Size + 8
			want := map[string]string{
				"role":       "img",
				"aria-label": tt.label,
				"width":      strconv.Itoa(dim * tt.wantScale),
				"height":     strconv.Itoa(dim * tt.wantScale),
				"viewBox":    fmt.Sprintf("0 0 %d %d", dim, dim),
			}
			for k, w := range want {
				if got := p.attrs[k]; got != w {
					t.Errorf("%s = %q, want %q", k, got, w)
				}
			}
			if len(p.paths) != 1 {
				t.Fatalf("%d paths, want 1", len(p.paths))
			}
			grid, err := rasterize(p.paths[0], dim)
			if err != nil {
				t.Fatal(err)
			}
			for y := 0; y < dim; y++ {
				for x := 0; x < dim; x++ {
					if grid[y*dim+x] != c.Black(x-4, y-4) {
						t.Fatalf("path module (%d,%d) = %v, symbol has %v", x, y, grid[y*dim+x], !grid[y*dim+x])
					}
				}
			}
		})
	}
}

// TestSVGEscapesLabel checks the raw markup, not just the parsed value: a
// hostile label must not be able to open an element or add an attribute.
func TestSVGEscapesLabel(t *testing.T) {
	c, err := Encode([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	s := c.SVG(`"><script>alert(1)</script><g style="x" onload='y'>`, 1)
	want := `aria-label="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;g style&#61;&#34;x&#34; onload&#61;&#39;y&#39;&gt;"`
	if !strings.Contains(s, want) {
		t.Errorf("SVG does not contain %s:\n%.400s", want, s)
	}
	for _, bad := range []string{"<script", "style=", "onload="} {
		if strings.Contains(s, bad) {
			t.Errorf("SVG contains %q", bad)
		}
	}
}
