//! Per-connection client state, and the registry of all clients (CLIENT LIST / KILL / INFO
//! clients). The runtime registers a client when it accepts a connection and unregisters it when
//! the connection closes.
//!
//! What other workers may read (CLIENT LIST runs on any worker) lives in the shared
//! [`ClientEntry`]: rarely-changing fields behind a small mutex, and the last command and its
//! time packed in one atomic the owning worker stores after each command (no other thread
//! writes it, so the store is uncontended).

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

/// Client fields that change rarely (SETNAME, SELECT, HELLO, SETINFO).
#[derive(Clone, Debug, Default)]
pub struct ClientDetails {
    pub name: Vec<u8>,
    pub lib_name: Vec<u8>,
    pub lib_ver: Vec<u8>,
    pub db: usize,
    pub resp: u8,
    /// The ACL user the client is logged in as (CLIENT LIST `user=`, DELUSER, CLIENT KILL USER).
    pub user: Vec<u8>,
}

/// The part of a client visible to other workers.
pub struct ClientEntry {
    pub id: u64,
    pub info: ConnectionInfo,
    pub created_ms: u64,
    details: Mutex<ClientDetails>,
    /// Last command id (high 16 bits) and its time in Unix ms (low 48 bits).
    activity: AtomicU64,
    killed: AtomicBool,
    /// Tells the owning worker (from any thread) to close this client; called with its id.
    on_kill: Arc<dyn Fn(u64) + Send + Sync>,
}

const NO_COMMAND: u64 = 0xFFFF;

impl ClientEntry {
    pub fn kill(&self) {
        if !self.killed.swap(true, Ordering::AcqRel) {
            (self.on_kill)(self.id);
        }
    }

    pub fn details(&self) -> ClientDetails {
        self.details.lock().clone()
    }

    /// The id of the last command (see `commands::lookup`'s ids) and when it ran.
    pub fn activity(&self) -> (Option<u16>, u64) {
        let v = self.activity.load(Ordering::Relaxed);
        let cmd = v >> 48;
        (
            (cmd != NO_COMMAND).then_some(cmd as u16),
            v & ((1 << 48) - 1),
        )
    }
}

/// State owned by the connection's worker.
pub struct ClientState {
    entry: Arc<ClientEntry>,
    resp: RespVersion,
    /// SELECTed database.
    pub db: usize,
    pub authenticated: bool,
    /// The ACL user: permissions are checked against it without a lock (see `crate::acl`).
    user: Arc<crate::acl::User>,
    /// `Acl::generation` when `user` was looked up; when it moves the user is looked up again.
    pub acl_generation: u64,
    /// AUTH (or HELLO AUTH) attempts that failed on this connection: the runtime delays the
    /// connection after each (a brute-force throttle).
    pub auth_failures: u32,
    pub name: Vec<u8>,
}

impl ClientState {
    pub fn id(&self) -> u64 {
        self.entry.id
    }

    pub fn entry(&self) -> &Arc<ClientEntry> {
        &self.entry
    }

    pub fn resp(&self) -> RespVersion {
        self.resp
    }

    pub fn user(&self) -> &Arc<crate::acl::User> {
        &self.user
    }

    /// Logs the connection in as `user` (as of ACL generation `generation`, which the caller
    /// read before looking the user up, so a change in between is seen at the next command).
    pub fn set_user(&mut self, user: Arc<crate::acl::User>, generation: u64) {
        if user.name != self.user.name {
            self.entry.details.lock().user = user.name.clone();
        }
        self.user = user;
        self.acl_generation = generation;
    }

    pub fn set_resp(&mut self, v: RespVersion) {
        self.resp = v;
        self.entry.details.lock().resp = if v == RespVersion::V3 { 3 } else { 2 };
    }

    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.entry.details.lock().db = db;
    }

    pub fn set_name(&mut self, name: &[u8]) {
        self.name = name.to_vec();
        self.entry.details.lock().name = name.to_vec();
    }

    pub fn set_lib(&mut self, name: Option<&[u8]>, version: Option<&[u8]>) {
        let mut d = self.entry.details.lock();
        if let Some(n) = name {
            d.lib_name = n.to_vec();
        }
        if let Some(v) = version {
            d.lib_ver = v.to_vec();
        }
    }

    /// Looks the user up again when any user changed since (`Acl::generation`): SETUSER applies
    /// to connections already logged in. A deleted user's connection goes back to the default
    /// user, not authenticated, as in Redis (DELUSER is closing it meanwhile).
    pub fn refresh_user(&mut self, acl: &crate::acl::Acl) {
        let generation = acl.generation();
        if generation == self.acl_generation {
            return;
        }
        match acl.get(&self.user.name) {
            Some(u) => self.set_user(u, generation),
            None => {
                self.set_user(acl.default_user(), generation);
                self.authenticated = false;
            }
        }
    }

    /// Records the command about to run (CLIENT LIST `cmd=` and `idle=`).
    pub fn note_command(&self, command_id: u16, now_ms: u64) {
        let packed = (u64::from(command_id) << 48) | (now_ms & ((1 << 48) - 1));
        self.entry.activity.store(packed, Ordering::Relaxed);
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
    /// The client starts as `user` (the default user), authenticated when that user needs no
    /// password, as Redis's `createClient`.
    pub fn register(
        &self,
        info: ConnectionInfo,
        on_kill: Arc<dyn Fn(u64) + Send + Sync>,
        user: Arc<crate::acl::User>,
        acl_generation: u64,
    ) -> ClientState {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let now = now_ms();
        let entry = Arc::new(ClientEntry {
            id,
            info,
            created_ms: now,
            details: Mutex::new(ClientDetails {
                resp: 2,
                user: user.name.clone(),
                ..ClientDetails::default()
            }),
            activity: AtomicU64::new((NO_COMMAND << 48) | (now & ((1 << 48) - 1))),
            killed: AtomicBool::new(false),
            on_kill,
        });
        self.clients.lock().insert(id, entry.clone());
        ClientState {
            entry,
            resp: RespVersion::V2,
            db: 0,
            authenticated: user.nopass && user.enabled,
            user,
            acl_generation,
            auth_failures: 0,
            name: Vec::new(),
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

    /// Every client, in id order.
    pub fn all(&self) -> Vec<Arc<ClientEntry>> {
        self.clients.lock().values().cloned().collect()
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientEntry>> {
        self.clients.lock().get(&id).cloned()
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> ConnectionInfo {
        ConnectionInfo {
            peer: "127.0.0.1:5000".parse().unwrap(),
            local: "127.0.0.1:6379".parse().unwrap(),
            fd: 9,
            worker: 0,
        }
    }

    #[test]
    fn kill_calls_the_owner_once() {
        let reg = Registry::new();
        let calls = Arc::new(AtomicU64::new(0));
        let c2 = calls.clone();
        let client = reg.register(
            info(),
            Arc::new(move |id| {
                c2.fetch_add(id, Ordering::SeqCst);
            }),
            Arc::new(crate::acl::User::new(b"default")),
            0,
        );
        let entry = reg.get(client.id()).unwrap();
        entry.kill();
        entry.kill();
        assert!(client.is_killed());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            client.id(),
            "on_kill runs once, with the id"
        );
        reg.unregister(&client);
        assert!(reg.is_empty());
    }

    #[test]
    fn activity_round_trips() {
        let reg = Registry::new();
        let client = reg.register(
            info(),
            Arc::new(|_| {}),
            Arc::new(crate::acl::User::new(b"default")),
            0,
        );
        assert_eq!(client.entry().activity().0, None);
        client.note_command(42, 1_700_000_000_123);
        assert_eq!(client.entry().activity(), (Some(42), 1_700_000_000_123));
    }
}
