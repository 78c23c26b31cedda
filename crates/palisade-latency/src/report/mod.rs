//! The report: a tracker's snapshot as JSON (`json.rs`) or as a page drawn
//! from that JSON (`page.rs`, the page shared with `palisade-health`, with
//! `report.js` drawing the latency table), served by [`ReportService`]
//! (`service.rs`).

mod json;
pub mod page;
mod service;

pub use service::ReportService;
