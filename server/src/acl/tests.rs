//! Rule parsing and checking against the real command table.

use super::*;
use crate::commands::{acl_commands, lookup};

fn user(rules: &str) -> User {
    let mut u = User::new(b"u");
    let ops: Vec<&[u8]> = rules.split(' ').map(str::as_bytes).collect();
    u.apply_all(acl_commands(), &ops).unwrap();
    u
}

fn allowed(u: &User, args: &[&str]) -> Result<(), Denied> {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    let entry = lookup(args[0]).unwrap();
    let r = if !entry.subcommands.is_empty() && args.len() > 1 {
        entry.subcommand(args[1]).unwrap()
    } else {
        entry.resolved()
    };
    check(u, r.id, r.doc, &args)
}

fn rules(u: &User) -> String {
    describe::user_rules(acl_commands(), u)
}

#[test]
fn a_new_user_is_off_with_nothing() {
    let u = User::new(b"alice");
    assert_eq!(rules(&u), "off resetchannels -@all");
    assert!(!u.password_ok(b""));
}

#[test]
fn the_default_user_is_on_nopass_with_everything() {
    let u = User::default_user(acl_commands());
    assert_eq!(rules(&u), "on nopass ~* &* +@all");
    assert!(u.password_ok(b"anything"));
}

#[test]
fn passwords_are_sha256_and_compared_by_hash() {
    let u = user("on >secret");
    assert_eq!(
        u.passwords,
        ["2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"]
    );
    assert!(u.password_ok(b"secret") && !u.password_ok(b"Secret"));
    let h = u.passwords[0].clone();
    let mut v = user(&format!("on #{h}"));
    assert!(v.password_ok(b"secret"));
    v.apply(acl_commands(), format!("!{h}").as_bytes()).unwrap();
    assert!(!v.password_ok(b"secret"));
    assert_eq!(
        v.apply(acl_commands(), b"<secret"),
        Err(RuleError::NoSuchPassword)
    );
    assert_eq!(v.apply(acl_commands(), b"#ABC"), Err(RuleError::BadHash));
    let off = user("off >secret");
    assert!(!off.password_ok(b"secret"), "a disabled user cannot log in");
    let mut n = user("on >secret nopass");
    assert!(n.nopass && n.passwords.is_empty() && n.password_ok(b"x"));
    n.apply(acl_commands(), b"resetpass").unwrap();
    assert!(!n.password_ok(b"x"));
}

#[test]
fn commands_categories_and_subcommands() {
    let u = user("on ~* -@all +get +config|get +@ledger-read");
    assert_eq!(allowed(&u, &["get", "k"]), Ok(()));
    assert_eq!(allowed(&u, &["set", "k", "v"]), Err(Denied::Command));
    assert_eq!(allowed(&u, &["config", "get", "x"]), Ok(()));
    assert_eq!(
        allowed(&u, &["config", "set", "x", "y"]),
        Err(Denied::Command)
    );
    assert_eq!(allowed(&u, &["ledger.lookup_accounts", "x"]), Ok(()));
    assert_eq!(
        allowed(&u, &["ledger.create_accounts", "x"]),
        Err(Denied::Command)
    );
    assert_eq!(
        allowed(&u, &["auth", "x"]),
        Ok(()),
        "no_auth commands always run"
    );
    let cache = user("on ~* +@all -@ledger");
    assert_eq!(allowed(&cache, &["set", "k", "v"]), Ok(()));
    assert_eq!(
        allowed(&cache, &["ledger.query_accounts", "x"]),
        Err(Denied::Command)
    );
    let mut all_but = user("on ~* +@all -config");
    assert_eq!(
        allowed(&all_but, &["config", "get", "x"]),
        Err(Denied::Command)
    );
    all_but.apply(acl_commands(), b"nocommands").unwrap();
    assert_eq!(allowed(&all_but, &["ping"]), Err(Denied::Command));
    all_but.apply(acl_commands(), b"allcommands").unwrap();
    assert_eq!(allowed(&all_but, &["ping"]), Ok(()));
}

#[test]
fn first_argument_rules() {
    let u = user("on ~* -@all +select|0");
    assert_eq!(allowed(&u, &["select", "0"]), Ok(()));
    assert_eq!(allowed(&u, &["select", "1"]), Err(Denied::Command));
    let mut v = User::new(b"v");
    assert_eq!(
        v.apply(acl_commands(), b"+config|get|x"),
        Err(RuleError::FirstArgOfSubcommand)
    );
    assert_eq!(v.apply(acl_commands(), b"+select|"), Err(RuleError::Syntax));
    assert_eq!(
        v.apply(acl_commands(), b"+nosuch"),
        Err(RuleError::UnknownCommand)
    );
    assert_eq!(
        v.apply(acl_commands(), b"+@nosuch"),
        Err(RuleError::UnknownCommand)
    );
}

#[test]
fn key_patterns_with_read_and_write_access() {
    let u = user("on +@all ~app:* %R~ro:* %W~wo:*");
    assert_eq!(allowed(&u, &["get", "app:1"]), Ok(()));
    assert_eq!(allowed(&u, &["get", "other"]), Err(Denied::Key(1)));
    assert_eq!(allowed(&u, &["get", "ro:1"]), Ok(()));
    assert_eq!(allowed(&u, &["set", "ro:1", "v"]), Err(Denied::Key(1)));
    assert_eq!(allowed(&u, &["set", "wo:1", "v"]), Ok(()));
    assert_eq!(allowed(&u, &["get", "wo:1"]), Err(Denied::Key(1)));
    assert_eq!(
        allowed(&u, &["mset", "app:1", "v", "x", "v"]),
        Err(Denied::Key(3))
    );
    assert_eq!(allowed(&u, &["copy", "app:1", "ro:2"]), Err(Denied::Key(2)));
    assert_eq!(allowed(&u, &["ping"]), Ok(()), "no keys, no key check");
    let mut all = user("on +@all allkeys");
    assert_eq!(
        all.apply(acl_commands(), b"~x"),
        Err(RuleError::KeyAfterAll)
    );
    all.apply(acl_commands(), b"resetkeys").unwrap();
    assert_eq!(allowed(&all, &["get", "x"]), Err(Denied::Key(1)));
    assert_eq!(rules(&user("on %RW~k")), "on ~k resetchannels -@all");
    assert_eq!(
        User::new(b"x").apply(acl_commands(), b"%X~k"),
        Err(RuleError::Syntax)
    );
}

#[test]
fn selectors_widen_what_the_root_allows() {
    let u = user("on ~a* +get (+set ~b*)");
    assert_eq!(allowed(&u, &["get", "a1"]), Ok(()));
    assert_eq!(allowed(&u, &["set", "b1", "v"]), Ok(()));
    assert_eq!(allowed(&u, &["set", "a1", "v"]), Err(Denied::Key(1)));
    assert_eq!(
        rules(&u),
        "on ~a* resetchannels -@all +get (~b* resetchannels -@all +set)"
    );
    let split = user("on (+get ~k)");
    assert_eq!(split.selectors.len(), 2);
    let mut bad = User::new(b"x");
    assert_eq!(
        bad.apply_all(acl_commands(), &[b"(+get".as_slice(), b"~k"]),
        Err("Unmatched parenthesis in acl selector starting at '(+get'.".into())
    );
}

#[test]
fn rules_are_all_or_nothing() {
    let mut u = user("on >pw ~* +get");
    let before = u.clone();
    let e = u
        .apply_all(acl_commands(), &[b"+set".as_slice(), b"+nosuch"])
        .unwrap_err();
    assert_eq!(
        e,
        "Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL"
    );
    assert_eq!(u, before);
}

#[test]
fn descriptions_rebuild_the_rules() {
    for (given, want) in [
        ("on ~* &* +@all", "on ~* &* +@all"),
        ("on ~* +@all -@ledger", "on ~* resetchannels +@all -@ledger"),
        (
            "on -@all +@ledger-read",
            "on resetchannels -@all +@ledger-read",
        ),
        ("on +@all -config|set", "on resetchannels +@all -config|set"),
        ("reset", "off sanitize-payload resetchannels -@all"),
    ] {
        assert_eq!(rules(&user(given)), want, "{given}");
    }
}

#[test]
fn the_registry_authenticates_and_bumps_its_generation() {
    let acl = Acl::new(
        acl_commands(),
        Some("pw"),
        &["alice on >secret ~* +@all".into()],
    )
    .unwrap();
    assert!(acl.default_requires_auth() && !acl.default_nopass());
    assert!(acl.authenticate(b"default", b"pw").is_some());
    assert!(acl.authenticate(b"alice", b"secret").is_some());
    assert!(acl.authenticate(b"alice", b"pw").is_none());
    assert!(acl.authenticate(b"bob", b"").is_none());
    let g = acl.generation();
    acl.set_user(b"bob", &[b"on".as_slice(), b"nopass"])
        .unwrap();
    assert!(acl.generation() > g);
    assert_eq!(
        acl.delete(&[b"bob".as_slice(), b"nosuch", b"default"]),
        [b"bob".to_vec()]
    );
    acl.set_default_password(None);
    assert!(!acl.default_requires_auth() && acl.default_nopass());
    let e = Acl::new(acl_commands(), None, &["carol on +nosuch".into()])
        .err()
        .unwrap();
    assert!(e.contains("users[0]") && e.contains("+nosuch"), "{e}");
    let e = Acl::new(acl_commands(), None, &["a on".into(), "a off".into()])
        .err()
        .unwrap();
    assert!(e.contains("Duplicate user"), "{e}");
}
