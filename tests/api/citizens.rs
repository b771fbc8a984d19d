//! `segl citizen add|show|set-status|set-ial|set-password`: round trips and every bad input.

use crate::helpers::{spawn_app, CPR};
use citizen_registry::{AuthenticationError, CitizenStatus, LoginContext};
use secrecy::SecretString;

async fn add_anna(app: &crate::helpers::TestApp) {
    let output = app
        .segl_with_stdin(
            &[
                "citizen",
                "add",
                "--cpr",
                CPR,
                "--user-id",
                "Anna.Jensen",
                "--given-name",
                "Anna",
                "--family-name",
                "Jensen",
                "--email",
                "anna@example.dk",
                "--password-stdin",
            ],
            "correct horse battery\n",
        )
        .await;
    assert!(output.success, "stderr: {}", output.stderr);
    assert!(
        output.stdout.starts_with("added citizen Anna.Jensen ("),
        "{}",
        output.stdout
    );
}

#[tokio::test]
async fn add_then_show_round_trips_a_citizen() {
    let app = spawn_app().await;
    add_anna(&app).await;

    let output = app
        .segl(&["citizen", "show", "anna.jensen", "--json"])
        .await;
    assert!(output.success, "stderr: {}", output.stderr);
    let shown: serde_json::Value = serde_json::from_str(&output.stdout).expect("json");
    assert_eq!(shown["cpr"], "070761-4285");
    assert_eq!(shown["user_id"], "Anna.Jensen");
    assert_eq!(shown["given_name"], "Anna");
    assert_eq!(shown["family_name"], "Jensen");
    assert_eq!(shown["birth_date"], "1961-07-07");
    assert_eq!(shown["email"], "anna@example.dk");
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["ial"], "substantial");
    assert_eq!(shown["password"], true);
    assert_eq!(shown["totp"], false);
    assert_eq!(shown["modulus_11"], true);

    // The same citizen by CPR number, with and without the dash.
    let by_cpr = app.segl(&["citizen", "show", "0707614285", "--json"]).await;
    let by_cpr: serde_json::Value = serde_json::from_str(&by_cpr.stdout).expect("json");
    assert_eq!(by_cpr["id"], shown["id"]);
    assert_eq!(app.audit_count("citizen.created").await, 1);
}

#[tokio::test]
async fn show_never_prints_secrets() {
    let app = spawn_app().await;
    add_anna(&app).await;
    app.segl(&["citizen", "totp", "enroll", "anna.jensen"])
        .await;
    let output = app.segl(&["citizen", "show", "anna.jensen"]).await;
    assert!(output.success);
    assert!(
        output.stdout.contains("password:    set"),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains("totp:        enrolled"),
        "{}",
        output.stdout
    );
    assert!(!output.stdout.contains("argon2"), "{}", output.stdout);
    assert!(
        !output.stdout.contains("correct horse"),
        "{}",
        output.stdout
    );
}

#[tokio::test]
async fn password_from_stdin_authenticates() {
    let app = spawn_app().await;
    add_anna(&app).await;
    let registry = &app.services.registry;
    let citizen = registry
        .authenticate_password(
            "ANNA.JENSEN",
            SecretString::from("correct horse battery"),
            &LoginContext::default(),
        )
        .await
        .expect("the password set from stdin logs in, user ID in any case");
    assert_eq!(citizen.user_id.as_str(), "Anna.Jensen");
    assert_eq!(app.audit_count("login.succeeded").await, 1);
}

#[tokio::test]
async fn duplicate_cpr_is_refused_and_writes_nothing() {
    let app = spawn_app().await;
    add_anna(&app).await;
    let output = app
        .segl(&[
            "citizen",
            "add",
            "--cpr",
            "0707614285",
            "--user-id",
            "other",
            "--given-name",
            "A",
            "--family-name",
            "B",
        ])
        .await;
    assert_eq!(output.code, Some(1));
    assert_eq!(
        output.stderr.trim(),
        "error: a citizen with this CPR number is already registered"
    );
    assert_eq!(app.citizen_count().await, 1);
    assert_eq!(app.audit_count("citizen.created").await, 1);
}

#[tokio::test]
async fn duplicate_user_id_is_refused_whatever_its_case() {
    let app = spawn_app().await;
    add_anna(&app).await;
    let output = app
        .segl(&[
            "citizen",
            "add",
            "--cpr",
            "010165-4000",
            "--user-id",
            "ANNA.jensen",
            "--given-name",
            "A",
            "--family-name",
            "B",
        ])
        .await;
    assert_eq!(output.code, Some(1));
    assert_eq!(
        output.stderr.trim(),
        "error: the user ID 'ANNA.jensen' is already taken"
    );
    assert_eq!(app.citizen_count().await, 1);
}

#[tokio::test]
async fn invalid_cpr_numbers_are_refused_with_the_reason() {
    let app = spawn_app().await;
    for (cpr, reason) in [
        ("320161-4285", "the CPR number's date is not a real date"),
        ("290200-0000", "the CPR number's date is not a real date"),
        (
            "07076-14285",
            "a CPR number has ten digits, written DDMMYY-SSSS or DDMMYYSSSS",
        ),
        (
            "abc",
            "a CPR number has ten digits, written DDMMYY-SSSS or DDMMYYSSSS",
        ),
    ] {
        let output = app
            .segl(&[
                "citizen",
                "add",
                "--cpr",
                cpr,
                "--user-id",
                "someone",
                "--given-name",
                "A",
                "--family-name",
                "B",
            ])
            .await;
        assert_eq!(output.code, Some(1), "{cpr}");
        assert_eq!(
            output.stderr.trim(),
            format!("error: invalid CPR number: {reason}"),
            "{cpr}"
        );
    }
    assert_eq!(app.citizen_count().await, 0);
}

#[tokio::test]
async fn a_valid_number_failing_modulus_11_is_registered() {
    let app = spawn_app().await;
    let output = app
        .segl(&[
            "citizen",
            "add",
            "--cpr",
            "010165-4000",
            "--user-id",
            "jan.1965",
            "--given-name",
            "Jan",
            "--family-name",
            "Holm",
        ])
        .await;
    assert!(output.success, "{}", output.stderr);
    let shown = app
        .segl(&["citizen", "show", "010165-4000", "--json"])
        .await;
    let shown: serde_json::Value = serde_json::from_str(&shown.stdout).expect("json");
    assert_eq!(shown["modulus_11"], false);
    assert_eq!(shown["birth_date"], "1965-01-01");
}

#[tokio::test]
async fn empty_and_short_passwords_are_refused_before_anything_is_written() {
    let app = spawn_app().await;
    for (stdin, message) in [
        ("\n", "error: the password is empty"),
        ("", "error: the password is empty"),
        (
            "short\n",
            "error: the password is too short: it needs at least 8 characters",
        ),
    ] {
        let output = app
            .segl_with_stdin(
                &[
                    "citizen",
                    "add",
                    "--cpr",
                    CPR,
                    "--user-id",
                    "anna",
                    "--given-name",
                    "A",
                    "--family-name",
                    "B",
                    "--password-stdin",
                ],
                stdin,
            )
            .await;
        assert_eq!(output.code, Some(1));
        assert_eq!(output.stderr.trim(), message);
    }
    assert_eq!(app.citizen_count().await, 0);
}

#[tokio::test]
async fn bad_fields_are_named() {
    let app = spawn_app().await;
    let output = app
        .segl(&[
            "citizen",
            "add",
            "--cpr",
            CPR,
            "--user-id",
            "a b",
            "--given-name",
            "A",
            "--family-name",
            "B",
        ])
        .await;
    assert_eq!(
        output.stderr.trim(),
        "error: a user ID has 3 to 64 characters: letters a-z, digits, '.', '_', '-' or '@'"
    );
    let output = app
        .segl(&[
            "citizen",
            "add",
            "--cpr",
            CPR,
            "--user-id",
            "anna",
            "--given-name",
            " ",
            "--family-name",
            "B",
        ])
        .await;
    assert_eq!(
        output.stderr.trim(),
        "error: a given name must not be empty and has at most 100 characters, without control characters"
    );
    let output = app
        .segl(&[
            "citizen",
            "add",
            "--cpr",
            CPR,
            "--user-id",
            "anna",
            "--given-name",
            "A",
            "--family-name",
            "B",
            "--email",
            "nope",
        ])
        .await;
    assert_eq!(
        output.stderr.trim(),
        "error: the e-mail address is not valid"
    );
    assert_eq!(app.citizen_count().await, 0);
}

#[tokio::test]
async fn unknown_citizen_is_named_without_echoing_a_cpr_number() {
    let app = spawn_app().await;
    let output = app.segl(&["citizen", "show", "nobody"]).await;
    assert_eq!(output.code, Some(1));
    assert_eq!(
        output.stderr.trim(),
        "error: unknown citizen: no citizen has that user ID"
    );
    let output = app.segl(&["citizen", "show", "010165-4000"]).await;
    assert_eq!(
        output.stderr.trim(),
        "error: unknown citizen: no citizen has that CPR number"
    );
    assert!(!output.stderr.contains("010165"));
}

#[tokio::test]
async fn only_active_citizens_can_log_in() {
    let app = spawn_app().await;
    add_anna(&app).await;
    let output = app
        .segl(&["citizen", "set-status", "anna.jensen", "suspended"])
        .await;
    assert!(output.success, "{}", output.stderr);
    assert_eq!(app.audit_count("citizen.status_changed").await, 1);
    let result = app
        .services
        .registry
        .authenticate_password(
            "anna.jensen",
            SecretString::from("correct horse battery"),
            &LoginContext::default(),
        )
        .await;
    assert!(
        matches!(
            result,
            Err(AuthenticationError::Inactive(CitizenStatus::Suspended))
        ),
        "{result:?}"
    );

    let output = app
        .segl(&["citizen", "set-status", "anna.jensen", "asleep"])
        .await;
    assert_eq!(
        output.stderr.trim(),
        "error: unknown status 'asleep': use active, suspended or deceased"
    );
}

#[tokio::test]
async fn identity_assurance_can_be_raised_by_an_administrator() {
    let app = spawn_app().await;
    add_anna(&app).await;
    let output = app.segl(&["citizen", "set-ial", CPR, "high"]).await;
    assert!(output.success, "{}", output.stderr);
    let shown = app.segl(&["citizen", "show", CPR, "--json"]).await;
    let shown: serde_json::Value = serde_json::from_str(&shown.stdout).expect("json");
    assert_eq!(shown["ial"], "high");
    assert_eq!(app.audit_count("citizen.ial_changed").await, 1);
}
