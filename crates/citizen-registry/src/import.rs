//! Bulk import of citizens from CSV: header and row validation, line-numbered rejections.
//!
//! Format: a header row `cpr,user_id,given_name,family_name,email,password_hash`; `email` and
//! `password_hash` may be empty; `password_hash` is an argon2id PHC string, so a bulk import
//! never hashes.

use crate::citizen::{Email, NewCitizen, PersonName, UserId};
use crate::cpr::NationalId;
use crate::password::check_phc_hash;

pub(crate) const HEADER: [&str; 6] = [
    "cpr",
    "user_id",
    "given_name",
    "family_name",
    "email",
    "password_hash",
];

/// One valid row.
#[derive(Debug, Clone)]
pub(crate) struct ImportRow {
    pub line: u64,
    pub citizen: NewCitizen,
    pub password_hash: Option<String>,
}

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    pub line: u64,
    pub reason: String,
}

/// Checks the header record.
pub(crate) fn check_header(fields: &[&[u8]]) -> Result<(), String> {
    let matches = fields.len() == HEADER.len()
        && fields
            .iter()
            .zip(HEADER)
            .all(|(field, expected)| field.trim_ascii().eq_ignore_ascii_case(expected.as_bytes()));
    if matches {
        Ok(())
    } else {
        Err(format!("line 1: the header must be `{}`", HEADER.join(",")))
    }
}

/// Validates one data record (its raw fields) found at `line`.
pub(crate) fn parse_row(fields: &[&[u8]], line: u64) -> Result<ImportRow, RejectedRow> {
    let reject = |reason: String| RejectedRow { line, reason };
    if fields.len() != HEADER.len() {
        return Err(reject(format!(
            "expected {} columns, found {}",
            HEADER.len(),
            fields.len()
        )));
    }
    let mut text = Vec::with_capacity(HEADER.len());
    for (field, name) in fields.iter().zip(HEADER) {
        let value = std::str::from_utf8(field)
            .map_err(|_| reject(format!("column {name} is not valid UTF-8")))?;
        text.push(value.trim());
    }
    let cpr = NationalId::parse(text[0])
        .map_err(|error| reject(format!("invalid CPR number: {error}")))?;
    let user_id = UserId::parse(text[1]).map_err(|error| reject(error.to_string()))?;
    let given_name =
        PersonName::parse(text[2], "given name").map_err(|error| reject(error.to_string()))?;
    let family_name =
        PersonName::parse(text[3], "family name").map_err(|error| reject(error.to_string()))?;
    let email = match text[4] {
        "" => None,
        value => Some(Email::parse(value).map_err(|error| reject(error.to_string()))?),
    };
    let password_hash = match text[5] {
        "" => None,
        value => {
            check_phc_hash(value).map_err(|error| reject(error.to_string()))?;
            Some(value.to_owned())
        }
    };
    Ok(ImportRow {
        line,
        citizen: NewCitizen {
            cpr,
            user_id,
            given_name,
            family_name,
            email,
        },
        password_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> Vec<&[u8]> {
        line.split(',').map(str::as_bytes).collect()
    }

    #[test]
    fn a_complete_row_parses() {
        let row =
            parse_row(&fields("070761-4285,anna,Anna,Jensen,anna@example.dk,"), 2).expect("valid");
        assert_eq!(row.citizen.user_id.as_str(), "anna");
        assert_eq!(row.password_hash, None);
        assert_eq!(row.line, 2);
    }

    #[test]
    fn wrong_column_count_names_the_line() {
        let error = parse_row(&fields("070761-4285,anna,Anna"), 7).expect_err("rejected");
        assert_eq!(
            error,
            RejectedRow {
                line: 7,
                reason: "expected 6 columns, found 3".into()
            }
        );
    }

    #[test]
    fn bad_utf8_names_the_column() {
        let bad: Vec<&[u8]> = vec![b"0707614285", b"anna", b"An\xffna", b"Jensen", b"", b""];
        let error = parse_row(&bad, 3).expect_err("rejected");
        assert_eq!(error.reason, "column given_name is not valid UTF-8");
    }

    #[test]
    fn a_plaintext_password_column_is_refused() {
        let error =
            parse_row(&fields("070761-4285,anna,Anna,Jensen,,hunter22"), 4).expect_err("rejected");
        assert_eq!(
            error.reason,
            "the password hash is not an argon2id PHC string"
        );
    }

    #[test]
    fn header_must_match() {
        assert!(check_header(&fields(
            "cpr,user_id,given_name,family_name,email,password_hash"
        ))
        .is_ok());
        assert!(check_header(&fields("cpr,user_id,name")).is_err());
    }
}
