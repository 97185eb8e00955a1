//! The set of selected images, shared by the map, the grid and the viewer.

/// How a new pick combines with the current selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectMode {
    /// Replace the selection.
    Replace,
    /// Add to it (shift on the map, shift-box, shift-lasso).
    Add,
    /// Flip each picked image (ctrl-click).
    Toggle,
}

/// Selected images as a dense bit set plus a count, with a generation number that bumps
/// on every change so that cached meshes know when to rebuild.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    flags: Vec<bool>,
    count: usize,
    generation: u64,
    /// The last image picked on its own: the anchor of shift-click ranges in the grid.
    pub anchor: Option<usize>,
}

impl Selection {
    pub fn new(n: usize) -> Self {
        Self {
            flags: vec![false; n],
            ..Self::default()
        }
    }
    pub fn len(&self) -> usize {
        self.count
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    pub fn generation(&self) -> u64 {
        self.generation
    }
    pub fn flags(&self) -> &[bool] {
        &self.flags
    }
    pub fn contains(&self, i: usize) -> bool {
        self.flags.get(i).copied().unwrap_or(false)
    }
    /// Selected indices in ascending order.
    pub fn indices(&self) -> Vec<usize> {
        self.flags
            .iter()
            .enumerate()
            .filter(|(_, s)| **s)
            .map(|(i, _)| i)
            .collect()
    }
    pub fn clear(&mut self) {
        if self.count > 0 {
            self.flags.iter_mut().for_each(|f| *f = false);
            self.count = 0;
            self.generation += 1;
        }
        self.anchor = None;
    }
    fn set(&mut self, i: usize, on: bool) {
        if let Some(f) = self.flags.get_mut(i) {
            if *f != on {
                *f = on;
                if on {
                    self.count += 1;
                } else {
                    self.count -= 1;
                }
            }
        }
    }
    /// Apply a pick of `indices` with `mode`.
    pub fn apply(&mut self, indices: &[usize], mode: SelectMode) {
        if mode == SelectMode::Replace {
            self.flags.iter_mut().for_each(|f| *f = false);
            self.count = 0;
        }
        for &i in indices {
            let on = match mode {
                SelectMode::Toggle => !self.contains(i),
                _ => true,
            };
            self.set(i, on);
        }
        if indices.len() == 1 {
            self.anchor = Some(indices[0]);
        }
        self.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        let mut s = Selection::new(10);
        s.apply(&[1, 2, 3], SelectMode::Replace);
        assert_eq!(s.indices(), vec![1, 2, 3]);
        s.apply(&[3, 4], SelectMode::Toggle);
        assert_eq!(s.indices(), vec![1, 2, 4]);
        s.apply(&[7], SelectMode::Add);
        assert_eq!(s.indices(), vec![1, 2, 4, 7]);
        assert_eq!(s.anchor, Some(7));
        s.apply(&[0], SelectMode::Replace);
        assert_eq!((s.len(), s.indices()), (1, vec![0]));
        let g = s.generation();
        s.clear();
        assert!(s.is_empty() && s.generation() > g);
        s.apply(&[99], SelectMode::Add);
        assert!(s.is_empty(), "out-of-range picks are ignored");
    }
}
