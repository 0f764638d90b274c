//! A throwaway certificate authority for tests of TLS clients: a CA, a server certificate for
//! 127.0.0.1 and a client certificate, made with the `openssl` command.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The PEM files of a throwaway authority and its two certificates.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The CA certificate.
    pub ca: PathBuf,
    /// The server certificate (for IP 127.0.0.1).
    pub server_cert: PathBuf,
    /// The server's key.
    pub server_key: PathBuf,
    /// The client certificate and its key, in one file.
    pub client: PathBuf,
}

/// Runs `openssl args` in `dir`; panics if it fails (a test set-up error).
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed certificate for `subject` (openssl's `-subj` form, `/O=Example/CN=alice`),
/// written with its key as `{name}.pem` and `{name}.key` in `dir`.
pub fn self_signed(dir: &Path, name: &str, subject: &str) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).expect("pki directory");
    let (cert, key) = (format!("{name}.pem"), format!("{name}.key"));
    openssl(
        dir,
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", subject,
            "-keyout", &key, "-out", &cert,
        ],
    );
    (dir.join(cert), dir.join(key))
}

impl TestPki {
    /// Makes the authority and both certificates in `dir`; panics if openssl fails (a test
    /// set-up error).
    pub fn new(dir: &Path) -> TestPki {
        let openssl = |args: &[&str]| openssl(dir, args);
        let write = |name: &str, text: &str| {
            std::fs::write(dir.join(name), text).expect("pki file");
        };
        self_signed(dir, "ca", "/CN=odcs test CA");
        write(
            "server.ext",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        );
        write("client.ext", "extendedKeyUsage=clientAuth\n");
        for who in ["server", "client"] {
            openssl(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                &format!("/CN={who}"),
                "-keyout",
                &format!("{who}.key"),
                "-out",
                &format!("{who}.csr"),
            ]);
            openssl(&[
                "x509",
                "-req",
                "-in",
                &format!("{who}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &format!("{who}.ext"),
                "-out",
                &format!("{who}.pem"),
            ]);
        }
        let mut both = std::fs::read(dir.join("client.pem")).expect("client certificate");
        both.extend(std::fs::read(dir.join("client.key")).expect("client key"));
        std::fs::write(dir.join("client-with-key.pem"), both).expect("client pem");
        TestPki {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            client: dir.join("client-with-key.pem"),
        }
    }
}
