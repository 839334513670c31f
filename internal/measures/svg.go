package measures

import (
	"hash/fnv"
	"html"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Point is one scored administration.
type Point struct {
	Time  time.Time
	Total int
}

// Chart geometry (SVG user units).
const (
	svgW       = 640
	svgH       = 240
	plotLeft   = 40.0
	plotRight  = 480.0 // band labels live to the right of the plot
	plotTop    = 12.0
	plotBot    = 200.0
	labelX     = plotRight + 8
	dateY      = plotBot + 18
	dateLayout = "02.01.2006"
)

// Colours, all with WCAG AA contrast (>= 4.5:1 for text, >= 3:1 for
// graphics) against white and against every band fill below.
const (
	colText  = "#1f2937" // ~14.7:1 on white
	colAxis  = "#4b5563" // ~7.6:1 on white
	colLine  = "#1d4ed8" // ~6.7:1 on white
	colGuide = "#6b7280" // ~4.8:1 on white
)

// Very light band fills; dark text stays well above 4.5:1 on each.
var bandFill = map[string]string{
	SeverityMinimal:          "#f0fdf4",
	SeverityMild:             "#fefce8",
	SeverityModerate:         "#fff7ed",
	SeverityModeratelySevere: "#fef2f2",
	SeveritySevere:           "#fee2e2",
}

type svgText struct {
	title, desc, noData string
}

// TrendSVG draws the scores of one instrument over time as a self-contained,
// accessible inline SVG: no script, no external resources, every text
// escaped, so it can be embedded in an html/template page as template.HTML.
//
// The y axis runs from 0 to the instrument maximum with the severity bands
// drawn as light horizontal bands with their labels; the x axis is by real
// time (first and last dates labelled dd.mm.yyyy). Each point is a circle
// with a <title> giving date, score and band; consecutive points are joined
// by a polyline. The root has role="img" and aria-labelledby pointing at a
// <title> and <desc> summarising the series in lang ("en" or "fi", other →
// en). Points are drawn in time order (the input slice is not modified);
// dates are formatted in each Time's own location. Zero or one point renders
// sensibly. Output is deterministic for the same input.
//
// A total outside 0..max for the instrument, or an unknown instrument, gives
// an *Error.
func TrendSVG(in Instrument, points []Point, lang string) (string, error) {
	def, err := lookup(in)
	if err != nil {
		return "", err
	}
	return renderTrend(def, points, lang)
}

func renderTrend(def *instrument, points []Point, lang string) (string, error) {
	for _, p := range points {
		if p.Total < 0 || p.Total > def.max {
			return "", errorf(string(def.name) + ": a score is outside the instrument's range")
		}
	}
	pts := slices.Clone(points)
	slices.SortStableFunc(pts, func(a, b Point) int { return a.Time.Compare(b.Time) })

	fi := isFinnish(lang)
	txt := summary(def, pts, fi)

	id := chartID(def, pts, fi)
	titleID, descID := id+"-title", id+"-desc"

	yOf := func(score int) float64 {
		return plotBot - float64(score)/float64(def.max)*(plotBot-plotTop)
	}
	var xs []float64
	switch {
	case len(pts) == 0:
	case len(pts) == 1:
		xs = []float64{(plotLeft + plotRight) / 2}
	default:
		t0, tn := pts[0].Time, pts[len(pts)-1].Time
		span := tn.Sub(t0).Seconds()
		for _, p := range pts {
			x := (plotLeft + plotRight) / 2
			if span > 0 {
				x = plotLeft + p.Time.Sub(t0).Seconds()/span*(plotRight-plotLeft)
			}
			xs = append(xs, x)
		}
	}

	var b strings.Builder
	w := func(s ...string) {
		for _, x := range s {
			b.WriteString(x)
		}
	}
	w(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 `, strconv.Itoa(svgW), " ", strconv.Itoa(svgH),
		`" width="`, strconv.Itoa(svgW), `" height="`, strconv.Itoa(svgH),
		`" role="img" aria-labelledby="`, esc(titleID), " ", esc(descID),
		`" font-family="system-ui, sans-serif" font-size="11">`, "\n")
	w(`<title id="`, esc(titleID), `">`, esc(txt.title), "</title>\n")
	w(`<desc id="`, esc(descID), `">`, esc(txt.desc), "</desc>\n")
	w(`<rect x="0" y="0" width="`, strconv.Itoa(svgW), `" height="`, strconv.Itoa(svgH), `" fill="#ffffff"/>`, "\n")

	// Severity bands: band i spans from its lower bound to the next band's
	// lower bound (the last one to the maximum), so boundaries fall exactly
	// on the published cut-offs.
	w(`<g aria-hidden="true">`, "\n")
	for i, bd := range def.bands {
		top := def.max
		if i+1 < len(def.bands) {
			top = def.bands[i+1].lo
		}
		y1, y0 := yOf(top), yOf(bd.lo)
		w(`<rect x="`, f(plotLeft), `" y="`, f(y1), `" width="`, f(plotRight-plotLeft), `" height="`, f(y0-y1),
			`" fill="`, bandFill[bd.key], `"/>`, "\n")
		if bd.lo > 0 {
			w(`<line x1="`, f(plotLeft), `" y1="`, f(y0), `" x2="`, f(plotRight), `" y2="`, f(y0),
				`" stroke="`, colGuide, `" stroke-width="1" stroke-dasharray="4 3"/>`, "\n")
		}
		label := SeverityLabel(bd.key, lang) + " " + strconv.Itoa(bd.lo) + "–" + strconv.Itoa(bd.hi)
		w(`<text x="`, f(labelX), `" y="`, f((y0+y1)/2+4), `" fill="`, colText, `">`, esc(label), "</text>\n")
	}
	// Y tick labels at every cut-off and at the maximum.
	ticks := []int{0}
	for _, bd := range def.bands[1:] {
		ticks = append(ticks, bd.lo)
	}
	ticks = append(ticks, def.max)
	for _, t := range ticks {
		w(`<text x="`, f(plotLeft-6), `" y="`, f(yOf(t)+4), `" text-anchor="end" fill="`, colText, `">`,
			strconv.Itoa(t), "</text>\n")
	}
	// Axes.
	w(`<line x1="`, f(plotLeft), `" y1="`, f(plotTop), `" x2="`, f(plotLeft), `" y2="`, f(plotBot),
		`" stroke="`, colAxis, `" stroke-width="1"/>`, "\n")
	w(`<line x1="`, f(plotLeft), `" y1="`, f(plotBot), `" x2="`, f(plotRight), `" y2="`, f(plotBot),
		`" stroke="`, colAxis, `" stroke-width="1"/>`, "\n")
	// Date labels.
	switch len(pts) {
	case 0:
	case 1:
		w(`<text x="`, f(xs[0]), `" y="`, f(dateY), `" text-anchor="middle" fill="`, colText, `">`,
			esc(pts[0].Time.Format(dateLayout)), "</text>\n")
	default:
		first, last := pts[0].Time.Format(dateLayout), pts[len(pts)-1].Time.Format(dateLayout)
		w(`<text x="`, f(plotLeft), `" y="`, f(dateY), `" text-anchor="start" fill="`, colText, `">`,
			esc(first), "</text>\n")
		if last != first {
			w(`<text x="`, f(plotRight), `" y="`, f(dateY), `" text-anchor="end" fill="`, colText, `">`,
				esc(last), "</text>\n")
		}
	}
	w("</g>\n")

	if len(pts) == 0 {
		w(`<text x="`, f((plotLeft+plotRight)/2), `" y="`, f((plotTop+plotBot)/2), `" text-anchor="middle" font-size="13" fill="`,
			colText, `">`, esc(txt.noData), "</text>\n")
		w("</svg>\n")
		return b.String(), nil
	}

	if len(pts) > 1 {
		w(`<polyline fill="none" stroke="`, colLine, `" stroke-width="2" stroke-linejoin="round" points="`)
		for i, p := range pts {
			if i > 0 {
				w(" ")
			}
			w(f(xs[i]), ",", f(yOf(p.Total)))
		}
		w(`"/>`, "\n")
	}
	for i, p := range pts {
		w(`<circle cx="`, f(xs[i]), `" cy="`, f(yOf(p.Total)), `" r="4" fill="`, colLine,
			`" stroke="#ffffff" stroke-width="1.5"><title>`,
			esc(pointLabel(def, p, lang)), "</title></circle>\n")
	}
	w("</svg>\n")
	return b.String(), nil
}

// pointLabel is e.g. "01.02.2026: PHQ-9 8 (mild)".
func pointLabel(def *instrument, p Point, lang string) string {
	return p.Time.Format(dateLayout) + ": " + string(def.name) + " " + strconv.Itoa(p.Total) +
		" (" + strings.ToLower(SeverityLabel(def.severity(p.Total), lang)) + ")"
}

// summary builds the chart's <title>, <desc> and empty-state text. pts must
// be sorted by time.
func summary(def *instrument, pts []Point, fi bool) svgText {
	name := string(def.name)
	lang := "en"
	if fi {
		lang = "fi"
	}
	var t svgText
	if fi {
		t.title = name + "-pisteet ajan kuluessa"
		t.noData = "Ei tallennettuja " + name + "-tuloksia"
	} else {
		t.title = name + " scores over time"
		t.noData = "No " + name + " scores recorded"
	}
	switch len(pts) {
	case 0:
		t.desc = t.noData
	case 1:
		p := pts[0]
		sev := strings.ToLower(SeverityLabel(def.severity(p.Total), lang))
		if fi {
			t.desc = name + "-pisteet " + p.Time.Format(dateLayout) + ": " + strconv.Itoa(p.Total) + " (" + sev + ")"
		} else {
			t.desc = name + " score on " + p.Time.Format(dateLayout) + ": " + strconv.Itoa(p.Total) + " (" + sev + ")"
		}
	default:
		first, last := pts[0], pts[len(pts)-1]
		sev := strings.ToLower(SeverityLabel(def.severity(last.Total), lang))
		if fi {
			t.desc = name + "-pisteet " + first.Time.Format(dateLayout) + "–" + last.Time.Format(dateLayout) +
				": viimeisin " + strconv.Itoa(last.Total) + " (" + sev + ")"
		} else {
			t.desc = name + " scores from " + first.Time.Format(dateLayout) + " to " + last.Time.Format(dateLayout) +
				": latest " + strconv.Itoa(last.Total) + " (" + sev + ")"
		}
	}
	return t
}

// chartID derives a deterministic element id from the chart's content, so
// that several charts on one page do not share title/desc ids while the
// output stays golden-file testable.
func chartID(def *instrument, pts []Point, fi bool) string {
	h := fnv.New64a()
	h.Write([]byte(def.name))
	if fi {
		h.Write([]byte{1})
	}
	for _, p := range pts {
		h.Write([]byte(p.Time.Format(time.RFC3339Nano)))
		h.Write([]byte{0})
		h.Write([]byte(strconv.Itoa(p.Total)))
		h.Write([]byte{0})
	}
	return "hush-trend-" + strconv.FormatUint(h.Sum64(), 16)
}

// f formats a coordinate deterministically with one decimal.
func f(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// esc escapes text for use in SVG/XML character data and attribute values.
func esc(s string) string { return html.EscapeString(s) }
