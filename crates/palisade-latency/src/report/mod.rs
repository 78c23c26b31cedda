//! The report: a tracker's snapshot as JSON (`json.rs`) or as a page
//! (`html.rs`), served by [`ReportService`] (`service.rs`).

mod html;
mod json;
mod service;

pub use service::ReportService;
