//! Cluster colours: a fixed qualitative palette (Tableau 20 order, strong colours first),
//! then evenly spread hues for ids beyond it.

const PALETTE: [[u8; 3]; 20] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
    [174, 199, 232],
    [255, 187, 120],
    [152, 223, 138],
    [255, 152, 150],
    [197, 176, 213],
    [196, 156, 148],
    [247, 182, 210],
    [199, 199, 199],
    [219, 219, 141],
    [158, 218, 229],
];

/// The default colour of cluster `id`.
pub fn color(id: u32) -> [u8; 3] {
    if let Some(c) = PALETTE.get(id as usize) {
        return *c;
    }
    // Golden-ratio hue steps keep neighbouring ids apart.
    let h = (id as f64 * 0.618_033_988_749_895).fract();
    let s = if id % 2 == 0 { 0.65 } else { 0.45 };
    hsv(h, s, 0.85)
}

fn hsv(h: f64, s: f64, v: f64) -> [u8; 3] {
    let i = (h * 6.0).floor();
    let f = h * 6.0 - i;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - f * s), v * (1.0 - (1.0 - f) * s));
    let (r, g, b) = match i as i32 % 6 {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    };
    [
        (r * 255.0).round() as u8,
        (g * 255.0).round() as u8,
        (b * 255.0).round() as u8,
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn palette_then_distinct_hues() {
        assert_eq!(super::color(0), [31, 119, 180]);
        let many: std::collections::HashSet<[u8; 3]> = (0..200).map(super::color).collect();
        assert!(many.len() > 190, "only {} distinct colours", many.len());
    }
}
