//! The Danish personal identification number (CPR number): parsing and the rules of docs/NEMLOGIN.md section 6.

use std::fmt;
use time::{Date, Month};

/// A syntactically valid CPR number with a real birth date.
///
/// Stored as its ten digits (leading zeros kept). `Debug` never prints the number, so a CPR
/// number cannot leak into a log line through `{:?}`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NationalId {
    digits: String,
    birth_date: Date,
}

/// Why a CPR number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CprError {
    #[error("a CPR number has ten digits, written DDMMYY-SSSS or DDMMYYSSSS")]
    Shape,
    #[error("the CPR number's date is not a real date")]
    Date,
}

/// Gender as encoded in the tenth digit (odd: male, even: female).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegalGender {
    Male,
    Female,
}

impl NationalId {
    /// Parses `DDMMYY-SSSS` or `DDMMYYSSSS` (surrounding whitespace ignored).
    ///
    /// The modulus 11 check is deliberately not applied: numbers without it have been issued
    /// since 1 October 2007 (see [`NationalId::passes_modulus_11`]).
    pub fn parse(input: &str) -> Result<Self, CprError> {
        let trimmed = input.trim();
        let digits: String = match trimmed.len() {
            10 => trimmed.to_owned(),
            11 if trimmed.as_bytes()[6] == b'-' => {
                let mut joined = String::with_capacity(10);
                joined.push_str(&trimmed[..6]);
                joined.push_str(&trimmed[7..]);
                joined
            }
            _ => return Err(CprError::Shape),
        };
        if digits.len() != 10 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(CprError::Shape);
        }
        let digit = |index: usize| u32::from(digits.as_bytes()[index] - b'0');
        let day = digit(0) * 10 + digit(1);
        let month = digit(2) * 10 + digit(3);
        let two_digit_year = digit(4) * 10 + digit(5);
        let century = century(digit(6), two_digit_year);
        let year = i32::try_from(century + two_digit_year).map_err(|_| CprError::Date)?;
        let month = u8::try_from(month)
            .ok()
            .and_then(|month| Month::try_from(month).ok())
            .ok_or(CprError::Date)?;
        let day = u8::try_from(day).map_err(|_| CprError::Date)?;
        let birth_date = Date::from_calendar_date(year, month, day).map_err(|_| CprError::Date)?;
        Ok(Self { digits, birth_date })
    }

    /// True when `input` has the shape of a CPR number (used to tell a CPR number from a user ID).
    pub fn looks_like(input: &str) -> bool {
        let trimmed = input.trim();
        let bytes = trimmed.as_bytes();
        match bytes.len() {
            10 => bytes.iter().all(u8::is_ascii_digit),
            11 => {
                bytes[6] == b'-'
                    && bytes[..6].iter().all(u8::is_ascii_digit)
                    && bytes[7..].iter().all(u8::is_ascii_digit)
            }
            _ => false,
        }
    }

    /// The ten digits without a dash, as stored.
    pub fn digits(&self) -> &str {
        &self.digits
    }

    pub fn birth_date(&self) -> Date {
        self.birth_date
    }

    /// The modulus 11 check (weights 4,3,2,7,6,5,4,3,2,1). Information only: held for every
    /// number issued before 1 October 2007, not for all issued since.
    pub fn passes_modulus_11(&self) -> bool {
        const WEIGHTS: [u32; 10] = [4, 3, 2, 7, 6, 5, 4, 3, 2, 1];
        let sum: u32 = self
            .digits
            .bytes()
            .zip(WEIGHTS)
            .map(|(byte, weight)| u32::from(byte - b'0') * weight)
            .sum();
        sum % 11 == 0
    }

    pub fn legal_gender(&self) -> LegalGender {
        let last = self.digits.as_bytes()[9] - b'0';
        if last % 2 == 1 {
            LegalGender::Male
        } else {
            LegalGender::Female
        }
    }

    /// The citizen's age in whole years on `today`.
    pub fn age_on(&self, today: Date) -> i32 {
        let born = self.birth_date;
        let mut age = today.year() - born.year();
        if (today.month() as u8, today.day()) < (born.month() as u8, born.day()) {
            age -= 1;
        }
        age
    }
}

/// docs/NEMLOGIN.md section 6: the century comes from digit 7 and the two-digit year.
fn century(seventh_digit: u32, two_digit_year: u32) -> u32 {
    match seventh_digit {
        0..=3 => 1900,
        4 | 9 if two_digit_year <= 36 => 2000,
        4 | 9 => 1900,
        _ if two_digit_year <= 57 => 2000,
        _ => 1800,
    }
}

impl fmt::Display for NationalId {
    /// `DDMMYY-SSSS`. Only for output meant to carry the number (an entitled client, an admin).
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}-{}", &self.digits[..6], &self.digits[6..])
    }
}

impl fmt::Debug for NationalId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("NationalId(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn year_of(cpr: &str) -> i32 {
        NationalId::parse(cpr)
            .expect("valid CPR")
            .birth_date()
            .year()
    }

    #[test]
    fn example_with_dash_parses_and_passes_modulus_11() {
        let cpr = NationalId::parse("070761-4285").expect("valid");
        assert_eq!(cpr.digits(), "0707614285");
        assert_eq!(cpr.birth_date(), date!(1961 - 07 - 07));
        assert!(cpr.passes_modulus_11());
        assert_eq!(cpr.to_string(), "070761-4285");
        assert_eq!(cpr.legal_gender(), LegalGender::Male);
    }

    #[test]
    fn number_without_dash_parses_the_same() {
        assert_eq!(
            NationalId::parse("0707614285"),
            NationalId::parse("070761-4285")
        );
    }

    #[test]
    fn valid_number_failing_modulus_11_is_accepted() {
        // 1 January 1965, digit 7 = 4: real date, but the weighted sum is not divisible by 11.
        let cpr = NationalId::parse("010165-4000").expect("accepted despite modulus 11");
        assert!(!cpr.passes_modulus_11());
        assert_eq!(cpr.birth_date(), date!(1965 - 01 - 01));
    }

    #[test]
    fn digits_0_to_3_are_always_the_1900s() {
        assert_eq!(year_of("010100-0000"), 1900);
        assert_eq!(year_of("010136-1000"), 1936);
        assert_eq!(year_of("010157-2000"), 1957);
        assert_eq!(year_of("010199-3000"), 1999);
    }

    #[test]
    fn digits_4_and_9_split_at_36() {
        assert_eq!(year_of("010100-4000"), 2000);
        assert_eq!(year_of("010136-4000"), 2036);
        assert_eq!(year_of("010137-4000"), 1937);
        assert_eq!(year_of("010199-4000"), 1999);
        assert_eq!(year_of("010136-9000"), 2036);
        assert_eq!(year_of("010137-9000"), 1937);
        assert_eq!(year_of("010158-9000"), 1958);
    }

    #[test]
    fn digits_5_to_8_split_at_57_and_58() {
        assert_eq!(year_of("010100-5000"), 2000);
        assert_eq!(year_of("010136-6000"), 2036);
        assert_eq!(year_of("010137-7000"), 2037);
        assert_eq!(year_of("010157-8000"), 2057);
        assert_eq!(year_of("010158-5000"), 1858);
        assert_eq!(year_of("010199-8000"), 1899);
    }

    #[test]
    fn impossible_dates_are_refused() {
        assert_eq!(NationalId::parse("320190-1234"), Err(CprError::Date));
        assert_eq!(NationalId::parse("001390-1234"), Err(CprError::Date));
        assert_eq!(NationalId::parse("011390-1234"), Err(CprError::Date));
        assert_eq!(NationalId::parse("000190-1234"), Err(CprError::Date));
        // 29 February exists in 2000 (digit 7 = 4) but not in 1900 (digit 7 = 0).
        assert!(NationalId::parse("290200-4000").is_ok());
        assert_eq!(NationalId::parse("290200-0000"), Err(CprError::Date));
    }

    #[test]
    fn malformed_shapes_are_refused() {
        for input in [
            "",
            "070761428",
            "07076142851",
            "070761-428",
            "0707-614285",
            "07076a4285",
            "070761+4285",
            "٠٧٠٧٦١٤٢٨٥",
        ] {
            assert_eq!(NationalId::parse(input), Err(CprError::Shape), "{input}");
        }
    }

    #[test]
    fn debug_never_prints_the_number() {
        let cpr = NationalId::parse("070761-4285").expect("valid");
        let printed = format!("{cpr:?}");
        assert!(!printed.contains("0707"), "{printed}");
    }

    #[test]
    fn even_last_digit_is_female() {
        let cpr = NationalId::parse("070761-4284").expect("valid");
        assert_eq!(cpr.legal_gender(), LegalGender::Female);
    }

    #[test]
    fn age_counts_whole_years() {
        let cpr = NationalId::parse("070761-4285").expect("valid");
        assert_eq!(cpr.age_on(date!(2026 - 07 - 06)), 64);
        assert_eq!(cpr.age_on(date!(2026 - 07 - 07)), 65);
    }

    #[test]
    fn looks_like_tells_cpr_from_user_id() {
        assert!(NationalId::looks_like("070761-4285"));
        assert!(NationalId::looks_like("0707614285"));
        assert!(!NationalId::looks_like("anna.jensen"));
        assert!(!NationalId::looks_like("070761-42a5"));
    }
}
