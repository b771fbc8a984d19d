//! Typed settings: `config/default.toml` (built in), an optional file, then `SEGL__…` variables.

use citizen_registry::lockout::LockoutPolicy;
use citizen_registry::password::{PasswordCost, PasswordPolicy};
use citizen_registry::RegistrySettings;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::path::Path;

const DEFAULTS: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub provider: ProviderSection,
    pub session: SessionSettings,
    pub database: DatabaseSettings,
    pub secrets: SecretSettings,
    pub password: PasswordSettings,
    pub lockout: LockoutSettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub listen: String,
    pub issuer: String,
    /// A client must send a whole request head within this; on HTTP/1.1 it also ends an idle
    /// keep-alive connection (the timer runs while the server waits for the next request).
    pub header_read_timeout_seconds: u64,
    /// On SIGTERM/Ctrl-C: how long open connections may finish before they are closed.
    pub shutdown_drain_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProviderSection {
    pub code_lifetime_seconds: i64,
    pub id_token_lifetime_seconds: i64,
    pub access_token_lifetime_seconds: i64,
    pub offline_refresh_lifetime_seconds: i64,
    pub login_lifetime_seconds: i64,
    /// How long after the login a client may ask for a CPR match (docs/NEMLOGIN.md: 15 minutes).
    pub cpr_match_window_seconds: i64,
    pub key_refresh_seconds: u64,
    pub clients_file: String,
    /// Comma-separated host names of relying parties on an internal network: Segl may reach
    /// them at private addresses (`oidc_provider::outbound`).
    pub internal_hosts: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SessionSettings {
    pub idle_seconds: i64,
    pub absolute_seconds: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// May hold a password, so it is kept secret and never printed whole.
    pub url: SecretString,
    pub max_connections: u32,
    pub connect_timeout_seconds: u64,
    /// How long a request waits for a pooled connection before failing with 503.
    pub acquire_timeout_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SecretSettings {
    pub master_key: SecretString,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PasswordSettings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    pub max_in_flight: usize,
    pub queue_limit: usize,
    pub min_length: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LockoutSettings {
    pub free_attempts: i64,
    pub base_delay_seconds: i64,
    pub max_delay_seconds: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: String,
    pub filter: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration file {path}")]
    File {
        path: String,
        source: config::ConfigError,
    },
    #[error("configuration: {0}")]
    Invalid(#[from] config::ConfigError),
}

impl Settings {
    /// Reads the layers. `file` is `--config` (or `SEGL_CONFIG`).
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(SettingsError::File {
                    path: path.display().to_string(),
                    source: config::ConfigError::Message("no such file".into()),
                });
            }
            builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("SEGL")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
        if let Ok(url) = std::env::var("SEGL_DATABASE_URL") {
            builder = builder.set_override("database.url", url)?;
        }
        let settings: Settings = builder.build()?.try_deserialize()?;
        Ok(settings)
    }

    /// Settings for tests: port 0, a fresh random master key, cheaper argon2 is NOT used
    /// (tests run the real cost; argon2 is compiled optimised in dev builds).
    pub fn for_tests(database_url: &str) -> Self {
        let mut settings = Self::load(None)
            .unwrap_or_else(|error| panic!("built-in defaults must parse: {error}"));
        settings.server.listen = "127.0.0.1:0".to_owned();
        settings.database.url = SecretString::from(database_url.to_owned());
        settings.secrets.master_key = SecretString::from(
            citizen_registry::sealing::MasterKey::generate_encoded().unwrap_or_default(),
        );
        settings
    }

    pub fn provider_settings(&self) -> oidc_provider::context::ProviderSettings {
        let mut settings = oidc_provider::context::ProviderSettings {
            issuer: self.server.issuer.trim_end_matches('/').to_owned(),
            code_lifetime_seconds: self.provider.code_lifetime_seconds,
            id_token_lifetime_seconds: self.provider.id_token_lifetime_seconds,
            access_token_lifetime_seconds: self.provider.access_token_lifetime_seconds,
            offline_refresh_lifetime_seconds: self.provider.offline_refresh_lifetime_seconds,
            login_lifetime_seconds: self.provider.login_lifetime_seconds,
            cpr_match_window_seconds: self.provider.cpr_match_window_seconds,
            session: oidc_provider::session::SessionPolicy {
                idle_seconds: self.session.idle_seconds,
                absolute_seconds: self.session.absolute_seconds,
            },
            outbound: oidc_provider::outbound::OutboundPolicy::default(),
        };
        settings.outbound = self.outbound_policy(&settings);
        settings
    }

    /// Where Segl may send requests: loopback only in development (the same switch as cookies
    /// without `Secure`: an issuer on plain-http loopback), internal networks only for the
    /// listed hosts.
    fn outbound_policy(
        &self,
        provider: &oidc_provider::context::ProviderSettings,
    ) -> oidc_provider::outbound::OutboundPolicy {
        oidc_provider::outbound::OutboundPolicy {
            allow_loopback: !provider.secure_cookies(),
            internal_hosts: self
                .provider
                .internal_hosts
                .split(',')
                .map(|host| host.trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|host| !host.is_empty())
                .collect(),
        }
    }

    /// The longest a token we sign stays valid (ID, access and logout tokens): how long a
    /// retired key stays published after its last signature.
    pub fn max_token_lifetime(&self) -> i64 {
        self.provider
            .id_token_lifetime_seconds
            .max(self.provider.access_token_lifetime_seconds)
            .max(oidc_provider::flows::logout::LOGOUT_TOKEN_LIFETIME_SECONDS)
    }

    /// How `segl keys rotate` times the switch and the retirement of the old key.
    pub fn rotation_timing(&self) -> oidc_provider::keys::RotationTiming {
        oidc_provider::keys::RotationTiming {
            key_refresh_seconds: i64::try_from(self.provider.key_refresh_seconds.max(1))
                .unwrap_or(i64::MAX),
            max_token_lifetime: self.max_token_lifetime(),
        }
    }

    pub fn registry_settings(&self) -> RegistrySettings {
        RegistrySettings {
            password_cost: PasswordCost {
                memory_kib: self.password.memory_kib,
                iterations: self.password.iterations,
                parallelism: self.password.parallelism,
            },
            password_max_in_flight: self.password.max_in_flight,
            password_queue_limit: self.password.queue_limit,
            password_policy: PasswordPolicy {
                min_length: self.password.min_length,
                ..PasswordPolicy::default()
            },
            lockout: LockoutPolicy {
                free_attempts: self.lockout.free_attempts,
                base_delay_seconds: self.lockout.base_delay_seconds,
                max_delay_seconds: self.lockout.max_delay_seconds,
            },
            totp_issuer: "Segl".to_owned(),
        }
    }
}

impl DatabaseSettings {
    /// The URL with any password replaced, for messages.
    pub fn redacted_url(&self) -> String {
        redact_url(self.url.expose_secret())
    }
}

pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_defaults_parse() {
        let settings = Settings::load(None).expect("defaults");
        assert_eq!(settings.server.listen, "127.0.0.1:8080");
        assert_eq!(settings.password.memory_kib, 19456);
    }

    #[test]
    fn redacted_url_hides_the_password() {
        assert_eq!(
            redact_url("postgres://segl:hunter2@db:5432/segl"),
            "postgres://segl:***@db:5432/segl"
        );
        assert_eq!(redact_url("sqlite://data/segl.db"), "sqlite://data/segl.db");
    }

    #[test]
    fn debug_never_prints_the_master_key() {
        let settings = Settings::for_tests("sqlite://x.db");
        let printed = format!("{settings:?}");
        assert!(!printed.contains(settings.secrets.master_key.expose_secret()));
    }
}
