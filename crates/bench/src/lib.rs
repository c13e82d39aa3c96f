//! `mown bench methods`: every ownership method of the registry against every attack of a zoo,
//! calibrated the same way on independent models no method was fitted on, with per-(method,
//! suspect) results cached by content, sharding for schedulers, and a JSON + HTML report.

pub mod config;
pub mod html;
pub mod merge;
pub mod owner;
pub mod record;
pub mod run;
pub mod sweep;
pub mod table;

pub use config::{BenchConfig, Shard};
pub use html::{report_html, verdict_html, write_report};
pub use merge::{assemble, assemble_with};
pub use record::{BenchReport, MethodResult, ModelRecord, ModelRole, SuspectRow};
pub use run::{ShardResult, Stage, run_shard};
pub use sweep::{DrawSizeSweep, draw_size_sweep, sweep_table};
