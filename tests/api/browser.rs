//! A real browser (headless Chromium over WebDriver) walks through `segl demo`: single sign-on
//! across two portals, pairwise subjects, no CPR number where it is not released, and single
//! logout by back-channel. Screenshots of each step land in `target/test-artifacts/browser/`.
// clippy.toml allows `expect` inside #[test] functions only; these helpers are test code too.
#![allow(clippy::expect_used)]

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use segl::demo::{DemoOptions, LOGINS};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

const CHROMIUM: &str = "/usr/bin/chromium";
/// How long a page may take to appear (argon2 in a debug build on a busy CI machine is slow).
const PAGE_WAIT: Duration = Duration::from_secs(20);
/// Back-Channel Logout is delivered in the background, after the browser is already redirected.
const BACKCHANNEL_WAIT: Duration = Duration::from_secs(5);

const PORTAL_1_NAME: &str = "Citizen portal (demo)";
const PORTAL_2_NAME: &str = "Tax service (demo)";
const ANNA_NAME: &str = "Anna Jensen";
/// Anna's CPR number as `src/demo.rs` seeds it, in both ways a page could print it.
const ANNA_CPR_FORMS: [&str; 2] = ["070761-4285", "0707614285"];
const SUBSTANTIAL_LABEL: &str = "Substantial (Betydelig)";
const SUBSTANTIAL_ACR: &str = "https://data.gov.dk/concept/core/nsis/loa/Substantial";

// Selectors from crates/rp-demo/templates and crates/oidc-provider/templates.
const PORTAL_BRAND: &str = "header.banner a.brand-name";
const PORTAL_WHO: &str = "header.banner div.who > span";
const SUBSTANTIAL_LOGIN_BUTTON: &str = r#"form[action="/login"]:has(> input[name="level"][value="substantial"]) > button[type="submit"]"#;
const PORTAL_LOGOUT_BUTTON: &str =
    r#"header.banner form[action="/logout"] > button[type="submit"]"#;
const SEGL_USER_ID: &str = r#"form[action="/login"] input#user_id[name="user_id"]"#;
const SEGL_PASSWORD: &str = r#"form[action="/login"] input#password[name="password"]"#;
const SEGL_PASSWORD_SUBMIT: &str = r#"form[action="/login"] > button[type="submit"]"#;
const SEGL_CODE: &str = r#"form[action="/login/code"] input#code[name="code"]"#;
const SEGL_CODE_SUBMIT: &str = r#"form[action="/login/code"] > button[type="submit"]"#;

/// chromedriver on a free port, stopped (with the browsers it started) when dropped, also when
/// the test panics.
pub(crate) struct ChromeDriver {
    child: Child,
    port: u16,
    /// Chromium's profile; removed after the driver and its browser are gone.
    profile: TempDir,
}

impl ChromeDriver {
    pub(crate) async fn start(executable: &Path) -> ChromeDriver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port for chromedriver")
            .port();
        let child = Command::new(executable)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", executable.display()));
        let mut driver = ChromeDriver {
            child,
            port,
            profile: TempDir::new().expect("a Chromium profile folder"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if let Ok(Some(status)) = driver.child.try_wait() {
                panic!("chromedriver exited before listening: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on port {port} within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        driver
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) async fn connect(&self) -> Client {
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--window-size=1200,900".to_owned(),
        ];
        args.push(format!("--user-data-dir={}", self.profile.path().display()));
        // Segl picks its language from Accept-Language: pin English, whatever the machine's
        // locale, so the page texts asserted below are the ones shown.
        let mut chrome_options = json!({
            "args": args,
            "prefs": { "intl.accept_languages": "en-US,en" },
        });
        // Debian's package; elsewhere chromedriver finds its own Chrome.
        if Path::new(CHROMIUM).is_file() {
            chrome_options["binary"] = json!(CHROMIUM);
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".to_owned(), chrome_options);
        // This workspace enables both of rustls's crypto providers (ring through reqwest,
        // aws-lc-rs through hyper-rustls), so rustls cannot pick a process default by itself:
        // name one. (rustls keeps `cargo test` free of OpenSSL headers on a fresh machine.)
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        ClientBuilder::rustls()
            .unwrap_or_else(|error| panic!("cannot set up TLS for the WebDriver client: {error}"))
            .capabilities(capabilities)
            .connect(&self.url())
            .await
            .unwrap_or_else(|error| panic!("cannot open a Chromium session: {error}"))
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // chromedriver's /shutdown quits every session (and so every Chromium it started)
        // before it exits; killing the driver alone would orphan a browser after a panic.
        use std::io::{Read, Write};
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = write!(
                stream,
                "GET /shutdown HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
                self.port
            );
            let _ = stream.read(&mut [0u8; 256]);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `name` on PATH, if installed.
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|folder| folder.join(name))
        .find(|candidate| candidate.is_file())
}

/// Where the screenshots go; emptied first so it holds only this run's steps.
fn artefact_folder() -> PathBuf {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts/browser");
    match std::fs::remove_dir_all(&folder) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            panic!("cannot empty {}: {error}", folder.display())
        }
        _ => {}
    }
    std::fs::create_dir_all(&folder)
        .unwrap_or_else(|error| panic!("cannot create {}: {error}", folder.display()));
    folder
}

/// The browser, and where its screenshots go.
struct Browser {
    client: Client,
    artefacts: PathBuf,
}

impl Browser {
    async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        let path = self.artefacts.join(format!("{name}.png"));
        std::fs::write(&path, png)
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
        path
    }

    async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|error| panic!("cannot open {url}: {error}"));
    }

    async fn current_url(&self) -> url::Url {
        self.client.current_url().await.expect("the current URL")
    }

    /// The URL without its query, e.g. `http://127.0.0.1:4000/login`.
    async fn current_page(&self) -> String {
        let mut url = self.current_url().await;
        url.set_query(None);
        url.to_string()
    }

    /// Waits for the element; on timeout, saves `failure.png` and says where the browser is.
    async fn wait_for(&self, css: &str, step: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(error) => {
                let url = self.current_url().await;
                let heading = self.heading().await;
                self.screenshot("failure").await;
                panic!("{step}: no `{css}` on {url} (heading {heading:?}): {error}")
            }
        }
    }

    async fn text(&self, css: &str, step: &str) -> String {
        self.wait_for(css, step)
            .await
            .text()
            .await
            .expect("the element's text")
    }

    async fn click(&self, css: &str, step: &str) {
        self.wait_for(css, step)
            .await
            .click()
            .await
            .unwrap_or_else(|error| panic!("{step}: cannot click `{css}`: {error}"));
    }

    async fn fill(&self, css: &str, value: &str, step: &str) {
        self.wait_for(css, step)
            .await
            .send_keys(value)
            .await
            .unwrap_or_else(|error| panic!("{step}: cannot type into `{css}`: {error}"));
    }

    async fn is_present(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    async fn heading(&self) -> Option<String> {
        match self.client.find(Locator::Css("main h1")).await {
            Ok(element) => element.text().await.ok(),
            Err(_) => None,
        }
    }

    /// The `<dd>` after the `<dt>` with exactly this text in `/me`'s facts list.
    async fn fact(&self, label: &str) -> String {
        let xpath = format!(
            "//dl[@class='facts']/dt[normalize-space()='{label}']/following-sibling::dd[1]"
        );
        self.client
            .wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|error| panic!("no fact {label:?} on the page: {error}"))
            .text()
            .await
            .expect("the fact's text")
    }

    /// `(value, source)` of every row of `/me`'s claims table for the claim `name`.
    async fn claim_rows(&self, name: &str) -> Vec<(String, String)> {
        let xpath = format!("//table/tbody/tr[th[@scope='row']/code='{name}']");
        let rows = self
            .client
            .find_all(Locator::XPath(&xpath))
            .await
            .expect("the claims table");
        let mut values = Vec::new();
        for row in rows {
            let cells = row
                .find_all(Locator::Css("td"))
                .await
                .expect("the row's cells");
            assert_eq!(cells.len(), 2, "a claim row has a value and a source");
            values.push((
                cells[0].text().await.expect("the value"),
                cells[1].text().await.expect("the source"),
            ));
        }
        values
    }

    async fn page_text(&self) -> String {
        self.text("body", "reading the page").await
    }
}

/// Whether `text` holds something shaped like a CPR number with its hyphen (DDMMYY-SSSS).
fn has_hyphenated_cpr(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.windows(11).any(|window| {
        window[..6].iter().all(u8::is_ascii_digit)
            && window[6] == b'-'
            && window[7..].iter().all(u8::is_ascii_digit)
    })
}

#[tokio::test]
async fn single_sign_on_and_single_logout_in_a_real_browser() {
    let Some(chromedriver) = find_on_path("chromedriver") else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "browser test: chromedriver is not on PATH; CI must install it \
                 (Debian: apt-get install chromium chromium-driver)"
            );
        }
        println!("browser test skipped: chromedriver not installed");
        return;
    };

    // The demo, as `segl demo` runs it, in a folder of its own.
    let folder = TempDir::new().expect("a demo folder");
    let (stop_demo, stop_signal) = tokio::sync::watch::channel(false);
    let demo = segl::demo::start(
        DemoOptions {
            folder: folder.path().to_path_buf(),
            provider_port: 0,
            portal_ports: [0, 0],
        },
        stop_signal,
    )
    .await
    .expect("the demo starts");
    let issuer = demo.issuer.clone();
    let [(portal_1_name, portal_1), (portal_2_name, portal_2)] =
        <[(String, String); 2]>::try_from(demo.portals.clone()).expect("two demo portals");
    assert_eq!(portal_1_name, PORTAL_1_NAME);
    assert_eq!(portal_2_name, PORTAL_2_NAME);
    let anna = &LOGINS[0];
    assert_eq!(anna.user_id, "anna");
    assert!(anna.with_totp);

    let driver = ChromeDriver::start(&chromedriver).await;
    let browser = Browser {
        client: driver.connect().await,
        artefacts: artefact_folder(),
    };
    let segl_login_page = format!("{issuer}/login");

    // Step 1: portal 1, "Log in with Segl at level Substantial", Segl's password page.
    let step = "portal 1's landing page";
    browser.goto(&format!("{portal_1}/")).await;
    assert_eq!(browser.text(PORTAL_BRAND, step).await, PORTAL_1_NAME);
    assert_eq!(
        browser.text(SUBSTANTIAL_LOGIN_BUTTON, step).await,
        "Log in with Segl at level Substantial (Betydelig)"
    );
    browser.click(SUBSTANTIAL_LOGIN_BUTTON, step).await;

    let step = "Segl's login page";
    browser.wait_for(SEGL_USER_ID, step).await;
    assert_eq!(browser.current_page().await, segl_login_page);
    assert_eq!(browser.text("main h1", step).await, "Log in");
    assert_eq!(
        browser.text("main p.lead", step).await,
        format!("You are logging in to {PORTAL_1_NAME}. Assurance level: Substantial.")
    );
    browser.fill(SEGL_USER_ID, anna.user_id, step).await;
    browser.fill(SEGL_PASSWORD, anna.password, step).await;
    browser.screenshot("01-login-page").await;
    browser.click(SEGL_PASSWORD_SUBMIT, step).await;

    // Step 2: the one-time code page.
    let step = "Segl's code page";
    browser.wait_for(SEGL_CODE, step).await;
    assert_eq!(browser.current_page().await, segl_login_page);
    assert_eq!(browser.text("main h1", step).await, "Enter code");
    let code = segl::demo::current_code(folder.path(), anna.user_id)
        .await
        .expect("Anna's current code");
    browser.fill(SEGL_CODE, &code, step).await;
    browser.screenshot("02-code-page").await;
    browser.click(SEGL_CODE_SUBMIT, step).await;

    // Step 3: back at portal 1, logged in at Substantial.
    let step = "portal 1 after login";
    let who = browser.text(PORTAL_WHO, step).await;
    assert_eq!(browser.current_url().await.as_str(), format!("{portal_1}/"));
    assert_eq!(
        who,
        format!("Logged in as {ANNA_NAME} ({SUBSTANTIAL_LABEL})")
    );
    browser.goto(&format!("{portal_1}/me")).await;
    assert_eq!(browser.text("main h1", step).await, "My data");
    assert_eq!(browser.fact("Name").await, ANNA_NAME);
    assert_eq!(
        browser.fact("Assurance level").await,
        format!("{SUBSTANTIAL_LABEL} {SUBSTANTIAL_ACR}")
    );
    let portal_1_sub = browser
        .fact("Your identifier at this service (pairwise sub)")
        .await;
    assert!(!portal_1_sub.is_empty());
    assert_eq!(
        browser.claim_rows("sub").await,
        vec![
            (portal_1_sub.clone(), "ID token".to_owned()),
            (portal_1_sub.clone(), "userinfo".to_owned()),
        ]
    );
    browser.screenshot("03-portal-1-logged-in").await;

    // Step 4: portal 2 logs Anna in through Segl's session, without any login page.
    let step = "portal 2's landing page";
    browser.goto(&format!("{portal_2}/")).await;
    assert_eq!(browser.text(PORTAL_BRAND, step).await, PORTAL_2_NAME);
    browser.click(SUBSTANTIAL_LOGIN_BUTTON, step).await;
    // Watch every URL the browser rests on: a login page would stay (it waits for a person),
    // so it cannot slip between two looks.
    let deadline = Instant::now() + PAGE_WAIT;
    loop {
        let url = browser.current_url().await;
        let mut page = url.clone();
        page.set_query(None);
        if page.as_str() == segl_login_page {
            browser.screenshot("failure").await;
            panic!("single sign-on failed: portal 2 sent the browser to Segl's login page {url}");
        }
        if url.as_str() == format!("{portal_2}/") && browser.is_present(PORTAL_WHO).await {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "portal 2 did not come back logged in; the browser is at {url}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let step = "portal 2 after single sign-on";
    assert_eq!(
        browser.text(PORTAL_WHO, step).await,
        format!("Logged in as {ANNA_NAME} ({SUBSTANTIAL_LABEL})")
    );
    browser.goto(&format!("{portal_2}/me")).await;
    assert_eq!(browser.text(PORTAL_BRAND, step).await, PORTAL_2_NAME);
    assert_eq!(browser.text("main h1", step).await, "My data");
    assert_eq!(browser.fact("Name").await, ANNA_NAME);
    assert_eq!(
        browser.fact("Assurance level").await,
        format!("{SUBSTANTIAL_LABEL} {SUBSTANTIAL_ACR}")
    );
    let portal_2_sub = browser
        .fact("Your identifier at this service (pairwise sub)")
        .await;
    assert!(!portal_2_sub.is_empty());
    assert_ne!(
        portal_2_sub, portal_1_sub,
        "two sectors must see two pairwise subjects"
    );
    assert_eq!(
        browser.claim_rows("sub").await,
        vec![
            (portal_2_sub.clone(), "ID token".to_owned()),
            (portal_2_sub.clone(), "userinfo".to_owned()),
        ]
    );
    assert_eq!(
        browser.fact("CPR number").await,
        "CPR number: not released to this service"
    );
    assert_eq!(browser.claim_rows("dk_cpr").await, Vec::new());
    let text = browser.page_text().await;
    let source = browser.client.source().await.expect("the page source");
    for cpr in ANNA_CPR_FORMS {
        assert!(!text.contains(cpr), "portal 2 shows Anna's CPR number");
        assert!(
            !source.contains(cpr),
            "portal 2's page holds Anna's CPR number"
        );
    }
    assert!(!has_hyphenated_cpr(&text), "portal 2 shows a CPR number");
    browser.screenshot("04-portal-2-logged-in").await;

    // Step 5: log out at portal 2; Segl ends the session and sends the browser back.
    let step = "logging out at portal 2";
    browser.click(PORTAL_LOGOUT_BUTTON, step).await;
    let step = "portal 2 after logout";
    browser.wait_for(SUBSTANTIAL_LOGIN_BUTTON, step).await;
    assert_eq!(browser.current_page().await, format!("{portal_2}/"));
    assert_eq!(browser.text(PORTAL_BRAND, step).await, PORTAL_2_NAME);
    assert!(!browser.is_present(PORTAL_WHO).await);
    browser.goto(&format!("{portal_2}/me")).await;
    browser.wait_for(SUBSTANTIAL_LOGIN_BUTTON, step).await;
    assert_eq!(browser.current_url().await.as_str(), format!("{portal_2}/"));
    browser.screenshot("05-portal-2-logged-out").await;

    // Step 6: portal 1 heard of it by back-channel (asynchronously, so look a few times).
    let step = "portal 1 after single logout";
    let deadline = Instant::now() + BACKCHANNEL_WAIT;
    loop {
        browser.goto(&format!("{portal_1}/me")).await;
        // `/me` without a session redirects to the landing page.
        if browser.current_url().await.as_str() == format!("{portal_1}/") {
            break;
        }
        if Instant::now() >= deadline {
            browser.screenshot("failure").await;
            panic!(
                "portal 1 still shows Anna logged in {} s after logging out at portal 2: \
                 no back-channel logout",
                BACKCHANNEL_WAIT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    browser.wait_for(SUBSTANTIAL_LOGIN_BUTTON, step).await;
    assert_eq!(browser.text(PORTAL_BRAND, step).await, PORTAL_1_NAME);
    assert!(!browser.is_present(PORTAL_WHO).await);
    assert!(!browser.page_text().await.contains(ANNA_NAME));
    browser.screenshot("06-portal-1-logged-out").await;

    // Step 7: the SSO session is gone too: a new login at portal 1 asks for the password.
    let step = "a new login at portal 1";
    browser.click(SUBSTANTIAL_LOGIN_BUTTON, step).await;
    browser.wait_for(SEGL_USER_ID, step).await;
    assert_eq!(browser.current_page().await, segl_login_page);
    assert_eq!(browser.text("main h1", step).await, "Log in");
    browser.screenshot("07-login-page-again").await;

    browser.client.close().await.expect("the browser closes");
    drop(driver);
    stop_demo.send(true).expect("the demo is running");
    demo.wait().await.expect("the demo stops cleanly");
}
