package measures

// Item texts.
//
// English: the standard wording of the PHQ-9 (Kroenke, Spitzer & Williams
// 2001) and GAD-7 (Spitzer et al. 2006), which Pfizer has released for free
// use.
//
// Finnish: a faithful translation made for Hush. It is NOT the official
// validated Finnish version. Clinics that have a licensed/official Finnish
// version should use that wording instead (replace the "fi" texts below);
// scoring is unaffected because it depends only on the 0-3 answer values.

type itemTexts struct {
	stem    string
	items   []string
	options []string
}

var optionsEN = []string{"Not at all", "Several days", "More than half the days", "Nearly every day"}

// NOTE: unofficial translation; see the comment at the top of this file.
var optionsFI = []string{"Ei lainkaan", "Useana päivänä", "Yli puolena päivistä", "Lähes joka päivä"}

var texts = map[Instrument][2]itemTexts{ // {en, fi}
	PHQ9: {
		{
			stem: "Over the last 2 weeks, how often have you been bothered by any of the following problems?",
			items: []string{
				"Little interest or pleasure in doing things",
				"Feeling down, depressed, or hopeless",
				"Trouble falling or staying asleep, or sleeping too much",
				"Feeling tired or having little energy",
				"Poor appetite or overeating",
				"Feeling bad about yourself — or that you are a failure or have let yourself or your family down",
				"Trouble concentrating on things, such as reading the newspaper or watching television",
				"Moving or speaking so slowly that other people could have noticed? Or the opposite — being so fidgety or restless that you have been moving around a lot more than usual",
				"Thoughts that you would be better off dead or of hurting yourself in some way",
			},
			options: optionsEN,
		},
		// NOTE: unofficial translation; clinics should use their licensed
		// official Finnish version if they have one.
		{
			stem: "Kuinka usein seuraavat ongelmat ovat vaivanneet sinua viimeisten kahden viikon aikana?",
			items: []string{
				"Vähäinen kiinnostus tai mielihyvä asioiden tekemiseen",
				"Alakuloisuus, masentuneisuus tai toivottomuus",
				"Vaikeus nukahtaa tai pysyä unessa, tai liiallinen nukkuminen",
				"Väsymys tai energian vähyys",
				"Huono ruokahalu tai ylensyöminen",
				"Huono olo itsestäsi — tai tunne, että olet epäonnistuja tai olet tuottanut pettymyksen itsellesi tai perheellesi",
				"Keskittymisvaikeudet, esimerkiksi sanomalehteä lukiessa tai televisiota katsoessa",
				"Liikkuminen tai puhuminen niin hitaasti, että muut ihmiset ovat voineet huomata sen? Tai päinvastoin — niin suuri levottomuus tai rauhattomuus, että olet liikkunut paljon tavallista enemmän",
				"Ajatukset, että olisit parempi kuollut, tai ajatukset itsesi vahingoittamisesta jollakin tavalla",
			},
			options: optionsFI,
		},
	},
	GAD7: {
		{
			stem: "Over the last 2 weeks, how often have you been bothered by the following problems?",
			items: []string{
				"Feeling nervous, anxious or on edge",
				"Not being able to stop or control worrying",
				"Worrying too much about different things",
				"Trouble relaxing",
				"Being so restless that it is hard to sit still",
				"Becoming easily annoyed or irritable",
				"Feeling afraid as if something awful might happen",
			},
			options: optionsEN,
		},
		// NOTE: unofficial translation; clinics should use their licensed
		// official Finnish version if they have one.
		{
			stem: "Kuinka usein seuraavat ongelmat ovat vaivanneet sinua viimeisten kahden viikon aikana?",
			items: []string{
				"Hermostuneisuus, ahdistuneisuus tai kireys",
				"Kyvyttömyys lopettaa huolehtimista tai hallita sitä",
				"Liiallinen huolehtiminen eri asioista",
				"Vaikeus rentoutua",
				"Niin suuri levottomuus, että on vaikea pysyä paikallaan",
				"Helposti ärsyyntyminen tai ärtyisyys",
				"Pelko siitä, että jotain kauheaa saattaa tapahtua",
			},
			options: optionsFI,
		},
	},
}

// Items returns the stem question, the item texts in order, and the four
// answer options (scored 0, 1, 2, 3 in that order) for lang "en" or "fi";
// any other lang gives English. The English wording is the standard published
// wording; the Finnish wording is an unofficial faithful translation (clinics
// should use their licensed official Finnish version if they have one).
// The returned slices are copies and may be modified by the caller.
func Items(in Instrument, lang string) (stem string, items []string, options []string, err error) {
	t, ok := texts[in]
	if !ok {
		return "", nil, nil, errorf("unknown instrument")
	}
	x := t[0]
	if isFinnish(lang) {
		x = t[1]
	}
	return x.stem, append([]string(nil), x.items...), append([]string(nil), x.options...), nil
}
