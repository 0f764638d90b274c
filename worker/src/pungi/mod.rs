//! Running Pungi for `raw_config` composes: its configuration format ([`kobo_conf`]), the
//! compose identity it is given and leaves behind ([`compose_info`]), the links that name its
//! composes ([`links`]), and what its logs say when it fails.

pub mod compose_info;
pub mod kobo_conf;
pub mod links;

use std::path::{Path, PathBuf};

/// Most characters of Pungi's errors a compose's reason carries.
const MAX_ERRORS: usize = 2000;

/// Pungi's global log in the compose directory `dir`.
pub fn global_log(dir: &Path) -> PathBuf {
    dir.join("logs/global/pungi.global.log")
}

/// The configuration dump Pungi writes into the compose directory `dir`.
pub fn config_dump(dir: &Path) -> PathBuf {
    dir.join("logs/global/config-dump.global.log")
}

/// The errors Pungi's global log `text` records: each `[ERROR   ]` line's message with the
/// line after it, without tracebacks' pointers, cut at [`MAX_ERRORS`] characters.
pub fn errors_in_log(text: &str) -> String {
    const MARK: &str = "[ERROR   ] ";
    let mut errors: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in text.split_inclusive('\n') {
        match line.find(MARK) {
            Some(at) => {
                if let Some(done) = current.take() {
                    errors.push(done);
                }
                current = Some(line[at + MARK.len()..].to_owned());
            }
            None => {
                if let Some(mut done) = current.take() {
                    done.push_str(line);
                    errors.push(done);
                }
            }
        }
    }
    errors.extend(current);
    let mut out = String::new();
    for error in errors
        .iter()
        .filter(|e| !e.starts_with("Extended traceback in:"))
    {
        out.push_str(error);
        if out.chars().count() > MAX_ERRORS {
            out = out.chars().take(MAX_ERRORS).collect();
            out.push_str(" ...\n Too many errors, see Pungi log for more information.");
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_come_with_the_line_after_them() {
        let log = "2026-12-02 10:00:00 [INFO    ] Starting\n\
                   2026-12-02 10:00:01 [ERROR   ] Compose run failed: boom\n\
                   Traceback line\n\
                   2026-12-02 10:00:02 [INFO    ] more\n\
                   2026-12-02 10:00:03 [ERROR   ] Extended traceback in: /x\n\
                   ignored\n\
                   2026-12-02 10:00:04 [ERROR   ] last\n";
        assert_eq!(
            errors_in_log(log),
            "Compose run failed: boom\nTraceback line\nlast\n"
        );
        let long = format!("x [ERROR   ] {}\n", "e".repeat(3000));
        assert!(
            errors_in_log(&long).ends_with("Too many errors, see Pungi log for more information.")
        );
    }
}
