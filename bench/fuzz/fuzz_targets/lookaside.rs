//! A lookaside repository end to end: a repomd.xml and a primary document of any bytes laid
//! out as a file repository, fetched and read as a worker reads one, with file URLs confined
//! to the repository.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use odcs_worker::fetch::{FetchPolicy, Fetcher};
use odcs_worker::gather::lookaside::fetch;
use odcs_worker::gather::metadata::read_primary;

/// The repository directory of this fuzzing process and a fetcher confined to it.
fn repo() -> &'static (std::path::PathBuf, Fetcher) {
    static REPO: OnceLock<(std::path::PathBuf, Fetcher)> = OnceLock::new();
    REPO.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("odcs-fuzz-lookaside-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("repodata")).expect("repository directory");
        let fetcher = Fetcher::new(FetchPolicy {
            timeout: std::time::Duration::from_secs(5),
            attempts: 1,
            file_roots: vec![dir.clone()],
            max_bytes: 16 * 1024 * 1024,
            blocked_networks: Vec::new(),
        })
        .expect("fetcher");
        (dir, fetcher)
    })
}

fuzz_target!(|data: &[u8]| {
    let (dir, fetcher) = repo();
    // The input is repomd.xml, a NUL byte, then the bytes every listed location gets.
    let split = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    let (repomd, rest) = data.split_at(split);
    let payload = rest.get(1..).unwrap_or_default();
    let repodata = dir.join("repodata");
    std::fs::write(repodata.join("repomd.xml"), repomd).expect("repomd.xml");
    for name in ["primary.xml", "filelists.xml", "primary.xml.gz", "filelists.xml.gz"] {
        std::fs::write(repodata.join(name), payload).expect("metadata file");
    }
    if let Ok(metadata) = fetch(fetcher, &format!("file://{}", dir.display())) {
        let _ = read_primary(&metadata.primary, |_| {});
        let _ = read_primary(&metadata.filelists, |_| {});
    }
});
