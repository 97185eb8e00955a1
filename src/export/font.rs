//! The chart font. plotters is built with `ab_glyph` (no system font lookup), so a TTF is
//! registered once from bytes compiled into the binary: Ubuntu Light, the proportional font
//! egui bundles (`epaint_default_fonts`, Ubuntu Font Licence 1.0, which permits use and
//! redistribution, embedded in software included).

use std::sync::OnceLock;

use plotters::style::FontStyle;

/// The family name charts ask for.
pub const FAMILY: &str = "sans-serif";

/// Register the bundled font with plotters (idempotent). False if it could not be parsed.
pub fn ensure_registered() -> bool {
    static DONE: OnceLock<bool> = OnceLock::new();
    *DONE.get_or_init(|| {
        plotters::style::register_font(
            FAMILY,
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        )
        .is_ok()
    })
}
