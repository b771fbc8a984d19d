//! CSV import of citizens: a reader thread parses and validates rows, the async side inserts
//! them in batches and reports progress.

use super::{citizen_id, Registry, RegistryError};
use crate::import::{self, RejectedRow};
use crate::store::ImportedCitizen;
use std::path::Path;

/// Progress of an import, for a progress bar.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportProgress {
    pub bytes_read: u64,
    pub imported: u64,
    pub rejected: u64,
}

/// The outcome of an import: the count imported and each rejected line with its reason.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub imported: u64,
    pub rejected: Vec<RejectedRow>,
}

impl Registry {
    /// Imports citizens from a CSV file. A reader thread parses and validates rows while this
    /// task inserts batches; a rejected row writes nothing and the others are imported.
    pub async fn import_csv(
        &self,
        path: &Path,
        batch_size: usize,
        actor: &str,
        mut progress: impl FnMut(ImportProgress),
    ) -> Result<ImportReport, RegistryError> {
        let file = std::fs::File::open(path)
            .map_err(|error| RegistryError::Import(format!("{}: {error}", path.display())))?;
        // One transaction per batch (the store splits it into statements within SQLite's
        // parameter limit). 20,000 rows hold SQLite's write lock about a second, well inside
        // the 5 s busy_timeout that other writers (logins' audit events) wait.
        let batch_size = batch_size.clamp(1, 20_000);
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<Result<ParsedBatch, String>>(4);
        let reader = std::thread::spawn(move || read_batches(file, batch_size, &sender));
        let mut report = ImportReport::default();
        let mut state = ImportProgress::default();
        while let Some(batch) = receiver.recv().await {
            let batch = batch.map_err(RegistryError::Import)?;
            let at = self.clock.now();
            let rows: Vec<ImportedCitizen> = batch
                .rows
                .iter()
                .map(|row| ImportedCitizen {
                    id: citizen_id(),
                    citizen: row.citizen.clone(),
                    password_hash: row.password_hash.clone(),
                })
                .collect();
            let inserted = self.store.insert_citizens_batch(&rows, at, actor).await?;
            let mut inserted_flags = vec![false; rows.len()];
            for index in &inserted {
                inserted_flags[*index] = true;
            }
            for (row, was_inserted) in batch.rows.iter().zip(inserted_flags) {
                if !was_inserted {
                    let reason = match self
                        .store
                        .find_conflicts(&row.citizen.cpr, &row.citizen.user_id)
                        .await?
                    {
                        (true, _) => {
                            "a citizen with this CPR number is already registered".to_owned()
                        }
                        _ => format!(
                            "the user ID '{}' is already taken",
                            row.citizen.user_id.as_str()
                        ),
                    };
                    report.rejected.push(RejectedRow {
                        line: row.line,
                        reason,
                    });
                }
            }
            report.imported += inserted.len() as u64;
            report.rejected.extend(batch.rejected);
            report.rejected.sort_by_key(|row| row.line);
            state.imported = report.imported;
            state.rejected = report.rejected.len() as u64;
            state.bytes_read = batch.bytes_read;
            progress(state);
        }
        reader
            .join()
            .map_err(|_| RegistryError::Import("the CSV reader stopped unexpectedly".into()))?;
        Ok(report)
    }
}

struct ParsedBatch {
    rows: Vec<import::ImportRow>,
    rejected: Vec<RejectedRow>,
    bytes_read: u64,
}

/// Runs on its own thread: blocking file reads and CSV parsing stay off the async runtime.
fn read_batches(
    file: std::fs::File,
    batch_size: usize,
    sender: &tokio::sync::mpsc::Sender<Result<ParsedBatch, String>>,
) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(std::io::BufReader::with_capacity(1 << 20, file));
    let mut record = csv::ByteRecord::new();
    let mut batch = ParsedBatch {
        rows: Vec::with_capacity(batch_size),
        rejected: Vec::new(),
        bytes_read: 0,
    };
    let mut is_header = true;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(error) => {
                let line = error
                    .position()
                    .map(|position| position.line())
                    .unwrap_or_default();
                let _ = sender.blocking_send(Err(format!("line {line}: {error}")));
                return;
            }
        }
        let line = record
            .position()
            .map(|position| position.line())
            .unwrap_or_default();
        let fields: Vec<&[u8]> = record.iter().collect();
        if is_header {
            is_header = false;
            if let Err(message) = import::check_header(&fields) {
                let _ = sender.blocking_send(Err(message));
                return;
            }
            continue;
        }
        match import::parse_row(&fields, line) {
            Ok(row) => batch.rows.push(row),
            Err(rejected) => batch.rejected.push(rejected),
        }
        if batch.rows.len() + batch.rejected.len() >= batch_size {
            batch.bytes_read = reader.position().byte();
            let full = std::mem::replace(
                &mut batch,
                ParsedBatch {
                    rows: Vec::with_capacity(batch_size),
                    rejected: Vec::new(),
                    bytes_read: 0,
                },
            );
            if sender.blocking_send(Ok(full)).is_err() {
                return;
            }
        }
    }
    if is_header {
        let _ = sender.blocking_send(Err("the file is empty: it needs a header row".to_owned()));
        return;
    }
    batch.bytes_read = reader.position().byte();
    let _ = sender.blocking_send(Ok(batch));
}
