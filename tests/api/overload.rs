//! Load shedding: password hashes beyond the bounded pool and its queue are refused at once
//! with 503 and `Retry-After`, and the citizen's login is still there to retry.

use crate::helpers::{hidden_field, location, query_value, spawn_app_with, CPR, LOW};

const USER_ID: &str = "anna.jensen";
const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn logins_beyond_the_hash_queue_get_503_with_retry_after_and_can_retry() {
    // One hash at a time and no queue: of a burst of logins, all but the first are shed.
    let app = spawn_app_with(|settings| {
        settings.password.max_in_flight = 1;
        settings.password.queue_limit = 0;
        // A slower hash (the citizen's is made with it too), so the burst overlaps it for sure.
        settings.password.iterations = 8;
    })
    .await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let client = app
        .add_basic_client("portal", "https://portal.example/cb")
        .await;
    let mut logins = Vec::new();
    for _ in 0..6 {
        let started = app.authorize(&client, &[("acr_values", LOW)]).await;
        assert_eq!(started.status, 303, "to the login page");
        logins.push(started.location.expect("login page"));
    }

    // All at once: each task opens its login page, then posts the password.
    let mut tasks = Vec::new();
    for login in &logins {
        let (browser, address, login) = (app.client.clone(), app.address.clone(), login.clone());
        tasks.push(tokio::spawn(async move {
            let page = browser
                .get(format!("{address}{login}"))
                .send()
                .await
                .expect("login page")
                .text()
                .await
                .expect("page");
            let form = [
                ("request", hidden_field(&page, "request")),
                ("csrf", hidden_field(&page, "csrf")),
                ("user_id", USER_ID.to_owned()),
                ("password", PASSWORD.to_owned()),
            ];
            browser
                .post(format!("{address}/login"))
                .form(&form)
                .send()
                .await
                .expect("login post")
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("login task"));
    }
    let mut shed = Vec::new();
    for (login, answer) in logins.iter().zip(answers) {
        match answer.status().as_u16() {
            303 => {
                let back = location(&answer).expect("back to the portal");
                assert!(query_value(&back, "code").is_some(), "a code: {back}");
            }
            503 => {
                assert_eq!(
                    answer
                        .headers()
                        .get("retry-after")
                        .and_then(|value| value.to_str().ok()),
                    Some("2"),
                    "503 says when to retry"
                );
                let page = answer.text().await.expect("page");
                assert!(page.contains("<html"), "a page for the citizen: {page}");
                shed.push(login.clone());
            }
            other => panic!(
                "a login answered {other}: {}",
                answer.text().await.unwrap_or_default()
            ),
        }
    }
    assert!(
        !shed.is_empty(),
        "a burst of 6 against a pool of 1 without a queue sheds some"
    );
    assert!(shed.len() < 6, "the first hash runs");

    // A shed login lost nothing: retried one at a time, each goes through.
    for login in shed {
        let answer = app.submit_password(&login, USER_ID, PASSWORD).await;
        assert_eq!(answer.status(), 303, "the retry is accepted");
    }
}
