//! The configuration parser: any text parses to a validated config or an error that names
//! where (`<config>:LINE:COLUMN: ...`), never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match server::config::Config::parse(text) {
        Ok(config) => {
            assert!(config.workers() >= 1);
            assert!(!config.listeners.is_empty());
            let _ = config.ledger_config();
        }
        Err(e) => assert!(e.starts_with("<config>"), "errors say where: {e}"),
    }
});
