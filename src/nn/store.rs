//! Weights on disk in the safetensors format (an 8-byte little-endian header length, a JSON
//! header naming each tensor's dtype, shape and byte range, then the raw little-endian data), so
//! that PyTorch (`safetensors.torch.load_file`) and other tools read them as they are. Only
//! what the encoders and agents store is supported: 2-D `F32` tensors and string metadata.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

/// A named tensor: name, `[rows, cols]`, row-major values.
pub type Named = (String, [usize; 2], Vec<f32>);

/// Writes `tensors` and `metadata` to `path` atomically (temporary file, then rename).
pub fn save(
    path: &Path,
    tensors: &[Named],
    metadata: &BTreeMap<String, String>,
) -> std::io::Result<()> {
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        header.insert("__metadata__".into(), json!(metadata));
    }
    let mut offset = 0usize;
    for (name, shape, values) in tensors {
        let bytes = values.len() * 4;
        header.insert(
            name.clone(),
            json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + bytes]}),
        );
        offset += bytes;
    }
    let mut head = serde_json::to_vec(&Value::Object(header))?;
    // Pad the header with spaces so the data starts 8-byte aligned, as the format recommends.
    while head.len() % 8 != 0 {
        head.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + head.len() + offset);
    out.extend_from_slice(&(head.len() as u64).to_le_bytes());
    out.extend_from_slice(&head);
    for (_, _, values) in tensors {
        for v in values {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    crate::output::write_atomic(path, &out)
}

/// Reads a file written by [`save`] (or any safetensors file of 2-D F32 tensors).
pub fn load(path: &Path) -> Result<(Vec<Named>, BTreeMap<String, String>), String> {
    let b = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let bad = |p: &str| format!("{}: not a valid safetensors file: {p}", path.display());
    if b.len() < 8 {
        return Err(bad("shorter than its header length"));
    }
    let n = u64::from_le_bytes(b[..8].try_into().expect("8 bytes")) as usize;
    let data_start = 8usize.checked_add(n).ok_or_else(|| bad("header length"))?;
    if data_start > b.len() {
        return Err(bad("header runs past the end"));
    }
    let header: serde_json::Map<String, Value> =
        serde_json::from_slice(&b[8..data_start]).map_err(|e| bad(&e.to_string()))?;
    let data = &b[data_start..];
    let mut metadata = BTreeMap::new();
    let mut tensors = Vec::new();
    for (name, v) in header {
        if name == "__metadata__" {
            metadata = serde_json::from_value(v).map_err(|e| bad(&e.to_string()))?;
            continue;
        }
        let dtype = v["dtype"].as_str().unwrap_or("");
        if dtype != "F32" {
            return Err(bad(&format!("{name}: dtype {dtype:?}, only F32 is read")));
        }
        let shape: Vec<usize> =
            serde_json::from_value(v["shape"].clone()).map_err(|e| bad(&e.to_string()))?;
        let [rows, cols] = shape[..] else {
            return Err(bad(&format!("{name}: shape {shape:?}, only 2-D is read")));
        };
        let offsets: [usize; 2] =
            serde_json::from_value(v["data_offsets"].clone()).map_err(|e| bad(&e.to_string()))?;
        let [lo, hi] = offsets;
        let expected = rows.checked_mul(cols).and_then(|x| x.checked_mul(4));
        if lo > hi || hi > data.len() || expected != Some(hi - lo) {
            return Err(bad(&format!("{name}: byte range {lo}..{hi}")));
        }
        let values = data[lo..hi]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        tensors.push((name, [rows, cols], values));
    }
    Ok((tensors, metadata))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_layout() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.safetensors");
        let t = vec![
            ("a".to_string(), [2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, -6.5]),
            ("b".to_string(), [1, 1], vec![f32::MIN_POSITIVE]),
        ];
        let meta = BTreeMap::from([("format".to_string(), "segue".to_string())]);
        save(&p, &t, &meta).unwrap();
        let raw = std::fs::read(&p).unwrap();
        let n = u64::from_le_bytes(raw[..8].try_into().unwrap()) as usize;
        assert_eq!(n % 8, 0);
        assert_eq!(raw.len(), 8 + n + 7 * 4);
        let (back, meta_back) = load(&p).unwrap();
        assert_eq!(meta_back, meta);
        let mut back = back;
        back.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(back, t);
    }

    #[test]
    fn truncated_files_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.safetensors");
        save(&p, &[("a".into(), [4, 4], vec![0.5; 16])], &BTreeMap::new()).unwrap();
        let raw = std::fs::read(&p).unwrap();
        std::fs::write(&p, &raw[..raw.len() - 4]).unwrap();
        let e = load(&p).unwrap_err();
        assert!(e.contains("byte range"), "{e}");
        std::fs::write(&p, &raw[..5]).unwrap();
        assert!(load(&p).is_err());
    }
}
