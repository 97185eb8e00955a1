//! Colours for clusters and categories.

use eframe::egui::Color32;

/// Twenty well-separated colours (Tableau 20 order, strong shades first).
pub const PALETTE: [[u8; 3]; 20] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [188, 189, 34],
    [23, 190, 207],
    [127, 127, 127],
    [174, 199, 232],
    [255, 187, 120],
    [152, 223, 138],
    [255, 152, 150],
    [197, 176, 213],
    [196, 156, 148],
    [247, 182, 210],
    [219, 219, 141],
    [158, 218, 229],
    [199, 199, 199],
];

/// Colour number `i` of the palette, cycling.
pub fn palette(i: usize) -> Color32 {
    let [r, g, b] = PALETTE[i % PALETTE.len()];
    Color32::from_rgb(r, g, b)
}

/// Colour of an excluded image.
pub const EXCLUDED: Color32 = Color32::from_rgb(70, 70, 70);

/// A point that is not selected while a selection exists.
pub fn greyed(c: Color32) -> Color32 {
    let l = (u16::from(c.r()) + u16::from(c.g()) + u16::from(c.b())) / 3;
    let l = (l / 3 + 60) as u8;
    Color32::from_rgba_unmultiplied(l, l, l, 140)
}

/// Parse `#rrggbb` into a colour.
pub fn parse_hex(s: &str) -> Option<Color32> {
    let s = s.trim().trim_start_matches('#');
    if s.len() != 6 {
        return None;
    }
    let v = u32::from_str_radix(s, 16).ok()?;
    Some(Color32::from_rgb((v >> 16) as u8, (v >> 8) as u8, v as u8))
}

/// `#rrggbb` of a colour.
pub fn to_hex(c: Color32) -> String {
    format!("#{:02x}{:02x}{:02x}", c.r(), c.g(), c.b())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        for i in 0..PALETTE.len() {
            let c = palette(i);
            assert_eq!(parse_hex(&to_hex(c)), Some(c));
        }
        assert_eq!(parse_hex("#12345"), None);
        assert_eq!(parse_hex("zzzzzz"), None);
    }

    #[test]
    fn greyed_is_grey() {
        let g = greyed(palette(3));
        assert_eq!(g.r(), g.g());
        assert_eq!(g.g(), g.b());
    }
}
