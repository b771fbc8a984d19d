//! `segl citizen import`: valid rows are imported, each bad row is named by line and reason.

use crate::helpers::spawn_app;

/// A well-formed argon2id PHC string (m=19456, t=2, p=1); these tests never log in with it.
const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$UG5wVzZkRlRvOXFxVnBsTQ$kP3YbU0hHcD3mG8qgE6kIjA3oE6h3y8u6Xg0o3KZr2c";

fn write_csv(contents: &[u8]) -> tempfile::NamedTempFile {
    use std::io::Write;
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(contents).expect("write csv");
    file
}

#[tokio::test]
async fn one_bad_row_is_named_and_the_others_are_imported() {
    let app = spawn_app().await;
    let csv = format!(
        "cpr,user_id,given_name,family_name,email,password_hash\n\
         070761-4285,anna,Anna,Jensen,anna@example.dk,\"{HASH}\"\n\
         010165-4000,jan,Jan,Holm,,\n\
         320161-4285,bad.date,Bo,Berg,,\n\
         0101654000,jan.again,Jan,Holm,,\n\
         020202-4444,mette,Mette,Frederiksen\n\
         030303-4444,ANNA,Anna,Again,,\n\
         040404-4444,plain,Per,Plain,,hunter22\n\
         050505-4444,lars,Lars,Løkke,,\n"
    );
    let file = write_csv(csv.as_bytes());
    let output = app
        .segl(&[
            "citizen",
            "import",
            file.path().to_str().expect("utf-8 path"),
        ])
        .await;

    assert_eq!(
        output.code,
        Some(1),
        "a run with rejected rows exits non-zero"
    );
    let rejected: Vec<&str> = output.stderr.lines().collect();
    assert_eq!(
        rejected,
        vec![
            "line 4: invalid CPR number: the CPR number's date is not a real date",
            "line 5: a citizen with this CPR number is already registered",
            "line 6: expected 6 columns, found 4",
            "line 7: the user ID 'ANNA' is already taken",
            "line 8: the password hash is not an argon2id PHC string",
            "error: 5 rows were rejected",
        ]
    );
    assert!(
        output
            .stdout
            .starts_with("imported 3 citizens, rejected 5 rows in "),
        "{}",
        output.stdout
    );
    assert_eq!(app.citizen_count().await, 3);
    assert_eq!(app.audit_count("citizen.created").await, 3);

    // The imported hash is used as is: the citizen logs in with its password only if it matches.
    let shown = app.segl(&["citizen", "show", "anna", "--json"]).await;
    let shown: serde_json::Value = serde_json::from_str(&shown.stdout).expect("json");
    assert_eq!(shown["password"], true);
    assert_eq!(shown["email"], "anna@example.dk");
    let lars = app.segl(&["citizen", "show", "lars", "--json"]).await;
    let lars: serde_json::Value = serde_json::from_str(&lars.stdout).expect("json");
    assert_eq!(lars["family_name"], "Løkke");
}

#[tokio::test]
async fn bad_utf8_is_named_by_line_and_column() {
    let app = spawn_app().await;
    let mut csv =
        b"cpr,user_id,given_name,family_name,email,password_hash\n070761-4285,anna,Anna,Jensen,,\n"
            .to_vec();
    csv.extend_from_slice(b"010165-4000,jan,J\xffn,Holm,,\n");
    let file = write_csv(&csv);
    let output = app
        .segl(&[
            "citizen",
            "import",
            file.path().to_str().expect("utf-8 path"),
        ])
        .await;
    assert_eq!(output.code, Some(1));
    assert_eq!(
        output.stderr.lines().next(),
        Some("line 3: column given_name is not valid UTF-8")
    );
    assert!(
        output
            .stdout
            .starts_with("imported 1 citizens, rejected 1 rows"),
        "{}",
        output.stdout
    );
    assert_eq!(app.citizen_count().await, 1);
}

#[tokio::test]
async fn a_wrong_header_imports_nothing() {
    let app = spawn_app().await;
    let file = write_csv(b"cpr,name\n070761-4285,Anna\n");
    let output = app
        .segl(&[
            "citizen",
            "import",
            file.path().to_str().expect("utf-8 path"),
        ])
        .await;
    assert_eq!(output.code, Some(1));
    assert_eq!(
        output.stderr.trim(),
        "error: cannot import: line 1: the header must be `cpr,user_id,given_name,family_name,email,password_hash`"
    );
    assert_eq!(app.citizen_count().await, 0);
}

#[tokio::test]
async fn a_missing_file_is_named() {
    let app = spawn_app().await;
    let output = app
        .segl(&["citizen", "import", "/nonexistent/citizens.csv"])
        .await;
    assert_eq!(output.code, Some(1));
    assert!(
        output
            .stderr
            .starts_with("error: cannot read /nonexistent/citizens.csv: No such file or directory"),
        "{}",
        output.stderr
    );
}

#[tokio::test]
async fn a_clean_file_imports_every_row_and_exits_zero() {
    let app = spawn_app().await;
    let mut csv = String::from("cpr,user_id,given_name,family_name,email,password_hash\n");
    for day in 1..=28 {
        csv.push_str(&format!("{day:02}0190-1234,citizen{day},Given,Family,,\n"));
    }
    let file = write_csv(csv.as_bytes());
    let output = app
        .segl(&[
            "citizen",
            "import",
            "--batch-size",
            "10",
            file.path().to_str().expect("utf-8 path"),
        ])
        .await;
    assert!(output.success, "{}", output.stderr);
    assert!(
        output
            .stdout
            .starts_with("imported 28 citizens, rejected 0 rows"),
        "{}",
        output.stdout
    );
    assert_eq!(app.citizen_count().await, 28);
}

#[tokio::test]
async fn a_duplicate_in_a_later_statement_of_one_batch_is_named() {
    // One 5,000-row transaction is split into statements of 2,000 rows: a row of the second
    // statement repeating a CPR number of the first is skipped and named.
    let app = spawn_app().await;
    let mut csv = String::from("cpr,user_id,given_name,family_name,email,password_hash\n");
    let mut cprs = Vec::new();
    for year in 0..99 {
        for day in 1..=28 {
            cprs.push(format!("{day:02}01{year:02}-1234"));
        }
    }
    for (index, cpr) in cprs.iter().take(2100).enumerate() {
        csv.push_str(&format!("{cpr},citizen{index},Given,Family,,\n"));
    }
    // Line 2,102: the CPR number of line 12 (index 10) again, with a new user ID.
    csv.push_str(&format!("{},late.duplicate,Given,Family,,\n", cprs[10]));
    let file = write_csv(csv.as_bytes());
    let output = app
        .segl(&[
            "citizen",
            "import",
            "--batch-size",
            "5000",
            file.path().to_str().expect("utf-8 path"),
        ])
        .await;
    assert_eq!(output.code, Some(1));
    assert_eq!(
        output.stderr.lines().next(),
        Some("line 2102: a citizen with this CPR number is already registered")
    );
    assert_eq!(app.citizen_count().await, 2100);
}
