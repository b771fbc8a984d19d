//! Password hashing with argon2id, off the async runtime, on a fixed pool of threads.

use argon2::password_hash::{rand_core::OsRng, Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHasher as _, Version};
use secrecy::{ExposeSecret, SecretString};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};

/// argon2id cost parameters (OWASP: m = 19 MiB, t = 2, p = 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordCost {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// What a password must satisfy before it is hashed.
#[derive(Debug, Clone, Copy)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub max_length: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 8,
            max_length: 256,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password is empty")]
    Empty,
    #[error("the password is too short: it needs at least {0} characters")]
    TooShort(usize),
    #[error("the password is too long: at most {0} characters")]
    TooLong(usize),
    #[error("the password hash is not an argon2id PHC string")]
    NotArgon2id,
    #[error("invalid argon2 parameters: {0}")]
    Parameters(String),
    /// Too many hashes are queued: shed load (HTTP 503 with Retry-After) rather than pile up.
    #[error("password hashing is overloaded, try again shortly")]
    Overloaded,
    #[error("password hashing failed")]
    Internal,
}

impl PasswordPolicy {
    pub fn check(&self, password: &SecretString) -> Result<(), PasswordError> {
        let length = password.expose_secret().chars().count();
        if length == 0 {
            Err(PasswordError::Empty)
        } else if length < self.min_length {
            Err(PasswordError::TooShort(self.min_length))
        } else if length > self.max_length {
            Err(PasswordError::TooLong(self.max_length))
        } else {
            Ok(())
        }
    }
}

/// Checks that a stored or imported hash is an argon2id PHC string.
pub fn check_phc_hash(hash: &str) -> Result<(), PasswordError> {
    let parsed = PasswordHash::new(hash).map_err(|_| PasswordError::NotArgon2id)?;
    if parsed.algorithm != argon2::ARGON2ID_IDENT || parsed.hash.is_none() || parsed.salt.is_none()
    {
        return Err(PasswordError::NotArgon2id);
    }
    Ok(())
}

/// One hash or verification, run on a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

/// Hashes and verifies passwords on `max_in_flight` threads of its own (one per core by
/// default), never on the async runtime.
///
/// At most `max_in_flight` hashes run at once (each pins a core for tens of milliseconds);
/// at most `queue_limit` more wait in the queue, and beyond that callers get
/// [`PasswordError::Overloaded`] at once instead of queueing without bound. The threads live as
/// long as the hasher: each argon2 pass allocates `memory_kib`, and a fixed set of threads
/// keeps that memory in a fixed set of allocator arenas (on tokio's blocking pool, threads come
/// and go and each new one can strand another block: hundreds of MiB after a burst).
#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Arc<Argon2<'static>>,
    jobs: mpsc::Sender<Job>,
    /// Hashes running or waiting for a slot.
    pending: Arc<AtomicUsize>,
    /// `max_in_flight + queue_limit`: more pending than this is shed.
    capacity: usize,
    /// A hash of a random password with the same cost, verified when a user ID is unknown so a
    /// failed login takes the same time whether or not the user ID exists. Made on a hashing
    /// thread right after start, not before the server can answer.
    decoy_hash: Arc<OnceLock<String>>,
}

impl PasswordHasher {
    pub fn new(
        cost: PasswordCost,
        max_in_flight: usize,
        queue_limit: usize,
    ) -> Result<Self, PasswordError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|error| PasswordError::Parameters(error.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..max_in_flight.max(1) {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || loop {
                    // The lock is held only while waiting for the next job; it ends when every
                    // hasher clone (every sender) is gone.
                    let job = match queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    match job {
                        // A panicking job must not take the thread (and a core) with it.
                        Ok(job) => {
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        }
                        Err(_) => return,
                    }
                })
                .map_err(|_| PasswordError::Internal)?;
        }
        Ok(Self {
            argon2: Arc::new(argon2),
            jobs,
            pending: Arc::new(AtomicUsize::new(0)),
            capacity: max_in_flight.max(1) + queue_limit,
            decoy_hash: Arc::default(),
        })
        .inspect(|hasher| {
            let (argon2, decoy) = (Arc::clone(&hasher.argon2), Arc::clone(&hasher.decoy_hash));
            // If the queue is gone there is nothing to warm; the first decoy makes it then.
            let _ = hasher.jobs.send(Box::new(move || {
                decoy.get_or_init(|| make_decoy(&argon2));
            }));
        })
    }

    /// Hashes a password into an argon2id PHC string.
    pub async fn hash(&self, password: SecretString) -> Result<String, PasswordError> {
        let argon2 = Arc::clone(&self.argon2);
        self.run(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2
                .hash_password(password.expose_secret().as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|_| PasswordError::Internal)
        })
        .await
    }

    /// Verifies a password against a stored PHC string. The comparison inside argon2 is
    /// constant-time. A malformed stored hash verifies as false.
    pub async fn verify(
        &self,
        password: SecretString,
        hash: String,
    ) -> Result<bool, PasswordError> {
        self.run(move || {
            let Ok(parsed) = PasswordHash::new(&hash) else {
                return Ok(false);
            };
            Ok(verify_in_place(
                password.expose_secret().as_bytes(),
                &parsed,
            ))
        })
        .await
    }

    /// Spends the time of one verification without a real hash (unknown user ID).
    pub async fn verify_decoy(&self, password: SecretString) -> Result<bool, PasswordError> {
        let (argon2, decoy) = (Arc::clone(&self.argon2), Arc::clone(&self.decoy_hash));
        self.run(move || {
            let decoy = decoy.get_or_init(|| make_decoy(&argon2));
            if let Ok(parsed) = PasswordHash::new(decoy) {
                let _ = verify_in_place(password.expose_secret().as_bytes(), &parsed);
            }
            Ok(false)
        })
        .await
    }

    async fn run<T, F>(&self, work: F) -> Result<T, PasswordError>
    where
        F: FnOnce() -> Result<T, PasswordError> + Send + 'static,
        T: Send + 'static,
    {
        let already_pending = self.pending.fetch_add(1, Ordering::AcqRel);
        // Counts the job until it has run (or is dropped unrun), even if the caller goes away
        // first: a cancelled login's hash still occupies a thread.
        let pending = PendingGuard(Arc::clone(&self.pending));
        if already_pending >= self.capacity {
            return Err(PasswordError::Overloaded);
        }
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let result = work();
                drop(pending);
                // The caller may have gone (request cancelled): then nobody reads the answer.
                let _ = answer.send(result);
            }))
            .map_err(|_| PasswordError::Internal)?;
        answered.await.map_err(|_| PasswordError::Internal)?
    }
}

thread_local! {
    /// The argon2 memory of this hashing thread, allocated at the first verification and
    /// reused by every later one: argon2 0.5's `verify_password` allocates and frees `m` KiB
    /// per call, and the allocator keeps what it frees in per-thread arenas (RSS grew to
    /// 236 MiB after a login load at m = 19 MiB).
    static MEMORY: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Verifies `password` against a parsed PHC hash as argon2's `PasswordVerifier` does
/// (algorithm, version, parameters and salt from the hash; the outputs compared in constant
/// time by `Output`'s `PartialEq`), but in this thread's reused memory. A hash asking for more
/// memory than is kept gets a one-off allocation of its own.
fn verify_in_place(password: &[u8], hash: &PasswordHash<'_>) -> bool {
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(hash) else {
        return false;
    };
    let mut salt_buffer = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buffer) else {
        return false;
    };
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let mut output = vec![0u8; expected.len()];
    let hashed = MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks && blocks <= MAX_KEPT_BLOCKS {
            memory.resize(blocks, Block::default());
        }
        if memory.len() >= blocks {
            argon2.hash_password_into_with_memory(
                password,
                salt,
                &mut output,
                &mut memory[..blocks],
            )
        } else {
            argon2.hash_password_into(password, salt, &mut output)
        }
    });
    hashed.is_ok() && Output::new(&output).is_ok_and(|computed| computed == expected)
}

/// At most 64 MiB of argon2 memory is kept per hashing thread.
const MAX_KEPT_BLOCKS: usize = 64 * 1024;

/// The argon2id hash of a random password (an empty string only if hashing fails, which with
/// valid parameters it does not; verifying against it is then still false).
fn make_decoy(argon2: &Argon2<'static>) -> String {
    let salt = SaltString::generate(&mut OsRng);
    let decoy = format!("decoy-{}", uuid::Uuid::new_v4());
    argon2
        .hash_password(decoy.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .unwrap_or_default()
}

struct PendingGuard(Arc<AtomicUsize>);

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHasher {
        let cost = PasswordCost {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        };
        PasswordHasher::new(cost, 2, 4).expect("hasher")
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let hasher = cheap();
        let hash = hasher
            .hash(SecretString::from("correct horse"))
            .await
            .expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        check_phc_hash(&hash).expect("phc");
        assert!(hasher
            .verify(SecretString::from("correct horse"), hash.clone())
            .await
            .expect("verify"));
        assert!(!hasher
            .verify(SecretString::from("wrong horse"), hash)
            .await
            .expect("verify"));
    }

    #[tokio::test]
    async fn decoy_verification_is_always_false() {
        let hasher = cheap();
        assert!(!hasher
            .verify_decoy(SecretString::from("anything"))
            .await
            .expect("decoy"));
    }

    #[tokio::test]
    async fn hashes_beyond_the_queue_limit_are_shed() {
        let cost = PasswordCost {
            memory_kib: 8 * 1024,
            iterations: 3,
            parallelism: 1,
        };
        let hasher = PasswordHasher::new(cost, 1, 1).expect("hasher");
        let attempts = (0..6).map(|_| hasher.hash(SecretString::from("password123")));
        // join_all polls every future once, in order, before any completes: deterministic.
        let results = futures::future::join_all(attempts).await;
        let shed = results
            .iter()
            .filter(|r| matches!(r, Err(PasswordError::Overloaded)))
            .count();
        let hashed = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!((hashed, shed), (2, 4));
    }

    #[test]
    fn reused_memory_verifies_hashes_of_any_cost_like_argon2_does() {
        let make = |memory_kib, iterations| {
            let params = Params::new(memory_kib, iterations, 1, None).expect("params");
            let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
            let salt = SaltString::generate(&mut OsRng);
            argon2
                .hash_password(b"correct horse", &salt)
                .expect("hash")
                .to_string()
        };
        // Larger, then smaller, then larger again than the memory this thread keeps.
        for hash in [make(2048, 1), make(64, 3), make(4096, 2)] {
            let parsed = PasswordHash::new(&hash).expect("PHC");
            assert!(verify_in_place(b"correct horse", &parsed), "{hash}");
            assert!(!verify_in_place(b"wrong horse", &parsed), "{hash}");
        }
        // A changed output does not verify.
        let hash = make(64, 1);
        let start = hash.rfind('$').expect("output") + 1;
        let first = &hash[start..=start];
        let flipped = if first == "A" { "B" } else { "A" };
        let tampered = format!("{}{flipped}{}", &hash[..start], &hash[start + 1..]);
        let parsed = PasswordHash::new(&tampered).expect("PHC");
        assert!(!verify_in_place(b"correct horse", &parsed));
    }

    #[test]
    fn policy_refuses_empty_and_short_passwords() {
        let policy = PasswordPolicy::default();
        assert!(matches!(
            policy.check(&SecretString::from("")),
            Err(PasswordError::Empty)
        ));
        assert!(matches!(
            policy.check(&SecretString::from("short")),
            Err(PasswordError::TooShort(8))
        ));
        assert!(policy.check(&SecretString::from("long enough")).is_ok());
    }

    #[test]
    fn only_argon2id_phc_strings_are_accepted() {
        assert!(check_phc_hash("$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo").is_err());
        assert!(check_phc_hash("plaintext").is_err());
        assert!(check_phc_hash("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$SGFzaEhhc2hIYXNoSGFzaEhhc2hIYXNoSGFzaA").is_ok());
    }
}
