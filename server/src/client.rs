//! Per-connection client state, and the registry of all clients (CLIENT LIST / KILL / INFO
//! clients). The runtime registers a client when it accepts a connection and unregisters it when
//! the connection closes.

use parking_lot::Mutex;
use protocol::resp::RespVersion;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// What the runtime knows about a new connection.
#[derive(Clone, Debug)]
pub struct ConnectionInfo {
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub fd: i32,
    /// The worker that owns the connection.
    pub worker: usize,
}

/// The part of a client visible to other workers (CLIENT LIST, CLIENT KILL).
pub struct ClientEntry {
    pub id: u64,
    pub info: ConnectionInfo,
    killed: AtomicBool,
    /// Tells the owning worker (from any thread) to close this client; called with its id.
    on_kill: Arc<dyn Fn(u64) + Send + Sync>,
}

impl ClientEntry {
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        (self.on_kill)(self.id);
    }
}

/// State owned by the connection's worker.
pub struct ClientState {
    entry: Arc<ClientEntry>,
    resp: RespVersion,
    /// SELECTed database.
    pub db: usize,
    pub authenticated: bool,
}

impl ClientState {
    pub fn id(&self) -> u64 {
        self.entry.id
    }
    pub fn resp(&self) -> RespVersion {
        self.resp
    }
    pub fn set_resp(&mut self, v: RespVersion) {
        self.resp = v;
    }
    /// True once CLIENT KILL (from any worker) has targeted this client.
    pub fn is_killed(&self) -> bool {
        self.entry.killed.load(Ordering::Acquire)
    }
}

/// All connected clients.
pub struct Registry {
    next_id: AtomicU64,
    clients: Mutex<BTreeMap<u64, Arc<ClientEntry>>>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    pub fn new() -> Self {
        Registry {
            next_id: AtomicU64::new(1),
            clients: Mutex::new(BTreeMap::new()),
        }
    }

    /// Registers a new connection. `on_kill(id)` must make the owning worker close the client
    /// (it is called from any thread).
    pub fn register(
        &self,
        info: ConnectionInfo,
        on_kill: Arc<dyn Fn(u64) + Send + Sync>,
    ) -> ClientState {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(ClientEntry {
            id,
            info,
            killed: AtomicBool::new(false),
            on_kill,
        });
        self.clients.lock().insert(id, entry.clone());
        ClientState {
            entry,
            resp: RespVersion::V2,
            db: 0,
            authenticated: false,
        }
    }

    pub fn unregister(&self, client: &ClientState) {
        self.clients.lock().remove(&client.id());
    }

    pub fn len(&self) -> usize {
        self.clients.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
