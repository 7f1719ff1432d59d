//! Everything that can go wrong with a judge plugin, each case naming the plugin and the cause.
//!
//! Loading errors say what to change in the plugin; call errors say which limit or rule the judge broke.
//! Messages that come from the plugin itself are truncated, so a hostile plugin cannot flood logs or responses.

use std::path::PathBuf;
use std::time::Duration;

/// A judge plugin could not be loaded, or a call into it failed.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("cannot read judge plugin {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("judge plugin {plugin} is not a WebAssembly component: {reason}")]
    NotAComponent { plugin: String, reason: String },
    #[error(
        "judge plugin {plugin} imports {}, which coalmine does not offer: judges get no files, sockets, \
         environment or network; remove the code that needs them",
        imports.join(", ")
    )]
    UnsupportedImports {
        plugin: String,
        imports: Vec<String>,
    },
    #[error(
        "judge plugin {plugin} was built for coalmine:judge@{found}, but this coalmine speaks \
         coalmine:judge@{supported}: rebuild it against this coalmine's wit/"
    )]
    IncompatibleVersion {
        plugin: String,
        found: String,
        supported: &'static str,
    },
    #[error(
        "judge plugin {plugin} does not export the coalmine:judge/judge interface (it exports: {exports}): \
         build it for the judge-plugin world of coalmine's wit/"
    )]
    MissingExport { plugin: String, exports: String },
    #[error(
        "judge plugin {plugin} has more than {limit} linear memory, which coalmine does not allow: build it \
         with one memory (every wasm32-wasip2 toolchain does)"
    )]
    TooManyMemories { plugin: String, limit: usize },
    #[error("judge plugin {plugin} cannot be instantiated: {reason}")]
    Instantiate { plugin: String, reason: String },
    #[error("judge plugin {plugin} reports an invalid identity: {reason}")]
    InvalidInfo { plugin: String, reason: String },
    #[error("judge {plugin} did not finish within its deadline of {} ms", limit.as_millis())]
    DeadlineExceeded { plugin: String, limit: Duration },
    #[error("judge {plugin} exceeded its memory limit of {} MiB", limit >> 20)]
    MemoryLimitExceeded { plugin: String, limit: usize },
    #[error("judge {plugin} overflowed its stack (limit {} KiB): unbounded recursion?", limit >> 10)]
    StackOverflow { plugin: String, limit: usize },
    #[error("judge {plugin} crashed ({trap}){}", stderr.as_ref().map(|s| format!(": {s}")).unwrap_or_default())]
    Trap {
        plugin: String,
        trap: String,
        /// What the judge wrote to stderr, e.g. a Rust panic message.
        stderr: Option<String>,
    },
    #[error("judge {plugin} rejected the request: {message}")]
    InvalidRequest { plugin: String, message: String },
    #[error("judge {plugin} failed: {message}")]
    Failed { plugin: String, message: String },
    #[error("judge {plugin} returned an invalid judgement: {reason}")]
    InvalidJudgement { plugin: String, reason: String },
    #[error(
        "judge {plugin} returned a judgement (or logged a line) of more than {limit} bytes, the limit"
    )]
    JudgementTooLarge { plugin: String, limit: usize },
    /// A score outside 0–100 that the request's own settings explain: group weights that are not
    /// percentages, or that total more than 100. The caller can fix that.
    #[error(
        "judge {plugin} scored the canary {score}, outside 0 to 100, because the group weights \
         (classifier.groupWeights) {cause}: each weight must be 0 to 100 and together at most 100"
    )]
    ScoreOutOfRange {
        plugin: String,
        score: f64,
        cause: String,
    },
    #[error("judge name {name:?} from {plugin} is already taken by the judge from {taken_by}")]
    DuplicateName {
        plugin: String,
        name: String,
        taken_by: String,
    },
}

impl PluginError {
    /// A short, stable name for the kind of failure, for metrics and machine-readable output.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::Read { .. } => "read",
            PluginError::NotAComponent { .. } => "not_a_component",
            PluginError::UnsupportedImports { .. } => "unsupported_imports",
            PluginError::IncompatibleVersion { .. } => "incompatible_version",
            PluginError::MissingExport { .. } => "missing_export",
            PluginError::TooManyMemories { .. } => "too_many_memories",
            PluginError::Instantiate { .. } => "instantiate",
            PluginError::InvalidInfo { .. } => "invalid_info",
            PluginError::DeadlineExceeded { .. } => "deadline",
            PluginError::MemoryLimitExceeded { .. } => "memory",
            PluginError::StackOverflow { .. } => "stack_overflow",
            PluginError::Trap { .. } => "trap",
            PluginError::InvalidRequest { .. } => "invalid_request",
            PluginError::Failed { .. } => "failed",
            PluginError::InvalidJudgement { .. } => "invalid_judgement",
            PluginError::JudgementTooLarge { .. } => "judgement_too_large",
            PluginError::ScoreOutOfRange { .. } => "score_out_of_range",
            PluginError::DuplicateName { .. } => "duplicate_name",
        }
    }
}

/// `text` cut to at most `max` bytes on a character boundary, with `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
