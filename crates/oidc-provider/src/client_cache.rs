//! Registered clients kept in memory for client authentication, so the token endpoint needs no
//! database round trip to know a client. Correct to lose: a miss reads the database. Every
//! change to `clients` bumps one counter row in the same transaction; each node polls it once a
//! second (`refresh`) and drops the whole cache when it moved, so a removed client or a
//! replaced secret stops working on every node within about a second.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::client::Client;
use crate::store::{Store, StoreError};

#[derive(Default)]
struct Cached {
    /// The `clients_version` the entries were read under; `None` until the first poll.
    version: Option<i64>,
    clients: HashMap<String, Arc<Client>>,
}

#[derive(Clone, Default)]
pub(crate) struct ClientCache {
    cached: Arc<RwLock<Cached>>,
}

impl ClientCache {
    /// The client with this id, from memory or else from the store. Unknown ids are not
    /// remembered (a flood of made-up ids must not grow the cache).
    pub(crate) async fn find(
        &self,
        store: &Store,
        id: &str,
    ) -> Result<Option<Arc<Client>>, StoreError> {
        if let Some(client) = self.read(|cached| cached.clients.get(id).cloned()) {
            return Ok(Some(client));
        }
        // Read the version before the row: if a change lands in between, the next poll sees a
        // newer version than this entry's and drops it.
        let version = self.read(|cached| cached.version);
        let Some(client) = store.find_client(id).await? else {
            return Ok(None);
        };
        let client = Arc::new(client);
        if let Some(version) = version {
            self.write(|cached| {
                if cached.version == Some(version) {
                    cached.clients.insert(id.to_owned(), Arc::clone(&client));
                }
            });
        }
        Ok(Some(client))
    }

    /// Polls the store's clients version and drops every entry if it moved. Returns whether
    /// it did.
    pub(crate) async fn refresh(&self, store: &Store) -> Result<bool, StoreError> {
        let version = store.find_clients_version().await?;
        Ok(self.write(|cached| {
            if cached.version == Some(version) {
                return false;
            }
            cached.version = Some(version);
            cached.clients.clear();
            true
        }))
    }

    fn read<T>(&self, f: impl FnOnce(&Cached) -> T) -> T {
        match self.cached.read() {
            Ok(cached) => f(&cached),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    fn write<T>(&self, f: impl FnOnce(&mut Cached) -> T) -> T {
        match self.cached.write() {
            Ok(mut cached) => f(&mut cached),
            Err(poisoned) => {
                let mut cached = poisoned.into_inner();
                cached.clients.clear();
                f(&mut cached)
            }
        }
    }
}
