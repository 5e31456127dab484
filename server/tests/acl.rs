//! ACL users against the real binary: the `redis` crate over RESP2 and RESP3, and the `client`
//! crate over the binary protocol. The ACL script runs against Ringledger and, when
//! `redis-server` (7.0.15) is installed, against Redis too: the replies must be identical.

mod common;

use client::{Client, Error};
use common::Server;
use ledger::Account;
use protocol::binary::ReplyStatus;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BINARY: &str = "[[listener]]\nprotocol = \"binary\"\naddress = \"127.0.0.1:0\"\n";

/// A throwaway Redis 7.0 on a free port, or None when redis-server is not installed.
struct Redis {
    child: Child,
    addr: SocketAddr,
}

impl Redis {
    fn start() -> Option<Redis> {
        let port = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().ok()?;
        let up = common::eventually(Duration::from_secs(10), || TcpStream::connect(addr).is_ok());
        let mut r = Redis { child, addr };
        if up {
            Some(r)
        } else {
            let _ = r.child.kill();
            None
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn connect(addr: SocketAddr, resp3: bool) -> redis::Connection {
    let url = if resp3 {
        format!("redis://{addr}/?protocol=resp3")
    } else {
        format!("redis://{addr}")
    };
    redis::Client::open(url).unwrap().get_connection().unwrap()
}

/// One step: which connection (0 = admin, 1 = the one that logs in as users), and the command.
const SCRIPT: &[(usize, &str)] = &[
    (0, "ACL SETUSER alice on >secret ~cache:* -@all +@string"),
    (0, "ACL SETUSER bob on >pw2 ~* +@all -@dangerous"),
    (0, "ACL SETUSER carol on nopass %R~ro:* -@all +get"),
    (0, "ACL SETUSER dave"),
    // (Redis orders single-command rules by hash: one per user keeps ACL LIST comparable.)
    (
        0,
        "ACL SETUSER erin on >pw3 allkeys -@all +@connection -select +select|0",
    ),
    (0, "ACL GETUSER erin"),
    (0, "ACL SETUSER frank on nopass ~a* +get (+set ~b*)"),
    (0, "ACL LIST"),
    (0, "ACL USERS"),
    (0, "ACL GETUSER alice"),
    (0, "ACL GETUSER bob"),
    (0, "ACL GETUSER carol"),
    (0, "ACL GETUSER dave"),
    (0, "ACL GETUSER frank"),
    (0, "ACL GETUSER nosuch"),
    (0, "ACL WHOAMI"),
    (0, "ACL SETUSER x +nosuch"),
    (0, "ACL SETUSER x +@nosuch"),
    (0, "ACL SETUSER x allkeys ~a"),
    (0, "ACL SETUSER x allchannels &a"),
    (0, "ACL SETUSER x #abc"),
    (0, "ACL SETUSER x <nosuchpassword"),
    (0, "ACL SETUSER x (+get"),
    (0, "ACL SETUSER x +config|get|x"),
    (0, "ACL SETUSER x +select|"),
    (0, "ACL SETUSER x %Q~k"),
    (0, "ACL USERS"),
    (0, "ACL DELUSER default"),
    (0, "ACL DELUSER dave nosuch"),
    (0, "ACL DELUSER dave"),
    (0, "ACL DRYRUN alice get cache:1"),
    (0, "ACL DRYRUN alice get other"),
    (0, "ACL DRYRUN alice del cache:1"),
    (0, "ACL DRYRUN alice config get maxmemory"),
    (0, "ACL DRYRUN nosuch get x"),
    (0, "ACL DRYRUN alice nosuchcommand"),
    (0, "ACL DRYRUN alice get"),
    (0, "ACL CAT nosuch"),
    (0, "ACL GENPASS 0"),
    (0, "ACL GENPASS 5000"),
    (0, "ACL LOAD"),
    (0, "ACL SAVE"),
    (0, "ACL HELP"),
    (0, "ACL NOSUCH"),
    (0, "AUTH onlypassword"),
    (1, "AUTH alice wrong"),
    (1, "AUTH nosuch secret"),
    (1, "AUTH alice secret"),
    (1, "GET cache:1"),
    (1, "SET cache:1 v"),
    (1, "GET cache:1"),
    (1, "GET other"),
    (1, "MSET cache:2 v other v"),
    (1, "DEL cache:1"),
    (1, "PING"),
    (1, "CONFIG GET maxmemory"),
    (1, "ACL WHOAMI"),
    (1, "AUTH carol anything"),
    (1, "GET ro:1"),
    (1, "GET other"),
    (1, "SET ro:1 v"),
    (1, "AUTH erin pw3"),
    (1, "SELECT 0"),
    (1, "SELECT 1"),
    (1, "CONFIG SET maxmemory 0"),
    (1, "AUTH frank x"),
    (1, "GET a1"),
    (1, "SET b1 v"),
    (1, "SET a1 v"),
    (1, "GET b1"),
    (1, "AUTH bob pw2"),
    (1, "ACL WHOAMI"),
    (1, "FLUSHALL"),
    (1, "GET cache:1"),
    // A change to a user applies to the connections logged in as it.
    (0, "ACL SETUSER bob -get"),
    (1, "GET cache:1"),
    (0, "ACL SETUSER bob off"),
    (1, "SET cache:1 w"),
    (1, "AUTH bob pw2"),
    // Every password rule, subcommands, allcommands/nocommands, resetkeys, reset.
    (
        0,
        "ACL SETUSER gina on >g1 >g2 allcommands allkeys -config +config|get",
    ),
    (0, "ACL GETUSER gina"),
    (1, "AUTH gina g2"),
    (1, "CONFIG GET nosuchparameter"),
    (1, "CONFIG SET maxmemory 0"),
    (0, "ACL SETUSER gina <g1"),
    (1, "AUTH gina g1"),
    (
        0,
        "ACL SETUSER gina !4d2f4b668cfc48e6059d36e91326bf87de39ba819f35450477bc1ce614a63bbd",
    ),
    (1, "AUTH gina g2"),
    (
        0,
        "ACL SETUSER gina #711430f6164e93803d93428bc1fab80f41e213bb197689307de8606d437c3038",
    ),
    (1, "AUTH gina g1"),
    (0, "ACL SETUSER gina resetkeys ~x*"),
    (1, "GET y"),
    (1, "GET x1"),
    (0, "ACL SETUSER gina nocommands +get"),
    (1, "CONFIG GET nosuchparameter"),
    (1, "GET x1"),
    (0, "ACL GETUSER gina"),
    (0, "ACL SETUSER gina resetpass"),
    (1, "AUTH gina g1"),
    (0, "ACL SETUSER gina reset"),
    (0, "ACL GETUSER gina"),
    (0, "ACL SETUSER default resetpass >defaultpw"),
    (0, "ACL GETUSER default"),
    (0, "ACL SETUSER default nopass"),
    (0, "ACL LIST"),
    (0, "ACL LOG 100"),
    (0, "ACL LOG x"),
    (0, "ACL LOG RESET"),
    (0, "ACL LOG"),
];

/// ACL LOG's entries without their times and client details (which differ run to run).
fn log_entries(v: &redis::Value) -> String {
    let redis::Value::Array(entries) = v else {
        return format!("{v:?}");
    };
    let mut out = Vec::new();
    for e in entries {
        let pairs: Vec<(redis::Value, redis::Value)> = match e {
            redis::Value::Map(m) => m.clone(),
            redis::Value::Array(a) => a
                .chunks(2)
                .map(|kv| (kv[0].clone(), kv[1].clone()))
                .collect(),
            other => return format!("{other:?}"),
        };
        let kept: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| {
                !matches!(k, redis::Value::BulkString(b) if b == b"age-seconds" || b == b"client-info")
            })
            .map(|(k, v)| format!("{k:?}={v:?}"))
            .collect();
        out.push(kept.join(" "));
    }
    out.join("\n")
}

fn run_script(addr: SocketAddr, resp3: bool) -> Vec<String> {
    let mut conns = [connect(addr, resp3), connect(addr, resp3)];
    let mut out = Vec::new();
    for (c, line) in SCRIPT {
        let mut cmd = redis::Cmd::new();
        for word in line.split(' ') {
            cmd.arg(word);
        }
        let reply: redis::RedisResult<redis::Value> = cmd.query(&mut conns[*c]);
        // GENPASS's output is random: its shape is compared.
        let shown = match (&reply, line.starts_with("ACL GENPASS")) {
            (Ok(redis::Value::BulkString(b)), true) => format!("{} hex chars", b.len()),
            (Ok(v), false) if line.starts_with("ACL LOG") => log_entries(v),
            _ => format!("{reply:?}"),
        };
        out.push(format!("[{c}] {line} -> {shown}"));
    }
    out
}

#[test]
fn acl_commands_and_enforcement_answer_as_redis_7_0() {
    let server = Server::start("epoll", "");
    let redis = Redis::start();
    if redis.is_none() {
        eprintln!("redis-server not installed: Ringledger's replies are checked on their own");
    }
    for resp3 in [false, true] {
        let ours = run_script(server.addr, resp3);
        if std::env::var_os("ACL_SCRIPT_SHOW").is_some() {
            eprintln!("{}", ours.join("\n"));
        }
        // The same answers whether or not Redis is at hand: the key ones are spelled out.
        let has = |line: &str| ours.iter().any(|l| l.contains(line));
        assert!(
            has("this user has no permissions to run the 'del' command"),
            "{ours:#?}"
        );
        assert!(has(
            "this user has no permissions to access one of the keys used as arguments"
        ));
        assert!(has("user alice on #2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b ~cache:* resetchannels -@all +@string"));
        assert!(has("The 'default' user cannot be removed"));
        if let Some(r) = &redis {
            // Start from the same users: the script created them on the first pass.
            let mut reset = connect(r.addr, false);
            let users: Vec<String> = redis::cmd("ACL").arg("USERS").query(&mut reset).unwrap();
            for u in users.iter().filter(|u| *u != "default") {
                let _: i64 = redis::cmd("ACL")
                    .arg("DELUSER")
                    .arg(u)
                    .query(&mut reset)
                    .unwrap();
            }
            let _: () = redis::cmd("FLUSHALL").query(&mut reset).unwrap();
            let theirs = run_script(r.addr, resp3);
            for (o, t) in ours.iter().zip(&theirs) {
                assert_eq!(o, t, "resp3={resp3}: Ringledger vs redis-server 7.0");
            }
        }
        // Reset Ringledger for the RESP3 pass too.
        let mut reset = connect(server.addr, false);
        let users: Vec<String> = redis::cmd("ACL").arg("USERS").query(&mut reset).unwrap();
        for u in users.iter().filter(|u| *u != "default") {
            let _: i64 = redis::cmd("ACL")
                .arg("DELUSER")
                .arg(u)
                .query(&mut reset)
                .unwrap();
        }
        let _: () = redis::cmd("FLUSHALL").query(&mut reset).unwrap();
    }
}

#[test]
fn deleting_a_user_closes_its_connections_and_client_list_names_users() {
    let server = Server::start(
        "uring",
        "[security]\nusers = [\"alice on >secret ~* +@all\"]\n",
    );
    let mut admin = server.redis();
    let mut alice = server.redis();
    let _: () = redis::cmd("AUTH")
        .arg("alice")
        .arg("secret")
        .query(&mut alice)
        .unwrap();
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut admin).unwrap();
    assert!(
        list.contains("user=alice") && list.contains("user=default"),
        "{list}"
    );
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("USER")
        .arg("nosuch")
        .query(&mut admin)
        .map(|_: i64| 0)
        .unwrap_or(-1);
    assert_eq!(
        killed, -1,
        "CLIENT KILL USER of an unknown user is an error"
    );
    let n: i64 = redis::cmd("ACL")
        .arg("DELUSER")
        .arg("alice")
        .query(&mut admin)
        .unwrap();
    assert_eq!(n, 1);
    assert!(
        common::eventually(Duration::from_secs(5), || redis::cmd("PING")
            .query::<String>(&mut alice)
            .is_err()),
        "alice's connection is closed"
    );
    // Deleting the user one is logged in as: the reply, then the close.
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("bob")
        .arg("on")
        .arg("nopass")
        .arg("+@all")
        .query(&mut admin)
        .unwrap();
    let mut bob = server.redis();
    let _: () = redis::cmd("AUTH")
        .arg("bob")
        .arg("x")
        .query(&mut bob)
        .unwrap();
    let n: i64 = redis::cmd("ACL")
        .arg("DELUSER")
        .arg("bob")
        .query(&mut bob)
        .unwrap();
    assert_eq!(n, 1);
    assert!(redis::cmd("PING").query::<String>(&mut bob).is_err());
}

/// The three example users of docs/OPERATIONS.md.
const EXAMPLE_USERS: &str = "[security]\nrequirepass = \"adminpw\"\nusers = [\n  \"auditor on >auditpw -@all +@ledger-read\",\n  \"teller on >tellerpw -@all +@ledger\",\n  \"webapp on >webpw ~* +@all -@ledger\",\n]\n";

fn acct(id: u128) -> Account {
    Account {
        id,
        ledger: 1,
        code: 1,
        ..Account::default()
    }
}

fn refused(e: Error) -> String {
    match e {
        Error::Server { status, message } => {
            assert_eq!(status, ReplyStatus::Refused as u32, "{message}");
            message
        }
        other => panic!("expected a refusal, got {other}"),
    }
}

#[test]
fn example_users_over_the_binary_protocol() {
    let s = Server::start("epoll", &format!("{BINARY}\n{EXAMPLE_USERS}"));
    let addr = s.binary_addr.unwrap();
    let mut teller = Client::connect_authenticated(addr, "teller", "tellerpw").unwrap();
    let created = teller.create_accounts(&[acct(1), acct(2)]).unwrap();
    assert!(created.iter().all(|r| r.status == u32::MAX));
    assert_eq!(teller.lookup_accounts(&[1, 2]).unwrap().len(), 2);

    let mut auditor = Client::connect_authenticated(addr, "auditor", "auditpw").unwrap();
    assert_eq!(auditor.lookup_accounts(&[1]).unwrap().len(), 1);
    let message = refused(auditor.create_accounts(&[acct(3)]).unwrap_err());
    assert_eq!(
        message,
        "NOPERM this user has no permissions to run the 'ledger.create_accounts' command"
    );
    assert_eq!(
        auditor.lookup_accounts(&[3]).unwrap().len(),
        0,
        "nothing applied, the connection kept"
    );

    let mut webapp = Client::connect_authenticated(addr, "webapp", "webpw").unwrap();
    let message = refused(webapp.lookup_accounts(&[1]).unwrap_err());
    assert_eq!(
        message,
        "NOPERM this user has no permissions to run the 'ledger.lookup_accounts' command"
    );
    let message = refused(webapp.create_accounts(&[acct(4)]).unwrap_err());
    assert!(message.starts_with("NOPERM"), "{message}");

    // Wrong password for a real user: denied and closed, as for the default user.
    let e = Client::connect_authenticated(addr, "teller", "nope")
        .err()
        .unwrap();
    assert!(matches!(e, Error::Server { .. }), "{e}");
    // The admin (default user, requirepass) may do everything.
    let mut admin = Client::connect_authenticated(addr, "default", "adminpw").unwrap();
    assert_eq!(admin.lookup_accounts(&[1, 2]).unwrap().len(), 2);
}

#[test]
fn example_users_over_resp() {
    let s = Server::start("uring", EXAMPLE_USERS);
    for resp3 in [false, true] {
        // Over RESP3 the redis crate logs in with HELLO 3 AUTH, over RESP2 with AUTH.
        let login = |user: &str, pw: &str| {
            let proto = if resp3 { "/?protocol=resp3" } else { "" };
            let url = format!("redis://{user}:{pw}@{}{proto}", s.addr);
            redis::Client::open(url).unwrap().get_connection().unwrap()
        };
        let id = 10u128 + u128::from(resp3);
        let mut teller = login("teller", "tellerpw");
        let _: redis::Value = redis::cmd("LEDGER.ACCOUNT.CREATE")
            .arg("ID")
            .arg(id.to_string())
            .arg("LEDGER")
            .arg(1)
            .arg("CODE")
            .arg(1)
            .query(&mut teller)
            .unwrap();
        let e = redis::cmd("SET")
            .arg("k")
            .arg("v")
            .query::<()>(&mut teller)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("no permissions to run the 'set' command"),
            "{e}"
        );

        let mut auditor = login("auditor", "auditpw");
        let found: redis::Value = redis::cmd("LEDGER.ACCOUNT.GET")
            .arg(id.to_string())
            .query(&mut auditor)
            .unwrap();
        assert_ne!(found, redis::Value::Nil);
        let e = redis::cmd("LEDGER.ACCOUNT.CREATE")
            .arg("ID")
            .arg("99")
            .arg("LEDGER")
            .arg(1)
            .arg("CODE")
            .arg(1)
            .query::<redis::Value>(&mut auditor)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("no permissions to run the 'ledger.account.create' command"),
            "{e}"
        );

        let mut webapp = login("webapp", "webpw");
        let _: () = redis::cmd("SET")
            .arg("k")
            .arg("v")
            .query(&mut webapp)
            .unwrap();
        let e = redis::cmd("LEDGER.ACCOUNT.GET")
            .arg(id.to_string())
            .query::<redis::Value>(&mut webapp)
            .unwrap_err();
        assert!(
            e.to_string().contains("NOPERM") || e.to_string().contains("no permissions"),
            "{e}"
        );
        let who: String = redis::cmd("ACL").arg("WHOAMI").query(&mut webapp).unwrap();
        assert_eq!(who, "webapp");

        // HELLO AUTH logs in too.
        let mut h = connect(s.addr, false);
        let _: redis::Value = redis::cmd("HELLO")
            .arg(if resp3 { 3 } else { 2 })
            .arg("AUTH")
            .arg("auditor")
            .arg("auditpw")
            .query(&mut h)
            .unwrap();
        let who: String = redis::cmd("ACL")
            .arg("WHOAMI")
            .query::<String>(&mut h)
            .err()
            .map_or("x".into(), |e| e.to_string());
        assert!(
            who.contains("acl|whoami"),
            "the auditor may not run ACL WHOAMI: {who}"
        );
    }
    let cats: Vec<String> = redis::cmd("ACL")
        .arg("CAT")
        .arg("ledger-write")
        .query(&mut connect_admin(&s))
        .unwrap();
    assert_eq!(
        cats,
        [
            "ledger.create_accounts",
            "ledger.create_transfers",
            "ledger.account.create",
            "ledger.transfer.create"
        ]
    );
}

fn connect_admin(s: &Server) -> redis::Connection {
    let mut c = s.redis();
    let _: () = redis::cmd("AUTH").arg("adminpw").query(&mut c).unwrap();
    c
}

#[test]
fn bad_user_rules_in_the_config_name_the_file_and_line() {
    let dir = common::tempdir::Dir::new("acl-config");
    let path = dir.0.join("bad.toml");
    std::fs::write(&path, "[security]\nusers = [\n  \"alice on +nosuch\",\n]\n").unwrap();
    let out = Command::new(common::binary())
        .arg("--check")
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("bad.toml:2:") && err.contains("security.users") && err.contains("+nosuch"),
        "{err}"
    );
}

#[test]
fn binary_connections_follow_changes_to_their_user() {
    let s = Server::start("uring", &format!("{BINARY}\n{EXAMPLE_USERS}"));
    let addr = s.binary_addr.unwrap();
    let mut teller = Client::connect_authenticated(addr, "teller", "tellerpw").unwrap();
    assert!(teller.create_accounts(&[acct(1)]).is_ok());
    let mut admin = connect_admin(&s);
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("teller")
        .arg("-@ledger-write")
        .query(&mut admin)
        .unwrap();
    // The next frame already obeys the change; reads still work.
    let message = refused(teller.create_accounts(&[acct(2)]).unwrap_err());
    assert_eq!(
        message,
        "NOPERM this user has no permissions to run the 'ledger.create_accounts' command"
    );
    assert_eq!(teller.lookup_accounts(&[1, 2]).unwrap().len(), 1);
    let log: Vec<redis::Value> = redis::cmd("ACL").arg("LOG").query(&mut admin).unwrap();
    let text = format!("{log:?}");
    assert!(
        text.contains("ledger.create_accounts") && text.contains("teller"),
        "{text}"
    );
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut admin).unwrap();
    assert!(list.contains("user=teller"), "{list}");
    let n: i64 = redis::cmd("ACL")
        .arg("DELUSER")
        .arg("teller")
        .query(&mut admin)
        .unwrap();
    assert_eq!(n, 1);
    assert!(
        common::eventually(Duration::from_secs(5), || matches!(
            teller.lookup_accounts(&[1]),
            Err(Error::Io(_))
        )),
        "the deleted user's binary connection is closed"
    );
}
