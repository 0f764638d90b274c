//! The RPM reader on arbitrary files: every input is read or refused with an error, never a
//! panic escaping it (panics inside the `rpm` crate are contained by design and count as a
//! refusal), never a hang.
#![no_main]

use std::io::Write;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// One scratch file per fuzzing process, rewritten for each input.
fn scratch() -> &'static std::path::Path {
    static PATH: OnceLock<std::path::PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("odcs-fuzz-rpm-{}.rpm", std::process::id()))
    })
}

fuzz_target!(
    init: {
        // libFuzzer's hook aborts on any panic, even one the reader catches; only panics that
        // escape the reader are crashes here (the harness aborts on those itself).
        std::panic::set_hook(Box::new(|_| {}));
    },
    |data: &[u8]| {
        let path = scratch();
        let mut file = std::fs::File::create(path).expect("scratch file");
        file.write_all(data).expect("write scratch file");
        drop(file);
        let _ = odcs_worker::package::read_package(path);
        let _ = odcs_worker::package::read_identity(path);
    }
);
