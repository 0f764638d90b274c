//! What `odcs` prints: JSON as the reference CLI prints it, summaries, tables, and progress
//! while waiting (a spinner on a terminal, plain lines otherwise).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use odcs_client::wait::Progress;
use odcs_client::{ComposeJson, ComposeList};
use odcs_common::compose::SourceType;

/// Prints `value` indented by four with sorted keys, as the reference CLI does.
pub fn print_json(value: &serde_json::Value) {
    let sorted = sort(value.clone());
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    if serde::Serialize::serialize(&sorted, &mut serializer).is_ok() {
        println!("{}", String::from_utf8_lossy(&out));
    }
}

fn sort(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let sorted: std::collections::BTreeMap<String, serde_json::Value> =
                map.into_iter().map(|(k, v)| (k, sort(v))).collect();
            serde_json::Value::Object(sorted.into_iter().collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sort).collect())
        }
        other => other,
    }
}

/// A few lines a person reads: id, state, reason, where the result is.
pub fn print_summary(compose: &ComposeJson) {
    println!(
        "Compose {} is {}{}",
        compose.id,
        compose.state_name,
        compose
            .state_reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    );
    println!("  source: {}", compose.source);
    if !compose.result_repofile.is_empty() && compose.state_name == "done" {
        println!("  repofile: {}", compose.result_repofile);
    }
    if let Some(expiry) = &compose.time_to_expire {
        println!("  expires: {expiry}");
    }
}

/// One line per compose.
pub fn print_table(page: &ComposeList) {
    println!(
        "{:>6}  {:<10}  {:<12}  {:<10}  {:<20}  SOURCE",
        "ID", "STATE", "TYPE", "OWNER", "EXPIRES"
    );
    for c in &page.items {
        let kind = SourceType::from_code(c.source_type).map_or("unknown", SourceType::name);
        println!(
            "{:>6}  {:<10}  {:<12}  {:<10}  {:<20}  {}",
            c.id,
            c.state_name,
            kind,
            c.owner,
            c.time_to_expire.as_deref().unwrap_or("-"),
            c.source
        );
    }
    println!(
        "page {} of {} ({} composes)",
        page.meta.page, page.meta.pages, page.meta.total
    );
}

/// Progress while waiting: a spinner with state and elapsed time on a terminal, a line per
/// state change otherwise, nothing with `--quiet`.
pub struct WaitProgress {
    id: odcs_client::ComposeId,
    verbose: bool,
    spinner: Option<ProgressBar>,
    quiet: bool,
    last_state: Option<String>,
}

impl WaitProgress {
    /// Progress for compose `id`.
    pub fn new(
        id: odcs_client::ComposeId,
        spinner: bool,
        quiet: bool,
        verbose: bool,
    ) -> WaitProgress {
        let spinner = spinner.then(|| {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        WaitProgress {
            id,
            verbose,
            spinner,
            quiet,
            last_state: None,
        }
    }

    /// Prints `line` on its own with `--verbose`, above the spinner.
    fn note(&self, line: &str) {
        if self.verbose {
            match &self.spinner {
                Some(bar) => bar.suspend(|| eprintln!("{line}")),
                None => eprintln!("{line}"),
            }
        }
    }

    /// Clears the spinner.
    pub fn finish(&mut self) {
        if let Some(bar) = self.spinner.take() {
            bar.finish_and_clear();
        }
    }
}

impl Progress for WaitProgress {
    fn state(&mut self, compose: &ComposeJson, elapsed: Duration) {
        let line = format!(
            "compose {}: {} ({}s)",
            self.id,
            compose.state_name,
            elapsed.as_secs()
        );
        match &self.spinner {
            Some(bar) => bar.set_message(line),
            None if !self.quiet && self.last_state.as_deref() != Some(&compose.state_name) => {
                eprintln!("{line}");
            }
            None => {}
        }
        self.last_state = Some(compose.state_name.clone());
    }

    fn message(&mut self, state: &str) {
        self.note(&format!("odcs: message: compose {} is {state}", self.id));
    }

    fn listening(&mut self, url: &str) {
        let what = if url.starts_with("amqp") {
            "state-change messages"
        } else {
            "server events"
        };
        self.note(&format!("odcs: waiting on {what} from {url}"));
    }

    fn log(&mut self, text: &str) {
        match &self.spinner {
            Some(bar) => bar.suspend(|| eprint!("{text}")),
            None => eprint!("{text}"),
        }
    }
}
