package safety

// Statement categories, exactly as the Transparency Database names them
// (Statement::STATEMENT_CATEGORIES in digital-services-act/transparency-database).
const (
	CategoryAnimalWelfare        = "STATEMENT_CATEGORY_ANIMAL_WELFARE"
	CategoryConsumerInformation  = "STATEMENT_CATEGORY_CONSUMER_INFORMATION"
	CategoryCyberViolence        = "STATEMENT_CATEGORY_CYBER_VIOLENCE"
	CategoryCyberViolenceWomen   = "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN"
	CategoryDataProtection       = "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS"
	CategoryIllegalSpeech        = "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH"
	CategoryIntellectualProperty = "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS"
	CategoryCivicDiscourse       = "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS"
	CategoryNotSpecified         = "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE"
	CategoryOtherTerms           = "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"
	CategoryMinors               = "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"
	CategoryPublicSecurity       = "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY"
	CategoryScams                = "STATEMENT_CATEGORY_SCAMS_AND_FRAUD"
	CategorySelfHarm             = "STATEMENT_CATEGORY_SELF_HARM"
	CategoryUnsafeProducts       = "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS"
	CategoryViolence             = "STATEMENT_CATEGORY_VIOLENCE"
)

// severity orders the categories for the queue: the lower, the sooner a
// moderator sees it. Harm to people's bodies and to children first, then
// harm to groups and to the public, then money, rights and the terms.
var severity = map[string]int{
	CategoryMinors:               0,
	CategorySelfHarm:             1,
	CategoryViolence:             2,
	CategoryPublicSecurity:       3,
	CategoryIllegalSpeech:        4,
	CategoryCyberViolenceWomen:   5,
	CategoryCyberViolence:        5,
	CategoryCivicDiscourse:       6,
	CategoryScams:                7,
	CategoryDataProtection:       8,
	CategoryUnsafeProducts:       9,
	CategoryIntellectualProperty: 10,
	CategoryConsumerInformation:  11,
	CategoryAnimalWelfare:        12,
	CategoryNotSpecified:         13,
	CategoryOtherTerms:           14,
}

// ValidCategory says whether c is one of the Transparency Database's categories.
func ValidCategory(c string) bool { _, ok := severity[c]; return ok }

// Categories lists the categories, most severe first.
func Categories() []string {
	out := make([]string, 0, len(severity))
	for c := range severity {
		out = append(out, c)
	}
	sortBySeverity(out)
	return out
}

func sortBySeverity(cs []string) {
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && (severity[cs[j]] < severity[cs[j-1]] || severity[cs[j]] == severity[cs[j-1]] && cs[j] < cs[j-1]); j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}

// anonymousCategory is where a notifier need not give their name and email:
// Art. 16(2)(c) exempts offences of Articles 3 to 7 of Directive
// 2011/93/EU (child sexual abuse), which the database files under the
// protection of minors.
const anonymousCategory = CategoryMinors

// TerritorialEEA is the database's list of European country codes
// (EuropeanCountriesService::EUROPEAN_COUNTRY_CODES): the default
// territorial scope of a decision, which applies on the whole service.
var TerritorialEEA = []string{"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IS", "IT", "LI", "LT", "LU", "LV", "MT", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK"}

func validCountry(c string) bool {
	for _, x := range TerritorialEEA {
		if x == c {
			return true
		}
	}
	return false
}
