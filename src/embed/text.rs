//! Text encoders for the description fields: all-MiniLM-L6-v2 (BERT, mean pooling over
//! the attention mask, L2 normalisation) and a model-free character n-gram hashing encoder
//! that is fast and language-agnostic (MiniLM is English-only).
//!
//! Both embed each distinct string once; archives repeat the same few hundred
//! descriptions. An empty (or all-blank) text gets a zero vector.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Tokenizer, TruncationParams};

use super::{check_file, EmbedError};
use crate::Matrix;

/// Output dimension of both encoders.
pub const TEXT_DIM: usize = 384;
/// Longest input in tokens (sentence-transformers' `max_seq_length`).
pub const MAX_TOKENS: usize = 256;
/// MiniLM weight file, relative to the models folder (float16, computed in float32).
pub const MINILM_WEIGHTS: &str = "all-MiniLM-L6-v2/model_f16.safetensors";
pub const MINILM_SHA256: &str = "6a9f8cec99da9acdfda679e16f4737cc751cc691e8bc28c98091cf26ed99d3ce";
pub const MINILM_TOKENIZER: &str = "all-MiniLM-L6-v2/tokenizer.json";
pub const MINILM_CONFIG: &str = "all-MiniLM-L6-v2/config.json";
/// Strings per BERT call; strings are sorted by length so that little padding is needed.
const BATCH: usize = 32;

/// Which text encoder to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextModel {
    /// all-MiniLM-L6-v2 sentence embeddings (English).
    #[default]
    MiniLm,
    /// Signed hashing of lower-cased character 3- to 5-grams (any language, no model).
    NGram,
}

impl TextModel {
    pub fn id(self) -> &'static str {
        match self {
            TextModel::MiniLm => "all-minilm-l6-v2-f16",
            TextModel::NGram => "char-ngram-3-5-hash-384",
        }
    }
}

struct MiniLm {
    model: BertModel,
    tokenizer: Tokenizer,
}

/// A loaded text encoder.
pub struct TextEncoder {
    kind: TextModel,
    minilm: Option<MiniLm>,
}

impl TextEncoder {
    /// Load the encoder; MiniLM reads its weights (sha256-checked), tokenizer and config
    /// from `models_dir`, the n-gram encoder needs nothing.
    pub fn load(kind: TextModel, models_dir: &Path) -> Result<Self, EmbedError> {
        let minilm = match kind {
            TextModel::NGram => None,
            TextModel::MiniLm => Some(load_minilm(models_dir)?),
        };
        Ok(Self { kind, minilm })
    }

    pub fn kind(&self) -> TextModel {
        self.kind
    }

    /// One L2-normalised [`TEXT_DIM`]-d row per text, in order.
    pub fn embed(&self, texts: &[String]) -> Result<Matrix, EmbedError> {
        // Distinct non-empty strings, in first-seen order.
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut distinct: Vec<&str> = Vec::new();
        let rows: Vec<Option<usize>> = texts
            .iter()
            .map(|t| {
                let t = t.trim();
                if t.is_empty() {
                    return None;
                }
                Some(*index.entry(t).or_insert_with(|| {
                    distinct.push(t);
                    distinct.len() - 1
                }))
            })
            .collect();
        let vecs = match &self.minilm {
            Some(m) => m.embed_distinct(&distinct)?,
            None => distinct.iter().map(|t| ngram_vector(t)).collect(),
        };
        let mut out = Matrix::zeros(texts.len(), TEXT_DIM);
        for (i, r) in rows.iter().enumerate() {
            if let Some(r) = r {
                out.row_mut(i).copy_from_slice(&vecs[*r]);
            }
        }
        Ok(out)
    }
}

fn load_minilm(models_dir: &Path) -> Result<MiniLm, EmbedError> {
    let weights = models_dir.join(MINILM_WEIGHTS);
    check_file(&weights, MINILM_SHA256)?;
    let cfg_path = models_dir.join(MINILM_CONFIG);
    let cfg_text = std::fs::read_to_string(&cfg_path).map_err(|e| EmbedError::Model {
        path: cfg_path.clone(),
        reason: format!("cannot read ({e})"),
    })?;
    let config: Config = serde_json::from_str(&cfg_text).map_err(|e| EmbedError::Model {
        path: cfg_path.clone(),
        reason: format!("not a BERT config ({e})"),
    })?;
    let tok_path = models_dir.join(MINILM_TOKENIZER);
    let mut tokenizer = Tokenizer::from_file(&tok_path).map_err(|e| EmbedError::Model {
        path: tok_path.clone(),
        reason: format!("cannot load tokenizer ({e})"),
    })?;
    // tokenizer.json pads every input to 128: pooling must see real tokens only.
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: MAX_TOKENS,
            ..Default::default()
        }))
        .map_err(|e| EmbedError::Model {
            path: tok_path.clone(),
            reason: format!("truncation ({e})"),
        })?;
    // SAFETY: the file was just verified against its sha256 and is not modified while mapped.
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &Device::Cpu) }
        .map_err(|e| EmbedError::Model {
            path: weights.clone(),
            reason: format!("not a safetensors file ({e})"),
        })?;
    let model = BertModel::load(vb, &config).map_err(|e| EmbedError::Model {
        path: weights.clone(),
        reason: format!("missing or wrong tensor ({e})"),
    })?;
    Ok(MiniLm { model, tokenizer })
}

impl MiniLm {
    fn embed_distinct(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut encoded = Vec::with_capacity(texts.len());
        for t in texts {
            let e = self
                .tokenizer
                .encode(*t, true)
                .map_err(|e| EmbedError::Input(format!("tokenizer: {e}")))?;
            encoded.push(e.get_ids().to_vec());
        }
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| encoded[i].len());
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(BATCH) {
            let len = chunk
                .iter()
                .map(|&i| encoded[i].len())
                .max()
                .unwrap_or(1)
                .max(1);
            let b = chunk.len();
            let mut ids = vec![0u32; b * len];
            let mut mask = vec![0u32; b * len];
            for (r, &i) in chunk.iter().enumerate() {
                for (j, &id) in encoded[i].iter().enumerate() {
                    ids[r * len + j] = id;
                    mask[r * len + j] = 1;
                }
            }
            let ids_t = Tensor::from_vec(ids, (b, len), &Device::Cpu)?;
            let mask_t = Tensor::from_vec(mask, (b, len), &Device::Cpu)?;
            let types = ids_t.zeros_like()?;
            let hidden = self.model.forward(&ids_t, &types, Some(&mask_t))?; // (b, len, 384)
            let m = mask_t.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&m)?.sum(1)?; // (b, 384)
            let counts = m.sum(1)?.clamp(1e-9, f64::MAX)?; // (b, 1)
            let pooled = summed.broadcast_div(&counts)?.to_vec2::<f32>()?;
            for (r, &i) in chunk.iter().enumerate() {
                let mut v = pooled[r].clone();
                l2_normalize(&mut v);
                out[i] = v;
            }
        }
        Ok(out)
    }
}

fn l2_normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 && n.is_finite() {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// 64-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Character n-gram hashing vector of one text: lower-cased, whitespace collapsed, padded
/// with a space at each end; every 3-, 4- and 5-gram of characters adds +-1 to bucket
/// `hash % 384` (the sign from another hash bit); then L2 normalisation.
pub fn ngram_vector(text: &str) -> Vec<f32> {
    let norm: String = text
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let chars: Vec<char> = format!(" {norm} ").chars().collect();
    let mut v = vec![0f32; TEXT_DIM];
    let mut buf = String::new();
    for n in 3..=5 {
        for w in chars.windows(n) {
            buf.clear();
            buf.extend(w.iter());
            let h = fnv1a(buf.as_bytes());
            let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
            v[(h % TEXT_DIM as u64) as usize] += sign;
        }
    }
    l2_normalize(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn ngram_is_normalised_case_insensitive_and_similarity_aware() {
        let a = ngram_vector("CT Head without contrast");
        let b = ngram_vector("ct   head WITHOUT contrast");
        let c = ngram_vector("CT head with contrast");
        let d = ngram_vector("Knee right AP");
        assert!((cos(&a, &a) - 1.0).abs() < 1e-5);
        assert!(
            (cos(&a, &b) - 1.0).abs() < 1e-5,
            "case and spacing must not matter"
        );
        assert!(
            cos(&a, &c) > 0.6,
            "near-identical descriptions: {}",
            cos(&a, &c)
        );
        assert!(
            cos(&a, &c) > cos(&a, &d) + 0.3,
            "unrelated texts must be further apart"
        );
    }

    #[test]
    fn ngram_encoder_dedups_and_zeroes_empty_text() {
        let enc = TextEncoder::load(TextModel::NGram, Path::new("/nonexistent")).unwrap();
        let texts: Vec<String> = ["Chest PA", "", "Chest PA", "   "]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let m = enc.embed(&texts).unwrap();
        assert_eq!((m.rows, m.cols), (4, TEXT_DIM));
        assert_eq!(m.row(0), m.row(2));
        assert!(m.row(1).iter().all(|v| *v == 0.0) && m.row(3).iter().all(|v| *v == 0.0));
    }

    #[test]
    fn missing_minilm_weights_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = TextEncoder::load(TextModel::MiniLm, dir.path())
            .err()
            .expect("must fail")
            .to_string();
        assert!(
            err.contains("model_f16.safetensors") && err.contains(MINILM_SHA256),
            "{err}"
        );
    }
}
