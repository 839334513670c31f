package web

import (
	"net/http"
	"strings"
)

// Every string a page shows goes through the message catalog, in English
// and Finnish. A missing key shows as itself, which a test catches.
var catalog = map[string]map[string]string{
	"en": {
		"app.name":                "Hush",
		"note.new":                "New note",
		"note.edit":               "Edit draft",
		"note.amend":              "Amend signed note",
		"note.amendhelp":          "A signed note is locked. Amending adds a new version; the signed one stays readable in the history.",
		"note.type":               "Note type",
		"note.titlefield":         "Title",
		"note.text":               "Text",
		"note.savedraft":          "Save draft",
		"note.sign":               "Sign",
		"note.doamend":            "Save amendment",
		"note.history":            "Versions",
		"note.invalid":            "The note could not be saved: check the fields.",
		"note.conflict":           "The note changed since you opened it, or is signed. Your text is kept below.",
		"note.toolarge":           "The note is too long.",
		"chart.newnote":           "New note",
		"chart.editnote":          "Edit",
		"chart.amendnote":         "Amend",
		"chart.versions":          "Versions",
		"nav.patients":            "Patients",
		"nav.signout":             "Sign out",
		"signin.title":            "Sign in",
		"signin.email":            "Email",
		"signin.password":         "Password",
		"signin.submit":           "Sign in",
		"signin.bad":              "The email or password is wrong.",
		"signin.locked":           "Too many attempts. Try again in %d minutes.",
		"signin.expired":          "Your session ended. Please sign in again.",
		"mfa.title":               "Second step",
		"mfa.help":                "Enter the 6-digit code from your authenticator app, or one of your recovery codes.",
		"mfa.code":                "Code",
		"mfa.submit":              "Continue",
		"mfa.bad":                 "The code is wrong or was already used.",
		"enroll.title":            "Set up your authenticator",
		"enroll.help":             "Every staff account needs a second step at sign-in. Add this key to an authenticator app (for example one on your phone), then enter the code it shows.",
		"enroll.key":              "Key",
		"enroll.uri":              "Link for apps",
		"enroll.bad":              "The code does not match. Check the time on your phone and try the next code.",
		"codes.title":             "Your recovery codes",
		"codes.help":              "Each code works once if you lose your phone. Print them or keep them somewhere safe; they are not shown again.",
		"codes.continue":          "I have saved them",
		"patients.title":          "Patients",
		"patients.mine":           "My patients",
		"patients.search":         "Search by name",
		"patients.searchbtn":      "Search",
		"patients.none":           "No patients found.",
		"patients.name":           "Name",
		"patients.born":           "Born",
		"patients.hint":           "Type the start of a name to search.",
		"chart.title":             "Chart",
		"chart.demographics":      "Patient",
		"chart.born":              "Date of birth",
		"chart.hetu":              "Identity code",
		"chart.contacts":          "Contacts",
		"chart.careteam":          "Care team",
		"chart.notes":             "Notes",
		"chart.nonotes":           "No notes yet.",
		"chart.noclinical":        "Your role does not show clinical content.",
		"note.status.preliminary": "Draft",
		"note.status.final":       "Signed",
		"note.status.amended":     "Amended",
		"error.title":             "Something went wrong",
		"error.forbidden":         "You do not have access to this page.",
		"error.notfound":          "There is no such page.",
		"error.other":             "The request could not be completed.",
		"error.back":              "Back to patients",
	},
	"fi": {
		"app.name":                "Hush",
		"note.new":                "Uusi merkintä",
		"note.edit":               "Muokkaa luonnosta",
		"note.amend":              "Korjaa allekirjoitettua merkintää",
		"note.amendhelp":          "Allekirjoitettu merkintä on lukittu. Korjaus lisää uuden version; allekirjoitettu jää luettavaksi historiaan.",
		"note.type":               "Merkinnän tyyppi",
		"note.titlefield":         "Otsikko",
		"note.text":               "Teksti",
		"note.savedraft":          "Tallenna luonnos",
		"note.sign":               "Allekirjoita",
		"note.doamend":            "Tallenna korjaus",
		"note.history":            "Versiot",
		"note.invalid":            "Merkintää ei voitu tallentaa: tarkista kentät.",
		"note.conflict":           "Merkintä on muuttunut avaamisen jälkeen tai se on allekirjoitettu. Tekstisi on tallessa alla.",
		"note.toolarge":           "Merkintä on liian pitkä.",
		"chart.newnote":           "Uusi merkintä",
		"chart.editnote":          "Muokkaa",
		"chart.amendnote":         "Korjaa",
		"chart.versions":          "Versiot",
		"nav.patients":            "Potilaat",
		"nav.signout":             "Kirjaudu ulos",
		"signin.title":            "Kirjaudu sisään",
		"signin.email":            "Sähköposti",
		"signin.password":         "Salasana",
		"signin.submit":           "Kirjaudu",
		"signin.bad":              "Sähköposti tai salasana on väärin.",
		"signin.locked":           "Liian monta yritystä. Yritä uudelleen %d minuutin kuluttua.",
		"signin.expired":          "Istuntosi päättyi. Kirjaudu uudelleen.",
		"mfa.title":               "Toinen vaihe",
		"mfa.help":                "Anna todennussovelluksen 6-numeroinen koodi tai jokin varakoodeistasi.",
		"mfa.code":                "Koodi",
		"mfa.submit":              "Jatka",
		"mfa.bad":                 "Koodi on väärin tai jo käytetty.",
		"enroll.title":            "Ota todennussovellus käyttöön",
		"enroll.help":             "Jokainen henkilökunnan tili tarvitsee kirjautumiseen toisen vaiheen. Lisää tämä avain todennussovellukseen (esimerkiksi puhelimeesi) ja anna sen näyttämä koodi.",
		"enroll.key":              "Avain",
		"enroll.uri":              "Linkki sovelluksille",
		"enroll.bad":              "Koodi ei täsmää. Tarkista puhelimesi kellonaika ja kokeile seuraavaa koodia.",
		"codes.title":             "Varakoodisi",
		"codes.help":              "Kukin koodi toimii kerran, jos puhelimesi katoaa. Tulosta ne tai säilytä ne turvassa; niitä ei näytetä uudelleen.",
		"codes.continue":          "Olen tallentanut ne",
		"patients.title":          "Potilaat",
		"patients.mine":           "Omat potilaani",
		"patients.search":         "Hae nimellä",
		"patients.searchbtn":      "Hae",
		"patients.none":           "Potilaita ei löytynyt.",
		"patients.name":           "Nimi",
		"patients.born":           "Syntynyt",
		"patients.hint":           "Kirjoita nimen alku hakeaksesi.",
		"chart.title":             "Potilaskertomus",
		"chart.demographics":      "Potilas",
		"chart.born":              "Syntymäaika",
		"chart.hetu":              "Henkilötunnus",
		"chart.contacts":          "Yhteystiedot",
		"chart.careteam":          "Hoitotiimi",
		"chart.notes":             "Merkinnät",
		"chart.nonotes":           "Ei merkintöjä vielä.",
		"chart.noclinical":        "Roolisi ei näytä kliinistä sisältöä.",
		"note.status.preliminary": "Luonnos",
		"note.status.final":       "Allekirjoitettu",
		"note.status.amended":     "Korjattu",
		"error.title":             "Jokin meni vikaan",
		"error.forbidden":         "Sinulla ei ole pääsyä tälle sivulle.",
		"error.notfound":          "Sivua ei ole.",
		"error.other":             "Pyyntöä ei voitu suorittaa.",
		"error.back":              "Takaisin potilaisiin",
	},
}

// lang picks the page language: a ?lang= choice kept in a cookie, else the
// browser's Accept-Language, else English.
func lang(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); catalog[l] != nil {
		return l
	}
	if c, err := r.Cookie("hush_lang"); err == nil && catalog[c.Value] != nil {
		return c.Value
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		base, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if catalog[base] != nil {
			return base
		}
	}
	return "en"
}

// translate returns the message for key in lang.
func translate(lang, key string) string {
	if s, ok := catalog[lang][key]; ok {
		return s
	}
	if s, ok := catalog["en"][key]; ok {
		return s
	}
	return key
}
