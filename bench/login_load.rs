//! The load generator of `bench/run`: whole authorization-code + PKCE logins against a running
//! `segl serve`, the argon2id bound they are held to, one login's tokens for the /userinfo and
//! /introspect loads, and the time from process start to the first 200 on discovery.
//!
//! ```text
//! login_load argon2  [--samples 15]
//! login_load login   --base URL --client-id ID --client-secret S --redirect-uri URI
//!                    --user bench01 --user bench02 ... --password P
//!                    [--workers 4] [--seconds 10] [--warmup-seconds 2] [--server-pid PID]
//! login_load token   --base URL --client-id ID --client-secret S --redirect-uri URI --user U --password P
//! login_load startup --url URL/.well-known/openid-configuration --pid-file F --log F -- segl serve ...
//! ```
//!
//! Every subcommand prints one JSON object on stdout; `bench/run` collects them.

use anyhow::{bail, Context};
use base64::Engine;
use citizen_registry::password::{PasswordCost, PasswordHasher};
use clap::{Args, Parser, Subcommand};
use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// NSIS Low: a password alone is enough, so a flow is authorize → login form → code → token.
const LOW: &str = "https://data.gov.dk/concept/core/nsis/loa/Low";

#[derive(Parser)]
#[command(about = "Segl's login load generator (used by bench/run)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Times argon2id verifications at the server's cost (m=19456, t=2, p=1), one at a time.
    Argon2 {
        #[arg(long, default_value_t = 30)]
        samples: usize,
        /// Clock ticks per second of /proc/PID/stat (`getconf CLK_TCK`).
        #[arg(long, default_value_t = 100)]
        clk_tck: u64,
    },
    /// Runs whole logins with several workers for a bounded time; reports flows/s.
    Login(LoginArgs),
    /// Makes one login and prints its tokens.
    Token(FlowArgs),
    /// Starts a server command and times it until the first 200 on a URL; leaves it running.
    Startup(StartupArgs),
}

#[derive(Args, Clone)]
struct FlowArgs {
    /// The provider's base URL, e.g. http://127.0.0.1:8080
    #[arg(long)]
    base: String,
    #[arg(long)]
    client_id: String,
    #[arg(long)]
    client_secret: String,
    #[arg(long)]
    redirect_uri: String,
    /// Citizens to log in as (workers take them in turn); repeat.
    #[arg(long = "user", required = true)]
    users: Vec<String>,
    #[arg(long)]
    password: String,
}

#[derive(Args)]
struct LoginArgs {
    #[command(flatten)]
    flow: FlowArgs,
    /// Logins in flight at once.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// The measured window.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Logins before the window starts, not counted (connections, caches, pool warm).
    #[arg(long, default_value_t = 2.0)]
    warmup_seconds: f64,
    /// The server's process id: its CPU time (utime + stime) is read at both ends of the window.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Clock ticks per second of /proc/PID/stat (`getconf CLK_TCK`).
    #[arg(long, default_value_t = 100)]
    clk_tck: u64,
}

#[derive(Args)]
struct StartupArgs {
    /// Polled until it answers 200.
    #[arg(long)]
    url: String,
    /// Where the started process's id is written.
    #[arg(long)]
    pid_file: PathBuf,
    /// The process's stdout and stderr.
    #[arg(long)]
    log: PathBuf,
    #[arg(long, default_value_t = 2)]
    interval_ms: u64,
    #[arg(long, default_value_t = 20_000)]
    timeout_ms: u64,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let output = match Cli::parse().command {
        Command::Argon2 { samples, clk_tck } => argon2(samples, clk_tck).await?,
        Command::Login(arguments) => login(arguments).await?,
        Command::Token(arguments) => token(arguments).await?,
        Command::Startup(arguments) => startup(arguments).await?,
    };
    println!("{output}");
    Ok(())
}

/// The server's own hasher (`citizen_registry::password`, the `argon2` crate at the configured
/// cost), verifying one password at a time as `POST /login` does. Each verification is timed
/// twice: wall clock, and CPU time of this process (the sum of its threads' on-CPU nanoseconds in
/// /proc/self/task/*/schedstat), which does not count time spent waiting for a core on a busy
/// machine. The bound uses the CPU time: on a quiet machine the two agree.
async fn argon2(samples: usize, clk_tck: u64) -> anyhow::Result<Value> {
    let cost = PasswordCost::default();
    let hasher = PasswordHasher::new(cost, 1, 0)?;
    let password = "bench-password-2026";
    let hash = hasher.hash(SecretString::from(password)).await?;
    // One untimed verification starts the blocking-pool thread the others reuse.
    hasher
        .verify(SecretString::from(password), hash.clone())
        .await?;
    let mut wall = Vec::with_capacity(samples);
    let mut cpu = Vec::with_capacity(samples);
    let ticks_started = process_cpu_seconds(std::process::id(), clk_tck)?;
    for _ in 0..samples.max(1) {
        let cpu_started = own_cpu_nanoseconds()?;
        let started = Instant::now();
        let verified = hasher
            .verify(SecretString::from(password), hash.clone())
            .await?;
        wall.push(started.elapsed().as_secs_f64());
        cpu.push((own_cpu_nanoseconds()?.saturating_sub(cpu_started)) as f64 / 1e9);
        if !verified {
            bail!("argon2id did not verify its own hash");
        }
    }
    // The same clock as the server's CPU per flow (utime + stime), averaged over the samples.
    let ticks_per_hash =
        (process_cpu_seconds(std::process::id(), clk_tck)? - ticks_started) / wall.len() as f64;
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    let median = |sorted: &[f64]| sorted[sorted.len() / 2];
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    // argon2 alone on every core at once, as the server runs it under a login load (a hasher
    // with one thread per core): memory-hard hashes side by side share caches and memory
    // bandwidth, so this is the real ceiling, a little below cores / one hash.
    let parallel = PasswordHasher::new(cost, cores, samples.max(1))?;
    let started = Instant::now();
    let mut running = Vec::with_capacity(samples.max(1));
    for _ in 0..samples.max(1) {
        let (parallel, hash) = (parallel.clone(), hash.clone());
        running.push(tokio::spawn(async move {
            parallel.verify(SecretString::from(password), hash).await
        }));
    }
    for verification in running {
        if !verification.await?? {
            bail!("argon2id did not verify its own hash");
        }
    }
    let parallel_per_second = samples.max(1) as f64 / started.elapsed().as_secs_f64();
    Ok(json!({
        "kind": "argon2",
        "memory_kib": cost.memory_kib,
        "iterations": cost.iterations,
        "parallelism": cost.parallelism,
        "samples": wall.len(),
        "hash_seconds_median": median(&cpu),
        "hash_cpu_seconds_median": median(&cpu),
        "hash_utime_stime_seconds_mean": ticks_per_hash,
        "hash_cpu_seconds_min": cpu[0],
        "hash_cpu_seconds_max": cpu[cpu.len() - 1],
        "hash_wall_seconds_median": median(&wall),
        "hash_wall_seconds_min": wall[0],
        "hash_wall_seconds_max": wall[wall.len() - 1],
        "cores": cores,
        "bound_flows_per_second": cores as f64 / median(&cpu),
        "all_cores_hashes_per_second": parallel_per_second,
    }))
}

/// On-CPU time of every thread of this process, in nanoseconds.
fn own_cpu_nanoseconds() -> anyhow::Result<u64> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task")? {
        let path = task?.path().join("schedstat");
        // A thread may end between the listing and the read.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let on_cpu: u64 = text
            .split_whitespace()
            .next()
            .context("empty schedstat")?
            .parse()?;
        total += on_cpu;
    }
    Ok(total)
}

/// The cookies of one simulated browser: a fresh jar per flow, so every flow is a first login
/// (a shared jar would carry the SSO session and skip the password).
#[derive(Default)]
struct CookieJar(BTreeMap<String, String>);

impl CookieJar {
    fn take(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            let pair = value.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                self.0
                    .insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Where a flow failed: the step and what it got.
#[derive(Debug)]
struct FlowFailure {
    step: &'static str,
    status: Option<u16>,
    detail: String,
}

impl FlowFailure {
    fn status(step: &'static str, status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            step,
            status: Some(status.as_u16()),
            detail: detail.into(),
        }
    }

    fn transport(step: &'static str, error: reqwest::Error) -> Self {
        Self {
            step,
            status: None,
            detail: error.to_string(),
        }
    }

    fn key(&self) -> String {
        match self.status {
            Some(status) => format!("{} {status}", self.step),
            None => format!("{} transport", self.step),
        }
    }
}

fn location(headers: &HeaderMap) -> Option<String> {
    headers
        .get(LOCATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

fn query_value(url: &str, name: &str) -> Option<String> {
    let absolute = if url.starts_with('/') {
        format!("http://x{url}")
    } else {
        url.to_owned()
    };
    url::Url::parse(&absolute)
        .ok()?
        .query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

fn hidden_field(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker)? + marker.len();
    let end = page[start..].find('"')? + start;
    Some(page[start..end].to_owned())
}

fn random_urlsafe() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// One whole login: GET /authorize → 303 /login → GET the form → POST /login → 303 to the
/// redirect URI with a code → POST /token. Returns the token response.
async fn flow(
    http: &reqwest::Client,
    arguments: &FlowArgs,
    user: &str,
) -> Result<Value, FlowFailure> {
    let base = arguments.base.trim_end_matches('/');
    let verifier = random_urlsafe();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
    let state = uuid::Uuid::new_v4().simple().to_string();
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let mut jar = CookieJar::default();

    let response = http
        .get(format!("{base}/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", arguments.client_id.as_str()),
            ("redirect_uri", arguments.redirect_uri.as_str()),
            ("scope", "openid profile"),
            ("state", state.as_str()),
            ("nonce", nonce.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("acr_values", LOW),
        ])
        .send()
        .await
        .map_err(|error| FlowFailure::transport("authorize", error))?;
    if response.status() != StatusCode::SEE_OTHER {
        return Err(FlowFailure::status(
            "authorize",
            response.status(),
            "expected 303",
        ));
    }
    jar.take(response.headers());
    let login_path = location(response.headers())
        .filter(|location| location.starts_with("/login?request="))
        .ok_or_else(|| FlowFailure::status("authorize", response.status(), "no /login location"))?;

    let response = http
        .get(format!("{base}{login_path}"))
        .header(COOKIE, jar.header())
        .send()
        .await
        .map_err(|error| FlowFailure::transport("login page", error))?;
    let status = response.status();
    jar.take(response.headers());
    let page = response
        .text()
        .await
        .map_err(|error| FlowFailure::transport("login page", error))?;
    if status != StatusCode::OK {
        return Err(FlowFailure::status("login page", status, "expected 200"));
    }
    let (Some(request), Some(csrf)) = (hidden_field(&page, "request"), hidden_field(&page, "csrf"))
    else {
        return Err(FlowFailure::status(
            "login page",
            status,
            "no request/csrf fields",
        ));
    };

    let response = http
        .post(format!("{base}/login"))
        .header(COOKIE, jar.header())
        .form(&[
            ("request", request.as_str()),
            ("csrf", csrf.as_str()),
            ("user_id", user),
            ("password", arguments.password.as_str()),
        ])
        .send()
        .await
        .map_err(|error| FlowFailure::transport("login post", error))?;
    let status = response.status();
    if status != StatusCode::SEE_OTHER {
        return Err(FlowFailure::status(
            "login post",
            status,
            "expected 303 to the client",
        ));
    }
    let back = location(response.headers()).unwrap_or_default();
    if !back.starts_with(&arguments.redirect_uri) {
        return Err(FlowFailure::status(
            "login post",
            status,
            format!(
                "redirected elsewhere: {}",
                back.split('?').next().unwrap_or("")
            ),
        ));
    }
    if query_value(&back, "state").as_deref() != Some(state.as_str()) {
        return Err(FlowFailure::status("login post", status, "state mismatch"));
    }
    let code = query_value(&back, "code")
        .ok_or_else(|| FlowFailure::status("login post", status, "no code in the redirect"))?;

    let response = http
        .post(format!("{base}/token"))
        .basic_auth(&arguments.client_id, Some(&arguments.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", arguments.redirect_uri.as_str()),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .map_err(|error| FlowFailure::transport("token", error))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|error| FlowFailure::transport("token", error))?;
    if status != StatusCode::OK
        || body["access_token"].as_str().is_none()
        || body["id_token"].as_str().is_none()
    {
        return Err(FlowFailure::status(
            "token",
            status,
            body["error"].as_str().unwrap_or("no tokens").to_owned(),
        ));
    }
    Ok(body)
}

fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?)
}

async fn token(arguments: FlowArgs) -> anyhow::Result<Value> {
    let http = http_client()?;
    let user = arguments.users[0].clone();
    match flow(&http, &arguments, &user).await {
        Ok(tokens) => Ok(json!({
            "kind": "tokens",
            "access_token": tokens["access_token"],
            "id_token": tokens["id_token"],
        })),
        Err(failure) => bail!(
            "the login failed at {}: {:?} {}",
            failure.step,
            failure.status,
            failure.detail
        ),
    }
}

/// utime + stime of a process, in seconds.
fn process_cpu_seconds(pid: u32, clk_tck: u64) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed /proc/PID/stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of the whole line are 12 and 13 after the name (0-based: 11, 12).
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok((utime + stime) as f64 / clk_tck as f64)
}

#[derive(Default)]
struct Tally {
    /// Completion instants and durations of successful flows.
    completed: Vec<(Instant, Duration)>,
    failures: BTreeMap<String, u64>,
    server_errors: u64,
    transport_errors: u64,
    first_failure: Option<String>,
}

async fn login(arguments: LoginArgs) -> anyhow::Result<Value> {
    let http = http_client()?;
    let flow_arguments = Arc::new(arguments.flow.clone());
    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let window_start = started + Duration::from_secs_f64(arguments.warmup_seconds);
    let window_end = window_start + Duration::from_secs_f64(arguments.seconds);

    let mut workers = Vec::with_capacity(arguments.workers);
    for worker in 0..arguments.workers.max(1) {
        let http = http.clone();
        let flow_arguments = Arc::clone(&flow_arguments);
        let tally = Arc::clone(&tally);
        let stride = arguments.workers.max(1);
        workers.push(tokio::spawn(async move {
            // With at least as many citizens as workers, no two logins of one citizen overlap.
            let users = &flow_arguments.users;
            let mut turn = worker;
            while Instant::now() < window_end {
                let user = &users[turn % users.len()];
                turn += stride;
                let flow_started = Instant::now();
                let outcome = flow(&http, &flow_arguments, user).await;
                let finished = Instant::now();
                let failed = {
                    let mut tally = match tally.lock() {
                        Ok(tally) => tally,
                        Err(poisoned) => poisoned.into_inner(),
                    };
                    match outcome {
                        Ok(_) => {
                            tally.completed.push((finished, finished - flow_started));
                            false
                        }
                        Err(failure) => {
                            if failure.status.is_some_and(|status| status >= 500) {
                                tally.server_errors += 1;
                            }
                            if failure.status.is_none() {
                                tally.transport_errors += 1;
                            }
                            *tally.failures.entry(failure.key()).or_default() += 1;
                            if tally.first_failure.is_none() {
                                tally.first_failure =
                                    Some(format!("{}: {}", failure.key(), failure.detail));
                            }
                            true
                        }
                    }
                };
                if failed {
                    // A failing server must not be hammered in a tight loop.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }));
    }

    // The server's CPU time at both ends of the window.
    tokio::time::sleep_until(window_start.into()).await;
    let cpu_start = match arguments.server_pid {
        Some(pid) => Some(process_cpu_seconds(pid, arguments.clk_tck)?),
        None => None,
    };
    let measured_start = Instant::now();
    tokio::time::sleep_until(window_end.into()).await;
    let cpu_end = match arguments.server_pid {
        Some(pid) => Some(process_cpu_seconds(pid, arguments.clk_tck)?),
        None => None,
    };
    let measured = measured_start.elapsed().as_secs_f64();
    for worker in workers {
        worker.await?;
    }

    let tally = match Arc::try_unwrap(tally) {
        Ok(mutex) => mutex
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
        Err(_) => bail!("a worker still holds the tally"),
    };
    let mut in_window: Vec<f64> = tally
        .completed
        .iter()
        .filter(|(finished, _)| *finished >= measured_start && *finished <= window_end)
        .map(|(_, duration)| duration.as_secs_f64())
        .collect();
    in_window.sort_by(f64::total_cmp);
    let flows = in_window.len();
    let percentile = |percent: usize| -> Option<f64> {
        if in_window.is_empty() {
            return None;
        }
        let index = (in_window.len() * percent).div_ceil(100).saturating_sub(1);
        in_window.get(index).copied()
    };
    let server_cpu = match (cpu_start, cpu_end) {
        (Some(start), Some(end)) => Some(end - start),
        _ => None,
    };
    Ok(json!({
        "kind": "login",
        "workers": arguments.workers,
        "users": arguments.flow.users.len(),
        "seconds": measured,
        "flows": flows,
        "flows_per_second": flows as f64 / measured.max(1e-9),
        "flow_p50_ms": percentile(50).map(|seconds| seconds * 1e3),
        "flow_p99_ms": percentile(99).map(|seconds| seconds * 1e3),
        "failures": tally.failures,
        "failed_flows": tally.failures.values().sum::<u64>(),
        "server_errors": tally.server_errors,
        "transport_errors": tally.transport_errors,
        "first_failure": tally.first_failure,
        "server_cpu_seconds": server_cpu,
        "server_cpu_seconds_per_flow": server_cpu.map(|cpu| cpu / (flows.max(1) as f64)),
    }))
}

async fn startup(arguments: StartupArgs) -> anyhow::Result<Value> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(2))
        // A fresh connection per poll: the first one that succeeds is the answer we time.
        .pool_max_idle_per_host(0)
        .build()?;
    let log = std::fs::File::create(&arguments.log)
        .with_context(|| format!("creating {}", arguments.log.display()))?;
    let (program, rest) = arguments
        .command
        .split_first()
        .context("no command to start")?;
    let mut command = std::process::Command::new(program);
    command
        .args(rest)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let started = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let pid = child.id();
    std::fs::write(&arguments.pid_file, pid.to_string())?;
    let deadline = started + Duration::from_millis(arguments.timeout_ms);
    let mut polls = 0u64;
    loop {
        polls += 1;
        if let Ok(response) = http.get(&arguments.url).send().await {
            if response.status() == StatusCode::OK {
                let elapsed = started.elapsed();
                return Ok(json!({
                    "kind": "startup",
                    "pid": pid,
                    "milliseconds": elapsed.as_secs_f64() * 1e3,
                    "polls": polls,
                    "interval_ms": arguments.interval_ms,
                }));
            }
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "{program} exited with {status} before answering; see {}",
                arguments.log.display()
            );
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            bail!(
                "no 200 from {} within {} ms",
                arguments.url,
                arguments.timeout_ms
            );
        }
        tokio::time::sleep(Duration::from_millis(arguments.interval_ms)).await;
    }
}
