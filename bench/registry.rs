//! The registry benchmark: imports N synthetic citizens through `Registry::import_csv` into SQLite
//! and PostgreSQL, then times lookups by CPR number and by user ID at that size.
//!
//! `cargo run --release --example registry_bench -- [--rows 1000000] [--database-url URL] [--both]`
//!
//! Targets (from the issue): at least 50,000 rows/s into SQLite; lookup p99 under 1 ms.

use anyhow::{bail, Context};
use citizen_registry::password::{PasswordCost, PasswordHasher};
use citizen_registry::{CitizenLookup, NationalId, UserId};
use clap::Parser;
use rand::Rng;
use secrecy::SecretString;
use segl::database::Backend;
use segl::settings::Settings;
use segl::Services;
use sqlx::{Connection, Executor, Row};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use time::{Date, Month};

/// Where `--both` runs PostgreSQL: the machine's test server, the one CI uses (README.md).
const BOTH_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const IMPORT_TARGET_ROWS_PER_SECOND: f64 = 50_000.0;
const LOOKUP_TARGET_P99: Duration = Duration::from_millis(1);

#[derive(Parser)]
#[command(about = "Benchmark the citizen registry: bulk import and lookups")]
struct Arguments {
    /// Citizens to generate and import.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// sqlite://PATH (should not exist yet) or postgres://… (a fresh `bench_<uuid>` database is
    /// created through it and dropped afterwards). Default: a SQLite file in a temporary folder.
    #[arg(long)]
    database_url: Option<String>,
    /// Run on SQLite, then on PostgreSQL at postgres://postgres@127.0.0.1:5432/test.
    #[arg(long, conflicts_with = "database_url")]
    both: bool,
    /// Rows per import transaction (the `segl citizen import` default).
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// Lookups of each kind.
    #[arg(long, default_value_t = 10_000)]
    lookups: usize,
}

/// One backend's figures.
struct Outcome {
    backend: &'static str,
    rows: u64,
    generate: Duration,
    import: Duration,
    by_cpr: Latencies,
    by_user_id: Latencies,
}

impl Outcome {
    fn rows_per_second(&self) -> f64 {
        self.rows as f64 / self.import.as_secs_f64().max(1e-9)
    }

    /// The import target applies to SQLite only; the lookup target to both.
    fn import_passes(&self) -> Option<bool> {
        (self.backend == "sqlite").then(|| self.rows_per_second() >= IMPORT_TARGET_ROWS_PER_SECOND)
    }

    fn lookups_pass(&self) -> bool {
        self.by_cpr.p99 < LOOKUP_TARGET_P99 && self.by_user_id.p99 < LOOKUP_TARGET_P99
    }
}

/// Nearest-rank percentiles of a run of timed operations.
struct Latencies {
    p50: Duration,
    p99: Duration,
    max: Duration,
}

impl Latencies {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let rank = |percent: usize| {
            let index = (samples.len() * percent).div_ceil(100).saturating_sub(1);
            samples.get(index).copied().unwrap_or_default()
        };
        Self {
            p50: rank(50),
            p99: rank(99),
            max: samples.last().copied().unwrap_or_default(),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let arguments = Arguments::parse();
    if arguments.rows == 0 {
        bail!("--rows must be at least 1");
    }
    let workspace = tempfile::Builder::new().prefix("segl-bench-").tempdir()?;
    println!(
        "registry benchmark: {} rows, batch size {}",
        arguments.rows, arguments.batch_size
    );

    let (password_hash, hash_time) = password_hash().await?;
    println!(
        "argon2id hash (computed once, reused on every row) in {:.3} s: {}",
        hash_time.as_secs_f64(),
        phc_parameters(&password_hash)
    );
    let csv_path = workspace.path().join("citizens.csv");
    let started = Instant::now();
    write_citizens_csv(&csv_path, arguments.rows, &password_hash)?;
    let generate = started.elapsed();
    let csv_bytes = std::fs::metadata(&csv_path)?.len();
    println!(
        "generated {} in {:.2} s ({:.0} MB)",
        csv_path.display(),
        generate.as_secs_f64(),
        csv_bytes as f64 / 1e6
    );

    let sqlite_url = || format!("sqlite://{}", workspace.path().join("segl.db").display());
    let urls = match (&arguments.database_url, arguments.both) {
        (_, true) => vec![sqlite_url(), BOTH_POSTGRES_URL.to_owned()],
        (Some(url), false) => vec![url.clone()],
        (None, false) => vec![sqlite_url()],
    };
    let mut outcomes = Vec::new();
    for url in urls {
        let mut outcome = match Backend::of(&url) {
            Some(Backend::Sqlite) => run(&url, &csv_path, &arguments).await?,
            Some(Backend::Postgres) => run_on_fresh_postgres(&url, &csv_path, &arguments).await?,
            None => bail!("unsupported database URL: use sqlite://PATH or postgres://…"),
        };
        outcome.generate = generate;
        outcomes.push(outcome);
    }
    print_table(&outcomes);
    Ok(())
}

/// One real argon2id PHC string at the OWASP cost, made by the registry's own hasher.
async fn password_hash() -> anyhow::Result<(String, Duration)> {
    let hasher = PasswordHasher::new(PasswordCost::default(), 1, 0)?;
    let started = Instant::now();
    let hash = hasher
        .hash(SecretString::from("correct horse battery staple"))
        .await?;
    Ok((hash, started.elapsed()))
}

/// The `$argon2id$v=19$m=…,t=…,p=…` prefix of a PHC string (no salt, no hash).
fn phc_parameters(hash: &str) -> String {
    hash.split('$').take(4).collect::<Vec<_>>().join("$")
}

const GIVEN_NAMES: [&str; 20] = [
    "Anna", "Mette", "Kirsten", "Hanne", "Camilla", "Ida", "Freja", "Sofie", "Åse", "Bodil",
    "Peter", "Jens", "Lars", "Søren", "Niels", "Mads", "Frederik", "Rasmus", "Jørgen", "Mikkel",
];
const FAMILY_NAMES: [&str; 20] = [
    "Nielsen",
    "Jensen",
    "Hansen",
    "Pedersen",
    "Andersen",
    "Christensen",
    "Larsen",
    "Sørensen",
    "Rasmussen",
    "Jørgensen",
    "Petersen",
    "Madsen",
    "Kristensen",
    "Olsen",
    "Thomsen",
    "Christiansen",
    "Poulsen",
    "Johansen",
    "Møller",
    "Østergaard",
];

/// Birth dates cycle over every day from 1 January 1858 to 31 December 2025, so all three
/// centuries of docs/NEMLOGIN.md section 6 occur.
struct CprSpace {
    first_day: Date,
    days: u64,
}

impl CprSpace {
    fn new() -> anyhow::Result<Self> {
        let first_day = Date::from_calendar_date(1858, Month::January, 1)?;
        let last_day = Date::from_calendar_date(2025, Month::December, 31)?;
        let days = u64::try_from((last_day - first_day).whole_days() + 1)?;
        Ok(Self { first_day, days })
    }

    /// Serial numbers available per day: at least four values of digit 7, times 1000.
    fn capacity(&self) -> u64 {
        self.days * 4000
    }

    /// The `index`-th CPR number (ten digits) and its birth date. Distinct indexes below
    /// `capacity()` give distinct numbers: the day is `index % days`; within a day, the k-th
    /// number takes digit 7 from the values valid for that year (section 6) and the last three
    /// digits from `k / choices` scrambled by a multiplier coprime to 1000.
    fn number(&self, index: u64) -> (String, Date) {
        let day_index = index % self.days;
        let within_day = index / self.days;
        let date = self.first_day + time::Duration::days(day_index as i64);
        let year = date.year();
        let seventh_digits: &[u64] = match year {
            ..=1899 => &[5, 6, 7, 8],
            1900..=1936 => &[0, 1, 2, 3],
            1937..=1999 => &[0, 1, 2, 3, 4, 9],
            _ => &[4, 5, 6, 7, 8, 9],
        };
        let choices = seventh_digits.len() as u64;
        let seventh = seventh_digits[(within_day % choices) as usize];
        let rest = (within_day / choices * 389 + day_index * 7) % 1000;
        let digits = format!(
            "{:02}{:02}{:02}{}{:03}",
            date.day(),
            u8::from(date.month()),
            year.rem_euclid(100),
            seventh,
            rest
        );
        (digits, date)
    }
}

fn user_id(index: u64) -> String {
    format!("citizen{:07}", index + 1)
}

/// Writes `cpr,user_id,given_name,family_name,email,password_hash` with `rows` rows. Every CPR
/// number is checked with `NationalId::parse` against the intended birth date.
fn write_citizens_csv(path: &Path, rows: u64, password_hash: &str) -> anyhow::Result<()> {
    let space = CprSpace::new()?;
    if rows > space.capacity() {
        bail!(
            "at most {} distinct CPR numbers in the generated date range",
            space.capacity()
        );
    }
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    writeln!(
        out,
        "cpr,user_id,given_name,family_name,email,password_hash"
    )?;
    for index in 0..rows {
        let (digits, date) = space.number(index);
        let parsed = NationalId::parse(&digits)
            .map_err(|error| anyhow::anyhow!("generated row {index}: {error}"))?;
        if parsed.birth_date() != date {
            bail!(
                "generated row {index}: the CPR number encodes {} instead of {date}",
                parsed.birth_date()
            );
        }
        // Both spellings occur in real files: DDMMYY-SSSS and DDMMYYSSSS.
        let cpr = if index % 2 == 0 {
            digits
        } else {
            format!("{}-{}", &digits[..6], &digits[6..])
        };
        let user_id = user_id(index);
        let given_name = GIVEN_NAMES[(index % 20) as usize];
        let family_name = FAMILY_NAMES[(index / 20 % 20) as usize];
        // An e-mail address on two rows in three.
        let email = if index % 3 == 0 {
            String::new()
        } else {
            format!("{user_id}@example.dk")
        };
        // The PHC string holds commas (`m=19456,t=2,p=1`), so it is quoted.
        writeln!(
            out,
            "{cpr},{user_id},{given_name},{family_name},{email},\"{password_hash}\""
        )?;
    }
    out.flush()?;
    Ok(())
}

/// Creates `bench_<uuid>` through `admin_url`, runs there, and drops it (also after a failure).
async fn run_on_fresh_postgres(
    admin_url: &str,
    csv_path: &Path,
    arguments: &Arguments,
) -> anyhow::Result<Outcome> {
    let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .with_context(|| {
            format!(
                "cannot connect to {}",
                segl::settings::redact_url(admin_url)
            )
        })?;
    admin
        .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
        .await?;
    let mut url = url::Url::parse(admin_url)?;
    url.set_path(&format!("/{name}"));
    let outcome = run(url.as_str(), csv_path, arguments).await;
    admin
        .execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
        .await?;
    admin.close().await?;
    outcome
}

/// Opens the database as the binary does (migrations included), imports, looks up.
async fn run(url: &str, csv_path: &Path, arguments: &Arguments) -> anyhow::Result<Outcome> {
    let settings = Settings::for_tests(url);
    let services = Services::open(&settings).await?;
    let backend = match services.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    println!("\n== {backend}: {}", settings.database.redacted_url());

    // The rate of each tenth of the import shows whether it slows as the indexes grow.
    let tenth = (arguments.rows / 10).max(1);
    let mut segments: Vec<(u64, Duration)> = Vec::new();
    let started = Instant::now();
    let report = services
        .registry
        .import_csv(csv_path, arguments.batch_size, "import", |progress| {
            let done = segments.last().map_or(0, |(rows, _)| *rows);
            if progress.imported >= done + tenth {
                segments.push((progress.imported, started.elapsed()));
            }
        })
        .await?;
    let import = started.elapsed();
    let rates: Vec<String> = segments
        .iter()
        .scan((0u64, Duration::ZERO), |previous, &(rows, at)| {
            let rate = (rows - previous.0) as f64 / (at - previous.1).as_secs_f64().max(1e-9);
            *previous = (rows, at);
            Some(format!("{rate:.0}"))
        })
        .collect();
    println!("import rows/s by tenth: {}", rates.join(" "));
    if let Some(first) = report.rejected.first() {
        bail!(
            "{} rows rejected, the first at line {}: {}",
            report.rejected.len(),
            first.line,
            first.reason
        );
    }
    if report.imported != arguments.rows {
        bail!(
            "imported {} rows, expected {}",
            report.imported,
            arguments.rows
        );
    }
    println!(
        "imported {} rows in {:.2} s: {:.0} rows/s; {}",
        report.imported,
        import.as_secs_f64(),
        report.imported as f64 / import.as_secs_f64().max(1e-9),
        database_size(&services, url).await?
    );

    print_query_plans(&services).await?;
    let (by_cpr, by_user_id) = time_lookups(&services, arguments).await?;
    services.pool.close().await;
    Ok(Outcome {
        backend,
        rows: report.imported,
        generate: Duration::ZERO,
        import,
        by_cpr,
        by_user_id,
    })
}

async fn database_size(services: &Services, url: &str) -> anyhow::Result<String> {
    match services.backend {
        Backend::Sqlite => {
            let path = segl::database::sqlite_path(url).unwrap_or_default();
            let size = |suffix: &str| {
                let mut name = path.clone().into_os_string();
                name.push(suffix);
                std::fs::metadata(PathBuf::from(name))
                    .map(|meta| meta.len())
                    .unwrap_or(0)
            };
            Ok(format!(
                "database {:.0} MB + WAL {:.0} MB",
                size("") as f64 / 1e6,
                size("-wal") as f64 / 1e6
            ))
        }
        Backend::Postgres => {
            let (bytes,): (i64,) =
                sqlx::query_as("SELECT CAST(pg_database_size(current_database()) AS BIGINT)")
                    .fetch_one(&services.pool)
                    .await?;
            Ok(format!("database {:.0} MB", bytes as f64 / 1e6))
        }
    }
}

/// The plans of the two lookup queries of `citizen_registry::store::Store::find_citizen` (same
/// WHERE clauses; the column list does not change the access path).
async fn print_query_plans(services: &Services) -> anyhow::Result<()> {
    let space = CprSpace::new()?;
    let lookups = [
        ("by CPR", "cpr", space.number(0).0),
        ("by user ID", "user_id_key", user_id(0)),
    ];
    for (label, column, value) in lookups {
        let query = format!("SELECT * FROM citizens WHERE {column} = $1");
        let plan: Vec<String> = match services.backend {
            Backend::Sqlite => sqlx::query(&format!("EXPLAIN QUERY PLAN {query}"))
                .bind(value)
                .fetch_all(&services.pool)
                .await?
                .iter()
                .map(|row| row.try_get::<String, _>("detail"))
                .collect::<Result<_, _>>()?,
            Backend::Postgres => sqlx::query(&format!("EXPLAIN {query}"))
                .bind(value)
                .fetch_all(&services.pool)
                .await?
                .iter()
                .map(|row| row.try_get::<String, _>(0))
                .collect::<Result<_, _>>()?,
        };
        let text = plan.join(" | ");
        let uses_index = text.contains("USING INDEX")
            || text.contains("USING COVERING INDEX")
            || text.contains("USING PRIMARY KEY")
            || text.contains("Index Scan")
            || text.contains("Index Only Scan");
        println!(
            "plan {label:<11} index used: {:<3} {}",
            if uses_index { "yes" } else { "NO" },
            text.trim()
        );
    }
    Ok(())
}

/// Sequential random lookups, each timed alone. A short untimed warm-up opens the pool's
/// connections first, so the figures are steady-state rather than connection set-up.
async fn time_lookups(
    services: &Services,
    arguments: &Arguments,
) -> anyhow::Result<(Latencies, Latencies)> {
    let space = CprSpace::new()?;
    let registry = &services.registry;
    let mut random = rand::rng();
    for _ in 0..200 {
        let index = random.random_range(0..arguments.rows);
        let cpr = NationalId::parse(&space.number(index).0)?;
        registry.find_citizen(&CitizenLookup::Cpr(cpr)).await?;
    }

    let mut samples = Vec::with_capacity(arguments.lookups);
    for _ in 0..arguments.lookups {
        let index = random.random_range(0..arguments.rows);
        let digits = space.number(index).0;
        let lookup = CitizenLookup::Cpr(NationalId::parse(&digits)?);
        let started = Instant::now();
        let citizen = registry.find_citizen(&lookup).await?;
        samples.push(started.elapsed());
        if citizen.cpr.digits() != digits {
            bail!("lookup by CPR number returned the wrong citizen");
        }
    }
    let by_cpr = Latencies::of(samples);

    let mut samples = Vec::with_capacity(arguments.lookups);
    for attempt in 0..arguments.lookups {
        let index = random.random_range(0..arguments.rows);
        let stored = user_id(index);
        // Case-varied: "CITIZEN0000042" or "Citizen0000042" must find "citizen0000042".
        let typed = if attempt % 2 == 0 {
            stored.to_ascii_uppercase()
        } else {
            format!("C{}", &stored[1..])
        };
        let lookup = CitizenLookup::UserId(UserId::parse(&typed)?);
        let started = Instant::now();
        let citizen = registry.find_citizen(&lookup).await?;
        samples.push(started.elapsed());
        if citizen.user_id.as_str() != stored {
            bail!("lookup by user ID returned the wrong citizen");
        }
    }
    Ok((by_cpr, Latencies::of(samples)))
}

fn print_table(outcomes: &[Outcome]) {
    let micros = |duration: Duration| duration.as_secs_f64() * 1e6;
    let verdict = |pass: bool| if pass { "PASS" } else { "FAIL" };
    println!();
    println!(
        "{:<9} {:>9} {:>10} {:>9} {:>9} {:>22} {:>22} {:>15} {:>11}",
        "backend",
        "rows",
        "generate s",
        "import s",
        "rows/s",
        "CPR p50/p99/max µs",
        "user ID p50/p99/max µs",
        "import ≥50k/s",
        "p99 < 1 ms"
    );
    for outcome in outcomes {
        let latencies = |latencies: &Latencies| {
            format!(
                "{:.0}/{:.0}/{:.0}",
                micros(latencies.p50),
                micros(latencies.p99),
                micros(latencies.max)
            )
        };
        println!(
            "{:<9} {:>9} {:>10.2} {:>9.2} {:>9.0} {:>22} {:>22} {:>15} {:>11}",
            outcome.backend,
            outcome.rows,
            outcome.generate.as_secs_f64(),
            outcome.import.as_secs_f64(),
            outcome.rows_per_second(),
            latencies(&outcome.by_cpr),
            latencies(&outcome.by_user_id),
            outcome.import_passes().map(verdict).unwrap_or("n/a"),
            verdict(outcome.lookups_pass()),
        );
    }
    let _ = std::io::stdout().flush();
}
