//! DICOM ingest: walk a folder, read headers, decode pixels to a representative frame,
//! and normalise the anatomical region.

pub mod anatomy;
pub mod decode;
mod layout;
pub mod record;
pub mod scan;

pub use anatomy::{AnatomySource, Region};
pub use record::{InstanceRecord, NonImage, QualityFlags, Skipped};
